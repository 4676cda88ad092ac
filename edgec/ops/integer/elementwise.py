"""Integer Add, Mul, requantization, Concat, Pad, Quantize/Dequantize, Reshape, Transpose.

Binary ops broadcast like numpy (TFLite's broadcasting is the same). ``rounding='float'``
selects onnxruntime's float32 formulas (QLinearAdd, QLinearMul, DequantizeLinear +
QuantizeLinear for requantization); ``'litert'`` XNNPACK's (integer Add with 21-bit
multipliers; Mul rescaled in float32, rounded, then offset); requantization stays TFLM's.
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


def _scale(value: float) -> np.float32:
    return scales_array(value)[0]


def _smaller_than_one(real: float, what: str) -> tuple[int, int]:
    """QuantizeMultiplierSmallerThanOneExp: requires 0 < real < 1."""
    if not 0.0 < real < 1.0:
        raise QuantizationError(f"{what} multiplier {real} must lie in (0, 1)")
    return fp.quantize_multiplier(real)


@dataclass(frozen=True)
class AddParams:
    """Integer Add: both inputs are rescaled to a common scale with ``left_shift`` headroom."""

    dtype: np.dtype
    input1_zero_point: int
    input2_zero_point: int
    output_zero_point: int
    left_shift: int
    input1_multiplier: int
    input1_shift: int
    input2_multiplier: int
    input2_shift: int
    output_multiplier: int
    output_shift: int
    act_min: int
    act_max: int
    scales: tuple[np.float32, np.float32, np.float32]  # s1, s2, s_out for the float mode


def add_params(
    scale1: float,
    zero_point1: int,
    scale2: float,
    zero_point2: int,
    output_scale: float,
    output_zero_point: int,
    *,
    dtype="int8",
    activation: tuple[float | None, float | None] = (None, None),
) -> AddParams:
    """Derive Add parameters as TFLM's CalculateOpDataAdd does (all in double)."""
    dtype = check_dtype(dtype)
    for zp in (zero_point1, zero_point2, output_zero_point):
        check_zero_point(dtype, zp)
    s1, s2, s_out = _scale(scale1), _scale(scale2), _scale(output_scale)
    left_shift = 15 if dtype == np.dtype(np.int16) else 20
    twice_max = 2 * float(max(s1, s2))
    m1, sh1 = _smaller_than_one(float(s1) / twice_max, "input 1")
    m2, sh2 = _smaller_than_one(float(s2) / twice_max, "input 2")
    mo, sho = _smaller_than_one(twice_max / ((1 << left_shift) * float(s_out)), "output")
    act_min, act_max = activation_range(dtype, s_out, output_zero_point, *activation)
    return AddParams(
        dtype,
        int(zero_point1),
        int(zero_point2),
        int(output_zero_point),
        left_shift,
        m1,
        sh1,
        m2,
        sh2,
        mo,
        sho,
        act_min,
        act_max,
        (s1, s2, s_out),
    )


def add(a, b, params: AddParams, rounding: str = "tflm") -> np.ndarray:
    """Integer Add with broadcasting."""
    rounding = check_rounding(rounding, params.dtype)
    a, b = as_int(a, params.dtype), as_int(b, params.dtype)
    if rounding == "float":
        return _add_float(a, b, params)
    if rounding == "litert":
        return _add_xnnpack(a, b, params)
    p = params
    v1 = fp.multiply_by_quantized_multiplier(
        (a - p.input1_zero_point) << p.left_shift, p.input1_multiplier, p.input1_shift
    )
    v2 = fp.multiply_by_quantized_multiplier(
        (b - p.input2_zero_point) << p.left_shift, p.input2_multiplier, p.input2_shift
    )
    out = fp.multiply_by_quantized_multiplier(v1 + v2, p.output_multiplier, p.output_shift)
    return np.clip(out + p.output_zero_point, p.act_min, p.act_max).astype(p.dtype)


def add_float_terms(p: AddParams) -> tuple[np.float32, np.float32, np.float32]:
    """onnxruntime QLinearAdd's float32 constants: (ra, rb, zc - (ra*za + rb*zb))."""
    s1, s2, s_out = p.scales
    ratio_a, ratio_b = np.float32(s1 / s_out), np.float32(s2 / s_out)
    fixed = np.float32(p.output_zero_point) - (
        ratio_a * np.float32(p.input1_zero_point) + ratio_b * np.float32(p.input2_zero_point)
    )
    return ratio_a, ratio_b, fixed


def _add_float(a: np.ndarray, b: np.ndarray, p: AddParams) -> np.ndarray:
    """onnxruntime QLinearAdd (MLAS, x86): zc - (ra*za + rb*zb) + a*ra + b*rb in float32."""
    ratio_a, ratio_b, fixed = add_float_terms(p)
    value = (fixed + b.astype(np.float32) * ratio_b) + a.astype(np.float32) * ratio_a
    return np.clip(np.rint(value), p.act_min, p.act_max).astype(p.dtype)


def add_xnnpack_terms(p: AddParams) -> tuple[int, int, int, int]:
    """XNNPACK qs8 add's integers: (multiplier a, multiplier b, shift, bias). 21-bit
    multipliers for s_a / s_out and s_b / s_out share one shift (20 minus the larger ratio's
    exponent); the bias holds the rounding (half up) and the input zero points."""
    s1, s2, s_out = p.scales
    ratios = np.array([s1 / s_out, s2 / s_out], np.float32)
    if not (ratios.min() >= 2.0**-10 and ratios.max() < 2.0**8):
        raise QuantizationError("XNNPACK add supports scale ratios in [2**-10, 2**8)")
    shift = 20 - (int(np.frexp(ratios.max())[1]) - 1)
    m_a, m_b = (int(m) for m in np.rint(ratios.astype(np.float64) * 2.0**shift))
    bias = (1 << (shift - 1)) - m_a * p.input1_zero_point - m_b * p.input2_zero_point
    return m_a, m_b, shift, bias


def _add_xnnpack(a: np.ndarray, b: np.ndarray, p: AddParams) -> np.ndarray:
    """XNNPACK qs8 add: (bias + a * m_a + b * m_b) >> shift, plus the output zero point."""
    m_a, m_b, shift, bias = add_xnnpack_terms(p)
    out = (bias + a * m_a + b * m_b) >> shift
    out = out + p.output_zero_point
    return np.clip(out, p.act_min, p.act_max).astype(p.dtype)


@dataclass(frozen=True)
class MulParams:
    """Integer Mul: the product of centered inputs, requantized once."""

    dtype: np.dtype
    input1_zero_point: int
    input2_zero_point: int
    output_zero_point: int
    multiplier: int
    shift: int
    act_min: int
    act_max: int
    scales: tuple[np.float32, np.float32, np.float32]


def mul_params(
    scale1: float,
    zero_point1: int,
    scale2: float,
    zero_point2: int,
    output_scale: float,
    output_zero_point: int,
    *,
    dtype="int8",
    activation: tuple[float | None, float | None] = (None, None),
) -> MulParams:
    """Derive Mul parameters as TFLM's CalculateOpDataMul: double(s1 * s2 / s_out)."""
    dtype = check_dtype(dtype)
    for zp in (zero_point1, zero_point2, output_zero_point):
        check_zero_point(dtype, zp)
    s1, s2, s_out = _scale(scale1), _scale(scale2), _scale(output_scale)
    multiplier, shift = fp.quantize_multiplier(float(s1) * float(s2) / float(s_out))
    act_min, act_max = activation_range(dtype, s_out, output_zero_point, *activation)
    return MulParams(
        dtype,
        int(zero_point1),
        int(zero_point2),
        int(output_zero_point),
        multiplier,
        shift,
        act_min,
        act_max,
        (s1, s2, s_out),
    )


def mul(a, b, params: MulParams, rounding: str = "tflm") -> np.ndarray:
    """Integer Mul with broadcasting."""
    rounding = check_rounding(rounding, params.dtype)
    p = params
    a, b = as_int(a, p.dtype), as_int(b, p.dtype)
    product = (a - p.input1_zero_point) * (b - p.input2_zero_point)
    if rounding != "tflm":
        value = product.astype(np.float32) * mul_float_scale(p)
        if rounding == "float":  # onnxruntime QLinearMul: the zero point joins before rounding
            out = np.rint(value + np.float32(p.output_zero_point))
        else:  # XNNPACK: round, then add the zero point
            out = np.rint(value) + p.output_zero_point
    else:
        out = (
            fp.multiply_by_quantized_multiplier(product, p.multiplier, p.shift)
            + p.output_zero_point
        )
    return np.clip(out, p.act_min, p.act_max).astype(p.dtype)


def mul_float_scale(p: MulParams) -> np.float32:
    """The float modes' scale of the product: s1 * s2 / s_out in float32."""
    s1, s2, s_out = p.scales
    return np.float32(s1 * s2 / s_out)


@dataclass(frozen=True)
class RequantizeParams:
    """int -> int rescaling (TFLite QUANTIZE between integer tensors)."""

    input_zero_point: int
    output_zero_point: int
    multiplier: int
    shift: int
    output_dtype: np.dtype
    scales: tuple[np.float32, np.float32]


def requantize_params(
    input_scale: float,
    input_zero_point: int,
    output_scale: float,
    output_zero_point: int,
    output_dtype="int8",
) -> RequantizeParams:
    """TFLM's PrepareQuantizeReference: double(s_in) / double(s_out) -> QuantizeMultiplier."""
    output_dtype = check_dtype(output_dtype)
    check_zero_point(output_dtype, output_zero_point)
    s_in, s_out = _scale(input_scale), _scale(output_scale)
    multiplier, shift = fp.quantize_multiplier(float(s_in) / float(s_out))
    return RequantizeParams(
        int(input_zero_point),
        int(output_zero_point),
        multiplier,
        shift,
        output_dtype,
        (s_in, s_out),
    )


def requantize(x, params: RequantizeParams, rounding: str = "tflm") -> np.ndarray:
    """Rescale an integer tensor to new quantization parameters (and dtype)."""
    check_rounding(rounding)
    p = params
    centered = fp.as_int64(x) - p.input_zero_point
    if rounding == "float":  # DequantizeLinear then QuantizeLinear, as onnxruntime
        s_in, s_out = p.scales
        return quantize_linear(
            centered.astype(np.float32) * s_in, s_out, p.output_zero_point, p.output_dtype
        )
    out = fp.multiply_by_quantized_multiplier(centered, p.multiplier, p.shift) + p.output_zero_point
    return np.clip(out, *int_range(p.output_dtype)).astype(p.output_dtype)


def concat(
    inputs: Sequence[np.ndarray],
    input_params: Sequence[tuple[float, int]],
    output_params: tuple[float, int],
    axis: int,
    rounding: str = "tflm",
) -> np.ndarray:
    """Concat; inputs whose (scale, zero point) differ from the output's are requantized first.

    TFLM's CONCATENATION copies raw values and needs equal parameters; the TFLite converter
    inserts a QUANTIZE before any input that differs, which is what this does.
    """
    dtype = np.asarray(inputs[0]).dtype
    check_dtype(dtype)
    out_scale, out_zp = float(_scale(output_params[0])), int(output_params[1])
    parts = []
    for x, (scale, zp) in zip(inputs, input_params, strict=True):
        as_int(x, dtype)
        if float(_scale(scale)) == out_scale and int(zp) == out_zp:
            parts.append(np.asarray(x))
        else:
            params = requantize_params(scale, zp, out_scale, out_zp, dtype)
            parts.append(requantize(x, params, rounding))
    return np.concatenate(parts, axis=axis)


def pad(
    x, pads: Sequence[tuple[int, int]], zero_point: int, constant: int | None = None
) -> np.ndarray:
    """Pad with the quantized zero (the zero point) or a given quantized constant."""
    x = np.asarray(x)
    value = zero_point if constant is None else constant
    lo, hi = int_range(x.dtype)
    if not lo <= value <= hi:
        raise QuantizationError(f"pad value {value} outside the {x.dtype} range")
    return np.pad(x, [tuple(p) for p in pads], constant_values=value)


def quantize_linear(x, scale: float, zero_point: int, dtype="int8") -> np.ndarray:
    """float -> int as onnxruntime's QuantizeLinear: x / scale in float32, round half to even."""
    dtype = check_dtype(dtype)
    lo, hi = int_range(dtype)
    value = np.asarray(x, np.float32) / _scale(scale)
    value = np.clip(value, np.float32(lo - zero_point), np.float32(hi - zero_point))
    return (np.rint(value).astype(np.int64) + int(zero_point)).astype(dtype)


def quantize_tflm(x, scale: float, zero_point: int, dtype="int8") -> np.ndarray:
    """float -> int as TFLM's QUANTIZE (AffineQuantize): roundf(x / scale) + zero point."""
    dtype = check_dtype(dtype)
    quotient = np.asarray(x, np.float32) / _scale(scale)
    value = fp.round_half_away(quotient) + int(zero_point)
    return np.clip(value, *int_range(dtype)).astype(dtype)


def dequantize(x, scale: float, zero_point: int) -> np.ndarray:
    """int -> float32: scale * (x - zero_point), in float32 (TFLM DEQUANTIZE)."""
    return _scale(scale) * (fp.as_int64(x) - int(zero_point)).astype(np.float32)


def reshape(x, shape: Sequence[int]) -> np.ndarray:
    """Reshape: no arithmetic, quantization unchanged."""
    return np.reshape(np.asarray(x), tuple(shape))


def transpose(x, perm: Sequence[int]) -> np.ndarray:
    """Transpose: no arithmetic, quantization unchanged."""
    return np.transpose(np.asarray(x), tuple(perm))
