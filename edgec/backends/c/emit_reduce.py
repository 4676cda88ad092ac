"""Reductions over any axes (ReduceMean, ReduceSum, ReduceMax… in float) and the arg
reductions (ArgMax, ArgMin on float or integer data).

A reduction is planned in memory order: the kept axes, in the order the output stores them,
and the reduced axes, each with its stride in the input (``reduction_plan``); the kernels
walk both with an odometer, so every axis set works in any layout. The input is read in its
stored layout when the kept axes land in an output layout's memory order, else in logical
order (where they always do).
"""

from __future__ import annotations

import numpy as np

from edgec.backends.c import layout as L
from edgec.backends.c.emit_common import c_enum
from edgec.backends.c.lowering import Emitter, Lowering
from edgec.ir.graph import Node, Value
from edgec.ops import get_op
from edgec.ops.registry import normalize_axis

REDUCE_OPS = {
    op: c_enum(op)
    for op in (
        "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
        "ReduceL2", "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp",
    )
}  # fmt: skip
WALK = "edgec_walk.h"  # the kernels' private odometer header
ARG_SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.int8): "s8", np.dtype(np.int16): "s16"}


def reduced_axes(node: Node) -> tuple[int, ...]:
    """The logical axes ``node`` reduces (an arg reduction: its one axis)."""
    x = node.inputs[0]
    op = get_op(node.op_type)
    if node.op_type in ("ArgMax", "ArgMin"):
        return (normalize_axis(node, op.attr(node, "axis"), len(x.shape)),)
    axes = node.input(1).const if node.input(1) is not None else None
    return op.axes(node, len(x.shape), axes)


def _padded(values: list[int], fill: int) -> list[int]:
    return [fill] * (L.MAX_RANK - len(values)) + values


def reduction_plan(node: Node, in_layout: str, out_layout: str) -> dict | None:
    """Kept and reduced dims with their input strides (the kernel's fields), when the kept
    axes, in ``in_layout``'s memory order, are ``out_layout``'s memory order; else None."""
    x, y = node.inputs[0], node.outputs[0]
    axes = set(reduced_axes(node))
    rank = len(x.shape)
    perm = L.to_memory_perm(rank, in_layout)
    mem = L.memory_shape(x.shape, in_layout)
    strides = L.contiguous_strides(mem)
    kept = [(a, s) for a, s in zip(perm, strides) if a not in axes and x.shape[a] != 1]
    reduced = [(x.shape[a], s) for a, s in zip(perm, strides) if a in axes and x.shape[a] != 1]
    keep_dims = len(y.shape) == rank
    to_out = {a: (a if keep_dims else a - sum(1 for r in axes if r < a)) for a in range(rank)}
    out_mem = [a for a in L.to_memory_perm(len(y.shape), out_layout) if y.shape[a] != 1]
    if [to_out[a] for a, _ in kept] != out_mem:
        return None
    return {
        "kept": _padded([x.shape[a] for a, _ in kept], 1),
        "kept_stride": _padded([s for _, s in kept], 0),
        "red": _padded([d for d, _ in reduced], 1),
        "red_stride": _padded([s for _, s in reduced], 0),
    }


def _read_planned(lw: Lowering, node: Node) -> tuple[str, str, dict]:
    """(input buffer, output buffer, plan fields) in the cheapest pair of layouts."""
    x, y = node.inputs[0], node.outputs[0]
    stored = L.normalize(len(x.shape), lw.stored_layout(x))
    options = [(stored, out) for out in (stored, L.CHANNELS_LAST, L.LOGICAL)]
    options.append((L.LOGICAL, L.LOGICAL))
    for in_layout, out_layout in options:
        plan = reduction_plan(node, in_layout, out_layout)
        if plan is not None:
            return lw.read(x, in_layout), lw.write(y, out_layout), plan
    raise AssertionError("a logical-order reduction always has a plan")


def emit_reduce(lw: Lowering, node: Node) -> None:
    src, dst, plan = _read_planned(lw, node)
    fields = {"op": REDUCE_OPS[node.op_type], **plan}
    lw.call(
        "edgec_reduce_f32",
        "edgec_reduce_f32_t",
        fields,
        [src],
        [dst],
        node.name,
        node.op_type,
        {"reduce_f32.c", WALK},
    )


def check_reduce(node: Node) -> str | None:
    axes = node.input(1)
    if axes is not None and not axes.is_const:
        return "axes must be constant"
    if len(node.inputs[0].shape) > L.MAX_RANK:
        return f"rank above {L.MAX_RANK}"
    return None


def emit_arg_reduce(lw: Lowering, node: Node) -> None:
    x = node.inputs[0]
    src, dst, plan = _read_planned(lw, node)
    op = get_op(node.op_type)
    fields = {
        "is_min": int(node.op_type == "ArgMin"),
        "select_last": int(op.attr(node, "select_last_index")),
        **plan,
    }
    sfx = ARG_SUFFIX[np.dtype(x.dtype)]
    sources = {"reduce_f32.c" if sfx == "f32" else "reduce_int.c", WALK}
    lw.call(
        f"edgec_arg_reduce_{sfx}",
        "edgec_arg_reduce_t",
        fields,
        [src],
        [dst],
        node.name,
        node.op_type,
        sources,
    )


def check_arg_reduce(node: Node) -> str | None:
    x = node.inputs[0]
    if np.dtype(x.dtype) not in ARG_SUFFIX:
        return f"{x.dtype} input (float32, int8, int16)"
    if x.quant is not None and not _positive_scale(x):
        return "input quantized per channel or with a non-positive scale"
    if len(x.shape) > L.MAX_RANK:
        return f"rank above {L.MAX_RANK}"
    return None


def _positive_scale(value: Value) -> bool:
    q = value.quant
    return q.axis is None and float(np.asarray(q.scale).reshape(-1)[0]) > 0


FLOAT_EMITTERS = {op: Emitter(emit_reduce, check_reduce) for op in REDUCE_OPS}
# An arg reduction's output is an int64 index: the table of integer outputs, any input.
INT_EMITTERS = {op: Emitter(emit_arg_reduce, check_arg_reduce) for op in ("ArgMax", "ArgMin")}
