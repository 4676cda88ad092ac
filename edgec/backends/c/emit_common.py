"""Helpers every emitter family shares: the kernels' dims and window structs, fused
activations as clamps, weight layouts, broadcasting, axis splits, and the integer kernels'
per-channel requantization fields."""

from __future__ import annotations

import math
import re

import numpy as np

from edgec.backends.c import layout as L
from edgec.backends.c.int_checks import SUFFIX
from edgec.backends.c.lowering import Lowering
from edgec.backends.c.program import Struct, Symbol
from edgec.backends.c.rounding import float_requant, linear_requant
from edgec.errors import UnsupportedOpError
from edgec.ir.graph import Node, Value
from edgec.ops import get_op
from edgec.ops.spatial import resolve_window

INF = float("inf")


def c_enum(op_type: str) -> Symbol:
    """An op's kernel enum value: ``LeakyRelu`` → ``EDGEC_LEAKY_RELU``."""
    return Symbol("EDGEC_" + re.sub(r"(?<=[a-z])(?=[A-Z])", "_", op_type).upper())


def dims(shape_nchw: tuple[int, ...]) -> Struct:
    """N, C, H, W (or N, C, L) as the kernels' channels-last ``edgec_dims_t``."""
    n, c, *spatial = shape_nchw
    h, w = (1, spatial[0]) if len(spatial) == 1 else spatial
    return Struct({"n": n, "h": h, "w": w, "c": c})


def activation_bounds(node: Node) -> tuple[float, float]:
    """The fused activation as an output clamp (float)."""
    fused = node.fused
    if fused is None:
        return -INF, INF
    if fused.op_type == "Relu":
        return 0.0, INF
    lo, hi = fused.attrs.get("min"), fused.attrs.get("max")
    return (-INF if lo is None else float(lo)), (INF if hi is None else float(hi))


def window_fields(node: Node, x: Value, kernel: tuple[int, ...]) -> dict:
    """Kernel size, strides, dilations and pads of a 1-d or 2-d window as 2-d fields."""
    op = get_op(node.op_type)
    win = resolve_window(node, op, tuple(x.shape[2:]), kernel)
    if len(kernel) == 1:
        win_k, strides, dil = (1, *win.kernel), (1, *win.strides), (1, *win.dilations)
        pb, pe = (0, *win.pads_begin), (0, *win.pads_end)
    else:
        win_k, strides, dil, pb, pe = (
            win.kernel,
            win.strides,
            win.dilations,
            win.pads_begin,
            win.pads_end,
        )
    return {
        "kh": win_k[0],
        "kw": win_k[1],
        "stride_h": strides[0],
        "stride_w": strides[1],
        "dil_h": dil[0],
        "dil_w": dil[1],
        "pad_top": pb[0],
        "pad_left": pb[1],
        "pad_bottom": pe[0],
        "pad_right": pe[1],
    }


def spatial_rank_check(node: Node) -> str | None:
    if len(node.inputs[0].shape) not in (3, 4):
        return "only 1-d and 2-d spatial ops"
    return None


def is_depthwise(node: Node) -> bool:
    x, w = node.inputs[0], node.inputs[1]
    group = node.attrs.get("group", 1)
    return group > 1 and group == x.shape[1] and w.shape[1] == 1


def conv_weights_layout(w: np.ndarray, depthwise: bool) -> np.ndarray:
    """OIHW (or OIL) → OHWI for general conv; → HWO for depthwise (TFLite's layouts)."""
    if w.ndim == 3:
        w = w[:, :, None, :]
    if depthwise:
        return np.ascontiguousarray(w[:, 0].transpose(1, 2, 0))
    return np.ascontiguousarray(w.transpose(0, 2, 3, 1))


MAX_LOOP_RANK = 4


def broadcast_operands(lw: Lowering, node: Node, inputs: list[Value], out: Value):
    """Choose the output layout; return (layout, operand refs, loop dims, strides per operand)."""
    rank = len(out.shape)
    acts = [v for v in inputs if not v.is_const]
    same_rank = all(len(v.shape) == rank for v in acts)
    wants_cl = any(lw.stored_layout(v) == L.CHANNELS_LAST for v in acts)
    layout = L.CHANNELS_LAST if (same_rank and wants_cl and rank >= 3) else L.LOGICAL
    out_mem = L.memory_shape(out.shape, layout)
    refs, strides = [], []
    for v in inputs:
        expanded = (1,) * (rank - len(v.shape)) + tuple(v.shape)
        mem = L.memory_shape(expanded, layout)
        if v.is_const:
            data = L.to_memory(v.const.reshape(expanded), layout)
            refs.append(lw.weight(data.astype(v.dtype), f"constant operand of {node.name}").name)
        else:
            refs.append(lw.read(v, layout))
        strides.append(L.broadcast_strides(mem, out_mem))
    loop, strides = L.collapse_dims(out_mem, strides)
    if len(loop) > MAX_LOOP_RANK:
        raise UnsupportedOpError({node.op_type: [node.name]}, "the C backend (broadcast too deep)")
    pad = MAX_LOOP_RANK - len(loop)
    loop = (1,) * pad + loop
    strides = [(0,) * pad + s for s in strides]
    return layout, refs, list(loop), strides


def axis_split(lw: Lowering, x: Value, axis: int) -> tuple[str, str, int, int, int]:
    layout = lw.stored_layout(x)
    mem = L.memory_shape(x.shape, layout)
    m = L.to_memory_perm(len(x.shape), layout).index(axis % len(x.shape))
    return layout, lw.read(x, layout), math.prod(mem[:m]), mem[m], math.prod(mem[m + 1 :])


FIXEDPOINT = "edgec_fixedpoint.h"  # private header of the integer kernel sources


def suffix(value: Value) -> str:
    return SUFFIX[np.dtype(value.dtype)]


def int_sources(name: str) -> set[str]:
    return {name, FIXEDPOINT}


def fast_sources(name: str) -> set[str]:
    """An optimized kernel's source with the private header the optimized kernels share."""
    return {name, "fast_common.h", "fast_scalar.h", "edgec_dsp.h", FIXEDPOINT}


def per_channel(values: np.ndarray, channels: int) -> np.ndarray:
    values = np.asarray(values, np.int64).reshape(-1)
    return np.broadcast_to(values, (channels,)).astype(np.int32)


def requant_fields(lw: Lowering, node: Node, requant, channels: int) -> dict:
    """out_mult/out_shift of ``edgec_requant`` (or ``_s16``) for the build's rounding, and
    the clamp."""
    mult, shift = linear_requant(requant, channels, lw.rounding, node.outputs[0].dtype)
    floats = float_requant(lw.rounding, node.outputs[0].dtype)
    return {
        "act_min": int(requant.act_min),
        "act_max": int(requant.act_max),
        "out_mult": lw.weight(
            mult, f"{node.name} " + ("float32 scales (bits)" if floats else "multipliers")
        ),
        "out_shift": lw.weight(shift, f"{node.name} shifts"),
    }


def bias_ref(lw: Lowering, node: Node, bias: np.ndarray | None, channels: int, wide_type: bool):
    if bias is None:
        return None
    data = np.broadcast_to(np.asarray(bias).reshape(-1), (channels,))
    return lw.weight(data.astype(np.int64 if wide_type else np.int32), f"{node.name} bias")


def zero_points(node: Node, params) -> dict:
    if node.outputs[0].dtype == np.int16:
        return {"wide": int(params.requant.wide)}
    return {
        "input_zero_point": int(params.input_zero_point),
        "output_zero_point": int(params.requant.zero_point),
    }


def fc_operands(node: Node) -> tuple[np.ndarray, np.ndarray | None]:
    """Weights as [out][in] and bias as [out] for Gemm or MatMul with a constant B."""
    if node.op_type == "MatMul":
        return node.inputs[1].const.T, None
    op = get_op("Gemm")
    b = node.inputs[1].const
    weights = b if op.attr(node, "transB") else b.T
    weights = weights * op.attr(node, "alpha")
    c = node.input(2)
    bias = None
    if c is not None:
        n = weights.shape[0]
        bias = np.broadcast_to(c.const, (1, n))[0] * op.attr(node, "beta")
    return weights, bias


def call_elementwise(
    lw: Lowering, node: Node, kernel: str, struct: str, fields: dict, source: str
) -> None:
    """A one-input integer kernel over every element, in the input's stored layout (its
    struct: ``size`` then ``fields``)."""
    x, y = node.inputs[0], node.outputs[0]
    layout = lw.stored_layout(x)
    src, dst = lw.read(x, layout), lw.write(y, layout)
    lw.call(
        kernel,
        struct,
        {"size": x.size, **fields},
        [src],
        [dst],
        node.name,
        node.op_type,
        int_sources(source),
    )


def call_table(lw: Lowering, node: Node, table, description: str) -> None:
    """An int8 → int8 elementwise node as its 256 outputs (edgec_lut_s8: table[x + 128])."""
    ref = lw.weight(np.asarray(table, np.int8), description)
    call_elementwise(lw, node, "edgec_lut_s8", "edgec_lut_s8_t", {"table": ref}, "eltwise_int.c")
