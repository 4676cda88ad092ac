/* edgec float32 transposed convolution (NHWC), gathered per output pixel. */
#include "edgec_convt.h"
#include "edgec_kernels.h"

void edgec_conv_transpose_f32(const edgec_conv_f32_t *p, const float *input, float *output)
{
    const int32_t in_per_group = p->in.c / p->groups;
    const int32_t out_per_group = p->out.c / p->groups;
    int32_t b, oy, ox, oc, ky, kx, ic;
    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < p->out.h; ++oy) {
            for (ox = 0; ox < p->out.w; ++ox) {
                float *out = output + (((size_t)b * p->out.h + oy) * p->out.w + ox) * p->out.c;
                for (oc = 0; oc < p->out.c; ++oc) {
                    const int32_t g = oc / out_per_group;
                    const float *w = p->weights + (size_t)oc * p->kh * p->kw * in_per_group;
                    float acc = p->bias != NULL ? p->bias[oc] : 0.0f;
                    for (ky = 0; ky < p->kh; ++ky) {
                        const int32_t iy = edgec_convt_source(oy + p->pad_top, ky, p->stride_h, p->dil_h, p->in.h);
                        if (iy < 0) {
                            continue;
                        }
                        for (kx = 0; kx < p->kw; ++kx) {
                            const int32_t ix = edgec_convt_source(ox + p->pad_left, kx, p->stride_w, p->dil_w, p->in.w);
                            const float *x;
                            const float *wk;
                            if (ix < 0) {
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
                    acc = acc < p->act_min ? p->act_min : (acc > p->act_max ? p->act_max : acc);
                    out[oc] = acc;
                }
            }
        }
    }
}
