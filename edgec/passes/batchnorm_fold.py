"""Fold an inference BatchNormalization into the Conv or Gemm that feeds it.

BN is a per-channel affine map ``y = x * m + o``; after a linear op it can be absorbed
into the weights (scaled by ``m`` along the output channels) and the bias (``b * m + o``),
saving a full pass over the activation tensor.
"""

from __future__ import annotations

import numpy as np

from edgec.ir.graph import Graph, Node, Value
from edgec.ops.normalization import fold_batchnorm
from edgec.passes.base import Pass, PassResult
from edgec.passes.dead_code import drop_if_unused

PRODUCERS = ("Conv", "Gemm")


def _float_const(value: Value | None) -> bool:
    return (
        value is not None
        and value.is_const
        and value.quant is None
        and np.issubdtype(value.const.dtype, np.floating)
    )


def foldable_producer(graph: Graph, bn: Node) -> Node | None:
    """The Conv/Gemm that ``bn`` can be folded into, or None."""
    if bn.op_type != "BatchNormalization" or bn.domain or len(bn.outputs) != 1:
        return None
    if not all(_float_const(v) for v in bn.inputs[1:5]):
        return None
    x = bn.inputs[0]
    producer = x.producer if x is not None else None
    if producer is None or producer.op_type not in PRODUCERS or producer.domain:
        return None
    if producer.fused is not None or len(producer.outputs) != 1 or x.quant is not None:
        return None
    if graph.is_output(x) or graph.consumers(x) != [bn]:
        return None
    weight, bias = producer.input(1), producer.input(2)
    if not _float_const(weight) or (bias is not None and not _float_const(bias)):
        return None
    return producer


class FoldBatchNorm(Pass):
    """BatchNormalization after a Conv (any rank, any group count) or a Gemm with constant
    weights is absorbed into that producer; the BN output's name survives if it is a
    graph output."""

    def run(self, graph: Graph) -> PassResult:
        changed = False
        for bn in list(graph.nodes):
            producer = foldable_producer(graph, bn)
            if producer is None:
                continue
            x, y = bn.inputs[0], bn.outputs[0]
            scale, shift = self._affine(bn)
            if producer.op_type == "Conv":
                weight, bias = _fold_conv(producer, scale, shift)
            else:
                weight, bias = _fold_gemm(producer, scale, shift)
            self._set_parameters(graph, producer, weight, bias)
            graph.remove_node(bn)
            if not graph.bypass(y, x):  # x is no graph input, output or constant: cannot fail
                raise self.fail("could not reroute the BatchNormalization output", bn)
            for value in bn.inputs[1:]:
                drop_if_unused(graph, value)
            changed = True
        return PassResult(graph, changed)

    def _affine(self, bn: Node) -> tuple[np.ndarray, np.ndarray]:
        scale, bias, mean, var = (v.const.astype(np.float64) for v in bn.inputs[1:5])
        return fold_batchnorm(scale, bias, mean, var, float(bn.attrs.get("epsilon", 1e-5)))

    @staticmethod
    def _set_parameters(graph: Graph, node: Node, weight: np.ndarray, bias: np.ndarray) -> None:
        old_weight, old_bias = node.input(1), node.input(2)
        dtype = old_weight.const.dtype
        new_weight = graph.add_constant(f"{old_weight.name}_bn", weight.astype(dtype))
        base = old_bias.name if old_bias is not None else f"{node.name}_bias"
        new_bias = graph.add_constant(f"{base}_bn", bias.astype(dtype))
        graph.set_input(node, 1, new_weight)
        if len(node.inputs) < 3:
            node.inputs.append(None)
        graph.set_input(node, 2, new_bias)
        drop_if_unused(graph, old_weight)
        drop_if_unused(graph, old_bias)

    def ensures(self, graph: Graph) -> None:
        for node in graph.nodes:
            if foldable_producer(graph, node) is not None:
                raise self.fail("BatchNormalization left after a foldable producer", node)


def _fold_conv(conv: Node, scale: np.ndarray, shift: np.ndarray):
    """Weights (M, C/group, k…) scale along M; the bias becomes ``b * scale + shift``."""
    w = conv.inputs[1].const.astype(np.float64)
    b = conv.input(2)
    bias = b.const.astype(np.float64) if b is not None else np.zeros_like(shift)
    weight = w * scale.reshape(-1, *([1] * (w.ndim - 1)))
    return weight, bias * scale + shift


def _fold_gemm(gemm: Node, scale: np.ndarray, shift: np.ndarray):
    """``alpha * A @ B + beta * C`` then BN over the N columns becomes
    ``A @ (alpha * B * scale) + (beta * C * scale + shift)`` with alpha = beta = 1."""
    alpha = float(gemm.attrs.pop("alpha", 1.0))
    beta = float(gemm.attrs.pop("beta", 1.0))
    b = gemm.inputs[1].const.astype(np.float64)
    # B is (K, N), or (N, K) with transB: scale the axis that holds the N output columns.
    column_scale = scale.reshape(-1, 1) if gemm.attrs.get("transB", 0) else scale.reshape(1, -1)
    weight = alpha * b * column_scale
    c = gemm.input(2)
    if c is None:
        return weight, shift
    # C broadcasts to (M, N); scaling its columns may widen it, e.g. (M, 1) to (M, N).
    return weight, beta * c.const.astype(np.float64) * scale + shift
