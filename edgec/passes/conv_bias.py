"""Conv, then Add of a per-channel constant → the Conv's bias.

Some exporters keep a convolution's bias apart: mnist-8 is Conv without bias, then Add of a
[C, 1, 1] constant (then Relu). The Add is one more pass over the convolution's output, and
on the TVM backend it also stays in NCHW between two layout transposes (relax does not move
a rank-3 constant into NHWC): mnist-8's two such Adds with their transposes took longer
than its first convolution. As the bias, the constant joins the accumulator. Float graphs
only: a quantized Add requantizes on its own.
"""

from __future__ import annotations

import numpy as np

from edgec.ir.graph import Graph, Node, Value
from edgec.passes.base import Pass, PassResult
from edgec.passes.dead_code import drop_if_unused
from edgec.passes.refit import replace_input


def _float(value: Value | None) -> bool:
    return value is None or value.quant is None


def _channel_row(constant: np.ndarray, out_shape, channels: int) -> np.ndarray | None:
    """``constant`` as a (C,) row if, broadcast against ``out_shape`` ([N, C, ...]), it
    varies along the channel axis only."""
    if constant.ndim > len(out_shape):
        return None
    aligned = (1,) * (len(out_shape) - constant.ndim) + constant.shape
    if any(d != 1 for i, d in enumerate(aligned) if i != 1) or aligned[1] not in (1, channels):
        return None
    return np.broadcast_to(constant.reshape(-1), (channels,))


def conv_bias_target(graph: Graph, node: Node) -> tuple[Node, np.ndarray] | None:
    """The Add that ``node`` (a float Conv) feeds alone and the (C,) row it adds, if any."""
    if node.op_type != "Conv" or node.domain or node.fused is not None:
        return None
    y = node.outputs[0]
    weights, bias = node.input(1), node.input(2)
    if weights is None or not weights.is_const or (bias is not None and not bias.is_const):
        return None
    if len(y.shape or ()) < 3 or graph.is_output(y) or not all(map(_float, node.inputs)):
        return None
    if not np.issubdtype(y.dtype, np.floating) or not _float(y):
        return None
    readers = graph.consumers(y)
    if len(readers) != 1 or readers[0].op_type != "Add" or readers[0].domain:
        return None
    add = readers[0]
    other = add.inputs[1] if add.inputs[0] is y else add.inputs[0]
    result = add.outputs[0]
    if other is None or not other.is_const or result.shape != y.shape or not _float(result):
        return None
    row = _channel_row(np.asarray(other.const), y.shape, int(y.shape[1]))
    return None if row is None else (add, row)


class FuseConvBias(Pass):
    """Rewrite ``Add(Conv(x, w[, b]), c)`` (c per channel, constant) as ``Conv(x, w, b + c)``
    (with the Add's fused activation)."""

    def run(self, graph: Graph) -> PassResult:
        changed = False
        for node in list(graph.nodes):
            found = conv_bias_target(graph, node)
            if found is None:
                continue
            add, row = found
            y, result = node.outputs[0], add.outputs[0]
            old = node.input(2)
            total = row.astype(np.float64) + (0.0 if old is None else old.const.astype(np.float64))
            graph.remove_node(add)
            for operand in add.inputs:
                drop_if_unused(graph, operand)
            replace_input(graph, node, 2, total.astype(y.dtype), absent_name=f"{node.name}_bias")
            node.fused = add.fused
            node.outputs[0] = result
            result.producer = node
            graph.remove_value(y)
            changed = True
        return PassResult(graph, changed)

    def ensures(self, graph: Graph) -> None:
        for node in graph.nodes:
            if conv_bias_target(graph, node) is not None:
                raise self.fail("Conv + per-channel constant Add left unfused", node)
