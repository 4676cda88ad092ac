"""Cross-layer equalization (Nagel et al., 2019) of consecutive convolutions, for
depthwise-separable networks before quantization.

Two convolutions A → B, where A's output feeds only B (through a fused Relu or nothing,
which commute with a positive scale), compute the same function when A's output channel
``i`` is divided by ``s_i`` (its weights and bias) and B's input channel ``i`` multiplied
by it. With ``s_i = sqrt(r_A,i / r_B,i)`` (``r``: the weights' largest magnitude of A's
output channel ``i`` and of B's input channel ``i``) both ranges become ``sqrt(r_A,i r_B,i)``:
a depthwise layer's channels, whose ranges differ by orders of magnitude, and the pointwise
layer after it then quantize alike. A depthwise B scales its own output channel too, so a
chain conv → dw → pw is equalized by sweeping its pairs a few times.
"""

from __future__ import annotations

import numpy as np

from edgec.ir.graph import Graph, Node
from edgec.passes.base import Pass, PassResult
from edgec.passes.refit import replace_input

SWEEPS = 8
MIN_RANGE = 1e-8  # channels with (almost) no weights are left alone


def _float_conv(node: Node) -> bool:
    w, b = node.input(1), node.input(2)
    return (
        node.op_type == "Conv"
        and not node.domain
        and w is not None
        and w.is_const
        and w.quant is None
        and np.issubdtype(w.const.dtype, np.floating)
        and (b is None or b.is_const)
    )


def _homogeneous(node: Node) -> bool:
    """Whether the fused activation commutes with a positive per-channel scale."""
    return node.fused is None or node.fused.op_type == "Relu"


def _depthwise(node: Node) -> bool:
    group = int(node.attrs.get("group", 1))
    return group > 1 and group == node.inputs[1].shape[0] == node.inputs[0].shape[1]


def _equalizable(node: Node) -> bool:
    """A float convolution of groups 1 or depthwise (its output channel i reads input i)."""
    return _float_conv(node) and (int(node.attrs.get("group", 1)) == 1 or _depthwise(node))


def pairs(graph: Graph) -> list[tuple[Node, Node]]:
    """(A, B): equalizable convolutions where B alone reads A's output, through a fused Relu
    or nothing."""
    found = []
    for a in graph.nodes:
        if not (_equalizable(a) and _homogeneous(a)):
            continue
        out = a.outputs[0]
        users = graph.consumers(out)
        if graph.is_output(out) or len(users) != 1:
            continue
        b = users[0]
        if b.inputs[0] is out and _equalizable(b):
            found.append((a, b))
    return found


class CrossLayerEqualization(Pass):
    """Equalize the weight ranges of every pair ``pairs`` finds (see the module docstring).
    ``scales`` records each pair's last factors (A's node name → s)."""

    def __init__(self):
        self.scales: dict[str, np.ndarray] = {}

    def run(self, graph: Graph) -> PassResult:
        chain = pairs(graph)
        changed = False
        for _ in range(SWEEPS):
            for a, b in chain:
                changed |= self._equalize(graph, a, b)
        return PassResult(graph, changed)

    def _equalize(self, graph: Graph, a: Node, b: Node) -> bool:
        wa, wb = a.inputs[1].const.astype(np.float64), b.inputs[1].const.astype(np.float64)
        range_a = np.abs(wa.reshape(wa.shape[0], -1)).max(axis=1)
        if _depthwise(b):
            range_b = np.abs(wb.reshape(wb.shape[0], -1)).max(axis=1)
        else:
            range_b = np.abs(np.moveaxis(wb, 1, 0).reshape(wb.shape[1], -1)).max(axis=1)
        ok = (range_a > MIN_RANGE) & (range_b > MIN_RANGE)
        s = np.ones_like(range_a)
        s[ok] = np.sqrt(range_a[ok] / range_b[ok])
        if np.allclose(s, 1.0, rtol=1e-3):
            return False
        shape = (-1,) + (1,) * (wa.ndim - 1)
        dtype = a.inputs[1].const.dtype
        replace_input(graph, a, 1, (wa / s.reshape(shape)).astype(dtype))
        if a.input(2) is not None:
            replace_input(graph, a, 2, (a.inputs[2].const / s).astype(a.inputs[2].const.dtype))
        if _depthwise(b):
            wb = wb * s.reshape(shape)
        else:
            wb = wb * s.reshape(1, -1, *([1] * (wb.ndim - 2)))
        replace_input(graph, b, 1, wb.astype(b.inputs[1].const.dtype))
        self.scales[a.name] = s
        return True
