"""Emitters for ops that only move bytes; they serve every dtype (element size is a field)."""

from __future__ import annotations

import math

import numpy as np

from edgec.backends.c import layout as L
from edgec.backends.c.emit_common import c_enum, int_sources, suffix
from edgec.backends.c.int_checks import check_concat as check_int_concat
from edgec.backends.c.int_checks import checked, concat_requant
from edgec.backends.c.lowering import Emitter, Lowering
from edgec.backends.c.rounding import rescale_operands
from edgec.ir.graph import Node
from edgec.ops import get_op
from edgec.ops.integer.nodes import scale_zp
from edgec.ops.quant import quantize

MOVE_SOURCES = {"move.c"}
PAD_MODES = {mode: c_enum(f"Pad{mode.title()}") for mode in ("constant", "reflect", "edge", "wrap")}


def _padded(values, length: int, fill: int) -> list[int]:
    values = [int(v) for v in values]
    return [fill] * (length - len(values)) + values


def _same_quant(values) -> bool:
    first = values[0].quant
    for v in values[1:]:
        q = v.quant
        if (first is None) != (q is None):
            return False
        if first is not None and not (
            np.array_equal(first.scale, q.scale) and np.array_equal(first.zero_point, q.zero_point)
        ):
            return False
    return True


# ---- reshape family: aliases ------------------------------------------------------------------
def emit_alias(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    src = lw.read(x, L.LOGICAL)
    lw.alias(y, src, L.LOGICAL)


def check_alias(node: Node) -> str | None:
    x, y = node.inputs[0], node.outputs[0]
    # An unquantized integer input (a model input the QDQ form left bare) is taken as is.
    if x.quant is not None and y.quant is not None and not _same_quant([x, y]):
        return "input and output quantization differ"
    return None


# ---- transpose ---------------------------------------------------------------------------------
def emit_transpose(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    perm = get_op("Transpose").perm(node, len(x.shape))
    have = lw.stored_layout(x)
    src = lw.read(x, have)
    src_perm = L.to_memory_perm(len(x.shape), have)
    mem_perm = tuple(src_perm.index(p) for p in perm)
    in_mem = L.memory_shape(x.shape, have)
    if L.order_key(in_mem, mem_perm) == L.order_key(in_mem, tuple(range(len(in_mem)))):
        lw.alias(y, src, L.LOGICAL)
        return
    dst = lw.write(y, L.LOGICAL)
    fields = L.permute_fields(in_mem, mem_perm, x.dtype.itemsize)
    lw.permute_in_place(node.name, fields, src, dst)
    lw.call(
        "edgec_permute",
        "edgec_permute_t",
        fields,
        [src],
        [dst],
        node.name,
        node.op_type,
        MOVE_SOURCES,
    )


def check_rank(node: Node) -> str | None:
    if len(node.inputs[0].shape) > L.MAX_RANK:
        return f"rank above {L.MAX_RANK}"
    return None


# ---- concat -----------------------------------------------------------------------------------
def emit_concat(lw: Lowering, node: Node) -> None:
    y = node.outputs[0]
    axis = node.attrs["axis"] % len(y.shape)
    layouts = {lw.stored_layout(v) for v in node.inputs if not v.is_const}
    layout = layouts.pop() if len(layouts) == 1 else L.LOGICAL
    layout = L.normalize(len(y.shape), layout)
    mem_axis = L.to_memory_perm(len(y.shape), layout).index(axis)
    out_mem = L.memory_shape(y.shape, layout)
    outer = math.prod(out_mem[:mem_axis])
    srcs, inner = [], []
    for v in node.inputs:
        if v.is_const:
            ref = lw.weight(L.to_memory(v.const, layout), f"constant input of {node.name}")
            srcs.append(ref.name)
        else:
            srcs.append(lw.read(v, layout))
        inner.append(math.prod(L.memory_shape(v.shape, layout)[mem_axis:]) * v.dtype.itemsize)
    dst = lw.write(y, layout)
    sizes = lw.weight(np.array(inner, dtype=np.int32), "bytes per outer step of each input")
    fields = {"n_inputs": len(srcs), "outer": outer, "inner_bytes": sizes}
    lw.call(
        "edgec_concat",
        "edgec_concat_t",
        fields,
        srcs,
        [dst],
        node.name,
        node.op_type,
        MOVE_SOURCES,
        variadic=True,
    )


def check_concat(node: Node) -> str | None:
    if not _same_quant([*node.inputs, node.outputs[0]]):
        return "inputs quantized differently from the output"
    return None


# ---- pad, slice, gather, resize (nearest; in emit_resize.py's tables) -------------------------
def emit_pad(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    op = get_op("Pad")
    axes = node.input(3).const if node.input(3) is not None else None
    widths = op.widths(node, x.shape, node.inputs[1].const, axes)
    layout = lw.stored_layout(x)
    src = lw.read(x, layout)
    perm = L.to_memory_perm(len(x.shape), layout)
    before = _padded([widths[p][0] for p in perm], L.MAX_RANK, 0)
    after = _padded([widths[p][1] for p in perm], L.MAX_RANK, 0)
    value = node.input(2).const.reshape(-1)[0] if node.input(2) is not None else 0
    if x.quant is not None and np.issubdtype(x.dtype, np.integer) and node.input(2) is None:
        fill = np.array([x.quant.zero_point], dtype=x.dtype)  # a real 0.0
    elif (
        np.issubdtype(x.dtype, np.integer)
        and x.quant is not None
        and not np.issubdtype(np.asarray(value).dtype, np.integer)
    ):
        fill = quantize(np.array([value], np.float32), x.quant.scale, x.quant.zero_point, x.dtype)
    else:
        fill = np.array([value], dtype=x.dtype)
    dst = lw.write(y, layout)
    fields = {
        "elem_size": x.dtype.itemsize,
        "in_shape": _padded(L.memory_shape(x.shape, layout), L.MAX_RANK, 1),
        "before": before,
        "after": after,
        "fill": lw.weight(fill, "pad value"),
        "mode": PAD_MODES[op.attr(node, "mode")],
    }
    lw.call("edgec_pad", "edgec_pad_t", fields, [src], [dst], node.name, node.op_type, MOVE_SOURCES)


def check_pad(node: Node) -> str | None:
    if node.outputs[0].quant is not None and not _same_quant([node.inputs[0], node.outputs[0]]):
        return "input and output quantization differ"
    pads = node.input(1).const if node.input(1) is not None else None
    if pads is not None and np.any(pads < 0):
        return "negative (cropping) pads"
    x = node.inputs[0]
    if get_op("Pad").attr(node, "mode") != "constant" and 0 in x.shape:
        return "reflect, edge or wrap padding of an empty tensor"
    return check_rank(node)


def _slice_call(lw: Lowering, node: Node, x, y, starts, steps) -> None:
    layout = lw.stored_layout(x)
    src = lw.read(x, layout)
    perm = L.to_memory_perm(len(x.shape), layout)
    dst = lw.write(y, layout)
    fields = {
        "elem_size": x.dtype.itemsize,
        "in_shape": _padded(L.memory_shape(x.shape, layout), L.MAX_RANK, 1),
        "out_shape": _padded(L.memory_shape(y.shape, layout), L.MAX_RANK, 1),
        "start": _padded([starts[p] for p in perm], L.MAX_RANK, 0),
        "step": _padded([steps[p] for p in perm], L.MAX_RANK, 1),
    }
    lw.call(
        "edgec_slice", "edgec_slice_t", fields, [src], [dst], node.name, node.op_type, MOVE_SOURCES
    )


def emit_slice(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    args = [node.input(i).const if node.input(i) is not None else None for i in range(1, 5)]
    slices = get_op("Slice").slices(node, x.shape, *args)
    starts, steps = [], []
    for dim, s in zip(x.shape, slices):
        start, _, step = s.indices(dim)
        starts.append(start)
        steps.append(step)
    _slice_call(lw, node, x, y, starts, steps)


def emit_split(lw: Lowering, node: Node) -> None:
    x = node.inputs[0]
    axis = get_op("Split").attr(node, "axis") % len(x.shape)
    offset = 0
    for y in node.outputs:
        starts = [0] * len(x.shape)
        starts[axis] = offset
        _slice_call(lw, node, x, y, starts, [1] * len(x.shape))
        offset += y.shape[axis]


def emit_gather(lw: Lowering, node: Node) -> None:
    x, idx, y = node.inputs[0], node.inputs[1], node.outputs[0]
    axis = get_op("Gather").attr(node, "axis") % len(x.shape)
    src = lw.read(x, L.LOGICAL)
    indices = (
        np.where(idx.const < 0, idx.const + x.shape[axis], idx.const).astype(np.int32).reshape(-1)
    )
    dst = lw.write(y, L.LOGICAL)
    fields = {
        "elem_size": x.dtype.itemsize,
        "outer": math.prod(x.shape[:axis]),
        "axis_size": x.shape[axis],
        "inner": math.prod(x.shape[axis + 1 :]),
        "count": int(indices.size),
        "indices": lw.weight(indices, "gather indices"),
    }
    lw.call(
        "edgec_gather",
        "edgec_gather_t",
        fields,
        [src],
        [dst],
        node.name,
        node.op_type,
        MOVE_SOURCES,
    )


def check_gather(node: Node) -> str | None:
    return None if node.inputs[1].is_const else "indices must be constant"


def emit_resize(lw: Lowering, node: Node) -> None:
    """Nearest resize of N, C, H, W (or N, C, L) as an index gather on channels-last data."""
    x, y = node.inputs[0], node.outputs[0]
    op = get_op("Resize")
    scales = node.input(2).const if node.input(2) is not None else None
    sizes = node.input(3).const if node.input(3) is not None else None
    out, factor = op.plan(node, x.shape, scales, sizes)
    spatial = [
        op.source_indices(node, x.shape[a], out[a], factor[a]).astype(np.int32)
        for a in range(2, len(x.shape))
    ]
    h_idx, w_idx = spatial if len(spatial) == 2 else [np.zeros(1, np.int32), spatial[0]]
    src = lw.read(x, L.CHANNELS_LAST)
    dst = lw.write(y, L.CHANNELS_LAST)
    xm = L.memory_shape(x.shape, L.CHANNELS_LAST)
    fields = {
        "elem_size": x.dtype.itemsize,
        "batch": x.shape[0],
        "in_h": x.shape[2] if len(x.shape) == 4 else 1,
        "in_w": xm[-2],
        "channels": x.shape[1],
        "out_h": len(h_idx),
        "out_w": len(w_idx),
        "h_index": lw.weight(h_idx, "source row of each output row"),
        "w_index": lw.weight(w_idx, "source column of each output column"),
    }
    lw.call(
        "edgec_resize_nearest",
        "edgec_resize_nearest_t",
        fields,
        [src],
        [dst],
        node.name,
        node.op_type,
        MOVE_SOURCES,
    )


def check_resize(node: Node) -> str | None:
    x, y = node.inputs[0], node.outputs[0]
    if len(x.shape) not in (3, 4) or x.shape[:2] != y.shape[:2]:
        return "only spatial resizing of N, C, H, W"
    return None


# ---- concat with requantization (integer inputs quantized differently) -----------------------
def emit_int_concat(lw: Lowering, node: Node) -> None:
    y = node.outputs[0]
    axis = get_op("Concat").attr(node, "axis") % len(y.shape)
    layouts = {lw.stored_layout(v) for v in node.inputs if not v.is_const}
    layout = L.normalize(len(y.shape), layouts.pop() if len(layouts) == 1 else L.LOGICAL)
    mem_axis = L.to_memory_perm(len(y.shape), layout).index(axis)
    srcs, inner, flags, zps, mults, shifts = [], [], [], [], [], []
    for v in node.inputs:
        if v.is_const:
            srcs.append(lw.weight(L.to_memory(v.const, layout), f"input of {node.name}").name)
        else:
            srcs.append(lw.read(v, layout))
        inner.append(math.prod(L.memory_shape(v.shape, layout)[mem_axis:]))
        rq = concat_requant(v, y)
        flags.append(int(rq is not None))
        zps.append(rq.input_zero_point if rq else 0)
        mult, shift = rescale_operands(rq, lw.rounding) if rq else (0, 0)
        mults.append(mult)
        shifts.append(shift)
    dst = lw.write(y, layout)

    def table(values, what):
        return lw.weight(np.array(values, np.int32), f"{what} of each input of {node.name}")

    fields = {
        "n_inputs": len(srcs),
        "outer": math.prod(L.memory_shape(y.shape, layout)[:mem_axis]),
        "output_zero_point": scale_zp(y)[1],
        "inner": table(inner, "elements per outer step"),
        "requantize": table(flags, "requantize flag"),
        "input_zero_point": table(zps, "zero point"),
        "mult": table(mults, "multiplier"),
        "shift": table(shifts, "shift"),
    }
    lw.call(
        f"edgec_concat_{suffix(y)}",
        "edgec_concat_int_t",
        fields,
        srcs,
        [dst],
        node.name,
        node.op_type,
        int_sources("eltwise_int.c"),
        variadic=True,
    )


MOVE_EMITTERS = {
    "Reshape": Emitter(emit_alias, check_alias),
    "Flatten": Emitter(emit_alias, check_alias),
    "Squeeze": Emitter(emit_alias, check_alias),
    "Unsqueeze": Emitter(emit_alias, check_alias),
    "Identity": Emitter(emit_alias, check_alias),
    "Dropout": Emitter(emit_alias, check_alias),
    "Transpose": Emitter(emit_transpose, check_rank),
    "Concat": Emitter(emit_concat, check_concat),
    "Pad": Emitter(emit_pad, check_pad),
    "Slice": Emitter(emit_slice, check_rank),
    "Split": Emitter(emit_split, check_rank),
    "Gather": Emitter(emit_gather, check_gather),
}
# Reached only when the byte-copying Concat above declines (differing quantization).
INT_EMITTERS = {"Concat": Emitter(emit_int_concat, checked(check_int_concat))}
