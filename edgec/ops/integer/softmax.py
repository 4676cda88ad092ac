"""Integer Softmax over the last axis, TFLM reference semantics.

int8 in, int8 out (fixed output scale 1/256, zero point -128) or int16 out (1/65536,
-32768): gemmlowp exp on a Q5.26 difference to the row maximum, a Q12 sum, a fixed-point
reciprocal. Differences below ``diff_min`` contribute nothing (their exp would round to 0).
int16 in, int16 out (scale 1/32768, zero point 0): two 513-entry interpolated tables, exp on
[-10, 0] and 1 / (1 + x) on [0, 1], generated in float32 as TFLM does in Prepare.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from edgec.errors import QuantizationError
from edgec.ops.integer import fixedpoint as fp
from edgec.ops.integer.common import as_int, check_dtype, scales_array

SCALED_DIFF_INTEGER_BITS = 5
ACCUMULATION_INTEGER_BITS = 12

# (input dtype, output dtype) -> the output quantization TFLite requires.
OUTPUT_QUANTIZATION = {
    ("int8", "int8"): (1.0 / 256, -128),
    ("int8", "int16"): (1.0 / 65536, -32768),
    ("int16", "int16"): (1.0 / 32768, 0),
}


@dataclass(frozen=True)
class SoftmaxParams:
    """Softmax parameters; the int16 tables are filled only for int16 input."""

    input_dtype: np.dtype
    output_dtype: np.dtype
    input_multiplier: int
    input_left_shift: int
    diff_min: int
    exp_table: np.ndarray = field(default=None, repr=False)
    reciprocal_table: np.ndarray = field(default=None, repr=False)


def _lut_float32(func, input_min: float, input_max: float) -> np.ndarray:
    """TFLM gen_lut<float, int16, int16>: 512 samples + 1, output range [-1, 1], with the
    half-step correction that centers the interpolation error; all arithmetic in float32."""
    f32 = np.float32
    lo, hi = f32(input_min), f32(input_max)
    step = (hi - lo) / f32(512)
    half_step = step / f32(2)
    scaling = f32(65536) / f32(2)

    def rnd(v):
        return f32(fp.round_half_away(v))

    table = np.zeros(513, np.int64)
    for i in range(512):
        start = lo + f32(i) * step
        val, mid, nxt = func(start), func(start + half_step), func(lo + f32(i + 1) * step)
        sample = rnd(val * scaling)
        interpolated = rnd((nxt * scaling + rnd(val * scaling)) / f32(2))
        bias = rnd((interpolated - rnd(mid * scaling)) / f32(2))
        table[i] = int(min(max(sample - bias, f32(-32768)), f32(32767)))
    table[512] = int(min(max(rnd(func(hi) * scaling), f32(-32768)), f32(32767)))
    return table


def _exp_f32(x: np.float32) -> np.float32:
    return np.float32(math.exp(float(x)))  # expf, correctly rounded


def _one_over_one_plus_x_f32(x: np.float32) -> np.float32:
    return np.float32(1.0) / (np.float32(1.0) + x)


def softmax_params(
    input_scale: float, beta: float = 1.0, *, dtype="int8", output_dtype=None
) -> SoftmaxParams:
    """Derive Softmax parameters as TFLM's CalculateSoftmaxParams / SoftmaxPrepare.

    int8: PreprocessSoftmaxScaling(beta, s_in, 5) = min(beta * s_in * 2**26, 2**31 - 1) in
    double -> QuantizeMultiplier (must exceed 1), and diff_min = -floor(31 * 2**26 / 2**shift).
    int16: QuantizeMultiplier(s_in * beta / (10 / 65535)).
    """
    dtype = check_dtype(dtype)
    output_dtype = dtype if output_dtype is None else check_dtype(output_dtype)
    if (dtype.name, output_dtype.name) not in OUTPUT_QUANTIZATION:
        raise QuantizationError(f"softmax {dtype} -> {output_dtype} is not supported")
    s_in = float(scales_array(input_scale)[0])
    beta = float(np.float32(beta))
    if dtype == np.dtype(np.int16):
        multiplier, shift = fp.quantize_multiplier(s_in * beta / (10.0 / 65535.0))
        if not -31 <= shift <= 30:
            raise QuantizationError(f"softmax input scale {s_in} is out of range")
        return SoftmaxParams(
            dtype,
            output_dtype,
            multiplier,
            shift,
            0,
            _lut_float32(_exp_f32, -10.0, 0.0),
            _lut_float32(_one_over_one_plus_x_f32, 0.0, 1.0),
        )
    real = min(beta * s_in * float(1 << (31 - SCALED_DIFF_INTEGER_BITS)), float((1 << 31) - 1))
    if real <= 1.0:
        raise QuantizationError(f"softmax input scale {s_in} * beta {beta} is too small")
    multiplier, left_shift = fp.quantize_multiplier(real)
    radius = math.floor(31.0 * float(1 << 26) / float(1 << left_shift))
    return SoftmaxParams(dtype, output_dtype, multiplier, left_shift, -radius)


def _lut_lookup(value: np.ndarray, table: np.ndarray) -> np.ndarray:
    """TFLM int16 table lookup with linear interpolation of the 7 low bits."""
    index = 256 + (value >> 7)
    offset = value & 0x7F
    base = table[index]
    slope = fp.wrap_int16(table[index + 1] - base)
    return fp.wrap_int16(base + ((slope * offset + 64) >> 7))


def softmax(x, params: SoftmaxParams, axis: int = -1) -> np.ndarray:
    """Integer Softmax along ``axis``."""
    p = params
    x = np.moveaxis(as_int(x, p.input_dtype), axis, -1)
    out = _softmax_int16(x, p) if p.input_dtype == np.dtype(np.int16) else _softmax_int8(x, p)
    return np.moveaxis(out, -1, axis)


def _softmax_int8(x: np.ndarray, p: SoftmaxParams) -> np.ndarray:
    diff = x - x.max(axis=-1, keepdims=True)
    used = diff >= p.diff_min
    # MultiplyByQuantizedMultiplierGreaterThanOne: left shift then SRDHM (no right shift).
    scaled = fp.saturating_rounding_doubling_high_mul(
        np.where(used, diff, 0) << p.input_left_shift, p.input_multiplier
    )
    exp = fp.exp_on_negative_values(scaled, SCALED_DIFF_INTEGER_BITS)
    contributions = np.where(used, fp.rescale(exp, 0, ACCUMULATION_INTEGER_BITS), 0)
    total = fp.wrap_int32(contributions.sum(axis=-1, keepdims=True))
    reciprocal, bits_over_unit = fp.get_reciprocal(total, ACCUMULATION_INTEGER_BITS)
    out_bits = np.iinfo(p.output_dtype).bits
    exponent = bits_over_unit + 31 - out_bits
    if np.any((exponent < 0) | (exponent > 31)):
        raise QuantizationError("softmax: sum of exponentials out of range")
    lo, hi = np.iinfo(p.output_dtype).min, np.iinfo(p.output_dtype).max
    value = fp.rounding_divide_by_pot(
        fp.saturating_rounding_doubling_high_mul(reciprocal, exp), exponent
    )
    out = np.clip(value + lo, lo, hi)
    return np.where(used, out, lo).astype(p.output_dtype)


def _softmax_int16(x: np.ndarray, p: SoftmaxParams) -> np.ndarray:
    diff = x - x.max(axis=-1, keepdims=True)
    scaled = fp.multiply_by_quantized_multiplier(diff, p.input_multiplier, p.input_left_shift)
    exp = _lut_lookup(np.clip(scaled + 32767, -32768, 32767), p.exp_table)
    total = fp.wrap_int32(exp.sum(axis=-1, keepdims=True))
    headroom_plus_one = fp.count_leading_zeros32(total)
    shifted = ((total << (headroom_plus_one - 1)) + (1 << 13)) >> 14
    centered = np.clip(shifted - ((1 << 15) + (1 << 16)), -32768, 32767)
    reciprocal = _lut_lookup(centered, p.reciprocal_table)
    right_shift = 31 - headroom_plus_one
    rounding = np.int64(1) << (right_shift - 1)
    out = (exp * reciprocal + rounding) >> right_shift
    return np.clip(out, 0, 32767).astype(np.int16)


def exp_table_int8(params: SoftmaxParams) -> np.ndarray:
    """exp(diff) in Q0 for -diff = 0..255, as :func:`softmax` computes it for int8 input
    (0 below ``diff_min``): the optimized kernel reads it instead of computing it."""
    diff = -np.arange(256, dtype=np.int64)
    used = diff >= params.diff_min
    scaled = fp.saturating_rounding_doubling_high_mul(
        np.where(used, diff, 0) << params.input_left_shift, params.input_multiplier
    )
    exp = fp.exp_on_negative_values(scaled, SCALED_DIFF_INTEGER_BITS)
    return np.where(used, exp, 0).astype(np.int32)
