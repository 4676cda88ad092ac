"""Integer Logistic (Sigmoid), Tanh, HardSwish, LeakyRelu, Relu and clamps (Relu6, Clip).

int8 Logistic/Tanh use gemmlowp's fixed-point functions on a Q4 input; their outputs have
TFLite's fixed quantization (Logistic 1/256, -128; Tanh 1/128, 0). int16 Logistic/Tanh
interpolate TFLite's sigmoid table and need power-of-two-ish scales (output 2**-15).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgec.errors import QuantizationError
from edgec.ops.integer import fixedpoint as fp
from edgec.ops.integer.common import (
    activation_range,
    as_int,
    check_dtype,
    check_zero_point,
    int_range,
    scales_array,
)
from edgec.ops.integer.tables import SIGMOID_TABLE_UINT16

INT8_OUTPUT = {"logistic": (1.0 / 256, -128), "tanh": (1.0 / 128, 0)}


def _scale(value: float) -> np.float32:
    return scales_array(value)[0]


@dataclass(frozen=True)
class SigmoidLikeParams:
    """Input rescaling of Logistic or Tanh (the output quantization is fixed)."""

    dtype: np.dtype
    input_zero_point: int
    input_multiplier: int
    input_left_shift: int
    input_range_radius: int  # int8 only: |input - zp| >= radius saturates


def _checked_log2(scale: np.float32) -> tuple[int, bool]:
    """TFLite CheckedLog2 in float32: (rounded log2, whether it is within 1e-3 of an integer)."""
    log_scale = np.float32(math.log(float(scale)))
    inv_log2 = np.float32(1.0) / np.float32(math.log(2.0))
    x_log2 = np.float32(log_scale * inv_log2)
    rounded = np.float32(fp.round_half_away(x_log2))
    return int(rounded), bool(abs(np.float32(x_log2 - rounded)) < np.float32(1e-3))


def sigmoid_like_params(
    kind: str,
    input_scale: float,
    input_zero_point: int,
    output_scale: float,
    output_zero_point: int,
    *,
    dtype="int8",
) -> SigmoidLikeParams:
    """Derive Logistic (``kind='logistic'``) or Tanh (``'tanh'``) parameters as TFLM's Prepare."""
    if kind not in INT8_OUTPUT:
        raise ValueError(f"kind must be 'logistic' or 'tanh', not {kind!r}")
    dtype = check_dtype(dtype)
    check_zero_point(dtype, input_zero_point)
    s_in, s_out = _scale(input_scale), _scale(output_scale)
    if dtype == np.dtype(np.int8):
        expected = INT8_OUTPUT[kind]
        if s_out != np.float32(expected[0]) or output_zero_point != expected[1]:
            raise QuantizationError(
                f"int8 {kind} output must have scale {expected[0]}, zero point {expected[1]}"
            )
        # Q4 input: frexp of s_in * 2**27, the mantissa rounded into 31 bits (no renormalization).
        q, left_shift = math.frexp(float(s_in) * float(1 << 27))
        multiplier = int(fp.round_half_away(q * (1 << 31)))
        if multiplier > fp.INT32_MAX or not 0 <= left_shift <= 30:
            raise QuantizationError(f"{kind} input scale {s_in} is out of the supported range")
        radius = math.floor(15.0 * float(1 << 27) / float(1 << left_shift))
        return SigmoidLikeParams(dtype, int(input_zero_point), multiplier, left_shift, radius)
    if output_zero_point != 0 or _checked_log2(s_out) != (-15, True):
        raise QuantizationError(f"int16 {kind} output must have scale 2**-15 and zero point 0")
    log2, is_pot = _checked_log2(s_in)
    left_shift = 12 + log2
    is_pot = is_pot and left_shift in ((0,) if kind == "logistic" else (0, 1))
    if is_pot:
        return SigmoidLikeParams(dtype, 0, 0, left_shift, 0)
    multiplier = float(s_in) * 4096.0 * 3.0  # rescale the input to 1 / (3 * 4096)
    left_shift = 0
    while multiplier <= 32767.0 / 2.0 and left_shift <= 30:
        left_shift += 1
        multiplier *= 2.0
    if multiplier > 32767.0:
        raise QuantizationError(f"int16 {kind} input scale {s_in} is too large")
    return SigmoidLikeParams(dtype, 0, int(multiplier), left_shift, 0)


def _q4_input(x: np.ndarray, p: SigmoidLikeParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    centered = x - p.input_zero_point
    low, high = centered <= -p.input_range_radius, centered >= p.input_range_radius
    inside = np.where(low | high, 0, centered)  # saturated lanes never reach the multiply
    q4 = fp.multiply_by_quantized_multiplier(inside, p.input_multiplier, p.input_left_shift)
    return q4, low, high


def _int16_table_input(x: np.ndarray, p: SigmoidLikeParams) -> np.ndarray:
    multiplier, shift = p.input_multiplier, p.input_left_shift
    if multiplier == 0:  # power-of-two scale: only the factor 3 of the 1 / (3 * 4096) scale
        multiplier, shift = 3 << shift, 0
    rounding = (1 << (shift - 1)) if shift > 0 else 0
    return (x * multiplier + rounding) >> shift


def logistic(x, params: SigmoidLikeParams) -> np.ndarray:
    """Integer Logistic (Sigmoid)."""
    p = params
    x = as_int(x, p.dtype)
    if p.dtype == np.dtype(np.int8):
        q4, low, high = _q4_input(x, p)
        out = fp.rounding_divide_by_pot(fp.logistic(q4, 4), 23) - 128
        out = np.where(low, -128, np.where(high, 127, out))
        return np.clip(out, -128, 127).astype(np.int8)
    value = _int16_table_input(x, p)
    magnitude = np.abs(value)
    index = np.minimum(magnitude >> 9, 254)
    ua, ub = SIGMOID_TABLE_UINT16[index], SIGMOID_TABLE_UINT16[index + 1]
    result = np.where(
        magnitude >> 9 >= 255, 0x7FFF << 10, (ua << 9) + (magnitude & 0x1FF) * (ub - ua)
    )
    result = np.where(value >= 0, result + (1 << 9), (1 << 25) - result + (1 << 9) - 1)
    return fp.wrap_int16(result >> 10).astype(np.int16)


def tanh(x, params: SigmoidLikeParams) -> np.ndarray:
    """Integer Tanh."""
    p = params
    x = as_int(x, p.dtype)
    if p.dtype == np.dtype(np.int8):
        q4, low, high = _q4_input(x, p)
        out = fp.rounding_divide_by_pot(fp.tanh(q4, 4), 24)
        out = np.where(low, -128, np.where(high, 127, out))
        return np.clip(out, -128, 127).astype(np.int8)
    value = _int16_table_input(x, p)
    magnitude = np.abs(value)
    index = np.minimum(magnitude >> 8, 254)
    ua, ub = SIGMOID_TABLE_UINT16[index], SIGMOID_TABLE_UINT16[index + 1]
    result = np.where(
        magnitude >> 8 >= 255, 0xFFFF << 8, (ua << 8) + (magnitude & 0xFF) * (ub - ua)
    )
    result = np.where(value >= 0, result - (1 << 23) + (1 << 7), -result + (1 << 23) + (1 << 7) - 1)
    return fp.wrap_int16(result >> 8).astype(np.int16)


@dataclass(frozen=True)
class HardSwishParams:
    """int8 HardSwish in 16-bit fixed point (TFLite's reference_ops::HardSwish)."""

    input_zero_point: int
    output_zero_point: int
    output_multiplier: int  # int16 fixed point
    output_exponent: int
    reluish_multiplier: int
    reluish_exponent: int


def _downscale_to_int16(multiplier: int) -> int:
    """TFLite DownScaleInt32ToInt16Multiplier: round the Q31 multiplier to Q15."""
    if multiplier < 0:
        raise QuantizationError("HardSwish multipliers must be non-negative")
    if multiplier >= fp.INT32_MAX - (1 << 15):
        return fp.INT16_MAX
    return (multiplier + (1 << 15)) >> 16


def hard_swish_params(
    input_scale: float, input_zero_point: int, output_scale: float, output_zero_point: int
) -> HardSwishParams:
    """Derive HardSwish parameters as TFLM's HardSwishPrepare: the ratios are taken in float32
    (as the source does; the 16-bit multipliers make float32 and double indistinguishable in
    every case tested against TFLM)."""
    check_zero_point(np.int8, input_zero_point)
    check_zero_point(np.int8, output_zero_point)
    hires_input_scale = np.float32(1.0 / 128.0) * _scale(input_scale)
    out_m, out_e = fp.quantize_multiplier(
        float(np.float32(hires_input_scale / _scale(output_scale)))
    )
    relu_m, relu_e = fp.quantize_multiplier(
        float(np.float32(hires_input_scale / np.float32(3.0 / 32768.0)))
    )
    if not -15 <= out_e <= 0 or not -15 <= relu_e <= 16:
        raise QuantizationError("HardSwish scales are out of the supported range")
    return HardSwishParams(
        int(input_zero_point),
        int(output_zero_point),
        _downscale_to_int16(out_m),
        out_e,
        _downscale_to_int16(relu_m),
        relu_e,
    )


def _saturating_left_shift_int16(x: np.ndarray, amount: int) -> np.ndarray:
    return np.clip(x << amount, fp.INT16_MIN, fp.INT16_MAX)


def hard_swish(x, params: HardSwishParams) -> np.ndarray:
    """Integer HardSwish, int8."""
    p = params
    x = as_int(x, np.int8)
    hires = (x - p.input_zero_point) * 128  # fits int16: |x - zp| <= 255
    preshift_output = fp.saturating_rounding_doubling_high_mul_int16(hires, p.output_multiplier)
    reluish = hires
    if p.reluish_exponent > 0:
        reluish = _saturating_left_shift_int16(reluish, p.reluish_exponent - 1)
    reluish = fp.saturating_rounding_doubling_high_mul_int16(reluish, p.reluish_multiplier)
    if p.reluish_exponent > 0:
        reluish = _saturating_left_shift_int16(reluish, 1)
    if p.reluish_exponent < 0:
        reluish = fp.rounding_divide_by_pot(reluish, -p.reluish_exponent)
    reluish = (reluish + (1 << 15)) >> 1  # [-1, 1] -> [0, 1]
    out = fp.saturating_doubling_high_mul_int16(reluish, preshift_output)
    out = fp.rounding_divide_by_pot(out, -p.output_exponent)
    out = fp.wrap_int16(out + p.output_zero_point)
    return np.clip(out, -128, 127).astype(np.int8)


@dataclass(frozen=True)
class LeakyReluParams:
    """Two requantizations: identity for x >= zero point, alpha below."""

    dtype: np.dtype
    input_zero_point: int
    output_zero_point: int
    identity_multiplier: int
    identity_shift: int
    alpha_multiplier: int
    alpha_shift: int


def leaky_relu_params(
    input_scale: float,
    input_zero_point: int,
    alpha: float,
    output_scale: float,
    output_zero_point: int,
    *,
    dtype="int8",
) -> LeakyReluParams:
    """Derive LeakyRelu parameters as TFLM: s_in * alpha / s_out and s_in / s_out in double.

    (Older TFLM sources take these ratios in float32; the tested tflite-micro build does not.)
    """
    dtype = check_dtype(dtype)
    check_zero_point(dtype, input_zero_point)
    check_zero_point(dtype, output_zero_point)
    s_in, s_out = _scale(input_scale), _scale(output_scale)
    alpha = float(np.float32(alpha))
    alpha_m, alpha_s = fp.quantize_multiplier(float(s_in) * alpha / float(s_out))
    ident_m, ident_s = fp.quantize_multiplier(float(s_in) / float(s_out))
    return LeakyReluParams(
        dtype, int(input_zero_point), int(output_zero_point), ident_m, ident_s, alpha_m, alpha_s
    )


def leaky_relu(x, params: LeakyReluParams) -> np.ndarray:
    """Integer LeakyRelu."""
    p = params
    x = as_int(x, p.dtype)
    centered = x - p.input_zero_point
    positive = fp.multiply_by_quantized_multiplier(
        centered, p.identity_multiplier, p.identity_shift
    )
    negative = fp.multiply_by_quantized_multiplier(centered, p.alpha_multiplier, p.alpha_shift)
    out = np.where(centered >= 0, positive, negative) + p.output_zero_point
    return np.clip(out, *int_range(p.dtype)).astype(p.dtype)


@dataclass(frozen=True)
class ReluParams:
    """A standalone Relu that also rescales (TFLM RELU)."""

    dtype: np.dtype
    input_zero_point: int
    output_zero_point: int
    multiplier: int
    shift: int
    act_min: int
    act_max: int


def relu_params(
    input_scale: float,
    input_zero_point: int,
    output_scale: float,
    output_zero_point: int,
    *,
    dtype="int8",
) -> ReluParams:
    """Derive RELU parameters as TFLM's CalculateReluOpData: double ratio, clamp at zero."""
    dtype = check_dtype(dtype)
    check_zero_point(dtype, input_zero_point)
    check_zero_point(dtype, output_zero_point)
    s_in, s_out = _scale(input_scale), _scale(output_scale)
    multiplier, shift = fp.quantize_multiplier(float(s_in) / float(s_out))
    act_min, act_max = activation_range(dtype, s_out, output_zero_point, 0.0, None)
    return ReluParams(
        dtype, int(input_zero_point), int(output_zero_point), multiplier, shift, act_min, act_max
    )


def relu(x, params: ReluParams) -> np.ndarray:
    """Integer Relu with requantization."""
    p = params
    x = as_int(x, p.dtype)
    out = fp.multiply_by_quantized_multiplier(x - p.input_zero_point, p.multiplier, p.shift)
    return np.clip(out + p.output_zero_point, p.act_min, p.act_max).astype(p.dtype)


def clamp(x, act_min: int, act_max: int) -> np.ndarray:
    """Relu6 / Clip / Relu without rescaling: clamp to bounds from :func:`activation_range`."""
    x = np.asarray(x)
    return np.clip(x, act_min, act_max).astype(x.dtype)
