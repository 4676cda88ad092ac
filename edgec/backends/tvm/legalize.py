"""Relax → TIR for float models: convolutions and fully connected layers on edgec's kernels.

Relax's own legalization (TOPI) gives one naive loop nest per op. Instead, after relax's
``ConvertLayout`` has made every 2-D convolution's activations NHWC, each float
``nn.conv2d`` and each ``matmul`` by a constant matrix becomes one of ``kernels.py``'s
compute definitions (a 3x3 stride-1 one on a large enough map: ``winograd.py``'s), with its
weights packed once here (numpy) for the target's vector width; ``schedule.py`` then tiles
them. Anything else keeps relax's default legalization.
"""

from __future__ import annotations

import numpy as np

from edgec.backends.tvm import kernels, winograd
from edgec.backends.tvm.cpu import CpuInfo

# The layouts ConvertLayout gives every conv2d: NHWC activations; the weights keep ONNX's
# OIHW (packed here in numpy: relax would fold a transpose by compiling one per layer).
CONV_LAYOUTS = {"relax.nn.conv2d": ["NHWC", "OIHW"]}


def legalize_map(cpu: CpuInfo) -> dict:
    """``LegalizeOps(customize_legalize_map=...)`` for float models on ``cpu``."""
    return {
        "relax.nn.conv2d": _conv2d(cpu),
        "relax.matmul": _matmul(cpu),
        "relax.permute_dims": _permute_dims,
        "relax.reshape": _reshape,
        "relax.sigmoid": _sigmoid,
    }


def _constant(bb, expr) -> np.ndarray | None:
    """The value of ``expr`` if it is a constant, or a variable bound to one."""
    from tvm.ir import Constant

    if not isinstance(expr, Constant):
        try:
            expr = bb.lookup_binding(expr)
        except Exception:  # not a bound variable
            return None
    return expr.value.numpy() if isinstance(expr, Constant) else None


def _default(op_name: str):
    """Relax's registered legalization of ``op_name``."""
    import tvm

    return tvm.ir.Op.get(op_name).get_attr("FLegalize")


def _sigmoid(bb, call):
    """float32 Sigmoid as 1 / (1 + fast_exp(-x)): TOPI's polynomial exp (relative error
    below 5e-6) vectorizes, where the default lowers to one libm ``expf`` call per element
    (half of EfficientNet-B0's time, its SiLUs)."""
    from tvm import te, tirx, topi

    if _dtype(call.args[0]) != "float32":
        return _default("relax.sigmoid")(bb, call)

    def sigmoid(x):
        exp = topi.fast_exp(topi.negative(x))
        one = tirx.const(1.0, "float32")
        return te.compute(x.shape, lambda *i: one / (one + exp(*i)), name="sigmoid")

    return bb.call_te(sigmoid, call.args[0], primfunc_name_hint="sigmoid")


def _reshape(bb, call):
    """A constant's reshape (from_onnx's, of biases) done here in numpy (see _permute_dims)."""
    from tvm import relax

    shape, data = _shape(call), _constant(bb, call.args[0])
    if data is None or shape is None:
        return _default("relax.reshape")(bb, call)
    return relax.const(np.ascontiguousarray(data.reshape(shape)))


def _permute_dims(bb, call):
    """A constant's transpose (ConvertLayout's, of biases) done here in numpy: relax's
    FoldConstant would compile a library for each one (40 s on MobileNetV2)."""
    from tvm import relax

    array = _constant(bb, call.args[0])
    if array is None:
        return _default("relax.permute_dims")(bb, call)
    axes = call.attrs.axes
    order = [int(a) for a in axes] if axes is not None else None
    return relax.const(np.ascontiguousarray(np.transpose(array, order)))


def _shape(expr) -> list[int] | None:
    shape = getattr(expr.ty, "shape", None)
    try:
        return [int(d) for d in shape]
    except (TypeError, ValueError):
        return None  # symbolic or unknown


def _dtype(expr) -> str:
    return str(expr.ty.dtype)


def _out_dtype(attrs, default: str) -> str:
    dtype = str(attrs.out_dtype)
    return default if dtype in ("", "None", "void") else dtype


def _conv2d(cpu: CpuInfo):
    from tvm import relax
    from tvm.relax.transform.legalize_ops import nn as default

    def legalize(bb, call):
        attrs = call.attrs
        data, weight = call.args
        shape = _shape(data)
        w_oihw = _constant(bb, weight)
        out_dtype = _out_dtype(attrs, _dtype(data))
        if (
            attrs.data_layout != "NHWC"
            or attrs.kernel_layout != "OIHW"
            or attrs.out_layout != "NHWC"
            or w_oihw is None
            or shape is None
            or _dtype(data) != "float32"
            or out_dtype != "float32"
        ):
            return default._nn_conv2d(bb, call)
        w = w_oihw.transpose(0, 2, 3, 1)  # OHWI
        groups = int(attrs.groups)
        pads = [int(p) for p in attrs.padding]
        strides = [int(s) for s in attrs.strides]
        dilation = [int(d) for d in attrs.dilation]
        channels, out_channels = shape[3], w.shape[0]
        if groups == channels == out_channels and w.shape[3] == 1:
            tile = kernels.channel_tile(channels, cpu.f32_lanes)

            def depthwise(x, wp):
                padded = kernels.pad_nhwc(x, pads, 0.0)
                return kernels.depthwise_nhwc(padded, wp, strides, dilation, out_dtype, tile)

            packed = kernels.pack_depthwise_weights(w)
            return bb.call_te(depthwise, data, relax.const(packed), primfunc_name_hint="dwconv")
        tile = kernels.channel_tile(out_channels // groups, cpu.f32_lanes)
        out_hw = _shape(call)[1:3]
        if winograd.eligible(w.shape[1:3], strides, dilation, groups, pads, out_hw):

            def conv_winograd(x, u):
                return winograd.conv2d_nhwc(x, u, out_dtype)

            u = winograd.transform_weights(w_oihw, tile)
            return bb.call_te(conv_winograd, data, relax.const(u), primfunc_name_hint="conv2d")

        def conv(x, wp):
            padded = kernels.pad_nhwc(x, pads, 0.0)
            return kernels.conv2d_nhwc(padded, wp, strides, dilation, groups, out_dtype)

        packed = kernels.pack_conv_weights(w, tile)
        return bb.call_te(conv, data, relax.const(packed), primfunc_name_hint="conv2d")

    return legalize


def _matmul(cpu: CpuInfo):
    from tvm import relax
    from tvm.relax.transform.legalize_ops import linear_algebra as default

    def legalize(bb, call):
        a, b = call.args
        a_shape = _shape(a)
        w = _constant(bb, b)  # [K, N]
        out_dtype = _out_dtype(call.attrs, _dtype(a))
        if (
            w is None
            or a_shape is None
            or len(a_shape) < 2
            or w.ndim != 2
            or _dtype(a) != "float32"
            or out_dtype != "float32"
        ):
            return default._matmul(bb, call)
        rows = int(np.prod(a_shape[:-1]))
        tile = kernels.channel_tile(w.shape[1], cpu.f32_lanes)
        packed = kernels.pack_dense_weights(np.ascontiguousarray(w.T), tile)

        def dense(x, wp):
            return kernels.dense(x, wp, out_dtype)

        if len(a_shape) == 2:
            return bb.call_te(dense, a, relax.const(packed), primfunc_name_hint="dense")
        flat = bb.normalize(relax.op.reshape(a, [rows, a_shape[-1]]))
        out = bb.emit(bb.call_te(dense, flat, relax.const(packed), primfunc_name_hint="dense"))
        return relax.op.reshape(out, [*a_shape[:-1], w.shape[1]])

    return legalize
