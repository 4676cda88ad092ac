"""Pooling, means, softmax and batch normalization, float and integer."""

from __future__ import annotations

import numpy as np

from edgec.backends.c import layout as L
from edgec.backends.c.emit_attention import emit_softmax_table
from edgec.backends.c.emit_common import (
    activation_bounds,
    axis_split,
    dims,
    fast_sources,
    int_sources,
    spatial_rank_check,
    suffix,
    window_fields,
)
from edgec.backends.c.int_checks import (
    LAYOUTS,
    check_mean,
    check_softmax,
    check_spatial,
    checked,
    mean_plan,
)
from edgec.backends.c.lowering import Emitter, Lowering
from edgec.backends.c.rounding import mean_operands
from edgec.ir.graph import Node
from edgec.ops import get_op
from edgec.ops.integer import integer_params
from edgec.ops.integer.nodes import scale_zp
from edgec.ops.normalization import fold_batchnorm


# ---- float ---------------------------------------------------------------------------------------
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
    if node.op_type.startswith("Global"):
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
    return None


def emit_batchnorm(lw: Lowering, node: Node) -> None:
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


# ---- integer -------------------------------------------------------------------------------------
def emit_int_softmax(lw: Lowering, node: Node) -> None:
    if emit_softmax_table(lw, node):  # the optimized int8 kernel
        return
    x, y = node.inputs[0], node.outputs[0]
    p = integer_params(node)
    layout, src, outer, size, inner = axis_split(lw, x, get_op("Softmax").attr(node, "axis"))
    dst = lw.write(y, layout)
    tables = {"exp_table": None, "reciprocal_table": None}
    if p.exp_table is not None:
        tables = {
            "exp_table": lw.weight(p.exp_table.astype(np.int16), "softmax exp table"),
            "reciprocal_table": lw.weight(p.reciprocal_table.astype(np.int16), "softmax 1/(1+x)"),
        }
    fields = {
        "outer": outer,
        "axis_size": size,
        "inner": inner,
        "input_mult": p.input_multiplier,
        "input_left_shift": p.input_left_shift,
        "diff_min": p.diff_min,
        **tables,
    }
    sfx_in, sfx_out = suffix(x), suffix(y)
    kernel = f"edgec_softmax_{sfx_in}" + ("" if sfx_in == sfx_out else f"_{sfx_out}")
    lw.call(
        kernel,
        "edgec_softmax_int_t",
        fields,
        [src],
        [dst],
        node.name,
        node.op_type,
        int_sources("softmax_int.c"),
    )


def emit_int_pool(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    p = integer_params(node)
    src, dst = lw.read(x, L.CHANNELS_LAST), lw.write(y, L.CHANNELS_LAST)
    top, left, bottom, right = p.pads
    fields = {
        "in": dims(x.shape),
        "out": dims(y.shape),
        "kh": p.kernel[0],
        "kw": p.kernel[1],
        "stride_h": p.strides[0],
        "stride_w": p.strides[1],
        "pad_top": top,
        "pad_left": left,
        # the declared pads (those count_include_pad counts), without the ceil overhang
        "pad_bottom": bottom - p.overhang[0],
        "pad_right": right - p.overhang[1],
        "count_include_pad": int(p.count_include_pad),
        "input_zero_point": p.input_zero_point,
        "act_min": p.act_min,
        "act_max": p.act_max,
    }
    if lw.rounding == "float" and node.op_type == "AveragePool":  # QLinearAveragePool's
        fields.update(
            input_scale=p.input_scale,
            output_scale=p.output_scale,
            output_zero_point=p.output_zero_point,
        )
    name = "avgpool" if node.op_type == "AveragePool" else "maxpool"
    kernel, sources = f"edgec_{name}_{suffix(y)}", int_sources("pool_int.c")
    whole = tuple(p.kernel) == tuple(x.shape[2:4]) and not any(p.pads)
    # fast_pool.c divides with TFLM's rounding only
    if lw.optimized and name == "avgpool" and suffix(y) == "s8" and whole and lw.rounding == "tflm":
        kernel, sources = "edgec_global_avgpool_fast_s8", fast_sources("fast_pool.c")
    lw.call(kernel, "edgec_pool_int_t", fields, [src], [dst], node.name, node.op_type, sources)


def emit_int_mean(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    p = integer_params(node)
    stored = L.normalize(len(x.shape), lw.stored_layout(x))
    options = [(a, b) for a in (stored, *LAYOUTS) for b in (stored, *LAYOUTS)]
    in_layout, out_layout = next(o for o in options if mean_plan(node, *o))
    outer, count, inner = mean_plan(node, in_layout, out_layout)
    src, dst = lw.read(x, in_layout), lw.write(y, out_layout)
    mult, shift = mean_operands(p, lw.rounding)
    fields = {
        "outer": outer,
        "count": count,
        "inner": inner,
        "input_zero_point": p.input_zero_point,
        "output_zero_point": p.output_zero_point,
        "out_mult": mult,
        "out_shift": shift,
    }
    lw.call(
        f"edgec_mean_{suffix(y)}",
        "edgec_mean_int_t",
        fields,
        [src],
        [dst],
        node.name,
        node.op_type,
        int_sources("pool_int.c"),
    )


def emit_onnxruntime_softmax(lw: Lowering, node: Node) -> None:
    """int8 Softmax as onnxruntime's QLinearSoftmax (rounding "float")."""
    x, y = node.inputs[0], node.outputs[0]
    p = integer_params(node, lw.rounding)
    layout, src, outer, size, inner = axis_split(lw, x, get_op("Softmax").attr(node, "axis"))
    dst = lw.write(y, layout)
    fields = {
        "outer": outer,
        "axis_size": size,
        "inner": inner,
        "table": lw.weight(p.table, f"{node.name} exp table (onnxruntime's)"),
        "output_multiplier": p.output_multiplier,
        "output_zero_point": p.output_zero_point,
    }
    lw.call(
        "edgec_softmax_onnxruntime_s8",
        "edgec_softmax_onnxruntime_t",
        fields,
        [src],
        [dst],
        node.name,
        node.op_type,
        int_sources("softmax_int.c"),
    )


def check_onnxruntime_softmax(node: Node) -> str | None:
    x, y = node.inputs[0], node.outputs[0]
    if not np.dtype(x.dtype) == np.dtype(y.dtype) == np.dtype(np.int8):
        return "int8 only"
    if x.quant is None or y.quant is None or x.quant.axis is not None:
        return "activations must be quantized per tensor"
    return None


_pool = Emitter(emit_pool, check_pool)
FLOAT_EMITTERS = {
    "Softmax": Emitter(emit_softmax),
    "LogSoftmax": Emitter(emit_softmax),
    "MaxPool": _pool,
    "AveragePool": _pool,
    "GlobalAveragePool": _pool,
    "GlobalMaxPool": _pool,
    "BatchNormalization": Emitter(emit_batchnorm, check_batchnorm),
}


def check_same_quantization(node: Node) -> str | None:
    """TFLM's pools keep the input's quantization (onnxruntime's average may change it)."""
    x, y = node.inputs[0], node.outputs[0]
    if x.quant is not None and y.quant is not None and scale_zp(x) != scale_zp(y):
        return "input and output quantized differently (TFLite's pools keep it)"
    return check_spatial(node)


_int_pool = Emitter(emit_int_pool, checked(check_same_quantization))
_int_mean = Emitter(emit_int_mean, checked(check_mean))
INT_EMITTERS = {
    "AveragePool": _int_pool,
    "MaxPool": _int_pool,
    "GlobalAveragePool": _int_mean,
    "ReduceMean": _int_mean,
    "Softmax": Emitter(emit_int_softmax, checked(check_softmax)),
}
# rounding "float": onnxruntime's int8 QLinearSoftmax
FLOAT_ROUNDING_EMITTERS = {
    "Softmax": Emitter(emit_onnxruntime_softmax, check_onnxruntime_softmax),
    "AveragePool": Emitter(emit_int_pool, checked(check_spatial)),  # any output quantization
}
