/* edgec integer fully connected kernels, TFLM reference semantics. See edgec_kernels_int.h. */
#include "edgec_kernels.h"
#include "edgec_fixedpoint.h"

void edgec_fc_s8(const edgec_fc_s8_t *p, const int8_t *input, int8_t *output)
{
    const int32_t in_offset = -p->input_zero_point;
    int32_t b, o, i;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = input + (size_t)b * p->in_features;
        int8_t *out = output + (size_t)b * p->out_features;
        for (o = 0; o < p->out_features; ++o) {
            const int8_t *w = p->weights + (size_t)o * p->in_features;
            int32_t acc = 0;
            for (i = 0; i < p->in_features; ++i) {
                acc += ((int32_t)x[i] + in_offset) * (int32_t)w[i];
            }
            if (p->bias != NULL) {
                acc += p->bias[o];
            }
            acc = edgec_requant(acc, p->out_mult[o], p->out_shift[o]) + p->output_zero_point;
            out[o] = (int8_t)edgec_fp_clamp(acc, p->act_min, p->act_max);
        }
    }
}

void edgec_fc_s16(const edgec_fc_s16_t *p, const int16_t *input, int16_t *output)
{
    int32_t b, o, i;
    for (b = 0; b < p->batches; ++b) {
        const int16_t *x = input + (size_t)b * p->in_features;
        int16_t *out = output + (size_t)b * p->out_features;
        for (o = 0; o < p->out_features; ++o) {
            const int8_t *w = p->weights + (size_t)o * p->in_features;
            int64_t acc = 0;
            int32_t value;
            for (i = 0; i < p->in_features; ++i) {
                acc += (int32_t)x[i] * (int32_t)w[i];
            }
            if (p->bias != NULL) {
                acc += p->bias[o];
            }
            value = edgec_requant_s16(acc, p->wide, p->out_mult[o], p->out_shift[o]);
            out[o] = (int16_t)edgec_fp_clamp(value, p->act_min, p->act_max);
        }
    }
}
