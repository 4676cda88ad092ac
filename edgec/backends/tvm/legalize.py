"""Relax → TIR for float models: convolutions and fully connected layers on edgec's kernels.

Relax's own legalization (TOPI) gives one naive loop nest per op. Instead, after relax's
``ConvertLayout`` has made every 2-D convolution NHWC with OHWI weights, each float
``nn.conv2d`` and each ``matmul`` by a constant matrix becomes one of ``kernels.py``'s
compute definitions, with its weights packed once here (numpy) for the target's vector
width; ``schedule.py`` then tiles them. Anything else keeps relax's default legalization.
"""

from __future__ import annotations

import numpy as np

from edgec.backends.tvm import kernels
from edgec.backends.tvm.cpu import CpuInfo

# The layouts ConvertLayout gives every conv2d (the weights' layout is folded at compile time).
CONV_LAYOUTS = {"relax.nn.conv2d": ["NHWC", "OHWI"]}


def legalize_map(cpu: CpuInfo) -> dict:
    """``LegalizeOps(customize_legalize_map=...)`` for float models on ``cpu``."""
    return {"relax.nn.conv2d": _conv2d(cpu), "relax.matmul": _matmul(cpu)}


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
    from tvm.ir import Constant
    from tvm.relax.transform.legalize_ops import nn as default

    def legalize(bb, call):
        attrs = call.attrs
        data, weight = call.args
        shape = _shape(data)
        out_dtype = _out_dtype(attrs, _dtype(data))
        if (
            attrs.data_layout != "NHWC"
            or attrs.kernel_layout != "OHWI"
            or attrs.out_layout != "NHWC"
            or not isinstance(weight, Constant)
            or shape is None
            or _dtype(data) != "float32"
            or out_dtype != "float32"
        ):
            return default._nn_conv2d(bb, call)
        w = weight.value.numpy()
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

        def conv(x, wp):
            padded = kernels.pad_nhwc(x, pads, 0.0)
            return kernels.conv2d_nhwc(padded, wp, strides, dilation, groups, out_dtype)

        packed = kernels.pack_conv_weights(w, tile)
        return bb.call_te(conv, data, relax.const(packed), primfunc_name_hint="conv2d")

    return legalize


def _matmul(cpu: CpuInfo):
    from tvm import relax
    from tvm.ir import Constant
    from tvm.relax.transform.legalize_ops import linear_algebra as default

    def legalize(bb, call):
        a, b = call.args
        a_shape = _shape(a)
        out_dtype = _out_dtype(call.attrs, _dtype(a))
        if (
            not isinstance(b, Constant)
            or a_shape is None
            or len(a_shape) < 2
            or len(b.value.shape) != 2
            or _dtype(a) != "float32"
            or out_dtype != "float32"
        ):
            return default._matmul(bb, call)
        w = b.value.numpy()  # [K, N]
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
