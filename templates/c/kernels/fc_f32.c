/* edgec float32 fully connected kernel. */
#include "edgec_kernels.h"

void edgec_fc_f32(const edgec_fc_f32_t *p, const float *input, float *output)
{
    int32_t b, o, i;
    for (b = 0; b < p->batches; ++b) {
        const float *x = input + (size_t)b * p->in_features;
        for (o = 0; o < p->out_features; ++o) {
            const float *w = p->weights + (size_t)o * p->in_features;
            float acc = p->bias ? p->bias[o] : 0.0f;
            for (i = 0; i < p->in_features; ++i) {
                acc += x[i] * w[i];
            }
            acc = acc < p->act_min ? p->act_min : (acc > p->act_max ? p->act_max : acc);
            output[(size_t)b * p->out_features + o] = acc;
        }
    }
}
