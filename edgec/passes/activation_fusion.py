"""Fuse Relu and constant-bound Clip into the op that produces their input.

Kernels clamp their results on the way out, so a separate activation would only cost
one more pass over the tensor and one more buffer.
"""

from __future__ import annotations

import numpy as np

from edgec.ir.graph import FusedActivation, Graph, Node, Value
from edgec.passes.base import Pass, PassResult
from edgec.passes.dead_code import drop_if_unused

PRODUCERS = ("Conv", "ConvTranspose", "Gemm", "MatMul", "Add")


def _float_activation(value: Value | None) -> bool:
    return (
        value is not None
        and value.dtype is not None
        and np.issubdtype(value.dtype, np.floating)
        and value.quant is None
    )


def _bound(value: Value | None) -> float | None:
    return None if value is None else float(np.asarray(value.const).reshape(()))


def as_fused(node: Node) -> FusedActivation | None:
    """The fused form of a Relu or of a Clip whose bounds are constant, else None."""
    if node.domain or not node.inputs or len(node.outputs) != 1:
        return None
    if node.op_type == "Relu":
        return FusedActivation("Relu")
    if node.op_type == "Clip":
        bounds = [node.input(1), node.input(2)]
        if any(b is not None and (not b.is_const or b.const.size != 1) for b in bounds):
            return None
        return FusedActivation("Clip", {"min": _bound(bounds[0]), "max": _bound(bounds[1])})
    return None


def fusion_target(graph: Graph, act: Node) -> Node | None:
    """The producer ``act`` can be fused into, or None."""
    if as_fused(act) is None:
        return None
    x, y = act.inputs[0], act.outputs[0]
    producer = x.producer if x is not None else None
    if producer is None or producer.op_type not in PRODUCERS or producer.domain:
        return None
    if producer.fused is not None or producer.outputs[0] is not x:
        return None
    if not (_float_activation(x) and _float_activation(y)):
        return None  # integer-domain clamps are the quantizer's business
    if graph.is_output(x) or graph.consumers(x) != [act]:
        return None
    return producer


class FuseActivation(Pass):
    """Relu / constant Clip after Conv, ConvTranspose, Gemm, MatMul or Add becomes the
    producer's ``fused`` activation; the activation's output name is kept."""

    def run(self, graph: Graph) -> PassResult:
        changed = False
        for act in list(graph.nodes):
            producer = fusion_target(graph, act)
            if producer is None:
                continue
            fused = as_fused(act)
            name, source = act.outputs[0].name, act.inputs[0]
            if not graph.bypass(act.outputs[0], source):
                continue
            if not graph.has_value(name):  # the fused value keeps the activation's name
                graph.rename_value(source, name)
            graph.remove_node(act)
            producer.fused = fused
            for bound in act.inputs[1:]:
                drop_if_unused(graph, bound)
            changed = True
        return PassResult(graph, changed)

    def ensures(self, graph: Graph) -> None:
        for node in graph.nodes:
            if fusion_target(graph, node) is not None:
                raise self.fail(f"{node.op_type} left after a fusable producer", node)
