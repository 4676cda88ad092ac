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

from edgec.backends.c import (
    emit_attention,
    emit_convt,
    emit_eltwise,
    emit_linear,
    emit_math,
    emit_move,
    emit_pool,
    emit_recurrent,
    emit_reduce,
    emit_resize,
    emit_space,
)
from edgec.backends.c import layout as L
from edgec.backends.c.emit_float_fast import with_fast_variants
from edgec.backends.c.lowering import Emitter, Lowering
from edgec.backends.c.program import IOPort, Program
from edgec.backends.c.tiling import Stage, emit_stage
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


MOVE_EMITTERS = _merged(emit_move.MOVE_EMITTERS, emit_space.MOVE_EMITTERS)
BOUNDARY_EMITTERS = emit_eltwise.BOUNDARY_EMITTERS
# optimized builds try the fast float kernels first where they apply (emit_float_fast)
FLOAT_EMITTERS = with_fast_variants(
    _merged(
        emit_linear.FLOAT_EMITTERS,
        emit_eltwise.FLOAT_EMITTERS,
        emit_pool.FLOAT_EMITTERS,
        emit_reduce.FLOAT_EMITTERS,
        emit_convt.FLOAT_EMITTERS,
        emit_resize.FLOAT_EMITTERS,
        emit_math.FLOAT_EMITTERS,
        emit_attention.FLOAT_EMITTERS,
        emit_recurrent.FLOAT_EMITTERS,
    )
)
INT_EMITTERS = _merged(
    emit_linear.INT_EMITTERS,
    emit_eltwise.INT_EMITTERS,
    emit_pool.INT_EMITTERS,
    emit_move.INT_EMITTERS,
    emit_reduce.INT_EMITTERS,
    emit_convt.INT_EMITTERS,
    emit_resize.INT_EMITTERS,
    emit_math.INT_EMITTERS,
    emit_attention.INT_EMITTERS,
    emit_recurrent.INT_EMITTERS,
)


# Integer ops whose onnxruntime kernel (rounding "float") is another algorithm than TFLM's.
FLOAT_ROUNDING_EMITTERS = _merged(
    emit_eltwise.FLOAT_ROUNDING_EMITTERS, emit_pool.FLOAT_ROUNDING_EMITTERS
)


# Integer kernels that requantize in TFLM's fixed point only (edgec_fp_mbqm, not the
# rounding helpers): under another --rounding their nodes stay float (quantize.fallback).
TFLM_ROUNDING_ONLY = frozenset(emit_convt.INT_EMITTERS) | frozenset(
    op for op in emit_math.INT_EMITTERS if op != "Cast"
)


def emitter_for(node: Node, rounding: str = "tflm") -> Emitter | None:
    out = node.outputs[0]
    integer = out.quant is not None or (
        out.dtype is not None and np.issubdtype(out.dtype, np.integer)
    )
    # a recurrent node's first output (Y) may be unread and unquantized while Y_h is
    integer = integer or any(o.quant is not None for o in node.outputs)
    if rounding != "tflm" and integer and node.op_type in TFLM_ROUNDING_ONLY:
        return None
    if rounding == "float" and integer and node.op_type in FLOAT_ROUNDING_EMITTERS:
        special = FLOAT_ROUNDING_EMITTERS[node.op_type]
        if special.check(node) is None:
            return special
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


def node_reason(node: Node, rounding: str = "tflm") -> str | None:
    """Why the C backend cannot lower ``node``, or None."""
    values = [v for v in (*node.inputs, *node.outputs) if v is not None]
    if get_op(node.op_type, node.domain) is None:
        return "an op edgec does not know"
    if any(v.shape is None or v.dtype is None for v in values):
        return "shape unknown (it follows an op edgec does not know)"
    em = emitter_for(node, rounding)
    return "no C kernel" if em is None else em.check(node)


def check_supported(graph: Graph, rounding: str = "tflm") -> None:
    """Raise one UnsupportedOpError naming every node the C backend cannot lower, and why."""
    missing: dict[str, list[str]] = {}
    for node in graph.nodes:
        reason = node_reason(node, rounding)
        if reason is not None:
            dtype = node.outputs[0].dtype if node.outputs else None
            key = f"{node.op_type} ({reason}" + (f"; {dtype})" if dtype is not None else ")")
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
    core: str = "dsp",
    rounding: str = "tflm",
    stateful: bool = False,
    tiling: Stage | None = None,
    memo: dict | None = None,
) -> Program:
    """Lower a folded (and optionally quantized) graph to a Program (unplanned); ``tiling``
    runs one stage of layers tile by tile (tiling.py)."""
    if kernels not in KERNEL_SETS:
        raise ValueError(f"kernels must be one of {', '.join(KERNEL_SETS)}, not {kernels!r}")
    check_supported(graph, rounding)
    lw = Lowering(
        graph, io_layout, kernels, lean, weight_storage, in_place, core, rounding, stateful, memo
    )
    for value in graph.inputs:
        layout = L.CHANNELS_LAST if io_layout == "nhwc" else L.LOGICAL
        buf = lw.add_input(value, layout)
        lw.program.inputs.append(_port(value, buf, lw))
    staged = set(tiling.nodes) if tiling is not None else set()
    for node in graph.nodes:
        if node.name in staged:
            if node.name == tiling.nodes[0]:
                nodes = [n for n in graph.nodes if n.name in staged]
                emit_stage(lw, emitter_for, nodes, tiling.tiles)
            continue
        emitter_for(node, rounding).emit(lw, node)
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
