"""Stateful (streaming) builds: the checks, and the graph run a few time steps per call.

With ``--stateful`` the recurrent nodes' state persists across ``model_run`` calls, so a
sequence can arrive in pieces (a KWS model frame by frame). Quantization calibrates on whole
sequences first; then :func:`resequence` gives the graph ``steps`` time steps per call: the
input's time axis (its one axis of the sequence length T) and every reshape target holding T
take ``steps``, and shapes are inferred again. What cannot follow (a node that needs the
whole sequence) is a ``ShapeError`` naming it.
"""

from __future__ import annotations

import numpy as np

from edgec.errors import EdgecError, ShapeError, node_error, show_name
from edgec.ir.graph import Graph, Node
from edgec.ops import get_op
from edgec.ops.shapes import infer_shapes

RECURRENT = ("LSTM", "GRU")


def recurrent_nodes(graph: Graph) -> list[Node]:
    return [n for n in graph.nodes if n.op_type in RECURRENT and not n.domain]


def check_stateful(graph: Graph) -> int:
    """Refuse what a state carried across calls cannot mean; returns the sequence length."""
    nodes = recurrent_nodes(graph)
    if not nodes:
        raise EdgecError("--stateful keeps LSTM/GRU state across calls; this model has none")
    lengths = set()
    for node in nodes:
        op = get_op(node.op_type)
        if op.attr(node, "direction") != "forward":
            raise node_error(
                EdgecError,
                node,
                f"--stateful carries the state forward in time; a {op.attr(node, 'direction')} "
                "node needs the whole sequence at once (compile without --stateful)",
            )
        for slot in op.state_inputs():
            value = node.input(slot)
            if value is not None and not value.is_const:
                raise node_error(
                    EdgecError,
                    node,
                    f"its initial state {show_name(value.name)} is a model input: with "
                    "--stateful the state comes from the previous call (make it a constant, "
                    "or compile without --stateful and pass the state yourself)",
                )
        lengths.add(op.node_shape(node).steps)
    if len(lengths) != 1:
        raise EdgecError(f"--stateful: the recurrent nodes run different lengths {sorted(lengths)}")
    return lengths.pop()


def stream_input(graph: Graph, steps: int) -> tuple[str, int]:
    """The graph input that carries the sequence and its time axis (its only axis of size
    ``steps``)."""
    found = []
    for value in graph.inputs:
        axes = [i for i, d in enumerate(value.shape) if d == steps]
        if len(axes) > 1:
            raise ShapeError(
                f"--stateful: input {show_name(value.name)} {value.shape} has several axes of "
                f"the sequence length {steps}; which one is time is ambiguous"
            )
        if axes:
            found.append((value.name, axes[0]))
    if len(found) != 1:
        names = ", ".join(show_name(n) for n, _ in found) or "none"
        raise ShapeError(
            f"--stateful needs one input with an axis of the sequence length {steps}; found {names}"
        )
    return found[0]


def make_stateful(graph: Graph, steps: int | None) -> tuple[Graph, dict]:
    """A copy of ``graph`` for a stateful build running ``steps`` time steps per call (None:
    the whole sequence), and the manifest's account of it."""
    length = check_stateful(graph)
    name, axis = stream_input(graph, length)
    steps = length if steps is None else int(steps)
    if steps < 1:
        raise EdgecError(f"--stream-steps must be at least 1, got {steps}")
    stream = {"input": name, "time_axis": axis, "steps": steps, "sequence": length}
    if steps == length:
        return graph, stream
    g = graph.copy()
    value = g.value(name)
    value.shape = tuple(steps if i == axis else d for i, d in enumerate(value.shape))
    for node in g.nodes:
        if node.op_type == "Reshape" and node.input(1) is not None and node.inputs[1].is_const:
            _retarget(g, node, length, steps)
    try:
        infer_shapes(g)
    except EdgecError as exc:
        raise ShapeError(
            f"--stream-steps {steps}: the graph needs its whole sequence: {exc}"
        ) from None
    return g, stream


def _retarget(graph: Graph, node: Node, length: int, steps: int) -> None:
    target = np.asarray(node.inputs[1].const)
    hits = np.flatnonzero(target == length)
    if len(hits) == 0:
        return
    if len(hits) > 1:
        raise node_error(
            ShapeError, node, f"its target shape {target.tolist()} holds the sequence length twice"
        )
    new = target.copy()
    new[hits[0]] = steps
    graph.set_input(node, 1, graph.add_constant(f"{node.inputs[1].name}_stream", new))
