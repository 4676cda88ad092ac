"""Remove Identity and inference-mode Dropout: they only pass their input through."""

from __future__ import annotations

import numpy as np

from edgec.ir.graph import Graph, Node, Value
from edgec.passes.base import Pass, PassResult
from edgec.passes.dead_code import drop_if_unused


def can_bypass(graph: Graph, out: Value, source: Value) -> bool:
    """Whether ``graph.bypass(out, source)`` would succeed (see ``Graph.bypass``)."""
    if not graph.is_output(out):
        return True
    fixed = graph.is_output(source) or source.is_const or any(v is source for v in graph.inputs)
    return not fixed


def same_quant(a: Value, b: Value) -> bool:
    """Whether two values carry the same quantization (or none): replacing one by the other
    then changes no real number."""
    qa, qb = a.quant, b.quant
    if qa is None or qb is None:
        return qa is qb
    return (
        qa.dtype == qb.dtype
        and qa.axis == qb.axis
        and np.array_equal(qa.scale, qb.scale)
        and np.array_equal(qa.zero_point, qb.zero_point)
    )


def passes_through(graph: Graph, node: Node) -> bool:
    """An Identity, or a Dropout that is known to be in inference mode with its mask unread."""
    if node.domain or not node.inputs or node.inputs[0] is None:
        return False
    if not same_quant(node.inputs[0], node.outputs[0]):
        return False  # a requantizing copy is a real op
    if node.op_type == "Identity":
        return True
    if node.op_type != "Dropout":
        return False
    mode = node.input(2)
    if mode is not None and (not mode.is_const or bool(np.asarray(mode.const).reshape(()))):
        return False  # a run-time training flag could switch dropout on
    mask = node.outputs[1] if len(node.outputs) > 1 else None
    return mask is None or (not mask.users and not graph.is_output(mask))


class EliminateIdentity(Pass):
    """Identity and inference Dropout are bypassed; graph output names stay as they were.

    A node is kept when its output is a graph output whose name cannot move onto its input
    (the input is itself a graph input, output or constant).
    """

    def run(self, graph: Graph) -> PassResult:
        changed = False
        for node in list(graph.nodes):
            if not passes_through(graph, node):
                continue
            source, out = node.inputs[0], node.outputs[0]
            if not graph.bypass(out, source):
                continue
            graph.remove_node(node)
            for extra in node.outputs[1:]:  # the unread Dropout mask
                graph.remove_value(extra)
            for value in node.inputs[1:]:
                drop_if_unused(graph, value)
            changed = True
        return PassResult(graph, changed)

    def ensures(self, graph: Graph) -> None:
        for node in graph.nodes:
            if passes_through(graph, node) and can_bypass(graph, node.outputs[0], node.inputs[0]):
                raise self.fail(f"{node.op_type} left in the graph", node)
