/* edgec float32 bilinear resize (NHWC) through per-axis source and weight tables. */
#include "edgec_kernels.h"

void edgec_resize_bilinear_f32(const edgec_resize_bilinear_f32_t *p, const float *input, float *output)
{
    const size_t row = (size_t)p->in_w * p->channels;
    int32_t b, y, x, c;
    for (b = 0; b < p->batch; ++b) {
        const float *image = input + (size_t)b * p->in_h * row;
        for (y = 0; y < p->out_h; ++y) {
            const float *top = image + (size_t)p->h_low[y] * row;
            const float *bottom = image + (size_t)p->h_high[y] * row;
            const float wt = p->h_weight[2 * y], wb = p->h_weight[2 * y + 1];
            for (x = 0; x < p->out_w; ++x) {
                const size_t l = (size_t)p->w_low[x] * p->channels, r = (size_t)p->w_high[x] * p->channels;
                const float wl = p->w_weight[2 * x], wr = p->w_weight[2 * x + 1];
                float *out = output + (((size_t)b * p->out_h + y) * p->out_w + x) * p->channels;
                for (c = 0; c < p->channels; ++c) {
                    out[c] = wt * (wl * top[l + c] + wr * top[r + c]) +
                             wb * (wl * bottom[l + c] + wr * bottom[r + c]);
                }
            }
        }
    }
}
