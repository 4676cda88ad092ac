"""Integer LayerNormalization: edgec's own definition (TFLite has no int8 LayerNorm builtin).

Over each row of D values (the normalized axes) of an int8 (or int16, zero point 0) input,
with ``d = x - zp``:

1. statistics: ``S1 = sum d``, ``S2 = sum d**2`` (int32 for int8, int64 for int16);
2. ``c = D * d - S1`` (D times the centered value, int32) and
   ``V = D * S2 - S1**2 + E`` (int64), D**2 times the variance plus ``E = round(eps * D**2 /
   s_x**2)``, epsilon in input units (V = 0 counts as 1);
3. ``1 / sqrt(V)`` in fixed point: V shifted right by an even 2k until it fits in 31 bits,
   then TFLite's GetInvSqrtQuantizedMultiplierExp (five Newton-Raphson steps in gemmlowp
   fixed point, the helper of TFLite's L2Normalization and integer LSTM layer norm):
   ``1 / sqrt(V) ~ r * 2**(e - 31 - k)``;
4. the normalized value with F fractional bits: ``n = (c * r + 2**(T-1)) >> T``,
   ``T = 31 + k - e - F`` (int64 product, rounded half up);
5. ``acc = n * gamma + beta'`` (int64): gamma int16 (or int8) per tensor, symmetric (scale
   s_g); beta' the int32 bias at the accumulator's scale s_g * 2**-F (a bias quantized at
   another scale is rescaled once, at compile time);
6. ``y = MultiplyByQuantizedMultiplier64(acc, s_g * 2**-F / s_y) + zp_y``, clamped.

F is 16 unless the output multiplier would leave the int64 requantization's shift range
[-31, 7]. D is at most 16384 (so c fits in int32). The same arithmetic in every rounding
mode: there is no TFLite kernel to follow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgec.errors import QuantizationError
from edgec.ops.integer import fixedpoint as fp
from edgec.ops.integer.common import (
    as_int,
    check_dtype,
    check_zero_point,
    int_range,
    scales_array,
)

MAX_SIZE = 16384
FRACTION_BITS = 16  # of the normalized value, unless the output scale forces fewer or more
HALF_SQRT2_Q31 = 1518500250  # sqrt(2) / 2 in Q0


def inv_sqrt_multiplier_exp(value) -> tuple[np.ndarray, np.ndarray]:
    """TFLite GetInvSqrtQuantizedMultiplierExp(v, reverse_shift=-1) over an array of
    int32 v >= 0: (r, e) with 1 / sqrt(v) ~ r * 2**(e - 31), e <= 0; v <= 1 gives
    (INT32_MAX, 0)."""
    v = fp.as_int64(value)
    small = v <= 1
    x = np.where(small, 2, v)
    shift = np.full(v.shape, 11, np.int64)
    while (x >= 1 << 29).any():
        big = x >= 1 << 29
        x = np.where(big, x // 4, x)
        shift = shift + big
    pairs = (fp.count_leading_zeros32(x) - 1) // 2 - 1
    shift = shift - pairs
    x = x << (2 * pairs)
    half_input = fp.rounding_divide_by_pot(x >> 1, 1)  # F3 input / 2
    half_three = (1 << 28) + (1 << 27)  # 1.5 in F3
    y = np.full(v.shape, 1 << 28, np.int64)  # 1.0 in F3
    srdhm = fp.saturating_rounding_doubling_high_mul
    for _ in range(5):  # y = 1.5 y - (v / 2) y**3 (products in F6 and F9, back to F3)
        cube = fp.saturating_rounding_multiply_by_pot(srdhm(srdhm(y, y), y), 6)
        y = fp.saturating_rounding_multiply_by_pot(
            fp.wrap_int32(srdhm(half_three, y) - srdhm(half_input, cube)), 3
        )
    y = srdhm(y, HALF_SQRT2_Q31)
    y = np.where(shift < 0, y << np.maximum(-shift, 0), y)
    shift = np.maximum(shift, 0)
    return np.where(small, fp.INT32_MAX, y), np.where(small, 0, -shift)


@dataclass(frozen=True)
class LayerNormParams:
    """What the integer LayerNorm needs besides its tensors."""

    dtype: np.dtype
    size: int  # D, the values normalized together
    input_zero_point: int
    epsilon_term: int  # E = round(eps * D**2 / s_x**2)
    fraction_bits: int  # F
    bias_ratio: float  # s_b / (s_g * 2**-F): 1.0 when beta is at the accumulator's scale
    output_multiplier: int
    output_shift: int
    output_zero_point: int


def fraction_bits(gamma_scale: float, output_scale: float) -> int:
    """F: 16, or as near as keeps s_g * 2**-F / s_y within the int64 requantization."""
    s_g, s_y = (float(scales_array(s)[0]) for s in (gamma_scale, output_scale))
    bits = FRACTION_BITS
    _, shift = fp.quantize_multiplier(s_g * 2.0**-bits / s_y)
    if shift < -31:
        bits -= -31 - shift
    elif shift > 7:
        bits += shift - 7
    return int(np.clip(bits, 0, 20))


def layer_norm_params(
    input_scale: float,
    input_zero_point: int,
    gamma_scale: float,
    bias_scale: float | None,
    output_scale: float,
    output_zero_point: int,
    size: int,
    epsilon: float,
    *,
    dtype="int8",
) -> LayerNormParams:
    dtype = check_dtype(dtype)
    check_zero_point(dtype, input_zero_point)
    check_zero_point(dtype, output_zero_point)
    if not 1 <= size <= MAX_SIZE:
        raise QuantizationError(f"integer LayerNorm over {size} values (at most {MAX_SIZE})")
    s_x, s_g, s_y = (float(scales_array(s)[0]) for s in (input_scale, gamma_scale, output_scale))
    bits = fraction_bits(s_g, s_y)
    multiplier, shift = fp.quantize_multiplier(s_g * 2.0**-bits / s_y)
    if not -31 <= shift <= 7:
        raise QuantizationError(
            f"LayerNorm scale ratio s_gamma / s_out = {s_g / s_y:.3g} is out of range"
        )
    epsilon_term = int(min(round(float(epsilon) * size * size / (s_x * s_x)), 1 << 60))
    accumulator_scale = float(np.float32(s_g * 2.0**-bits))
    ratio = 1.0 if bias_scale is None else float(scales_array(bias_scale)[0]) / accumulator_scale
    return LayerNormParams(
        dtype,
        int(size),
        int(input_zero_point),
        epsilon_term,
        bits,
        ratio,
        multiplier,
        shift,
        int(output_zero_point),
    )


def accumulator_bias(beta, params: LayerNormParams) -> np.ndarray:
    """beta' (int64): the bias at the accumulator's scale (zeros without a bias)."""
    if beta is None:
        return np.zeros(params.size, np.int64)
    beta = fp.as_int64(beta).reshape(-1)
    if params.bias_ratio != 1.0:
        beta = fp.round_half_away(beta * params.bias_ratio).astype(np.int64)
    return np.broadcast_to(beta, (params.size,)).astype(np.int64)


def folded_terms(gamma, beta, params: LayerNormParams) -> tuple[np.ndarray, np.ndarray, int]:
    """The C kernel's constants: step 6's int64 requantization multiplies ``acc = n * gamma
    + beta'`` by a 16-bit reduced multiplier and shifts it right by ``total``; with gamma and
    beta' multiplied by it beforehand (and the rounding added to beta') one multiply-add per
    value remains, the same integers: (gamma * m, beta' * m + 2**(total-1), total)."""
    m = params.output_multiplier
    reduced = (m + (1 << 15)) >> 16 if m < 0x7FFF0000 else 0x7FFF
    total = 15 - params.output_shift
    g = fp.as_int64(gamma).reshape(-1) * reduced
    b = accumulator_bias(beta, params) * reduced + (1 << (total - 1))
    return g.astype(np.int32), b.astype(np.int64), total


def layer_norm(x, gamma, beta, params: LayerNormParams) -> np.ndarray:
    """Integer LayerNorm of the rows of ``x`` (its last axis holds D values after the caller
    flattened the normalized axes); gamma [D] int16 or int8, beta [D] int32 or None."""
    p = params
    x = as_int(x, p.dtype)
    shape = x.shape
    rows = x.reshape(-1, p.size) - p.input_zero_point
    s1 = rows.sum(axis=1, keepdims=True)
    s2 = (rows * rows).sum(axis=1, keepdims=True)
    centered = p.size * rows - s1
    variance = p.size * s2 - s1 * s1 + p.epsilon_term  # D**2 times the variance, >= 0
    variance = np.maximum(variance, 1)
    bits = np.frexp(variance.astype(np.float64))[1]  # exact bit lengths below 2**53
    bits = np.where(variance >= 1 << 52, _bit_length(variance), bits)
    k = np.maximum(0, (bits - 30) // 2)
    r, e = inv_sqrt_multiplier_exp(variance >> (2 * k))
    total = 31 + k - e - p.fraction_bits
    normalized = (centered * r + (np.int64(1) << (total - 1))) >> total
    gamma = fp.as_int64(gamma).reshape(-1)
    acc = normalized * gamma + accumulator_bias(beta, p)
    y = fp.multiply_by_quantized_multiplier_int64(acc, p.output_multiplier, p.output_shift)
    y = np.clip(y + p.output_zero_point, *int_range(p.dtype))
    return y.reshape(shape).astype(p.dtype)


def _bit_length(values: np.ndarray) -> np.ndarray:
    return np.vectorize(lambda v: int(v).bit_length(), otypes=[np.int64])(values)
