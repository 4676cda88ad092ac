/* edgec float32 softmax / log-softmax over one axis of [outer][axis][inner]. */
#include <math.h>

#include "edgec_kernels.h"

void edgec_softmax_f32(const edgec_softmax_f32_t *p, const float *input, float *output)
{
    int32_t o, i, k;
    for (o = 0; o < p->outer; ++o) {
        for (i = 0; i < p->inner; ++i) {
            const float *x = input + (size_t)o * p->axis_size * p->inner + i;
            float *y = output + (size_t)o * p->axis_size * p->inner + i;
            float max = x[0], sum = 0.0f;
            for (k = 1; k < p->axis_size; ++k) {
                max = x[k * p->inner] > max ? x[k * p->inner] : max;
            }
            for (k = 0; k < p->axis_size; ++k) {
                sum += expf(x[k * p->inner] - max);
            }
            for (k = 0; k < p->axis_size; ++k) {
                const float shifted = x[k * p->inner] - max;
                y[k * p->inner] = p->log ? shifted - logf(sum) : expf(shifted) / sum;
            }
        }
    }
}
