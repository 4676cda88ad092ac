"""ConvTranspose (decoders, U-Net upsampling), float and integer (TFLite's TRANSPOSE_CONV).

The kernels gather: each output pixel sums the taps whose input pixel lands on it
(iy * stride + ky * dilation = oy + pad_top), so no int32 scratch of the output's size is
needed (TFLite scatters into one); integer sums are exact either way. Weights are laid out
[out_c][kh][kw][in_c / groups] (Conv's OHWI), the ``edgec_conv_*_t`` structs are Conv's with
pad_top / pad_left the crop of the full result and pad_bottom / pad_right unused (0).
"""

from __future__ import annotations

import numpy as np

from edgec.backends.c import layout as L
from edgec.backends.c.emit_common import (
    activation_bounds,
    bias_ref,
    dims,
    int_sources,
    requant_fields,
    suffix,
    zero_points,
)
from edgec.backends.c.int_checks import _check_weights, checked
from edgec.backends.c.lowering import Emitter, Lowering
from edgec.ir.graph import Node
from edgec.ops import get_op
from edgec.ops.integer import integer_params


def ohwi_weights(node: Node, w: np.ndarray) -> np.ndarray:
    """ONNX [C_in, O/group, k…] → [O][kh][kw][C_in/group]."""
    group = node.attrs.get("group", 1)
    w = w[:, :, None, :] if w.ndim == 3 else w
    cin, mg, kh, kw = w.shape
    grouped = w.reshape(group, cin // group, mg, kh, kw)  # [g][ci][j][kh][kw]
    return np.ascontiguousarray(grouped.transpose(0, 2, 3, 4, 1).reshape(group * mg, kh, kw, -1))


def geometry(node: Node) -> dict:
    """Strides, dilations and the crop at the start as 2-d fields."""
    x, w = node.inputs[0], node.inputs[1]
    strides, dilations, _, begin, _ = get_op("ConvTranspose")._geometry(node, x.shape, w.shape)
    if len(strides) == 1:
        strides, dilations, begin = (1, *strides), (1, *dilations), (0, *begin)
    return {
        "kh": 1 if len(w.shape) == 3 else w.shape[2],
        "kw": w.shape[-1],
        "stride_h": strides[0],
        "stride_w": strides[1],
        "dil_h": dilations[0],
        "dil_w": dilations[1],
        "pad_top": begin[0],
        "pad_left": begin[1],
        "pad_bottom": 0,
        "pad_right": 0,
        "groups": node.attrs.get("group", 1),
    }


def emit_conv_transpose(lw: Lowering, node: Node) -> None:
    x, w, y = node.inputs[0], node.inputs[1], node.outputs[0]
    b = node.input(2)
    lo, hi = activation_bounds(node)
    fields = {
        "in": dims(x.shape),
        "out": dims(y.shape),
        **geometry(node),
        "act_min": lo,
        "act_max": hi,
        "weights": lw.weight(
            ohwi_weights(node, w.const.astype(np.float32)), f"{node.name} weights"
        ),
        "bias": lw.weight(b.const.astype(np.float32), f"{node.name} bias") if b else None,
    }
    src, dst = lw.read(x, L.CHANNELS_LAST), lw.write(y, L.CHANNELS_LAST)
    macs = get_op("ConvTranspose").macs(node)
    lw.call(
        "edgec_conv_transpose_f32",
        "edgec_conv_f32_t",
        fields,
        [src],
        [dst],
        node.name,
        node.op_type,
        {"convt_f32.c", "edgec_convt.h"},
        macs,
    )


def check_conv_transpose(node: Node) -> str | None:
    w, b = node.inputs[1], node.input(2)
    if not w.is_const or (b is not None and not b.is_const):
        return "weights must be constant"
    if len(node.inputs[0].shape) not in (3, 4):
        return "only 1-d and 2-d transposed convolution"
    return None


def emit_int_conv_transpose(lw: Lowering, node: Node) -> None:
    x, w, y = node.inputs[0], node.inputs[1], node.outputs[0]
    b = node.input(2)
    p = integer_params(node)
    channels = y.shape[1]
    wide = y.dtype == np.int16
    fields = {
        "in": dims(x.shape),
        "out": dims(y.shape),
        **geometry(node),
        **zero_points(node, p),
        **requant_fields(lw, node, p.requant, channels),
        "weights": lw.weight(ohwi_weights(node, w.const.astype(np.int8)), f"{node.name} weights"),
        "bias": bias_ref(lw, node, None if b is None else b.const, channels, wide),
    }
    src, dst = lw.read(x, L.CHANNELS_LAST), lw.write(y, L.CHANNELS_LAST)
    sfx = suffix(y)
    lw.call(
        f"edgec_conv_transpose_{sfx}",
        f"edgec_conv_{sfx}_t",
        fields,
        [src],
        [dst],
        node.name,
        node.op_type,
        int_sources("convt_int.c") | {"edgec_convt.h"},
        get_op("ConvTranspose").macs(node),
    )


def check_int_conv_transpose(node: Node) -> str | None:
    if len(node.inputs[0].shape) not in (3, 4):
        return "only 1-d and 2-d transposed convolution"
    return _check_weights(node)


FLOAT_EMITTERS = {"ConvTranspose": Emitter(emit_conv_transpose, check_conv_transpose)}
INT_EMITTERS = {
    "ConvTranspose": Emitter(emit_int_conv_transpose, checked(check_int_conv_transpose))
}
