"""Integer AveragePool, MaxPool and Mean (ReduceMean / GlobalAveragePool), NCHW.

TFLM pools need equal input and output quantization and exclude padding from the average;
its average rounds half away from zero with integer division. ONNX's ``count_include_pad``
(no TFLite option) is TFLite's PAD with the zero point by the declared pads, then
AVERAGE_POOL_2D: padded positions count as the zero point, a ceil-mode window's overhang
beyond the declared pads does not count (LiteRT's int8 pooling is the
same builtin kernel, so ``'litert'`` rounding equals ``'tflm'`` here). ``'float'`` reproduces
onnxruntime's QLinearAveragePool: dequantize, sum in float32 in window order, divide, then
QuantizeLinear with the zero point added before rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgec.errors import QuantizationError
from edgec.ops.integer import fixedpoint as fp
from edgec.ops.integer.common import (
    activation_range,
    as_int,
    check_dtype,
    check_rounding,
    check_zero_point,
    int_range,
    scales_array,
)


@dataclass(frozen=True)
class PoolParams:
    """Window geometry, activation clamp and (for the float mode) the quantization."""

    dtype: np.dtype
    kernel: tuple[int, int]
    strides: tuple[int, int]
    pads: tuple[int, int, int, int]  # top, left, bottom, right
    act_min: int
    act_max: int
    input_scale: np.float32
    input_zero_point: int
    output_scale: np.float32
    output_zero_point: int
    count_include_pad: bool = False
    # The part of the bottom and right pads that a ceil-mode window overhangs beyond the
    # declared pads: never counted, even with count_include_pad.
    overhang: tuple[int, int] = (0, 0)


def pool_params(
    input_scale: float,
    input_zero_point: int,
    output_scale: float,
    output_zero_point: int,
    kernel: Sequence[int],
    *,
    strides: Sequence[int] = (1, 1),
    pads: Sequence[int] = (0, 0, 0, 0),
    dtype="int8",
    activation: tuple[float | None, float | None] = (None, None),
    count_include_pad: bool = False,
    overhang: Sequence[int] = (0, 0),
) -> PoolParams:
    """Pool parameters; the activation clamp is CalculateActivationRangeQuantized's.
    ``pads`` include the ceil-mode ``overhang`` (bottom, right) beyond the declared pads."""
    dtype = check_dtype(dtype)
    check_zero_point(dtype, input_zero_point)
    check_zero_point(dtype, output_zero_point)
    s_in, s_out = scales_array(input_scale)[0], scales_array(output_scale)[0]
    act_min, act_max = activation_range(dtype, s_out, output_zero_point, *activation)
    return PoolParams(
        dtype,
        tuple(int(k) for k in kernel),
        tuple(int(s) for s in strides),
        tuple(int(p) for p in pads),
        act_min,
        act_max,
        s_in,
        int(input_zero_point),
        s_out,
        int(output_zero_point),
        bool(count_include_pad),
        (int(overhang[0]), int(overhang[1])),
    )


def _windows(x: np.ndarray, p: PoolParams, fill) -> tuple[np.ndarray, np.ndarray]:
    """[N, C, OH, OW, kh, kw] windows of x padded with ``fill``, and the mask of the
    positions that count: the input (and with count_include_pad the declared pads)."""
    top, left, bottom, right = p.pads
    (kh, kw), (sh, sw) = p.kernel, p.strides
    padding = ((0, 0), (0, 0), (top, bottom), (left, right))
    padded = np.pad(x, padding, constant_values=fill)
    if p.count_include_pad:
        declared = ((top, bottom - p.overhang[0]), (left, right - p.overhang[1]))
        counted = np.pad(np.ones(x.shape[2:], bool), declared, constant_values=True)
        valid = np.pad(counted, ((0, p.overhang[0]), (0, p.overhang[1])), constant_values=False)
    else:
        valid = np.pad(np.ones(x.shape[2:], bool), padding[2:], constant_values=False)
    if padded.shape[2] < kh or padded.shape[3] < kw:
        raise QuantizationError("pooling window larger than the padded input")
    view = np.lib.stride_tricks.sliding_window_view
    windows = view(padded, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    mask = view(valid, (kh, kw))[::sh, ::sw]
    return windows, mask


def _same_quantization(p: PoolParams, op: str) -> None:
    if p.input_scale != p.output_scale or p.input_zero_point != p.output_zero_point:
        raise QuantizationError(f"TFLM's {op} needs equal input and output quantization")


def avg_pool(x, params: PoolParams, rounding: str = "tflm") -> np.ndarray:
    """Integer average pooling of x [N, C, H, W]."""
    check_rounding(rounding)
    p = params
    x = as_int(x, p.dtype)
    fill = p.input_zero_point if p.count_include_pad else 0
    windows, mask = _windows(x, p, fill)
    counts = mask.sum(axis=(2, 3))
    if np.any(counts == 0):
        raise QuantizationError("a pooling window lies entirely in the padding")
    if rounding == "float":  # LiteRT runs int8 pooling in TFLite's builtin (= TFLM) kernel
        return _avg_pool_float(windows, mask, counts, p)
    _same_quantization(p, "AVERAGE_POOL_2D")
    total = np.where(mask, windows, 0).sum(axis=(4, 5))
    half = counts // 2
    average = np.where(
        total > 0, fp.trunc_div(total + half, counts), fp.trunc_div(total - half, counts)
    )
    return np.clip(average, p.act_min, p.act_max).astype(p.dtype)


def _avg_pool_float(windows, mask, counts, p: PoolParams) -> np.ndarray:
    kh, kw = p.kernel
    total = np.zeros(windows.shape[:4], np.float32)
    for i in range(kh):  # float32 sum in onnxruntime's order: rows, then columns
        for j in range(kw):
            value = p.input_scale * (windows[..., i, j] - p.input_zero_point).astype(np.float32)
            total = total + np.where(mask[:, :, i, j], value, np.float32(0))
    average = total / counts.astype(np.float32)
    out = np.rint(average / p.output_scale + np.float32(p.output_zero_point))
    out = np.clip(out, *int_range(p.dtype))
    return np.clip(out, p.act_min, p.act_max).astype(p.dtype)


def max_pool(x, params: PoolParams) -> np.ndarray:
    """Integer max pooling (padding never wins); same in both rounding modes."""
    p = params
    x = as_int(x, p.dtype)
    lo, _ = int_range(p.dtype)
    windows, mask = _windows(x, p, lo)
    if not mask.any(axis=(2, 3)).all():
        raise QuantizationError("a pooling window lies entirely in the padding")
    if p.input_scale != p.output_scale or p.input_zero_point != p.output_zero_point:
        raise QuantizationError("MaxPool needs equal input and output quantization")
    out = np.where(mask, windows, lo).max(axis=(4, 5))
    return np.clip(out, p.act_min, p.act_max).astype(p.dtype)


@dataclass(frozen=True)
class MeanParams:
    """TFLM MEAN (QuantizedMeanOrSum): the centered sum, requantized once with 1 / count folded
    into the multiplier."""

    dtype: np.dtype
    count: int
    input_zero_point: int
    output_zero_point: int
    multiplier: int  # already folded with 1 / count
    shift: int
    # rounding "float": onnxruntime's QLinearGlobalAveragePool, s_in / (s_out * count) in float32
    scale: float = 0.0


def mean_params(
    input_scale: float,
    input_zero_point: int,
    output_scale: float,
    output_zero_point: int,
    count: int,
    *,
    dtype="int8",
) -> MeanParams:
    """Derive MEAN parameters for a reduction over ``count`` elements (PrepareMeanOrSum and
    QuantizedMeanOrSum): double(s_in) / double(s_out) -> QuantizeMultiplier, then the
    multiplier absorbs 1 / count with a shift of floor(log2(count)), clamped to 32 and to
    31 + shift, and an integer division of the multiplier."""
    dtype = check_dtype(dtype)
    check_zero_point(dtype, input_zero_point)
    check_zero_point(dtype, output_zero_point)
    if count < 1:
        raise QuantizationError("mean over an empty set")
    s_in, s_out = scales_array(input_scale)[0], scales_array(output_scale)[0]
    multiplier, shift = fp.quantize_multiplier(float(s_in) / float(s_out))
    log2 = min(count.bit_length() - 1, 32, 31 + shift)
    multiplier = (multiplier << log2) // count  # positive operands: C division
    return MeanParams(
        dtype,
        int(count),
        int(input_zero_point),
        int(output_zero_point),
        int(multiplier),
        int(shift - log2),
        s_in / (s_out * np.float32(count)),
    )


def mean(
    x, axes: Sequence[int], params: MeanParams, keepdims: bool = True, rounding: str = "tflm"
) -> np.ndarray:
    """Integer mean over ``axes`` (GlobalAveragePool = axes (2, 3)). Rounding "float":
    onnxruntime's QLinearGlobalAveragePool (x86), the centered sum times one float32 scale,
    rounded half to even; LiteRT's MEAN is TFLite's builtin (= TFLM)."""
    check_rounding(rounding)
    p = params
    x = as_int(x, p.dtype)
    axes = tuple(a % x.ndim for a in axes)
    if int(np.prod([x.shape[a] for a in axes])) != p.count:
        raise QuantizationError(
            f"mean params are for {p.count} elements, axes {axes} hold another count"
        )
    total = fp.wrap_int32(x.sum(axis=axes, keepdims=keepdims))
    centered = fp.wrap_int32(total - p.input_zero_point * p.count)
    if rounding == "float":
        lo, hi = int_range(p.dtype)
        return fp.requantize_float(centered, p.scale, p.output_zero_point, lo, hi).astype(p.dtype)
    out = fp.multiply_by_quantized_multiplier(centered, p.multiplier, p.shift) + p.output_zero_point
    return np.clip(out, *int_range(p.dtype)).astype(p.dtype)
