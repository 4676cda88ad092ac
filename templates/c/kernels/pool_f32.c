/* edgec float32 pooling kernels (NHWC). */
#include <float.h>

#include "edgec_kernels.h"

static void pool(const edgec_pool_f32_t *p, const float *input, float *output, int average)
{
    int32_t b, oy, ox, c, ky, kx;
    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            for (ox = 0; ox < p->out.w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                int32_t counted = 0;
                if (average && p->count_include_pad) {
                    /* Declared pads count; the ceil-mode overhang beyond them does not. */
                    int32_t y_end = y0 + p->kh, x_end = x0 + p->kw;
                    const int32_t y_lim = p->in.h + p->pad_bottom, x_lim = p->in.w + p->pad_right;
                    y_end = y_end < y_lim ? y_end : y_lim;
                    x_end = x_end < x_lim ? x_end : x_lim;
                    counted = (y_end - y0) * (x_end - x0);
                }
                for (c = 0; c < p->out.c; ++c) {
                    float acc = average ? 0.0f : -FLT_MAX;
                    int32_t inside = 0;
                    for (ky = 0; ky < p->kh; ++ky) {
                        const int32_t iy = y0 + ky;
                        if (iy < 0 || iy >= p->in.h) {
                            continue;
                        }
                        for (kx = 0; kx < p->kw; ++kx) {
                            const int32_t ix = x0 + kx;
                            float v;
                            if (ix < 0 || ix >= p->in.w) {
                                continue;
                            }
                            v = input[(((size_t)b * p->in.h + iy) * p->in.w + ix) * p->in.c + c];
                            if (average) {
                                acc += v;
                            } else if (v > acc) {
                                acc = v;
                            }
                            ++inside;
                        }
                    }
                    if (average) {
                        acc /= (float)(p->count_include_pad ? counted : inside);
                    }
                    acc = acc < p->act_min ? p->act_min : (acc > p->act_max ? p->act_max : acc);
                    output[(((size_t)b * p->out.h + oy) * p->out.w + ox) * p->out.c + c] = acc;
                }
            }
        }
    }
}

void edgec_maxpool_f32(const edgec_pool_f32_t *p, const float *input, float *output)
{
    pool(p, input, output, 0);
}

void edgec_avgpool_f32(const edgec_pool_f32_t *p, const float *input, float *output)
{
    pool(p, input, output, 1);
}
