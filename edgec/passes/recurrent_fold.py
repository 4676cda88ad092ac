"""Fold what the exporters write around LSTM and GRU nodes.

torch's exporters (legacy at opsets 13 and 17, dynamo) surround a recurrent layer with
shape arithmetic (``Shape → Gather → Unsqueeze → Concat → Expand`` of zero initial states),
weight reordering (``Slice``/``Concat``), ``Transpose``/``Squeeze`` between batch-first and
time-major, and ``y[:, -1]`` as a ``Gather`` of the last time step. Constant folding and the
transpose canonicalization already turn the first ones into constants and (at batch 1)
reshapes; this pass does the rest:

- a zero constant ``initial_h``/``initial_c`` is the default: the input is dropped;
- the last time step of ``Y``, read through reshapes by a ``Gather`` (or a one-step
  ``Slice``) of index -1 along the time axis, is ``Y_h`` for a forward (one-direction) node:
  the reader takes ``Y_h`` reshaped, and ``Y`` itself is then no longer stored;
- a ``Gather`` of the one entry of a size-1 axis of an output (``h[-1]`` of the final state
  of one direction) is a reshape.
"""

from __future__ import annotations

import math

import numpy as np

from edgec.ir.graph import Graph, Node, Value
from edgec.ops import get_op
from edgec.passes.base import Pass, PassResult
from edgec.passes.dead_code import drop_if_unused

RECURRENT = ("LSTM", "GRU")


class FoldRecurrent(Pass):
    """See the module docstring."""

    def run(self, graph: Graph) -> PassResult:
        changed = False
        for node in list(graph.nodes):
            if node.op_type not in RECURRENT or node.domain or node not in graph.nodes:
                continue
            changed |= _drop_zero_states(graph, node)
            changed |= _last_step_to_final_state(graph, node)
            changed |= _squeezing_gathers(graph, node)
        return PassResult(graph, changed)


def _squeezing_gathers(graph: Graph, node: Node) -> bool:
    """Gathers that only drop a size-1 axis of the node's outputs become reshapes."""
    changed = False
    for out in node.outputs:
        for user in graph.consumers(out):
            index = user.input(1)
            if user.op_type != "Gather" or user.domain or user.inputs[0] is not out:
                continue
            if index is None or not index.is_const or index.const.ndim != 0:
                continue
            if out.shape[user.attrs.get("axis", 0) % len(out.shape)] != 1:
                continue
            target = user.outputs[0]
            shape = graph.add_constant(f"{target.name}_shape", np.asarray(target.shape, np.int64))
            user.op_type, user.attrs = "Reshape", {}
            graph.set_input(user, 1, shape)
            drop_if_unused(graph, index)
            changed = True
    return changed


def _state_slots(node: Node) -> tuple[int, ...]:
    return (5, 6) if node.op_type == "LSTM" else (5,)


def _drop_zero_states(graph: Graph, node: Node) -> bool:
    changed = False
    for slot in _state_slots(node):
        value = node.input(slot)
        if value is None or not value.is_const or value.quant is not None:
            continue
        if np.issubdtype(value.const.dtype, np.floating) and not np.any(value.const):
            graph.set_input(node, slot, None)
            drop_if_unused(graph, value)
            changed = True
    while node.inputs and node.inputs[-1] is None:
        node.inputs.pop()
    return changed


def _last_step_to_final_state(graph: Graph, node: Node) -> bool:
    """Readers of Y's last time step read Y_h instead (forward nodes only)."""
    op = get_op(node.op_type)
    if op.attr(node, "direction") != "forward" or not node.outputs:
        return False
    y = node.outputs[0]
    s = op.node_shape(node)
    if s.layout and s.batch != 1:  # the last step must be the trailing block of Y's memory
        return False
    changed = False
    for reader in _last_step_readers(graph, y, s.steps):
        final = _final_state(graph, node)
        out = reader.outputs[0]
        shape = graph.add_constant(f"{out.name}_shape", np.asarray(out.shape, np.int64))
        flat = graph.new_value(f"{out.name}_final", out.dtype, out.shape)
        flat.quant = out.quant
        graph.add_node("Reshape", [final, shape], [flat], name=f"{reader.name}_final",
                       before=reader)  # fmt: skip
        graph.bypass(out, flat)  # flat is new: it can always take out's place
        graph.remove_node(reader)
        for value in reader.inputs:
            drop_if_unused(graph, value)
        changed = True
    return changed


def _final_state(graph: Graph, node: Node) -> Value:
    """The node's Y_h output, declared if it was not."""
    if len(node.outputs) > 1:
        return node.outputs[1]
    y = node.outputs[0]
    shape = get_op(node.op_type).node_shape(node).state_shape()
    final = graph.new_value(f"{node.name}_Y_h", y.dtype, shape)
    final.quant = y.quant
    node.outputs.append(final)
    final.producer = node
    return final


def _last_step_readers(graph: Graph, y: Value, steps: int) -> list[Node]:
    """Gather/Slice nodes reading the last time step of ``y`` through reshapes only."""
    found = []
    todo = [y]
    while todo:
        value = todo.pop()
        for user in graph.consumers(value):
            if user.op_type == "Reshape" and user.inputs[0] is value:
                todo.append(user.outputs[0])
            elif _selects_last_step(user, value, steps):
                found.append(user)
    return found


def _selects_last_step(node: Node, value: Value, steps: int) -> bool:
    """A Gather of index -1 (or steps - 1), or a Slice of the last element, along an axis
    of size ``steps`` with only size-1 axes before it (so the slice is Y's last block)."""
    if node.domain or not node.inputs or node.inputs[0] is not value:
        return False
    shape = value.shape
    if node.op_type == "Gather":
        index = node.input(1)
        if index is None or not index.is_const or index.const.size != 1:
            return False
        axis = node.attrs.get("axis", 0) % len(shape)
        picked = int(np.asarray(index.const).reshape(()))
        last = picked in (-1, steps - 1)
    elif node.op_type == "Slice":
        consts = [node.input(i) for i in range(1, 5)]
        if any(v is not None and not v.is_const for v in consts) or consts[0] is None:
            return False
        starts, ends = consts[0].const.reshape(-1), consts[1].const.reshape(-1)
        axes = consts[2].const.reshape(-1) if consts[2] is not None else np.arange(len(starts))
        step = consts[3].const.reshape(-1) if consts[3] is not None else np.ones(len(starts))
        if len(starts) != 1 or int(step[0]) != 1:
            return False
        axis = int(axes[0]) % len(shape)
        last = int(starts[0]) in (-1, steps - 1) and int(ends[0]) >= steps
    else:
        return False
    return last and shape[axis] == steps and math.prod(shape[:axis]) == 1
