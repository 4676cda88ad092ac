/*
 * Optimized int8 softmax: TFLM's arithmetic (softmax_int.c) with exp(diff) read from a table.
 * For int8 input the difference to the row maximum is one of 256 values, so the gemmlowp
 * exp of each is computed once, by the compiler with the numpy reference's own arithmetic;
 * per element there remain one lookup, one doubling high multiply and one rounding shift.
 * Every value here is non-negative (exp in Q0, its reciprocal), so TFLM's rounding helpers
 * reduce to adding half and shifting: bit-exact with edgec_softmax_s8 and _s8_s16.
 */
#include "edgec_kernels.h"
#include "edgec_fixedpoint.h"

#if defined(__GNUC__)
#define SOFTMAX_INLINE static inline __attribute__((always_inline))
#else
#define SOFTMAX_INLINE static inline
#endif

#define ACCUMULATION_INTEGER_BITS 12

/* One row of n values `step` apart; out_bits, lo, hi constant at each call site. */
SOFTMAX_INLINE void softmax_row(const int32_t *table, int32_t limit, const int8_t *x, int32_t n, int32_t step,
                                int32_t out_bits, int32_t lo, int32_t hi, int8_t *out8, int16_t *out16)
{
    int32_t max = -128, bits_over_unit, reciprocal, exponent, k;
    uint32_t total = 0;
    int64_t half;
    for (k = 0; k < n; ++k) {
        max = x[k * step] > max ? x[k * step] : max;
    }
    for (k = 0; k < n; ++k) {
        const int32_t minus_diff = max - x[k * step];
        if (minus_diff <= limit) { /* rdbpot(exp, 12) of a value >= 0 */
            total += ((uint32_t)table[minus_diff] + (1u << (ACCUMULATION_INTEGER_BITS - 1))) >>
                     ACCUMULATION_INTEGER_BITS;
        }
    }
    reciprocal = edgec_fp_reciprocal((int32_t)total, ACCUMULATION_INTEGER_BITS, &bits_over_unit);
    exponent = edgec_fp_clamp(bits_over_unit + 31 - out_bits, 0, 31);
    /* srdhm(reciprocal, exp) then rdbpot(., exponent), both operands >= 0: one 64-bit sum */
    half = exponent > 0 ? (int64_t)1 << (exponent - 1) : 0;
    for (k = 0; k < n; ++k) {
        const int32_t minus_diff = max - x[k * step];
        int32_t value = lo;
        if (minus_diff <= limit) {
            const int32_t high = (int32_t)(((int64_t)reciprocal * table[minus_diff] + (1 << 30)) >> 31);
            value = (int32_t)(((int64_t)high + half) >> exponent) + lo;
            value = value > hi ? hi : value;
        }
        if (out_bits == 8) {
            out8[k * step] = (int8_t)value;
        } else {
            out16[k * step] = (int16_t)value;
        }
    }
}

SOFTMAX_INLINE void softmax_rows(const edgec_softmax_table_s8_t *p, const int8_t *input, int32_t out_bits,
                                 int32_t lo, int32_t hi, int8_t *out8, int16_t *out16)
{
    const int32_t n = p->axis_size, step = p->inner, limit = -p->diff_min, outer = p->outer;
    const int32_t *const table = p->exp_table;
    int32_t o, i;
    for (o = 0; o < outer; ++o) {
        for (i = 0; i < step; ++i) {
            const size_t base = (size_t)o * n * step + i;
            if (step == 1) { /* rows contiguous: the common case, strides known */
                softmax_row(table, limit, input + base, n, 1, out_bits, lo, hi, out8 ? out8 + base : 0,
                            out16 ? out16 + base : 0);
            } else {
                softmax_row(table, limit, input + base, n, step, out_bits, lo, hi, out8 ? out8 + base : 0,
                            out16 ? out16 + base : 0);
            }
        }
    }
}

void edgec_softmax_table_s8(const edgec_softmax_table_s8_t *p, const int8_t *input, int8_t *output)
{
    softmax_rows(p, input, 8, -128, 127, output, 0);
}

void edgec_softmax_table_s8_s16(const edgec_softmax_table_s8_t *p, const int8_t *input, int16_t *output)
{
    softmax_rows(p, input, 16, -32768, 32767, 0, output);
}
