"""Graph → Program: one or more kernel calls per node, buffers in channels-last where it pays.

The emitters are table-driven: op type → ``Emitter`` (a function that reads the node and asks
the ``Lowering`` for buffers, weights and calls, and a check giving the reason it cannot).
There are four tables: byte moves, the float↔integer boundary, float ops and integer ops,
each merged from the op families' modules (``emit_linear``, ``emit_eltwise``, ``emit_pool``,
``emit_move``). Every node is checked against them before
anything is emitted, so all unsupported ops are reported at once.
"""

from __future__ import annotations

import numpy as np

from edgec.backends.c import emit_eltwise, emit_linear, emit_move, emit_pool, emit_recurrent
from edgec.backends.c import layout as L
from edgec.backends.c.emit_float_fast import with_fast_variants
from edgec.backends.c.lowering import Emitter, Lowering
from edgec.backends.c.program import IOPort, Program
from edgec.errors import UnsupportedOpError
from edgec.ir.graph import Graph, Node, Value
from edgec.ops import get_op

KERNEL_SETS = ("portable", "optimized")


def _merged(*tables: dict[str, Emitter]) -> dict[str, Emitter]:
    merged: dict[str, Emitter] = {}
    for table in tables:
        if set(merged) & set(table):
            raise RuntimeError(f"ops with two emitters: {sorted(set(merged) & set(table))}")
        merged.update(table)
    return merged


MOVE_EMITTERS = emit_move.MOVE_EMITTERS
BOUNDARY_EMITTERS = emit_eltwise.BOUNDARY_EMITTERS
# optimized builds try the fast float kernels first where they apply (emit_float_fast)
FLOAT_EMITTERS = with_fast_variants(
    _merged(
        emit_linear.FLOAT_EMITTERS,
        emit_eltwise.FLOAT_EMITTERS,
        emit_pool.FLOAT_EMITTERS,
        emit_recurrent.FLOAT_EMITTERS,
    )
)
INT_EMITTERS = _merged(
    emit_linear.INT_EMITTERS,
    emit_eltwise.INT_EMITTERS,
    emit_pool.INT_EMITTERS,
    emit_move.INT_EMITTERS,
    emit_recurrent.INT_EMITTERS,
)


def emitter_for(node: Node) -> Emitter | None:
    out = node.outputs[0]
    integer = out.quant is not None or (
        out.dtype is not None and np.issubdtype(out.dtype, np.integer)
    )
    # a recurrent node's first output (Y) may be unread and unquantized while Y_h is
    integer = integer or any(o.quant is not None for o in node.outputs)
    if node.op_type in BOUNDARY_EMITTERS:
        x = node.inputs[0]
        if integer and x.dtype is not None and np.issubdtype(x.dtype, np.integer):
            return INT_EMITTERS.get(node.op_type)  # int → int: a requantization
        return BOUNDARY_EMITTERS[node.op_type]
    if node.op_type in MOVE_EMITTERS:
        move = MOVE_EMITTERS[node.op_type]
        # A byte copy that declines an integer node (e.g. Concat of differently quantized
        # inputs) hands it to the integer kernel of the same op, if there is one.
        if integer and move.check(node) is not None:
            return INT_EMITTERS.get(node.op_type, move)
        return move
    if out.dtype == np.float32 and node.op_type in FLOAT_EMITTERS:
        return FLOAT_EMITTERS[node.op_type]
    if integer:
        return INT_EMITTERS.get(node.op_type)
    return None


def check_supported(graph: Graph) -> None:
    """Raise one UnsupportedOpError naming every node the C backend cannot lower, and why."""
    missing: dict[str, list[str]] = {}
    for node in graph.nodes:
        values = [v for v in (*node.inputs, *node.outputs) if v is not None]
        if get_op(node.op_type, node.domain) is None:
            reason = "an op edgec does not know"
        elif any(v.shape is None or v.dtype is None for v in values):
            reason = "shape unknown (it follows an op edgec does not know)"
        else:
            em = emitter_for(node)
            reason = "no C kernel" if em is None else em.check(node)
        if reason is not None:
            dtype = node.outputs[0].dtype
            key = f"{node.op_type} ({reason}; {dtype})"
            missing.setdefault(key, []).append(node.name)
    if missing:
        raise UnsupportedOpError(missing, "the C backend")


def lower(
    graph: Graph,
    io_layout: str = "declared",
    kernels: str = "portable",
    lean: frozenset[str] = frozenset(),
    weight_storage: str = "auto",
    in_place: frozenset[str] = frozenset(),
    stateful: bool = False,
) -> Program:
    """Lower a folded (and optionally quantized) graph to a Program (unplanned)."""
    if kernels not in KERNEL_SETS:
        raise ValueError(f"kernels must be one of {', '.join(KERNEL_SETS)}, not {kernels!r}")
    check_supported(graph)
    lw = Lowering(graph, io_layout, kernels, lean, weight_storage, in_place, stateful)
    for value in graph.inputs:
        layout = L.CHANNELS_LAST if io_layout == "nhwc" else L.LOGICAL
        buf = lw.add_input(value, layout)
        lw.program.inputs.append(_port(value, buf, lw))
    for node in graph.nodes:
        emitter_for(node).emit(lw, node)
    for value in graph.outputs:
        layout = L.CHANNELS_LAST if io_layout == "nhwc" else L.LOGICAL
        buf = lw.read(value, layout)
        lw.program.buffers[buf].last = len(lw.program.calls)
        lw.program.outputs.append(_port(value, buf, lw))
    for buf in lw.program.buffers.values():
        if buf.persistent:  # a state kept across calls: live from before the first step to the end
            buf.first, buf.last = -1, len(lw.program.calls)
    return lw.program


def _port(value: Value, buffer: str, lw: Lowering) -> IOPort:
    buf = lw.program.buffers[buffer]
    scale = zero_point = None
    if value.quant is not None and value.quant.axis is None:
        scale = float(value.quant.scale)
        zero_point = int(value.quant.zero_point)
    return IOPort(value.name, buffer, np.dtype(value.dtype), buf.shape, None, scale, zero_point)
