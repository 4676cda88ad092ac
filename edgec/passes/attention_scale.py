"""Attention's score scale folded into the projection that makes q.

``softmax(q @ kT * c)``: q comes from a dense layer (Gemm, or MatMul by a constant) through
data-movement ops (Reshape, Transpose, Split, Slice, Squeeze...). Scaling the output
columns of that layer which become q by c, in its weights and bias, gives the same scores
without the Mul: one kernel less, and in int8 one requantization less. Which columns become
q is found by running the data-movement ops on the layer's output indices; the fold is made
only when no other reader (k, v...) sees one of those columns.
"""

from __future__ import annotations

import numpy as np

from edgec.ir.graph import Graph, Node, Value
from edgec.ops import get_op
from edgec.passes.base import Pass, PassResult
from edgec.passes.dead_code import drop_if_unused
from edgec.passes.expression import scalar, single_use


def _is_move(node: Node) -> bool:
    op = get_op(node.op_type, node.domain)
    return op is not None and op.integer == "move" and node.fused is None


def _dense_layer(node: Node | None) -> bool:
    """Gemm (A an activation) or MatMul with a constant matrix B, with a constant bias."""
    if node is None or node.domain or node.fused is not None:
        return False
    if node.op_type == "MatMul":
        return get_op("MatMul").is_weighted(node)
    if node.op_type != "Gemm" or get_op("Gemm").attr(node, "transA"):
        return False
    c = node.input(2)
    return node.inputs[1].is_const and (c is None or (c.is_const and c.const.ndim <= 1))


def _run_move(node: Node, first: np.ndarray) -> list[np.ndarray]:
    inputs = [first, *(v.const if v is not None else None for v in node.inputs[1:])]
    return get_op(node.op_type).run(node, inputs)


def _reached(graph: Graph, value: Value, index: np.ndarray, target: Value) -> tuple:
    """(indices that reach ``target``, indices read by anything else) from ``value``'s
    elements ``index``, through data-movement ops."""
    if value is target:  # read once, by the product
        return [index.ravel()], []
    into, elsewhere = [], []
    if graph.is_output(value):
        elsewhere.append(index.ravel())
    for user in dict.fromkeys(value.users):
        if not _is_move(user) or user.inputs[0] is not value or value in user.inputs[1:]:
            elsewhere.append(index.ravel())
            continue
        for out, data in zip(user.outputs, _run_move(user, index)):
            got, other = _reached(graph, out, data, target)
            into += got
            elsewhere += other
    return into, elsewhere


def _fold_target(graph: Graph, mul: Node):
    """(dense layer, its output columns to scale, c, the product) for a foldable Mul."""
    if mul.op_type != "Mul" or mul.domain or mul.fused is not None:
        return None
    for i in (0, 1):
        c, scores = scalar(mul.inputs[1 - i]), mul.inputs[i]
        product = scores.producer
        if c is None or c == 0 or product is None or product.op_type != "MatMul":
            continue
        if get_op("MatMul").is_weighted(product) or not single_use(graph, scores):
            continue
        for operand in product.inputs:
            if operand.is_const or not single_use(graph, operand):
                continue
            source = operand
            while source.producer is not None and _is_move(source.producer):
                source = source.producer.inputs[0]
            layer = source.producer
            if not _dense_layer(layer):
                continue
            index = np.arange(source.size, dtype=np.int64).reshape(source.shape)
            into, elsewhere = _reached(graph, source, index, operand)
            if len(into) != 1:
                continue
            n = source.shape[-1]
            columns = np.unique(into[0] % n)
            scaled = (np.arange(source.size) % n)[:, None] == columns[None, :]
            scaled_index = np.flatnonzero(scaled.any(axis=1))
            if into[0].size != scaled_index.size or set(into[0]) != set(scaled_index):
                continue  # q is not whole columns of the layer
            if any(np.isin(e, scaled_index).any() for e in elsewhere):
                continue
            return layer, columns, c, product
    return None


def _scale_columns(graph: Graph, layer: Node, columns: np.ndarray, c: float) -> None:
    w = layer.inputs[1]
    weights = np.array(w.const)
    if layer.op_type == "Gemm" and get_op("Gemm").attr(layer, "transB"):
        weights[columns, :] *= np.asarray(c, weights.dtype)
    else:
        weights[:, columns] *= np.asarray(c, weights.dtype)
    graph.set_input(layer, 1, graph.add_constant(f"{w.name}_scaled", weights))
    drop_if_unused(graph, w)
    bias = layer.input(2)
    if bias is not None:
        data = np.array(np.broadcast_to(bias.const, (layer.outputs[0].shape[-1],)))
        data[columns] *= np.asarray(c, data.dtype)
        graph.set_input(layer, 2, graph.add_constant(f"{bias.name}_scaled", data))
        drop_if_unused(graph, bias)


class FoldAttentionScale(Pass):
    """``MatMul(q, k) * c`` with q made by a dense layer: c moves into that layer."""

    def run(self, graph: Graph) -> PassResult:
        changed = False
        for mul in list(graph.nodes):
            if mul not in graph.nodes:
                continue
            found = _fold_target(graph, mul)
            if found is None:
                continue
            layer, columns, c, product = found
            if not graph.bypass(mul.outputs[0], product.outputs[0]):
                continue
            _scale_columns(graph, layer, columns, c)
            graph.remove_node(mul)
            for v in mul.inputs:
                drop_if_unused(graph, v)
            changed = True
        return PassResult(graph, changed)
