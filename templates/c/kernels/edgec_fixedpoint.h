/*
 * edgec fixed-point helpers of the integer kernels (private to the kernel sources).
 *
 * The C twin of edgec/ops/integer/fixedpoint.py, function for function: TFLite Micro's
 * requantization (SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT, and the int64
 * variant of the 16x8 kernels) and the gemmlowp fixed-point functions that Softmax, Logistic
 * and Tanh use. A Q(m) value is an int32 with m integer bits and 31 - m fractional bits.
 *
 * Portability: sums that the numpy reference wraps to 32 bits wrap here through uint32
 * (signed overflow would be undefined); left shifts of possibly negative values are
 * multiplications; right shifts of negative values are arithmetic (as on every compiler
 * edgec targets: GCC, Clang, Arm Compiler, IAR).
 *
 * The build's rounding (edgec compile --rounding) is EDGEC_ROUNDING below; the requantization
 * helpers at the end (edgec_requant and its siblings) are where it takes effect.
 */
#ifndef EDGEC_FIXEDPOINT_H
#define EDGEC_FIXEDPOINT_H

#include <stdint.h>
#include <string.h>

/* Requantization rounding (edgec.ops.integer.common.ROUNDINGS): TFLite Micro's fixed point;
 * onnxruntime's float32 scale rounded half to even; LiteRT's (XNNPACK): float32 for int8
 * Conv, FC and Mul, XNNPACK's integer Add, TFLM's for the rest. */
#define EDGEC_ROUNDING_TFLM 0
#define EDGEC_ROUNDING_FLOAT 1
#define EDGEC_ROUNDING_LITERT 2
#ifndef EDGEC_ROUNDING
#define EDGEC_ROUNDING EDGEC_ROUNDING_TFLM /* edgec compile --rounding sets this line */
#endif
#if EDGEC_ROUNDING != EDGEC_ROUNDING_TFLM && defined(__FAST_MATH__)
#error "float rounding needs IEEE float32 arithmetic: build without -ffast-math"
#endif

#define EDGEC_INT32_MIN (-2147483647 - 1)
#define EDGEC_INT32_MAX 2147483647

static inline int32_t edgec_fp_add(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b); /* two's-complement wrap */
}

static inline int32_t edgec_fp_sub(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

static inline int32_t edgec_fp_clamp(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* Cores whose only multiply is 32 x 32 -> 32 (Armv6-M, Armv8-M Baseline: no SMULL): a 64-bit
 * product is a library call there (__aeabi_lmul, a 64 x 64 multiply), so the signed
 * 32 x 32 -> 64 product is composed here from four 16 x 16 ones, exactly. */
#ifndef EDGEC_NO_LONG_MULTIPLY /* a host build may define it 1 to test the composed path */
#if defined(__ARM_ARCH_ISA_THUMB) && __ARM_ARCH_ISA_THUMB == 1
#define EDGEC_NO_LONG_MULTIPLY 1
#else
#define EDGEC_NO_LONG_MULTIPLY 0
#endif
#endif

/* a * b as its high and low words. With a = ah * 2^16 + al (al the unsigned low half, ah the
 * arithmetic high half) and b likewise: a * b = ah*bh * 2^32 + (ah*bl + al*bh) * 2^16 +
 * al*bl, where each partial product fits in 32 bits (|ah*bl|, |al*bh| < 2^31, al*bl <
 * 2^32); a middle product m adds (uint32)m << 16 to the low word and (m >> 16) plus the
 * carry to the high word. */
static inline void edgec_fp_mul64(int32_t a, int32_t b, int32_t *hi, uint32_t *lo)
{
#if EDGEC_NO_LONG_MULTIPLY
    const uint32_t al = (uint32_t)a & 0xFFFFu, bl = (uint32_t)b & 0xFFFFu;
    const int32_t ah = a >> 16, bh = b >> 16;
    const int32_t m1 = ah * (int32_t)bl, m2 = (int32_t)al * bh;
    uint32_t low = al * bl;
    int32_t high = ah * bh;
    uint32_t next = low + ((uint32_t)m1 << 16);
    high += (m1 >> 16) + (next < low ? 1 : 0);
    low = next + ((uint32_t)m2 << 16);
    high += (m2 >> 16) + (low < next ? 1 : 0);
    *hi = high;
    *lo = low;
#else
    const int64_t p = (int64_t)a * b;
    *hi = (int32_t)(p >> 32);
    *lo = (uint32_t)(uint64_t)p;
#endif
}

/* TFLM's SaturatingRoundingDoublingHighMul: (a * b + nudge) / 2^31 truncated toward zero,
 * nudge = 2^30 for a * b >= 0, else 1 - 2^30; INT32_MIN * INT32_MIN saturates (ARM VQRDMULH).
 * Both signs reduce to floor((a * b + 2^30) / 2^31): for a * b < 0 the value v = a * b +
 * 1 - 2^30 is negative, and trunc(v / 2^31) = floor((v + 2^31 - 1) / 2^31). An arithmetic
 * shift (no 64-bit division: that is a library call on Cortex-M); >> of a negative value is
 * arithmetic on every compiler edgec supports. */
static inline int32_t edgec_fp_srdhm(int32_t a, int32_t b)
{
    if (a == b && a == EDGEC_INT32_MIN) {
        return EDGEC_INT32_MAX;
    }
#if EDGEC_NO_LONG_MULTIPLY
    {
        int32_t hi;
        uint32_t lo;
        edgec_fp_mul64(a, b, &hi, &lo);
        {
            const uint32_t sum = lo + 0x40000000u;
            hi += sum < lo ? 1 : 0;
            return (int32_t)(((uint32_t)hi << 1) | (sum >> 31)); /* bits 31..62 */
        }
    }
#else
    return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31);
#endif
}

/* x / 2^exponent rounded to nearest, ties away from zero; exponent in [0, 31]. */
static inline int32_t edgec_fp_rdbpot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)(((uint32_t)1 << exponent) - 1u);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/*
 * TFLM MultiplyByQuantizedMultiplier: x * multiplier * 2^(shift - 31), double rounding.
 * Valid ranges: multiplier in (INT32_MIN, INT32_MAX] (negative only for LeakyRelu's alpha,
 * computed as -(x * |multiplier|)), shift in [-31, 30], x * 2^max(shift, 0) within int32.
 * The compiler checks these when it derives the parameters.
 */
static inline int32_t edgec_fp_mbqm(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    const int32_t magnitude = multiplier < 0 ? -multiplier : multiplier;
    const int32_t result = edgec_fp_rdbpot(edgec_fp_srdhm(x * (int32_t)(1 << left), magnitude), right);
    return multiplier < 0 ? -result : result;
}

/*
 * edgec_fp_mbqm for a multiplier m >= 0 and shift <= -2 (every convolution and FC of the
 * shared models), in four operations and one SMLAL, from per-channel constants made at compile
 * time (edgec.ops.integer.fixedpoint.right_shift_requant_params): round_hi = 2^(r-2) + zp *
 * 2^(r-1) and shift_hi = r - 1, where r = -shift >= 2; returns edgec_fp_mbqm(x, m, shift) +
 * zp for every int32 x:
 *  - m >= 0 leaves out edgec_fp_srdhm's saturation (it needs m = INT32_MIN), so its result
 *    is H = floor((x*m + 2^30) / 2^31), and the left shift is 0;
 *  - rdbpot(H, r), ties away from zero, is floor((H + 2^(r-1) - [H < 0]) / 2^r) for r >= 1;
 *  - [H < 0] may be replaced by [x < 0]: they differ only when x < 0 and H = 0, where both
 *    give floor((2^(r-1) - {0 or 1}) / 2^r) = 0;
 *  - floor((floor(A / 2^31) + c) / 2^r) = floor((A + c*2^31) / 2^(31+r)) for integer c, so
 *    the result is floor((x*m + N) / 2^(31+r)), N = 2^30 + 2^(30+r) - [x < 0]*2^31, a 64-bit
 *    sum that cannot overflow (|x*m| < 2^62, N < 2^62);
 *  - for r >= 2, N's low word is 2^30 | (x & 2^31) and its high word 2^(r-2) - [x < 0], and
 *    a shift by 31 + r >= 33 is the high word shifted by r - 1;
 *  - adding zp * 2^(r-1) to the high word adds zp after the shift; the compiler checks that
 *    |zp| * 2^(r-1) + 2^(r-2) < 2^30 - 1, so the high word (within 2^30 + 1 of it) fits.
 * tests/test_fixedpoint.py runs it against the numpy reference over edge and random values.
 */
static inline int32_t edgec_fp_mbqm_right(int32_t x, int32_t m, int32_t round_hi, int32_t shift_hi)
{
    const uint32_t lo = 0x40000000u | ((uint32_t)x & 0x80000000u);
    const uint32_t hi = (uint32_t)round_hi + (uint32_t)(x >> 31);
#if EDGEC_NO_LONG_MULTIPLY
    int32_t p_hi;
    uint32_t p_lo;
    edgec_fp_mul64(x, m, &p_hi, &p_lo);
    {
        const uint32_t sum = p_lo + lo;
        return (int32_t)((uint32_t)p_hi + hi + (sum < p_lo ? 1u : 0u)) >> shift_hi;
    }
#else
    const int64_t n = (int64_t)(((uint64_t)hi << 32) | lo);
    return (int32_t)(((int64_t)x * m + n) >> 32) >> shift_hi;
#endif
}

/*
 * edgec_fp_mbqm(acc, m, shift) + zp for m >= 0 and shift <= -1 from the doubled accumulator
 * acc2 = 2 * acc (|acc| < 2^30), with r1 = -shift - 1 and k = 2 * zp + 1
 * (edgec.ops.integer.fixedpoint.doubled_requant_params; the optimized kernels accumulate
 * doubled products and do this in five instructions: ASR, SMMLAR, ASR, ADD, SSAT ..., ASR #1):
 *  - (acc2 * m + 2^31) >> 32 = floor((acc * m + 2^30) / 2^31), TFLM's SRDHM for m >= 0;
 *  - its rounding shift by r, ties away from zero, is floor((H + 2^(r-1) - [acc < 0]) / 2^r)
 *    (H = 0 whenever it differs from [H < 0]); acc2 >> 31 is -[acc < 0];
 *  - floor((X + (2 zp + 1) * 2^(r-1)) / 2^r) = floor((floor(X / 2^(r-1)) + k) / 2).
 * tests/test_fixedpoint.py runs it against the numpy reference over edge and random values.
 */
static inline int32_t edgec_fp_requant2(int32_t acc2, int32_t m, int32_t r1, int32_t k)
{
#if EDGEC_NO_LONG_MULTIPLY
    int32_t p_hi;
    uint32_t p_lo;
    edgec_fp_mul64(acc2, m, &p_hi, &p_lo);
    { /* the high word of p + 2^31: a carry when the low word's top bit is set */
        const int32_t high = (acc2 >> 31) + p_hi + (int32_t)(p_lo >> 31);
        return ((high >> r1) + k) >> 1;
    }
#else
    const int32_t high = (acc2 >> 31) + (int32_t)(((int64_t)acc2 * m + ((int64_t)1 << 31)) >> 32);
    return ((high >> r1) + k) >> 1;
#endif
}

/*
 * The int64-accumulator variant (16x8 kernels): the multiplier is reduced to 16 bits, then one
 * rounding (half up) shift by 15 - shift. Ranges: x in [-2^47, 2^47), multiplier in
 * [0, INT32_MAX], shift in [-31, 7]. The result is truncated to 32 bits as TFLM's cast does.
 */
static inline int32_t edgec_fp_mbqm64(int64_t x, int32_t multiplier, int32_t shift)
{
    const int64_t reduced =
        multiplier < 0x7FFF0000 ? ((int64_t)multiplier + (1 << 15)) >> 16 : (int64_t)0x7FFF;
    const int32_t total = 15 - shift;
    const int64_t result = (x * reduced + ((int64_t)1 << (total - 1))) >> total;
    return (int32_t)(uint32_t)(uint64_t)result;
}

/* A 16x8 layer's int64 accumulator requantized: wide = 0 is TFLM's int32-bias path (a 32-bit
 * accumulator, double-rounding requantization). */
static inline int32_t edgec_fp_requant_s16(int64_t acc, int32_t wide, int32_t mult, int32_t shift)
{
    return wide ? edgec_fp_mbqm64(acc, mult, shift)
                : edgec_fp_mbqm((int32_t)(uint32_t)(uint64_t)acc, mult, shift);
}

/* ---- gemmlowp fixed point (Softmax, Logistic, Tanh) ------------------------------------ */

/* (a + b) / 2 rounded to nearest, ties away from zero (ARM VRHADD). */
static inline int32_t edgec_fp_rounding_half_sum(int32_t a, int32_t b)
{
    const int64_t total = (int64_t)a + (int64_t)b;
    return (int32_t)((total + (total >= 0 ? 1 : -1)) / 2);
}

/* x * 2^exponent: saturating for exponent > 0, rounding for exponent < 0. */
static inline int32_t edgec_fp_mul_pot(int32_t x, int32_t exponent)
{
    int32_t threshold;
    if (exponent == 0) {
        return x;
    }
    if (exponent < 0) {
        return edgec_fp_rdbpot(x, -exponent);
    }
    threshold = (int32_t)(((uint32_t)1 << (31 - exponent)) - 1u);
    if (x > threshold) {
        return EDGEC_INT32_MAX;
    }
    if (x < -threshold) {
        return EDGEC_INT32_MIN;
    }
    return (int32_t)((uint32_t)x << exponent);
}

/* Change the number of integer bits of a fixed-point value (gemmlowp Rescale). */
static inline int32_t edgec_fp_rescale(int32_t x, int32_t src_bits, int32_t dst_bits)
{
    return edgec_fp_mul_pot(x, src_bits - dst_bits);
}

/* exp(a) for a in [-1/4, 0), Q0 in and out: Taylor series around -1/8. */
static inline int32_t edgec_fp_exp_quarter(int32_t a)
{
    const int32_t constant_term = 1895147668; /* exp(-1/8) */
    const int32_t one_third = 715827883;
    const int32_t x = edgec_fp_add(a, 1 << 28);
    const int32_t x2 = edgec_fp_srdhm(x, x);
    const int32_t x3 = edgec_fp_srdhm(x2, x);
    const int32_t x4 = edgec_fp_srdhm(x2, x2);
    const int32_t x4_over_4 = edgec_fp_mul_pot(x4, -2);
    const int32_t poly = edgec_fp_mul_pot(
        edgec_fp_add(edgec_fp_srdhm(edgec_fp_add(x4_over_4, x3), one_third), x2), -1);
    return edgec_fp_add(constant_term, edgec_fp_srdhm(constant_term, edgec_fp_add(x, poly)));
}

/* exp(a) for a <= 0 in Q(integer_bits), integer_bits in [1, 30]; returns Q0. */
static inline int32_t edgec_fp_exp_on_negative_values(int32_t a, int32_t integer_bits)
{
    /* exp(-2^k) in Q0 for k = -2 .. 4: the barrel shifter over the remainder's bits. */
    static const int32_t barrel[7] = {1672461947, 1302514674, 790015084, 290630308,
                                      39332535,   720401,     242};
    const int32_t fractional_bits = 31 - integer_bits;
    const int32_t one_quarter = (int32_t)1 << (fractional_bits - 2);
    const int32_t a_mod_quarter_minus_quarter = edgec_fp_sub(a & (one_quarter - 1), one_quarter);
    const int32_t remainder = edgec_fp_sub(a_mod_quarter_minus_quarter, a);
    int32_t result = edgec_fp_exp_quarter(edgec_fp_rescale(a_mod_quarter_minus_quarter, integer_bits, 0));
    int32_t k;
    for (k = -2; k <= 4; ++k) {
        if (integer_bits > k) {
            const uint32_t bit = (uint32_t)1 << (fractional_bits + k);
            if (((uint32_t)remainder & bit) != 0u) {
                result = edgec_fp_srdhm(result, barrel[k + 2]);
            }
        }
    }
    if (integer_bits > 5 && a < -((int32_t)1 << (36 - integer_bits))) {
        result = 0; /* below -32: exp rounds to zero */
    }
    return a == 0 ? EDGEC_INT32_MAX : result;
}

/* Three Newton-Raphson steps for 1 / half_denominator; the result is Q2. */
static inline int32_t edgec_fp_newton_reciprocal(int32_t half_denominator)
{
    const int32_t one_q2 = 1 << 29;
    int32_t x = edgec_fp_add(1515870810, edgec_fp_srdhm(half_denominator, -1010580540));
    int32_t i;
    for (i = 0; i < 3; ++i) {
        const int32_t one_minus = edgec_fp_sub(one_q2, edgec_fp_srdhm(half_denominator, x));
        x = edgec_fp_add(x, edgec_fp_rescale(edgec_fp_srdhm(x, one_minus), 4, 2));
    }
    return x;
}

/* 1 / (1 + a) for Q0 a in [0, 1); returns Q0. */
static inline int32_t edgec_fp_one_over_one_plus_x(int32_t a)
{
    const int32_t x = edgec_fp_newton_reciprocal(edgec_fp_rounding_half_sum(a, EDGEC_INT32_MAX));
    return edgec_fp_rescale(x, 1, 0);
}

/* (1 - a) / (1 + a) for Q0 a in [0, 1); returns Q0. */
static inline int32_t edgec_fp_one_minus_x_over_one_plus_x(int32_t a)
{
    const int32_t x = edgec_fp_newton_reciprocal(edgec_fp_rounding_half_sum(a, EDGEC_INT32_MAX));
    return edgec_fp_rescale(edgec_fp_sub(x, 1 << 29), 2, 0);
}

static inline int32_t edgec_fp_neg(int32_t a)
{
    return (int32_t)(0u - (uint32_t)a);
}

/* gemmlowp logistic of a Q(integer_bits) value; returns Q0. */
static inline int32_t edgec_fp_logistic(int32_t a, int32_t integer_bits)
{
    const int32_t absolute = a > 0 ? a : edgec_fp_neg(a);
    const int32_t if_positive =
        edgec_fp_one_over_one_plus_x(edgec_fp_exp_on_negative_values(edgec_fp_neg(absolute), integer_bits));
    if (a == 0) {
        return 1 << 30;
    }
    return a > 0 ? if_positive : edgec_fp_sub(EDGEC_INT32_MAX, if_positive);
}

/* gemmlowp tanh of a Q(integer_bits) value; returns Q0. */
static inline int32_t edgec_fp_tanh(int32_t a, int32_t integer_bits)
{
    const int32_t n = a < 0 ? a : edgec_fp_neg(a);
    const int32_t t =
        edgec_fp_one_minus_x_over_one_plus_x(edgec_fp_exp_on_negative_values(n, integer_bits + 1));
    if (a == 0) {
        return 0;
    }
    return a < 0 ? edgec_fp_neg(t) : t;
}

/* Leading zero bits of x read as uint32 (32 for zero). */
static inline int32_t edgec_fp_clz32(uint32_t x)
{
#if defined(__GNUC__)
    return x == 0u ? 32 : __builtin_clz(x);
#else
    int32_t n = 0;
    if (x == 0u) {
        return 32;
    }
    while ((x & 0x80000000u) == 0u) {
        x <<= 1;
        ++n;
    }
    return n;
#endif
}

/* TFLite GetReciprocal: 1 / x for positive Q(x_integer_digits) x; Q0 result and its exponent. */
static inline int32_t edgec_fp_reciprocal(int32_t x, int32_t x_integer_digits, int32_t *num_bits_over_unit)
{
    const int32_t headroom_plus_one = edgec_fp_clz32((uint32_t)x);
    const uint32_t shifted = headroom_plus_one >= 32 ? 0u : (uint32_t)x << headroom_plus_one;
    *num_bits_over_unit = x_integer_digits - headroom_plus_one;
    return edgec_fp_one_over_one_plus_x((int32_t)(shifted - 0x80000000u));
}

/* ---- TFLite's int16 Logistic and Tanh (a 256-entry table, interpolated) ------------------- */

/* An int16 input at scale s in the table's 1 / (3 * 4096) units: x * mult >> shift, rounded
 * (mult = 0: s is a power of two, 2^(shift - 12), and only the factor 3 remains). */
static inline int32_t edgec_fp_table_input(int32_t x, int32_t mult, int32_t shift)
{
    int64_t rounding;
    if (mult == 0) {
        mult = 3 * (1 << shift);
        shift = 0;
    }
    rounding = shift > 0 ? ((int64_t)1 << (shift - 1)) : 0;
    return (int32_t)(((int64_t)x * mult + rounding) >> shift);
}

/* The sigmoid, Q0.15, of `value`: the input in 1 / (3 * 4096) units (what the table is
 * indexed by; sigmoid_int.c and the LSTM scale their inputs to it). */
static inline int32_t edgec_fp_sigmoid16(int32_t value, const uint16_t *table)
{
    const int32_t magnitude = value < 0 ? -value : value;
    const int32_t index = (magnitude >> 9) < 254 ? (magnitude >> 9) : 254;
    const int32_t ua = table[index], ub = table[index + 1];
    int32_t result = (magnitude >> 9) >= 255 ? (0x7FFF << 10) : (ua << 9) + (magnitude & 0x1FF) * (ub - ua);
    result = value >= 0 ? result + (1 << 9) : (1 << 25) - result + (1 << 9) - 1;
    return (int16_t)(uint16_t)(uint32_t)(result >> 10);
}

/* The tanh, Q0.15, of `value` in the same units. */
static inline int32_t edgec_fp_tanh16(int32_t value, const uint16_t *table)
{
    const int32_t magnitude = value < 0 ? -value : value;
    const int32_t index = (magnitude >> 8) < 254 ? (magnitude >> 8) : 254;
    const int32_t ua = table[index], ub = table[index + 1];
    int32_t result = (magnitude >> 8) >= 255 ? (0xFFFF << 8) : (ua << 8) + (magnitude & 0xFF) * (ub - ua);
    result = value >= 0 ? result - (1 << 23) + (1 << 7) : -result + (1 << 23) + (1 << 7) - 1;
    return (int16_t)(uint16_t)(uint32_t)(result >> 8);
}

/* ---- 16-bit fixed point (HardSwish) ------------------------------------------------------- */

/* gemmlowp SRDHM on int16 (ARM VQRDMULH.S16). */
static inline int32_t edgec_fp_srdhm16(int32_t a, int32_t b)
{
    const int32_t ab = a * b;
    const int32_t nudged = ab + (ab >= 0 ? (1 << 14) : (1 - (1 << 14)));
    if (a == b && a == -32768) {
        return 32767;
    }
    return (int16_t)(uint16_t)(uint32_t)(nudged / (1 << 15));
}

/* SRDHM without the rounding nudge (ARM SQDMULH.S16): truncates toward zero. */
static inline int32_t edgec_fp_sdhm16(int32_t a, int32_t b)
{
    if (a == b && a == -32768) {
        return 32767;
    }
    return (int16_t)(uint16_t)(uint32_t)((a * b) / (1 << 15));
}

/* ---- requantization: TFLM's fixed point or float32, by EDGEC_ROUNDING ------------------------
 * A kernel requantizes through these helpers, never edgec_fp_mbqm directly, so that every
 * rounding mode reaches it; the compiler (edgec/backends/c/rounding.py) writes `mult` and
 * `shift` for the build's mode: TFLM's multiplier and shift, or, where the mode computes in
 * float, the float32 scale's bits in `mult` (and for edgec_rescale the output scale's bits
 * in `shift`). Float arithmetic here must be plain IEEE float32 in C's order: build with
 * -std=c99 (or -ffp-contract=off) and without -ffast-math. */

static inline float edgec_fp_float(int32_t bits)
{
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

/* x rounded to the nearest integer, ties to even (IEEE round-to-nearest: adding 1.5 * 2^23
 * leaves no fraction bits); |x| is first limited to 2^22, beyond every clamp of the callers. */
static inline int32_t edgec_fp_round_even(float x)
{
    const float limit = 4194304.0f, magic = 12582912.0f;
    x = x < -limit ? -limit : (x > limit ? limit : x);
    return (int32_t)((x + magic) - magic);
}

/* An int8 layer's int32 accumulator (Conv, FC, Mean's centered sum) times its scale, without
 * the zero point: float32 in the float and LiteRT modes. */
static inline int32_t edgec_requant(int32_t acc, int32_t mult, int32_t shift)
{
#if EDGEC_ROUNDING == EDGEC_ROUNDING_TFLM
    return edgec_fp_mbqm(acc, mult, shift);
#else
    (void)shift;
    return edgec_fp_round_even((float)acc * edgec_fp_float(mult));
#endif
}

/* A 16x8 layer's accumulator (LiteRT runs 16x8 in TFLM's kernels: float32 in the float mode
 * only). wide: TFLM's int64 requantization, else its 32-bit one. */
static inline int32_t edgec_requant_s16(int64_t acc, int32_t wide, int32_t mult, int32_t shift)
{
#if EDGEC_ROUNDING == EDGEC_ROUNDING_FLOAT
    (void)wide;
    (void)shift;
    return edgec_fp_round_even((float)acc * edgec_fp_float(mult));
#else
    return wide ? edgec_fp_mbqm64(acc, mult, shift) : edgec_fp_mbqm((int32_t)(uint32_t)(uint64_t)acc, mult, shift);
#endif
}

/* An accumulator whose float form is onnxruntime's only (Mean: QLinearGlobalAveragePool). */
static inline int32_t edgec_requant_onnxruntime(int32_t acc, int32_t mult, int32_t shift)
{
#if EDGEC_ROUNDING == EDGEC_ROUNDING_FLOAT
    (void)shift;
    return edgec_fp_round_even((float)acc * edgec_fp_float(mult));
#else
    return edgec_fp_mbqm(acc, mult, shift);
#endif
}

/* A centered integer value rescaled to another quantization (QuantizeLinear between integer
 * tensors, Relu/Clip and Concat inputs that change it), without the output zero point: in
 * the float mode DequantizeLinear then QuantizeLinear as onnxruntime, (x * s_in) / s_out. */
static inline int32_t edgec_rescale(int32_t x, int32_t mult, int32_t shift)
{
#if EDGEC_ROUNDING == EDGEC_ROUNDING_FLOAT
    return edgec_fp_round_even(((float)x * edgec_fp_float(mult)) / edgec_fp_float(shift));
#else
    return edgec_fp_mbqm(x, mult, shift);
#endif
}

#endif /* EDGEC_FIXEDPOINT_H */
