"""Integer Conv (general, grouped, depthwise) and fully connected, TFLM reference semantics.

Layouts are ONNX's: activations NCHW, conv weights OIHW (depthwise = group conv with
group == input channels, O = C * multiplier), fully-connected weights [out, in] (Gemm with
transB=1). int8 mode: int8 activations, int8 symmetric per-channel weights, int32 bias and
int32 accumulator. 16x8 mode: int16 activations (zero point 0), int8 weights, int64 bias and
accumulator (``wide``), requantized by the int64 MultiplyByQuantizedMultiplier; 16x8 with
int32 bias uses a 32-bit accumulator instead (``wide=False``), as TFLM does for Conv and
FullyConnected (its 16x8 DepthwiseConv reads any bias as int64: use int64 there).

``rounding``: "tflm" (default), "float" (onnxruntime QLinearConv/QLinearMatMul: float32
scale, round half to even), "litert" (the same float32 requantization, XNNPACK's).

Accumulation runs in float64 matmuls: every product and partial sum is an integer below
2**53, so the result is exact; a 32-bit accumulator then wraps as C's does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgec.errors import QuantizationError
from edgec.ops.integer import fixedpoint as fp
from edgec.ops.integer.common import (
    Requant,
    activation_range,
    as_int,
    check_dtype,
    check_rounding,
    check_zero_point,
    scales_array,
)
from edgec.ops.integer.int4 import weight_ints


def _requant(
    real_multipliers: np.ndarray,
    float_scales: np.ndarray,
    dtype,
    output_scale: float,
    output_zero_point: int,
    activation: tuple[float | None, float | None],
    wide: bool,
) -> Requant:
    multipliers, shifts = fp.quantize_multipliers(real_multipliers)
    act_min, act_max = activation_range(dtype, output_scale, output_zero_point, *activation)
    return Requant(
        multiplier=multipliers,
        shift=shifts,
        scale=float_scales.astype(np.float32),
        zero_point=output_zero_point,
        act_min=act_min,
        act_max=act_max,
        wide=wide,
    )


def _common_checks(dtype, input_zero_point, output_zero_point, weight_scales, wide):
    dtype = check_dtype(dtype)
    check_zero_point(dtype, input_zero_point)
    check_zero_point(dtype, output_zero_point)
    weights = scales_array(weight_scales)
    is_int16 = dtype == np.dtype(np.int16)
    return dtype, weights, is_int16 if wide is None else bool(wide)


@dataclass(frozen=True)
class ConvParams:
    """Everything an integer Conv needs besides its tensors."""

    dtype: np.dtype
    input_zero_point: int
    requant: Requant
    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, left, bottom, right
    dilations: tuple[int, int] = (1, 1)
    group: int = 1


def conv_params(
    input_scale: float,
    input_zero_point: int,
    weight_scales,
    output_scale: float,
    output_zero_point: int,
    *,
    dtype="int8",
    strides=(1, 1),
    pads=(0, 0, 0, 0),
    dilations=(1, 1),
    group: int = 1,
    activation: tuple[float | None, float | None] = (None, None),
    wide: bool | None = None,
) -> ConvParams:
    """Derive Conv parameters as TFLM's Prepare does (PopulateConvolutionQuantizationParams).

    Per channel: double(s_in) * double(s_w) / double(s_out) -> QuantizeMultiplier; a single
    weight scale is broadcast the same way. ``activation`` holds the fused clamp's float
    bounds. ``wide`` (default: True for int16) selects the int64 accumulator.
    """
    dtype, weights, wide = _common_checks(
        dtype, input_zero_point, output_zero_point, weight_scales, wide
    )
    s_in, s_out = np.float32(input_scale), np.float32(output_scale)
    real = float(s_in) * weights.astype(np.float64) / float(s_out)
    float_scales = (s_in * weights) / s_out  # onnxruntime's float32 order
    requant = _requant(real, float_scales, dtype, s_out, output_zero_point, activation, wide)
    return ConvParams(
        dtype=dtype,
        input_zero_point=int(input_zero_point),
        requant=requant,
        strides=tuple(int(s) for s in strides),
        pads=tuple(int(p) for p in pads),
        dilations=tuple(int(d) for d in dilations),
        group=int(group),
    )


def _check_bias(bias, channels: int, wide: bool) -> np.ndarray | None:
    if bias is None:
        return None
    bias = np.asarray(bias)
    expected = np.dtype(np.int64 if wide else np.int32)
    if bias.dtype != expected or bias.shape != (channels,):
        raise QuantizationError(
            f"bias must be {expected.name} [{channels}], got {bias.dtype} {bias.shape}"
        )
    return bias.astype(np.int64)


def conv2d(x, w, bias, params: ConvParams, rounding: str = "tflm") -> np.ndarray:
    """Integer 2-D convolution: x [N, C, H, W], w [O, C/group, kh, kw], bias [O] or None."""
    x = as_int(x, params.dtype)
    w = weight_ints(w)
    n, c = x.shape[:2]
    o, cg, kh, kw = w.shape
    g = params.group
    if c != cg * g or o % g:
        raise QuantizationError(f"conv shapes {x.shape} x {w.shape} do not fit group {g}")
    if params.requant.multiplier.size not in (1, o):
        raise QuantizationError(
            f"{params.requant.multiplier.size} channel multipliers for {o} channels"
        )
    bias = _check_bias(bias, o, params.requant.wide)
    (sh, sw), (dh, dw) = params.strides, params.dilations
    top, left, bottom, right = params.pads
    # Padding with the input zero point contributes (zp - zp) * w = 0, as TFLM's skipping does.
    padded = np.pad(
        x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=params.input_zero_point
    )
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    if padded.shape[2] < span_h or padded.shape[3] < span_w:
        raise QuantizationError("conv kernel larger than the padded input")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (span_h, span_w), axis=(2, 3))
    windows = windows[:, :, ::sh, ::sw, ::dh, ::dw]  # [N, C, OH, OW, kh, kw]
    oh, ow = windows.shape[2:4]
    centered = (windows - params.input_zero_point).astype(np.float64)
    centered = centered.reshape(n, g, cg, oh, ow, kh, kw)
    weights = w.astype(np.float64).reshape(g, o // g, cg, kh, kw)
    acc = np.einsum("ngchwij,gocij->ngohw", centered, weights, optimize=True)
    acc = np.rint(acc).astype(np.int64).reshape(n, o, oh, ow)
    if bias is not None:
        acc = acc + bias.reshape(1, o, 1, 1)
    rounding = check_rounding(rounding, params.dtype)
    return params.requant.apply(acc, 1, rounding).astype(params.dtype)


@dataclass(frozen=True)
class FullyConnectedParams:
    """Everything an integer fully-connected layer needs besides its tensors."""

    dtype: np.dtype
    input_zero_point: int
    requant: Requant


def fully_connected_params(
    input_scale: float,
    input_zero_point: int,
    weight_scales,
    output_scale: float,
    output_zero_point: int,
    *,
    dtype="int8",
    activation: tuple[float | None, float | None] = (None, None),
    wide: bool | None = None,
) -> FullyConnectedParams:
    """Derive FC parameters as TFLM's CalculateOpDataFullyConnected does: per tensor or per
    channel, double(s_in) * double(s_w) / double(s_out) -> QuantizeMultiplier.

    (Some TFLM sources take the per-tensor product s_in * s_w in float32 first; the
    tflite-micro build this is tested against computes it in double, as here.)
    """
    dtype, weights, wide = _common_checks(
        dtype, input_zero_point, output_zero_point, weight_scales, wide
    )
    s_in, s_out = np.float32(input_scale), np.float32(output_scale)
    real = float(s_in) * weights.astype(np.float64) / float(s_out)
    float_scales = (s_in * weights) / s_out
    requant = _requant(real, float_scales, dtype, s_out, output_zero_point, activation, wide)
    return FullyConnectedParams(
        dtype=dtype, input_zero_point=int(input_zero_point), requant=requant
    )


def fully_connected(x, w, bias, params: FullyConnectedParams, rounding: str = "tflm") -> np.ndarray:
    """Integer fully connected: x [..., K], w [O, K] int8, bias [O] or None -> [..., O]."""
    x = as_int(x, params.dtype)
    w = weight_ints(w)
    o, k = w.shape
    if x.shape[-1] != k:
        raise QuantizationError(f"fully connected: input depth {x.shape[-1]} != weights {k}")
    if params.requant.multiplier.size not in (1, o):
        raise QuantizationError(
            f"{params.requant.multiplier.size} channel multipliers for {o} outputs"
        )
    bias = _check_bias(bias, o, params.requant.wide)
    centered = (x - params.input_zero_point).astype(np.float64)
    acc = np.rint(centered @ w.astype(np.float64).T).astype(np.int64)
    if bias is not None:
        acc = acc + bias
    rounding = check_rounding(rounding, params.dtype)
    return params.requant.apply(acc, acc.ndim - 1, rounding).astype(params.dtype)


@dataclass(frozen=True)
class ConvTransposeParams:
    """An integer ConvTranspose: TFLite's TRANSPOSE_CONV arithmetic (per group)."""

    dtype: np.dtype
    input_zero_point: int
    requant: Requant  # per output channel
    strides: tuple[int, int]
    dilations: tuple[int, int]
    begin: tuple[int, int]  # the full result's rows and columns cropped at the start
    out: tuple[int, int]  # output height and width
    group: int = 1


def conv_transpose_params(
    input_scale: float,
    input_zero_point: int,
    weight_scales,
    output_scale: float,
    output_zero_point: int,
    *,
    strides,
    dilations,
    begin,
    out,
    dtype="int8",
    group: int = 1,
    activation: tuple[float | None, float | None] = (None, None),
    wide: bool | None = None,
) -> ConvTransposeParams:
    """TFLM's TRANSPOSE_CONV Prepare: per channel double(s_in) * double(s_w) / double(s_out)
    -> QuantizeMultiplier (as Conv's); ``weight_scales`` one per output channel (or one)."""
    conv = conv_params(
        input_scale,
        input_zero_point,
        weight_scales,
        output_scale,
        output_zero_point,
        dtype=dtype,
        activation=activation,
        wide=wide,
    )
    return ConvTransposeParams(
        conv.dtype,
        conv.input_zero_point,
        conv.requant,
        tuple(int(s) for s in strides),
        tuple(int(d) for d in dilations),
        tuple(int(b) for b in begin),
        tuple(int(o) for o in out),
        int(group),
    )


def conv_transpose2d(x, w, bias, params: ConvTransposeParams, rounding: str = "tflm"):
    """Integer 2-D transposed convolution: x [N, C, H, W], w [C, O/group, kh, kw] (ONNX),
    bias [O] or None. Output pixel (oy, ox) sums the taps with iy * s + ky * d = oy + begin
    (TFLite's scatter, with its pad as ``begin``), plus bias, requantized per channel."""
    p = params
    x = as_int(x, p.dtype)
    w = as_int(w, np.int8)
    n, c, h, wd = x.shape
    cin, mg, kh, kw = w.shape
    g = p.group
    if cin != c or c % g:
        raise QuantizationError(f"conv transpose shapes {x.shape} x {w.shape} do not fit group {g}")
    o = mg * g
    if p.requant.multiplier.size not in (1, o):
        raise QuantizationError(f"{p.requant.multiplier.size} channel multipliers for {o}")
    bias = _check_bias(bias, o, p.requant.wide)
    (sh, sw), (dh, dw) = p.strides, p.dilations
    centered = (x - p.input_zero_point).astype(np.float64).reshape(n, g, c // g, h, wd)
    weights = w.astype(np.float64).reshape(g, c // g, mg, kh, kw)
    # every input pixel times every tap: [N, G, Mg, H, W, kh, kw]
    taps = np.einsum("ngchw,gcmij->ngmhwij", centered, weights, optimize=True)
    top, left = p.begin
    oh, ow = p.out
    full_h = max(sh * (h - 1) + dh * (kh - 1) + 1, top + oh)
    full_w = max(sw * (wd - 1) + dw * (kw - 1) + 1, left + ow)
    acc = np.zeros((n, g, mg, full_h, full_w))
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + sh * (h - 1) + 1, sh)
            cols = slice(j * dw, j * dw + sw * (wd - 1) + 1, sw)
            acc[:, :, :, rows, cols] += taps[..., i, j]
    acc = np.rint(acc[:, :, :, top : top + oh, left : left + ow]).astype(np.int64)
    acc = acc.reshape(n, o, oh, ow)
    if bias is not None:
        acc = acc + bias.reshape(1, o, 1, 1)
    rounding = check_rounding(rounding, p.dtype)
    return p.requant.apply(acc, 1, rounding).astype(p.dtype)
