/* Optimized int8 residual Add; see fast_common.h. */
#include <stdint.h>

#include "fast_common.h"

/* Add of two int8 operands of the output's shape (a residual connection): TFLM rescales each
 * operand ((q - zp) << left_shift, then MultiplyByQuantizedMultiplier) before the sum, a
 * function of its 256 values that the compiler tabulates; per element, two table loads, the
 * sum, the output's requantization (edgec_fp_mbqm_right from one table row where the scale
 * allows, else edgec_fp_mbqm) and the clamp. */
void edgec_add_fast_s8(const edgec_add_fast_s8_t *p, const int8_t *a, const int8_t *b, int8_t *output)
{
    const int32_t *const ta = p->a_table + 128, *const tb = p->b_table + 128;
    const int32_t size = p->size, lo = p->act_min, hi = p->act_max, zp = p->output_zero_point;
    int32_t i;
#if EDGEC_ROUNDING == EDGEC_ROUNDING_FLOAT
    /* onnxruntime's QLinearAdd: float32 tables, b's holding the constant term */
    (void)zp;
    for (i = 0; i < size; ++i) {
        const float value = edgec_fp_float(tb[b[i]]) + edgec_fp_float(ta[a[i]]);
        output[i] = (int8_t)edgec_fp_clamp(edgec_fp_round_even(value), lo, hi);
    }
#elif EDGEC_ROUNDING == EDGEC_ROUNDING_LITERT
    /* XNNPACK's: a's table holds the bias, one arithmetic shift */
    for (i = 0; i < size; ++i) {
        output[i] = (int8_t)edgec_fp_clamp(((ta[a[i]] + tb[b[i]]) >> p->out_shift) + zp, lo, hi);
    }
#else
    if (p->requant != NULL) {
        const int32_t m = p->requant[0], round_hi = p->requant[1], shift_hi = p->requant[2];
        for (i = 0; i < size; ++i) {
            const int32_t sum = ta[a[i]] + tb[b[i]];
            output[i] = (int8_t)edgec_fp_clamp(edgec_fp_mbqm_right(sum, m, round_hi, shift_hi), lo, hi);
        }
    } else {
        const int32_t mult = p->out_mult, shift = p->out_shift;
        for (i = 0; i < size; ++i) {
            const int32_t sum = ta[a[i]] + tb[b[i]];
            output[i] = (int8_t)edgec_fp_clamp(edgec_fp_mbqm(sum, mult, shift) + zp, lo, hi);
        }
    }
#endif
}
