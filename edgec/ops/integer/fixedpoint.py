"""Fixed-point arithmetic of TFLite's integer kernels, vectorized over numpy int64 arrays.

This is the one audited requantization helper of edgec: the numpy references of every
integer kernel call it, and the generated C implements the same functions line for line.
Semantics follow TensorFlow Lite Micro's default build (double rounding:
``SaturatingRoundingDoublingHighMul`` then ``RoundingDivideByPOT``) and gemmlowp's
fixed-point library; the ``float`` variant rescales in float32 with round-half-to-even as
onnxruntime's QLinear kernels and LiteRT/XNNPACK do.

Values are carried in int64 arrays holding int32 (or int16) quantities. Parameters outside
their documented range raise ``ValueError``; where C would wrap a 32-bit sum silently, the
helpers wrap the same way (:func:`wrap_int32`) so that numpy and C agree bit for bit.
"""

from __future__ import annotations

import math

import numpy as np

from edgec.errors import QuantizationError

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1
INT16_MIN = -(1 << 15)
INT16_MAX = (1 << 15) - 1


def as_int64(x) -> np.ndarray:
    """``x`` as an int64 array (integers only)."""
    array = np.asarray(x)
    if array.dtype.kind not in "iub":
        raise ValueError(f"expected integers, got {array.dtype}")
    return array.astype(np.int64)


def _check(name: str, array: np.ndarray, low: int, high: int) -> None:
    if array.size and (int(array.min()) < low or int(array.max()) > high):
        raise ValueError(f"{name} outside [{low}, {high}]: [{array.min()}, {array.max()}]")


def wrap_int32(x) -> np.ndarray:
    """Two's-complement wrap to int32 (what a 32-bit C add/multiply does on overflow)."""
    x = as_int64(x)
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def wrap_int16(x) -> np.ndarray:
    """Two's-complement wrap to int16 (a C cast to ``int16_t``)."""
    x = as_int64(x)
    return ((x + (1 << 15)) & 0xFFFF) - (1 << 15)


def round_half_away(x) -> np.ndarray:
    """C ``round``/``roundf`` (TfLiteRound): nearest integer, halves away from zero.

    Computed in float64, where it is exact for every float32 and for |x| < 2**52.
    """
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def trunc_div(a, b) -> np.ndarray:
    """C integer division (truncates toward zero); ``b`` must be non-zero."""
    a, b = as_int64(a), as_int64(b)
    q = np.abs(a) // np.abs(b)
    return np.where((a < 0) != (b < 0), -q, q)


def count_leading_zeros32(x) -> np.ndarray:
    """Leading zero bits of ``x`` read as uint32 (32 for zero)."""
    x = as_int64(x) & 0xFFFFFFFF
    bits = np.frexp(x.astype(np.float64))[1]  # exact bit length for values < 2**53
    return 32 - bits.astype(np.int64)


# ----------------------------------------------------------------------------------------
# Multiplier derivation (TFLite QuantizeMultiplier) and the requantization helper.


def quantize_multiplier(real: float) -> tuple[int, int]:
    """``real`` as ``multiplier * 2**(shift - 31)``, exactly as TFLite's QuantizeMultiplier.

    ``real`` is a double: frexp gives q in [0.5, 1), q * 2**31 is rounded half away from
    zero; a result of 2**31 is halved (shift + 1); a shift below -31 (|real| < ~2**-31)
    flushes to (0, 0). Negative reals give negative multipliers (LeakyRelu's alpha).
    Returns (multiplier in [2**30, 2**31 - 1] or its negation or 0, shift).

    >>> quantize_multiplier(0.5)
    (1073741824, 0)
    >>> quantize_multiplier(1.0)
    (1073741824, 1)
    """
    real = float(real)
    if not math.isfinite(real):
        raise QuantizationError(f"multiplier {real} is not finite")
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = int(round_half_away(q * (1 << 31)))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return q_fixed, shift


def quantize_multipliers(reals) -> tuple[np.ndarray, np.ndarray]:
    """:func:`quantize_multiplier` over an array of doubles; returns (multipliers, shifts).
    Vectorized (a compile derives every channel's multiplier many times); equal to the
    scalar form value for value (tests/test_fixedpoint.py)."""
    real = np.asarray(reals, np.float64)
    if not np.isfinite(real).all():
        bad = real[~np.isfinite(real)].ravel()[0]
        raise QuantizationError(f"multiplier {bad} is not finite")
    q, shift = np.frexp(real)
    q_fixed = round_half_away(q * float(1 << 31)).astype(np.int64)
    full = q_fixed == (1 << 31)  # as TFLite: a negative -2**31 stays
    q_fixed = np.where(full, q_fixed // 2, q_fixed)
    shift = np.where(full, shift + 1, shift).astype(np.int64)
    flushed = (real == 0.0) | (shift < -31)
    return np.where(flushed, 0, q_fixed), np.where(flushed, 0, shift)


def saturating_rounding_doubling_high_mul(a, b) -> np.ndarray:
    """gemmlowp SRDHM (ARM VQRDMULH): round(a * b / 2**31), ties away from zero, int32.

    a, b in int32. The only overflow, INT32_MIN * INT32_MIN, saturates to INT32_MAX.
    """
    a, b = as_int64(a), as_int64(b)
    ab = a * b  # |ab| <= 2**62: exact in int64
    nudged = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    high = np.where(nudged >= 0, nudged >> 31, -((-nudged) >> 31))  # C division truncates
    return np.where((a == b) & (a == INT32_MIN), INT32_MAX, high)


def rounding_divide_by_pot(x, exponent) -> np.ndarray:
    """gemmlowp RoundingDivideByPOT: x / 2**exponent rounded to nearest, ties away from zero.

    ``exponent`` in [0, 31] (scalar or broadcastable array).
    """
    x, e = as_int64(x), as_int64(exponent)
    _check("exponent", e, 0, 31)
    mask = (np.int64(1) << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> e) + (remainder > threshold)


def multiply_by_quantized_multiplier(x, multiplier, shift) -> np.ndarray:
    """TFLite MultiplyByQuantizedMultiplier, int32 input (double rounding).

    ``x * multiplier * 2**(shift - 31)``: x is first shifted left by max(shift, 0), then
    SRDHM with the multiplier, then a rounding right shift by max(-shift, 0).
    Valid ranges (checked): x in int32; multiplier in (INT32_MIN, INT32_MAX]; shift in
    [-31, 30]; ``x << shift`` must fit in int32. ``multiplier``/``shift`` broadcast against
    ``x`` (per-channel requantization). A negative multiplier (only LeakyRelu's negative
    alpha makes one) acts as ``-(x * |multiplier|)``: that is what TFLM computes (observed
    against the tflite-micro build; plain SRDHM would round its ties the other way).
    """
    x, m, s = as_int64(x), as_int64(multiplier), as_int64(shift)
    _check("x", x, INT32_MIN, INT32_MAX)
    _check("multiplier", m, INT32_MIN + 1, INT32_MAX)
    _check("shift", s, -31, 30)
    left = np.maximum(s, 0)
    shifted = x << left
    _check("x << shift", shifted, INT32_MIN, INT32_MAX)
    high = saturating_rounding_doubling_high_mul(shifted, np.abs(m))
    result = rounding_divide_by_pot(high, np.maximum(-s, 0))
    return np.where(m < 0, -result, result)


def right_shift_requant_params(multiplier, shift, zero_point: int = 0) -> np.ndarray | None:
    """Per-channel constants of the optimized kernels' requantization (C:
    ``edgec_fp_mbqm_right``): rows (multiplier, 2**(r-2) + zero_point * 2**(r-1), r - 1)
    with r = -shift, int32; the row gives ``multiply_by_quantized_multiplier(x, m, shift) +
    zero_point`` for every int32 x.

    Valid when every multiplier is >= 0, every nonzero one has shift <= -2 (a real scale
    below 1/4; every convolution of the shared models), and |zero_point| * 2**(r-1) +
    2**(r-2) < 2**30 - 1 (the high word cannot overflow); else None. A zero multiplier gives
    0 whatever its shift, as r = 2 does.
    """
    m, s = np.broadcast_arrays(as_int64(multiplier), as_int64(shift))
    if (m < 0).any() or ((m != 0) & (s > -2)).any() or (s < -31).any():
        return None
    r = np.where(m == 0, 2, -s)
    zp = int(zero_point)
    if (abs(zp) * (np.int64(1) << (r - 1)) + (np.int64(1) << (r - 2)) >= (1 << 30) - 1).any():
        return None
    round_hi = (np.int64(1) << (r - 2)) + zp * (np.int64(1) << (r - 1))
    return np.stack([m, round_hi, r - 1], axis=-1).astype(np.int32)


def multiply_by_quantized_multiplier_right(x, params) -> np.ndarray:
    """The formula of ``edgec_fp_mbqm_right`` in numpy, for rows of
    :func:`right_shift_requant_params`: floor((x*m + N) / 2**32) >> (r - 1) where N's high
    word is round_hi - [x < 0] and its low word 2**30 | (x & 2**31). Equal to
    :func:`multiply_by_quantized_multiplier` plus the zero point (tests/test_fixedpoint.py)."""
    x = as_int64(x)
    p = as_int64(params)
    m, round_hi, shift_hi = p[..., 0], p[..., 1], p[..., 2]
    negative = (x < 0).astype(np.int64)
    n = ((round_hi - negative) << 32) + ((1 << 30) | (negative << 31))
    return ((x * m + n) >> 32) >> shift_hi


def doubled_requant_params(multiplier, shift, zero_point: int = 0):
    """Constants of the optimized kernels' requantization of a doubled accumulator (C:
    ``edgec_fp_requant2``): per channel the multiplier m and r - 1 (uint8), where r = -shift,
    and for the layer K = 2 * zero_point + 1. Valid when every multiplier is >= 0 and every
    shift <= -1 (a real scale below 1/2) or multiplier 0; else None."""
    m, s = np.broadcast_arrays(as_int64(multiplier), as_int64(shift))
    if (m < 0).any() or ((m != 0) & (s > -1)).any() or (s < -31).any():
        return None
    r1 = np.where(m == 0, 0, -s - 1)  # a zero multiplier gives the zero point at any shift
    return m.astype(np.int32), r1.astype(np.uint8), 2 * int(zero_point) + 1


def requant_doubled(acc2, multiplier, shift_minus_1, k: int) -> np.ndarray:
    """The formula of ``edgec_fp_requant2`` in numpy, for A = 2 * acc (|acc| < 2**30):
    ((((A >> 31) + ((A * m + 2**31) >> 32)) >> (r - 1)) + K) >> 1, unclamped. Equal to
    :func:`multiply_by_quantized_multiplier` plus the zero point (tests/test_fixedpoint.py):
    (A * m + 2**31) >> 32 is TFLM's SRDHM of acc (m >= 0), (A >> 31) = -[acc < 0] makes the
    shift round half away from zero, and K = 2 * zp + 1 adds the zero point and the half."""
    a, m, r1 = as_int64(acc2), as_int64(multiplier), as_int64(shift_minus_1)
    high = (a >> 31) + ((a * m + (1 << 31)) >> 32)
    return ((high >> r1) + int(k)) >> 1


def multiply_by_quantized_multiplier_int64(x, multiplier, shift) -> np.ndarray:
    """TFLite MultiplyByQuantizedMultiplier for an int64 accumulator (16x8 kernels).

    The multiplier is first reduced to 16 bits (rounded, 0x7FFF0000 and above give 0x7FFF),
    then one rounding (half up) shift by 15 - shift; the result is truncated to int32 as the
    C cast does. Valid ranges (checked): x in [-2**47, 2**47); multiplier in [0, INT32_MAX];
    shift in [-31, 7].
    """
    x, m, s = as_int64(x), as_int64(multiplier), as_int64(shift)
    _check("x", x, -(1 << 47), (1 << 47) - 1)
    _check("multiplier", m, 0, INT32_MAX)
    _check("shift", s, -31, 7)
    reduced = np.where(m < 0x7FFF0000, (m + (1 << 15)) >> 16, 0x7FFF)
    total = 15 - s
    return wrap_int32((x * reduced + (np.int64(1) << (total - 1))) >> total)


def requantize_float(acc, scale, zero_point, qmin: int, qmax: int) -> np.ndarray:
    """The float requantization mode: float32(acc) * float32(scale), clamped to
    [qmin - zero_point, qmax - zero_point], rounded half to even, plus zero_point.

    This is onnxruntime's MlasRequantizeOutput (QLinearConv, QLinearMatMul) and XNNPACK's
    fp32 requantization; ``scale`` broadcasts (per channel).
    """
    zero_point = as_int64(zero_point)
    value = as_int64(acc).astype(np.float32) * np.asarray(scale, np.float32)
    value = np.clip(
        value, (qmin - zero_point).astype(np.float32), (qmax - zero_point).astype(np.float32)
    )
    return np.rint(value).astype(np.int64) + zero_point


# ----------------------------------------------------------------------------------------
# gemmlowp fixed-point functions used by softmax, logistic and tanh. A Q(m) value is an
# int32 raw with m integer bits and 31 - m fractional bits; F0 means Q0 (range [-1, 1)).


def rounding_half_sum(a, b) -> np.ndarray:
    """(a + b) / 2 rounded to nearest, ties away from zero (ARM VRHADD)."""
    total = as_int64(a) + as_int64(b)
    return trunc_div(total + np.where(total >= 0, 1, -1), 2)


def saturating_rounding_multiply_by_pot(x, exponent: int) -> np.ndarray:
    """x * 2**exponent: saturating left shift for exponent > 0, rounding right shift below."""
    x = as_int64(x)
    if exponent == 0:
        return x
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    result = wrap_int32(x << exponent)
    result = np.where(x > threshold, INT32_MAX, result)
    return np.where(x < -threshold, INT32_MIN, result)


def rescale(x, src_integer_bits: int, dst_integer_bits: int) -> np.ndarray:
    """gemmlowp Rescale: change the number of integer bits (saturating / rounding)."""
    return saturating_rounding_multiply_by_pot(x, src_integer_bits - dst_integer_bits)


def _mul(a, b) -> np.ndarray:
    return saturating_rounding_doubling_high_mul(a, b)


def exp_on_interval_between_negative_one_quarter_and_0_excl(a) -> np.ndarray:
    """exp(a) for a in [-1/4, 0), F0 in and out: Taylor series around -1/8."""
    constant_term = 1895147668  # exp(-1/8) in Q0.31
    one_third = 715827883
    x = wrap_int32(as_int64(a) + (1 << 28))  # a + 1/8
    x2 = _mul(x, x)
    x3 = _mul(x2, x)
    x4 = _mul(x2, x2)
    x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2)
    poly = saturating_rounding_multiply_by_pot(
        wrap_int32(_mul(wrap_int32(x4_over_4 + x3), one_third) + x2), -1
    )
    return wrap_int32(constant_term + _mul(constant_term, wrap_int32(x + poly)))


# exp(-2**k) in Q0.31 for the barrel shifter of exp_on_negative_values, k = -2 .. 4.
_EXP_BARREL = (
    (-2, 1672461947),
    (-1, 1302514674),
    (0, 790015084),
    (1, 290630308),
    (2, 39332535),
    (3, 720401),
    (4, 242),
)


def exp_on_negative_values(a, integer_bits: int) -> np.ndarray:
    """gemmlowp exp_on_negative_values: exp(a) for a <= 0 in Q(integer_bits); returns F0."""
    a = as_int64(a)
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    a_mod_quarter_minus_one_quarter = wrap_int32((a & (one_quarter - 1)) - one_quarter)
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        rescale(a_mod_quarter_minus_one_quarter, integer_bits, 0)
    )
    remainder = wrap_int32(a_mod_quarter_minus_one_quarter - a)
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent:
            bit = 1 << (fractional_bits + exponent)
            result = np.where((remainder & bit) != 0, _mul(result, multiplier), result)
    if integer_bits > 5:
        clamp = -(1 << (36 - integer_bits))  # -32.0 in Q(integer_bits)
        result = np.where(a < clamp, 0, result)
    return np.where(a == 0, INT32_MAX, result)


def _newton_reciprocal_of_half_denominator(half_denominator: np.ndarray) -> np.ndarray:
    """Three Newton-Raphson steps for 1 / half_denominator, result in Q2."""
    one_q2 = 1 << 29
    x = wrap_int32(1515870810 + _mul(half_denominator, -1010580540))  # 48/17 - 32/17 * d
    for _ in range(3):
        one_minus = wrap_int32(one_q2 - _mul(half_denominator, x))
        x = wrap_int32(x + rescale(_mul(x, one_minus), 4, 2))
    return x


def one_over_one_plus_x_for_x_in_0_1(a) -> np.ndarray:
    """gemmlowp: 1 / (1 + a) for F0 ``a`` in [0, 1); returns F0."""
    half_denominator = rounding_half_sum(a, INT32_MAX)
    x = _newton_reciprocal_of_half_denominator(half_denominator)
    return rescale(x, 1, 0)  # ExactMulByPot<-1> then Rescale<0>


def one_minus_x_over_one_plus_x_for_x_in_0_1(a) -> np.ndarray:
    """gemmlowp: (1 - a) / (1 + a) for F0 ``a`` in [0, 1); returns F0."""
    half_denominator = rounding_half_sum(a, INT32_MAX)
    x = _newton_reciprocal_of_half_denominator(half_denominator)
    return rescale(wrap_int32(x - (1 << 29)), 2, 0)


def logistic(a, integer_bits: int) -> np.ndarray:
    """gemmlowp logistic of a Q(integer_bits) value; returns F0."""
    a = as_int64(a)
    positive = a > 0
    absolute = wrap_int32(np.where(positive, a, -a))
    if_positive = one_over_one_plus_x_for_x_in_0_1(
        exp_on_negative_values(wrap_int32(-absolute), integer_bits)
    )
    if_negative = wrap_int32(INT32_MAX - if_positive)
    return np.where(a == 0, 1 << 30, np.where(positive, if_positive, if_negative))


def tanh(a, integer_bits: int) -> np.ndarray:
    """gemmlowp tanh of a Q(integer_bits) value; returns F0."""
    a = as_int64(a)
    negative = a < 0
    n = wrap_int32(np.where(negative, a, -a))
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(n, integer_bits + 1))
    return np.where(a == 0, 0, np.where(negative, wrap_int32(-t), t))


def get_reciprocal(x, x_integer_digits: int) -> tuple[np.ndarray, np.ndarray]:
    """TFLite GetReciprocal: 1 / x for positive Q(x_integer_digits) ``x``.

    Returns (F0 raw of the scaled reciprocal, num_bits_over_unit).
    """
    x = as_int64(x)
    headroom_plus_one = count_leading_zeros32(x)
    num_bits_over_unit = x_integer_digits - headroom_plus_one
    shifted_minus_one = wrap_int32(((x << headroom_plus_one) & 0xFFFFFFFF) - (1 << 31))
    return one_over_one_plus_x_for_x_in_0_1(shifted_minus_one), num_bits_over_unit


# ----------------------------------------------------------------------------------------
# 16-bit fixed point (HardSwish).


def saturating_rounding_doubling_high_mul_int16(a, b) -> np.ndarray:
    """gemmlowp SRDHM on int16 (ARM VQRDMULH.S16)."""
    a, b = as_int64(a), as_int64(b)
    ab = a * b
    nudged = ab + np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    high = trunc_div(nudged, 1 << 15)
    return np.where((a == b) & (a == INT16_MIN), INT16_MAX, wrap_int16(high))


def saturating_doubling_high_mul_int16(a, b) -> np.ndarray:
    """SRDHM without the rounding nudge (ARM SQDMULH.S16): truncates toward zero."""
    a, b = as_int64(a), as_int64(b)
    high = trunc_div(a * b, 1 << 15)
    return np.where((a == b) & (a == INT16_MIN), INT16_MAX, wrap_int16(high))
