"""MatMul of an activation by a constant matrix, then Add of a constant row → one Gemm.

Exporters often split a dense layer into MatMul + Add (mnist-8 does; torch's ``nn.Linear``
on a 3-d input always does). As a Gemm the bias joins the accumulator: one kernel, one
requantization, and no intermediate tensor. An activation of rank above 2 is reshaped to
rows around the Gemm (the reshapes move no data).
"""

from __future__ import annotations

import numpy as np

from edgec.ir.graph import Graph, Node
from edgec.passes.base import Pass, PassResult


def _bias_row(add: Node, product) -> np.ndarray | None:
    """The Add's constant operand as an (N,) row, if it is one."""
    other = add.inputs[1] if add.inputs[0] is product else add.inputs[0]
    if other is None or not other.is_const:
        return None
    n = product.shape[-1]
    data = other.const
    if data.size == n and data.shape[-1] == n and data.ndim <= 2:
        return data.reshape(n)
    if data.size == 1:
        return np.full(n, data.reshape(()), data.dtype)
    return None


def matmul_gemm_target(graph: Graph, node: Node) -> tuple[Node, np.ndarray] | None:
    if node.op_type != "MatMul" or node.fused is not None:
        return None
    a, b = node.inputs
    y = node.outputs[0]
    if a.is_const or not b.is_const or b.const.ndim != 2 or len(a.shape) < 2:
        return None
    if a.quant is not None or y.quant is not None or graph.is_output(y):
        return None
    readers = graph.consumers(y)
    if len(readers) != 1 or readers[0].op_type != "Add" or readers[0].fused is not None:
        return None
    add = readers[0]
    if add.outputs[0].shape != y.shape or add.outputs[0].quant is not None:
        return None
    bias = _bias_row(add, y)
    return (add, bias) if bias is not None else None


def _as_rows(graph: Graph, gemm: Node, result) -> None:
    """Feed ``gemm`` its N-d input as rows (K columns) and reshape its rows into ``result``."""
    a = gemm.inputs[0]
    k, n = a.shape[-1], result.shape[-1]
    rows = int(np.prod(a.shape[:-1]))
    flat = graph.new_value(f"{a.name}_rows", a.dtype, (rows, k))
    target = graph.add_constant(f"{gemm.name}_rows", np.array([rows, k], np.int64))
    graph.add_node("Reshape", [a, target], [flat], name=graph.unique_node_name(
        f"{gemm.name}_rows"), before=gemm)  # fmt: skip
    graph.set_input(gemm, 0, flat)
    out = graph.new_value(f"{gemm.name}_out", result.dtype, (rows, n))
    gemm.outputs[0] = out
    out.producer = gemm
    back = graph.add_constant(f"{gemm.name}_shape", np.array(result.shape, np.int64))
    graph.add_node("Reshape", [out, back], [result], name=graph.unique_node_name(
        f"{gemm.name}_unrows"), after=gemm)  # fmt: skip


class FuseMatMulAdd(Pass):
    """Rewrite ``Add(MatMul(A, B), c)`` (A 2-d, B and c constant) as ``Gemm(A, B, c)``."""

    def run(self, graph: Graph) -> PassResult:
        changed = False
        for node in list(graph.nodes):
            found = matmul_gemm_target(graph, node)
            if found is None:
                continue
            add, bias = found
            result = add.outputs[0]
            y = node.outputs[0]
            c = graph.add_constant(f"{node.name}_bias", bias.astype(y.dtype))
            graph.remove_node(add)
            for operand in add.inputs:
                if operand is not None and operand.is_const and not operand.users:
                    graph.remove_value(operand)
            node.op_type = "Gemm"
            node.inputs.append(c)
            c.users.append(node)
            if len(y.shape) == 2:
                node.outputs[0] = result
                result.producer = node
            else:
                _as_rows(graph, node, result)
            graph.remove_value(y)
            changed = True
        return PassResult(graph, changed)

    def ensures(self, graph: Graph) -> None:
        for node in graph.nodes:
            if matmul_gemm_target(graph, node) is not None:
                raise self.fail("MatMul + constant Add left unfused", node)
