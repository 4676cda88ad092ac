/*
 * Optimized int8 softmax: TFLM's arithmetic (softmax_int.c) with exp(diff) read from a table.
 * For int8 input the difference to the row maximum is one of 256 values, so the gemmlowp
 * exp of each is computed once, by the compiler with the numpy reference's own arithmetic;
 * per element there remain one lookup, one doubling high multiply and one rounding shift.
 * Bit-exact with edgec_softmax_s8 and edgec_softmax_s8_s16.
 */
#include "edgec_kernels.h"
#include "edgec_fixedpoint.h"

#define ACCUMULATION_INTEGER_BITS 12

static void softmax_rows(const edgec_softmax_table_s8_t *p, const int8_t *input, int32_t out_bits, int32_t lo,
                         int32_t hi, int8_t *out8, int16_t *out16)
{
    const int32_t n = p->axis_size, step = p->inner, limit = -p->diff_min;
    const int32_t *const table = p->exp_table;
    int32_t o, i, k;
    for (o = 0; o < p->outer; ++o) {
        for (i = 0; i < step; ++i) {
            const size_t base = (size_t)o * n * step + i;
            const int8_t *x = input + base;
            int32_t max = -128, bits_over_unit, reciprocal, exponent;
            uint32_t total = 0;
            for (k = 0; k < n; ++k) {
                max = x[k * step] > max ? x[k * step] : max;
            }
            for (k = 0; k < n; ++k) {
                const int32_t minus_diff = max - x[k * step];
                if (minus_diff <= limit) {
                    total += (uint32_t)edgec_fp_rdbpot(table[minus_diff], ACCUMULATION_INTEGER_BITS);
                }
            }
            reciprocal = edgec_fp_reciprocal((int32_t)total, ACCUMULATION_INTEGER_BITS, &bits_over_unit);
            exponent = edgec_fp_clamp(bits_over_unit + 31 - out_bits, 0, 31);
            for (k = 0; k < n; ++k) {
                const int32_t minus_diff = max - x[k * step];
                int32_t value = lo;
                if (minus_diff <= limit) {
                    value = edgec_fp_rdbpot(edgec_fp_srdhm(reciprocal, table[minus_diff]), exponent);
                    value = edgec_fp_clamp(value + lo, lo, hi);
                }
                if (out8 != NULL) {
                    out8[base + (size_t)k * step] = (int8_t)value;
                } else {
                    out16[base + (size_t)k * step] = (int16_t)value;
                }
            }
        }
    }
}

void edgec_softmax_table_s8(const edgec_softmax_table_s8_t *p, const int8_t *input, int8_t *output)
{
    softmax_rows(p, input, 8, -128, 127, output, NULL);
}

void edgec_softmax_table_s8_s16(const edgec_softmax_table_s8_t *p, const int8_t *input, int16_t *output)
{
    softmax_rows(p, input, 16, -32768, 32767, NULL, output);
}
