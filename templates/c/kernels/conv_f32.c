/* edgec float32 convolution kernels (NHWC). Plain loops: the reference for float models. */
#include "edgec_kernels.h"

static float clampf(float v, float lo, float hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

void edgec_conv_f32(const edgec_conv_f32_t *p, const float *input, float *output)
{
    const int32_t in_per_group = p->in.c / p->groups;
    const int32_t out_per_group = p->out.c / p->groups;
    int32_t b, oy, ox, oc, ky, kx, ic;
    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < p->out.h; ++oy) {
            for (ox = 0; ox < p->out.w; ++ox) {
                for (oc = 0; oc < p->out.c; ++oc) {
                    const int32_t g = oc / out_per_group;
                    const float *w = p->weights + (size_t)oc * p->kh * p->kw * in_per_group;
                    float acc = p->bias ? p->bias[oc] : 0.0f;
                    for (ky = 0; ky < p->kh; ++ky) {
                        const int32_t iy = oy * p->stride_h - p->pad_top + ky * p->dil_h;
                        if (iy < 0 || iy >= p->in.h) {
                            continue;
                        }
                        for (kx = 0; kx < p->kw; ++kx) {
                            const int32_t ix = ox * p->stride_w - p->pad_left + kx * p->dil_w;
                            const float *x;
                            const float *wk;
                            if (ix < 0 || ix >= p->in.w) {
                                continue;
                            }
                            x = input + (((size_t)b * p->in.h + iy) * p->in.w + ix) * p->in.c +
                                (size_t)g * in_per_group;
                            wk = w + ((size_t)ky * p->kw + kx) * in_per_group;
                            for (ic = 0; ic < in_per_group; ++ic) {
                                acc += x[ic] * wk[ic];
                            }
                        }
                    }
                    output[(((size_t)b * p->out.h + oy) * p->out.w + ox) * p->out.c + oc] =
                        clampf(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

void edgec_dwconv_f32(const edgec_dwconv_f32_t *p, const float *input, float *output)
{
    int32_t b, oy, ox, oc, ky, kx;
    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < p->out.h; ++oy) {
            for (ox = 0; ox < p->out.w; ++ox) {
                for (oc = 0; oc < p->out.c; ++oc) {
                    const int32_t ic = oc / p->multiplier;
                    float acc = p->bias ? p->bias[oc] : 0.0f;
                    for (ky = 0; ky < p->kh; ++ky) {
                        const int32_t iy = oy * p->stride_h - p->pad_top + ky * p->dil_h;
                        if (iy < 0 || iy >= p->in.h) {
                            continue;
                        }
                        for (kx = 0; kx < p->kw; ++kx) {
                            const int32_t ix = ox * p->stride_w - p->pad_left + kx * p->dil_w;
                            if (ix < 0 || ix >= p->in.w) {
                                continue;
                            }
                            acc += input[(((size_t)b * p->in.h + iy) * p->in.w + ix) * p->in.c + ic] *
                                   p->weights[((size_t)ky * p->kw + kx) * p->out.c + oc];
                        }
                    }
                    output[(((size_t)b * p->out.h + oy) * p->out.w + ox) * p->out.c + oc] =
                        clampf(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}
