/* edgec integer softmax kernels, TFLM reference semantics; see edgec_kernels_int.h. */
#include "edgec_kernels.h"
#include "edgec_fixedpoint.h"

#define SCALED_DIFF_INTEGER_BITS 5
#define ACCUMULATION_INTEGER_BITS 12

/* exp(diff) in Q0 for one element of an int8 row, or -1 when the difference is below diff_min. */
static int32_t exp_s8(const edgec_softmax_int_t *p, int32_t diff)
{
    /* diff >= diff_min bounds diff * 2^input_left_shift within int32. */
    const int32_t scaled = edgec_fp_srdhm(diff * (int32_t)(1 << p->input_left_shift), p->input_mult);
    return edgec_fp_exp_on_negative_values(scaled, SCALED_DIFF_INTEGER_BITS);
}

/* The int8-input softmax of one row into out8 (int8) or out16 (int16), values in [lo, hi]. */
static void softmax_row_s8(const edgec_softmax_int_t *p, const int8_t *x, int32_t out_bits, int32_t lo,
                           int32_t hi, int8_t *out8, int16_t *out16)
{
    const int32_t n = p->axis_size, step = p->inner;
    int32_t max = -128, k, bits_over_unit, reciprocal, exponent;
    uint32_t total = 0;
    for (k = 0; k < n; ++k) {
        max = x[k * step] > max ? x[k * step] : max;
    }
    for (k = 0; k < n; ++k) {
        const int32_t diff = (int32_t)x[k * step] - max;
        if (diff >= p->diff_min) {
            total += (uint32_t)edgec_fp_rescale(exp_s8(p, diff), 0, ACCUMULATION_INTEGER_BITS);
        }
    }
    reciprocal = edgec_fp_reciprocal((int32_t)total, ACCUMULATION_INTEGER_BITS, &bits_over_unit);
    exponent = edgec_fp_clamp(bits_over_unit + 31 - out_bits, 0, 31);
    for (k = 0; k < n; ++k) {
        const int32_t diff = (int32_t)x[k * step] - max;
        int32_t value = lo;
        if (diff >= p->diff_min) {
            value = edgec_fp_rdbpot(edgec_fp_srdhm(reciprocal, exp_s8(p, diff)), exponent);
            value = edgec_fp_clamp(value + lo, lo, hi);
        }
        if (out8 != NULL) {
            out8[k * step] = (int8_t)value;
        } else {
            out16[k * step] = (int16_t)value;
        }
    }
}

void edgec_softmax_s8(const edgec_softmax_int_t *p, const int8_t *input, int8_t *output)
{
    int32_t o, i;
    for (o = 0; o < p->outer; ++o) {
        for (i = 0; i < p->inner; ++i) {
            const size_t base = (size_t)o * p->axis_size * p->inner + i;
            softmax_row_s8(p, input + base, 8, -128, 127, output + base, NULL);
        }
    }
}

void edgec_softmax_s8_s16(const edgec_softmax_int_t *p, const int8_t *input, int16_t *output)
{
    int32_t o, i;
    for (o = 0; o < p->outer; ++o) {
        for (i = 0; i < p->inner; ++i) {
            const size_t base = (size_t)o * p->axis_size * p->inner + i;
            softmax_row_s8(p, input + base, 16, -32768, 32767, NULL, output + base);
        }
    }
}

/* TFLM's int16 table lookup: 513 entries over [-32768, 32767], 7 interpolated low bits. */
static int32_t lut_lookup(const int16_t *table, int32_t value)
{
    const int32_t index = 256 + (value >> 7);
    const int32_t offset = value & 0x7F;
    const int32_t base = table[index];
    const int32_t slope = (int16_t)(uint16_t)(uint32_t)(table[index + 1] - base);
    return (int16_t)(uint16_t)(uint32_t)(base + ((slope * offset + 64) >> 7));
}

/* exp(diff) of an int16 row element, from the exp table (a pure function: computed twice
 * rather than stored, so the output may overlap the input). */
static int32_t exp_s16(const edgec_softmax_int_t *p, int32_t diff)
{
    const int32_t scaled = edgec_fp_mbqm(diff, p->input_mult, p->input_left_shift);
    return lut_lookup(p->exp_table, edgec_fp_clamp(scaled + 32767, -32768, 32767));
}

void edgec_softmax_s16(const edgec_softmax_int_t *p, const int16_t *input, int16_t *output)
{
    const int32_t n = p->axis_size, step = p->inner;
    int32_t o, i, k;
    for (o = 0; o < p->outer; ++o) {
        for (i = 0; i < p->inner; ++i) {
            const size_t base = (size_t)o * n * step + i;
            const int16_t *x = input + base;
            int16_t *out = output + base;
            int32_t max = -32768, headroom_plus_one, right_shift, reciprocal;
            uint32_t total = 0;
            int64_t shifted;
            for (k = 0; k < n; ++k) {
                max = x[k * step] > max ? x[k * step] : max;
            }
            for (k = 0; k < n; ++k) {
                total += (uint32_t)exp_s16(p, (int32_t)x[k * step] - max);
            }
            /* total >= exp(0) > 0; the clamp only keeps the shifts defined. */
            headroom_plus_one = edgec_fp_clamp(edgec_fp_clz32(total), 1, 30);
            shifted = (((int64_t)total << (headroom_plus_one - 1)) + (1 << 13)) >> 14;
            reciprocal = lut_lookup(
                p->reciprocal_table,
                edgec_fp_clamp((int32_t)(shifted - ((1 << 15) + (1 << 16))), -32768, 32767));
            right_shift = 31 - headroom_plus_one;
            for (k = 0; k < n; ++k) {
                const int64_t e = exp_s16(p, (int32_t)x[k * step] - max);
                const int64_t value = (e * reciprocal + ((int64_t)1 << (right_shift - 1))) >> right_shift;
                out[k * step] = (int16_t)(value < 0 ? 0 : (value > 32767 ? 32767 : value));
            }
        }
    }
}

/* onnxruntime's int8 QLinearSoftmax (edgec compile --rounding float): the terms exp(d) of the
 * differences d = max - x from a float table, summed in float32 in order; each output is
 * round_half_even(term * output_multiplier / sum) + zero point, saturated. */
void edgec_softmax_onnxruntime_s8(const edgec_softmax_onnxruntime_t *p, const int8_t *input, int8_t *output)
{
    const int32_t n = p->axis_size, step = p->inner;
    int32_t o, i, k;
    for (o = 0; o < p->outer; ++o) {
        for (i = 0; i < p->inner; ++i) {
            const size_t base = (size_t)o * n * step + i;
            const int8_t *x = input + base;
            int8_t *out = output + base;
            int32_t max = -128;
            float total = 0.0f;
            for (k = 0; k < n; ++k) {
                max = x[k * step] > max ? x[k * step] : max;
            }
            for (k = 0; k < n; ++k) {
                total += p->table[max - x[k * step]];
            }
            for (k = 0; k < n; ++k) {
                const float term = p->table[max - x[k * step]] * p->output_multiplier;
                const int32_t value = edgec_fp_round_even(term / total) + p->output_zero_point;
                out[k * step] = (int8_t)edgec_fp_clamp(value, -128, 127);
            }
        }
    }
}
