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
    int32_t mult = p->input_mult, shift = p->input_left_shift;
    int64_t rounding;
    if (mult == 0) { /* power-of-two input scale: only the factor 3 remains */
        mult = 3 * (1 << shift);
        shift = 0;
    }
    rounding = shift > 0 ? ((int64_t)1 << (shift - 1)) : 0;
    return (int32_t)(((int64_t)x * mult + rounding) >> shift);
}

void edgec_logistic_s16(const edgec_sigmoid_int_t *p, const int16_t *input, int16_t *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t value = table_input(p, input[i]);
        const int32_t magnitude = value < 0 ? -value : value;
        const int32_t index = (magnitude >> 9) < 254 ? (magnitude >> 9) : 254;
        const int32_t ua = p->table[index], ub = p->table[index + 1];
        int32_t result = (magnitude >> 9) >= 255 ? (0x7FFF << 10) : (ua << 9) + (magnitude & 0x1FF) * (ub - ua);
        result = value >= 0 ? result + (1 << 9) : (1 << 25) - result + (1 << 9) - 1;
        output[i] = (int16_t)(uint16_t)(uint32_t)(result >> 10);
    }
}

void edgec_tanh_s16(const edgec_sigmoid_int_t *p, const int16_t *input, int16_t *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t value = table_input(p, input[i]);
        const int32_t magnitude = value < 0 ? -value : value;
        const int32_t index = (magnitude >> 8) < 254 ? (magnitude >> 8) : 254;
        const int32_t ua = p->table[index], ub = p->table[index + 1];
        int32_t result = (magnitude >> 8) >= 255 ? (0xFFFF << 8) : (ua << 8) + (magnitude & 0xFF) * (ub - ua);
        result = value >= 0 ? result - (1 << 23) + (1 << 7) : -result + (1 << 23) + (1 << 7) - 1;
        output[i] = (int16_t)(uint16_t)(uint32_t)(result >> 8);
    }
}
