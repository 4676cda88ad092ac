/* edgec integer Logistic (Sigmoid) and Tanh kernels, TFLM reference semantics. */
#include "edgec_kernels.h"
#include "edgec_fixedpoint.h"

/* int8: the centered input in Q4; sets *saturated to -1 / +1 beyond the input range radius. */
static int32_t q4_input(const edgec_sigmoid_int_t *p, int32_t x, int32_t *saturated)
{
    const int32_t centered = x - p->input_zero_point;
    *saturated = centered <= -p->input_range_radius ? -1 : (centered >= p->input_range_radius ? 1 : 0);
    return *saturated ? 0 : edgec_fp_mbqm(centered, p->input_mult, p->input_left_shift);
}

void edgec_logistic_s8(const edgec_sigmoid_int_t *p, const int8_t *input, int8_t *output)
{
    int32_t i, saturated;
    for (i = 0; i < p->size; ++i) {
        const int32_t q4 = q4_input(p, input[i], &saturated);
        int32_t value = edgec_fp_rdbpot(edgec_fp_logistic(q4, 4), 23) - 128;
        value = saturated < 0 ? -128 : (saturated > 0 ? 127 : value);
        output[i] = (int8_t)edgec_fp_clamp(value, -128, 127);
    }
}

void edgec_tanh_s8(const edgec_sigmoid_int_t *p, const int8_t *input, int8_t *output)
{
    int32_t i, saturated;
    for (i = 0; i < p->size; ++i) {
        const int32_t q4 = q4_input(p, input[i], &saturated);
        int32_t value = edgec_fp_rdbpot(edgec_fp_tanh(q4, 4), 24);
        value = saturated < 0 ? -128 : (saturated > 0 ? 127 : value);
        output[i] = (int8_t)edgec_fp_clamp(value, -128, 127);
    }
}

/* int16: the input rescaled to 1 / (3 * 4096) units (what the table is indexed by). */
static int32_t table_input(const edgec_sigmoid_int_t *p, int32_t x)
{
    return edgec_fp_table_input(x, p->input_mult, p->input_left_shift);
}

void edgec_logistic_s16(const edgec_sigmoid_int_t *p, const int16_t *input, int16_t *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = (int16_t)edgec_fp_sigmoid16(table_input(p, input[i]), p->table);
    }
}

void edgec_tanh_s16(const edgec_sigmoid_int_t *p, const int16_t *input, int16_t *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = (int16_t)edgec_fp_tanh16(table_input(p, input[i]), p->table);
    }
}
