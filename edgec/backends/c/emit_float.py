"""Emitters for float32 ops (and the float↔integer boundary ops Q/DQ)."""

from __future__ import annotations

import math

import numpy as np

from edgec.backends.c import layout as L
from edgec.backends.c.lower import Emitter, Lowering
from edgec.backends.c.program import Struct
from edgec.errors import UnsupportedOpError
from edgec.ir.graph import Node, Value
from edgec.ops import get_op
from edgec.ops.spatial import resolve_window

INF = float("inf")


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


# ---- convolution and fully connected ---------------------------------------------------------
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


def emit_conv(lw: Lowering, node: Node) -> None:
    x, w, y = node.inputs[0], node.inputs[1], node.outputs[0]
    b = node.input(2)
    depthwise = is_depthwise(node)
    src, dst = lw.read(x, L.CHANNELS_LAST), lw.write(y, L.CHANNELS_LAST)
    lo, hi = activation_bounds(node)
    fields = {
        "in": dims(x.shape),
        "out": dims(y.shape),
        **window_fields(node, x, tuple(w.shape[2:])),
        "act_min": lo,
        "act_max": hi,
        "weights": lw.weight(
            conv_weights_layout(w.const.astype(np.float32), depthwise), f"{node.name} weights"
        ),
        "bias": lw.weight(b.const.astype(np.float32), f"{node.name} bias")
        if b is not None
        else None,
    }
    if depthwise:
        fields["multiplier"] = y.shape[1] // x.shape[1]
        kernel, struct = "edgec_dwconv_f32", "edgec_dwconv_f32_t"
    else:
        fields["groups"] = node.attrs.get("group", 1)
        kernel, struct = "edgec_conv_f32", "edgec_conv_f32_t"
    lw.call(
        kernel,
        struct,
        fields,
        [src],
        [dst],
        node.name,
        node.op_type,
        {"conv_f32.c"},
        macs=get_op("Conv").macs(node),
    )


def check_conv(node: Node) -> str | None:
    if not node.inputs[1].is_const or (node.input(2) is not None and not node.inputs[2].is_const):
        return "weights must be constant"
    return spatial_rank_check(node)


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


def emit_fc(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    weights, bias = fc_operands(node)
    src, dst = lw.read(x, L.LOGICAL), lw.write(y, L.LOGICAL)
    lo, hi = activation_bounds(node)
    fields = {
        "batches": math.prod(x.shape[:-1]),
        "in_features": x.shape[-1],
        "out_features": y.shape[-1],
        "act_min": lo,
        "act_max": hi,
        "weights": lw.weight(weights.astype(np.float32), f"{node.name} weights"),
        "bias": lw.weight(bias.astype(np.float32), f"{node.name} bias")
        if bias is not None
        else None,
    }
    lw.call(
        "edgec_fc_f32",
        "edgec_fc_f32_t",
        fields,
        [src],
        [dst],
        node.name,
        node.op_type,
        {"fc_f32.c"},
        macs=get_op(node.op_type).macs(node),
    )


def check_fc(node: Node) -> str | None:
    a, b = node.inputs[0], node.inputs[1]
    if a.is_const or not b.is_const or len(b.shape) != 2:
        return "B must be a constant matrix and A an activation"
    if node.op_type == "Gemm":
        if get_op("Gemm").attr(node, "transA"):
            return "transA on an activation"
        c = node.input(2)
        if c is not None and (not c.is_const or (c.const.ndim == 2 and c.const.shape[0] != 1)):
            return "C must be a constant row vector"
    return None


# ---- elementwise -----------------------------------------------------------------------------
BINARY_OPS = {"Add": 0, "Sub": 1, "Mul": 2, "Div": 3, "Max": 4, "Min": 5, "PRelu": 6, "Sum": 0}
UNARY_OPS = {
    "Relu": 0,
    "Clip": 1,
    "LeakyRelu": 2,
    "Sigmoid": 3,
    "Tanh": 4,
    "HardSigmoid": 5,
    "HardSwish": 6,
    "Elu": 7,
    "Selu": 8,
    "Softplus": 9,
    "Softsign": 10,
    "Neg": 11,
    "Abs": 12,
    "Exp": 13,
    "Log": 14,
    "Sqrt": 15,
}
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


def emit_binary(lw: Lowering, node: Node) -> None:
    out = node.outputs[0]
    layout, refs, loop, strides = broadcast_operands(lw, node, node.inputs, out)
    dst = lw.write(out, layout)
    lo, hi = activation_bounds(node)
    fields = {
        "op": BINARY_OPS[node.op_type],
        "dims": loop,
        "a_stride": list(strides[0]),
        "b_stride": list(strides[1]),
        "act_min": lo,
        "act_max": hi,
    }
    lw.call(
        "edgec_binary_f32",
        "edgec_binary_f32_t",
        fields,
        refs,
        [dst],
        node.name,
        node.op_type,
        {"eltwise_f32.c"},
    )


def check_binary(node: Node) -> str | None:
    if len(node.inputs) != 2:
        return "exactly two inputs"
    if all(v.is_const for v in node.inputs):
        return "constant inputs (fold first)"
    return None


def emit_unary(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    layout = lw.stored_layout(x)
    src, dst = lw.read(x, layout), lw.write(y, layout)
    params = {"alpha": 0.0, "beta": 0.0, "min": -INF, "max": INF}
    if node.op_type == "Clip":
        lo, hi = get_op("Clip").bounds(
            node, [None, *(v.const if v is not None else None for v in node.inputs[1:])]
        )
        params.update(min=-INF if lo is None else lo, max=INF if hi is None else hi)
    elif node.op_type in ("LeakyRelu", "Elu", "HardSigmoid", "Selu"):
        op = get_op(node.op_type)
        for key, attr in (("alpha", "alpha"), ("beta", "beta"), ("beta", "gamma")):
            if attr in op.attributes:
                params[key] = float(op.attr(node, attr))
    fields = {"op": UNARY_OPS[node.op_type], "size": x.size, **params}
    lw.call(
        "edgec_unary_f32",
        "edgec_unary_f32_t",
        fields,
        [src],
        [dst],
        node.name,
        node.op_type,
        {"eltwise_f32.c"},
    )


def check_unary(node: Node) -> str | None:
    if node.op_type == "Clip" and any(v is not None and not v.is_const for v in node.inputs[1:]):
        return "bounds must be constant"
    return None


# ---- softmax, pools, normalization -----------------------------------------------------------
def axis_split(lw: Lowering, x: Value, axis: int) -> tuple[str, str, int, int, int]:
    layout = lw.stored_layout(x)
    mem = L.memory_shape(x.shape, layout)
    m = L.to_memory_perm(len(x.shape), layout).index(axis % len(x.shape))
    return layout, lw.read(x, layout), math.prod(mem[:m]), mem[m], math.prod(mem[m + 1 :])


def emit_softmax(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    layout, src, outer, size, inner = axis_split(lw, x, get_op(node.op_type).attr(node, "axis"))
    dst = lw.write(y, layout)
    fields = {
        "outer": outer,
        "axis_size": size,
        "inner": inner,
        "log": int(node.op_type == "LogSoftmax"),
    }
    lw.call(
        "edgec_softmax_f32",
        "edgec_softmax_f32_t",
        fields,
        [src],
        [dst],
        node.name,
        node.op_type,
        {"softmax_f32.c"},
    )


def emit_pool(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    op = get_op(node.op_type)
    if node.op_type.startswith("Global") or node.op_type == "ReduceMean":
        kernel = tuple(x.shape[2:])
        geometry = {
            "kh": 1 if len(kernel) == 1 else kernel[0],
            "kw": kernel[-1],
            "stride_h": 1,
            "stride_w": 1,
            "dil_h": 1,
            "dil_w": 1,
            "pad_top": 0,
            "pad_left": 0,
            "pad_bottom": 0,
            "pad_right": 0,
        }
        average = node.op_type != "GlobalMaxPool"
        include_pad = 0
    else:
        geometry = window_fields(node, x, tuple(op.attr(node, "kernel_shape")))
        average = node.op_type == "AveragePool"
        include_pad = int(average and op.attr(node, "count_include_pad"))
    src, dst = lw.read(x, L.CHANNELS_LAST), lw.write(y, L.CHANNELS_LAST)
    lo, hi = activation_bounds(node)
    fields = {
        "in": dims(x.shape),
        "out": dims(y.shape),
        **geometry,
        "count_include_pad": include_pad,
        "act_min": lo,
        "act_max": hi,
    }
    del fields["dil_h"], fields["dil_w"]
    name = "avgpool" if average else "maxpool"
    lw.call(
        f"edgec_{name}_f32",
        "edgec_pool_f32_t",
        fields,
        [src],
        [dst],
        node.name,
        node.op_type,
        {"pool_f32.c"},
    )


def check_pool(node: Node) -> str | None:
    reason = spatial_rank_check(node)
    if reason:
        return reason
    if node.op_type in ("MaxPool", "AveragePool"):
        dil = node.attrs.get("dilations")
        if dil and any(d != 1 for d in dil):
            return "dilated pooling"
        if len(node.outputs) > 1 and node.outputs[1].users:
            return "the MaxPool Indices output"
    if node.op_type == "ReduceMean":
        axes = node.input(1)
        rank = len(node.inputs[0].shape)
        wanted = set(range(2, rank))
        if axes is None or {int(a) % rank for a in axes.const.reshape(-1)} != wanted:
            return "only the mean over all spatial axes"
        if not get_op("ReduceMean").attr(node, "keepdims"):
            return "keepdims=0"
    return None


def emit_batchnorm(lw: Lowering, node: Node) -> None:
    from edgec.ops.normalization import fold_batchnorm

    x, y = node.inputs[0], node.outputs[0]
    scale, shift = fold_batchnorm(
        *(v.const.astype(np.float64) for v in node.inputs[1:]),
        get_op(node.op_type).attr(node, "epsilon"),
    )
    layout, src, outer, channels, inner = axis_split(lw, x, 1)
    dst = lw.write(y, layout)
    fields = {
        "outer": outer,
        "channels": channels,
        "inner": inner,
        "scale": lw.weight(scale.astype(np.float32), "per-channel scale"),
        "shift": lw.weight(shift.astype(np.float32), "per-channel shift"),
    }
    lw.call(
        "edgec_channel_affine_f32",
        "edgec_channel_affine_f32_t",
        fields,
        [src],
        [dst],
        node.name,
        node.op_type,
        {"eltwise_f32.c"},
    )


def check_batchnorm(node: Node) -> str | None:
    if not all(v.is_const for v in node.inputs[1:]):
        return "statistics must be constant"
    return None


# ---- float ↔ integer boundary ----------------------------------------------------------------
QUANT_SUFFIX = {np.dtype(np.int8): "s8", np.dtype(np.int16): "s16", np.dtype(np.uint8): "u8"}


def _scalar_params(node: Node) -> tuple[float, int]:
    scale = node.inputs[1].const.reshape(-1)[0]
    zp = node.input(2).const.reshape(-1)[0] if node.input(2) is not None else 0
    return float(scale), int(zp)


def emit_quantize(lw: Lowering, node: Node) -> None:
    dtype = QUANT_SUFFIX[np.dtype(node.outputs[0].dtype)]
    _emit_quant_conversion(lw, node, f"edgec_quantize_f32_{dtype}")


def emit_dequantize(lw: Lowering, node: Node) -> None:
    dtype = QUANT_SUFFIX[np.dtype(node.inputs[0].dtype)]
    _emit_quant_conversion(lw, node, f"edgec_dequantize_{dtype}_f32")


def _emit_quant_conversion(lw: Lowering, node: Node, kernel: str) -> None:
    """float ↔ integer with a per-tensor scale and zero point (same layout both sides)."""
    x, y = node.inputs[0], node.outputs[0]
    layout = lw.stored_layout(x)
    src, dst = lw.read(x, layout), lw.write(y, layout)
    scale, zp = _scalar_params(node)
    lw.call(
        kernel,
        "edgec_quantize_t",
        {"size": x.size, "scale": scale, "zero_point": zp},
        [src],
        [dst],
        node.name,
        node.op_type,
        {"quant_f32.c"},
    )


def check_qdq(node: Node) -> str | None:
    if node.inputs[1].const is None or node.inputs[1].const.size != 1:
        return "only per-tensor parameters on activations"
    int_side = node.outputs[0] if node.op_type == "QuantizeLinear" else node.inputs[0]
    if np.dtype(int_side.dtype) not in QUANT_SUFFIX:
        return f"{int_side.dtype} data"
    return None


_conv = Emitter(emit_conv, check_conv)
_fc = Emitter(emit_fc, check_fc)
_binary = Emitter(emit_binary, check_binary)
_unary = Emitter(emit_unary, check_unary)
_pool = Emitter(emit_pool, check_pool)

FLOAT_EMITTERS: dict[str, Emitter] = {
    "Conv": _conv,
    "Gemm": _fc,
    "MatMul": _fc,
    **{op: _binary for op in BINARY_OPS},
    **{op: _unary for op in UNARY_OPS},
    "Softmax": Emitter(emit_softmax),
    "LogSoftmax": Emitter(emit_softmax),
    "MaxPool": _pool,
    "AveragePool": _pool,
    "GlobalAveragePool": _pool,
    "GlobalMaxPool": _pool,
    "ReduceMean": _pool,
    "BatchNormalization": Emitter(emit_batchnorm, check_batchnorm),
}
BOUNDARY_EMITTERS: dict[str, Emitter] = {
    "QuantizeLinear": Emitter(emit_quantize, check_qdq),
    "DequantizeLinear": Emitter(emit_dequantize, check_qdq),
}

# Optimized builds try the fast float kernels first where they apply (emit_float_fast.py).
from edgec.backends.c.emit_float_fast import with_fast_variants  # noqa: E402

FLOAT_EMITTERS = with_fast_variants(FLOAT_EMITTERS)
