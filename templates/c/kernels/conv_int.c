/* edgec integer convolution kernels (NHWC), TFLM reference semantics. See edgec_kernels_int.h. */
#include "edgec_kernels.h"
#include "edgec_fixedpoint.h"

void edgec_conv_s8(const edgec_conv_s8_t *p, const int8_t *input, int8_t *output)
{
    const int32_t in_per_group = p->in.c / p->groups;
    const int32_t out_per_group = p->out.c / p->groups;
    const int32_t in_offset = -p->input_zero_point;
    int32_t b, oy, ox, oc, ky, kx, ic;
    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            for (ox = 0; ox < p->out.w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                int8_t *out = output + (((size_t)b * p->out.h + oy) * p->out.w + ox) * p->out.c;
                for (oc = 0; oc < p->out.c; ++oc) {
                    const int32_t g = oc / out_per_group;
                    const int8_t *w = p->weights + (size_t)oc * p->kh * p->kw * in_per_group;
                    int32_t acc = 0;
                    for (ky = 0; ky < p->kh; ++ky) {
                        const int32_t iy = y0 + ky * p->dil_h;
                        if (iy < 0 || iy >= p->in.h) {
                            continue; /* padding: (zp - zp) * w adds nothing */
                        }
                        for (kx = 0; kx < p->kw; ++kx) {
                            const int32_t ix = x0 + kx * p->dil_w;
                            const int8_t *x;
                            const int8_t *wk;
                            if (ix < 0 || ix >= p->in.w) {
                                continue;
                            }
                            x = input + (((size_t)b * p->in.h + iy) * p->in.w + ix) * p->in.c +
                                (size_t)g * in_per_group;
                            wk = w + ((size_t)ky * p->kw + kx) * in_per_group;
                            for (ic = 0; ic < in_per_group; ++ic) {
                                acc += ((int32_t)x[ic] + in_offset) * (int32_t)wk[ic];
                            }
                        }
                    }
                    if (p->bias != NULL) {
                        acc += p->bias[oc];
                    }
                    acc = edgec_requant(acc, p->out_mult[oc], p->out_shift[oc]) + p->output_zero_point;
                    out[oc] = (int8_t)edgec_fp_clamp(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

void edgec_conv_1x1_s8(const edgec_conv_s8_t *p, const int8_t *input, int8_t *output)
{
    const int32_t depth = p->in.c;
    const int32_t in_offset = -p->input_zero_point;
    int32_t b, oy, ox, oc, ic;
    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < p->out.h; ++oy) {
            for (ox = 0; ox < p->out.w; ++ox) {
                const int8_t *x = input + (((size_t)b * p->in.h + (size_t)oy * p->stride_h) * p->in.w +
                                           (size_t)ox * p->stride_w) * depth;
                int8_t *out = output + (((size_t)b * p->out.h + oy) * p->out.w + ox) * p->out.c;
                for (oc = 0; oc < p->out.c; ++oc) {
                    const int8_t *w = p->weights + (size_t)oc * depth;
                    int32_t acc = 0;
                    for (ic = 0; ic < depth; ++ic) {
                        acc += ((int32_t)x[ic] + in_offset) * (int32_t)w[ic];
                    }
                    if (p->bias != NULL) {
                        acc += p->bias[oc];
                    }
                    acc = edgec_requant(acc, p->out_mult[oc], p->out_shift[oc]) + p->output_zero_point;
                    out[oc] = (int8_t)edgec_fp_clamp(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

/* 16x8: int64 accumulator (edgec_requant_s16). */

void edgec_conv_s16(const edgec_conv_s16_t *p, const int16_t *input, int16_t *output)
{
    const int32_t in_per_group = p->in.c / p->groups;
    const int32_t out_per_group = p->out.c / p->groups;
    int32_t b, oy, ox, oc, ky, kx, ic;
    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            for (ox = 0; ox < p->out.w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                int16_t *out = output + (((size_t)b * p->out.h + oy) * p->out.w + ox) * p->out.c;
                for (oc = 0; oc < p->out.c; ++oc) {
                    const int32_t g = oc / out_per_group;
                    const int8_t *w = p->weights + (size_t)oc * p->kh * p->kw * in_per_group;
                    int64_t acc = 0;
                    for (ky = 0; ky < p->kh; ++ky) {
                        const int32_t iy = y0 + ky * p->dil_h;
                        if (iy < 0 || iy >= p->in.h) {
                            continue;
                        }
                        for (kx = 0; kx < p->kw; ++kx) {
                            const int32_t ix = x0 + kx * p->dil_w;
                            const int16_t *x;
                            const int8_t *wk;
                            if (ix < 0 || ix >= p->in.w) {
                                continue;
                            }
                            x = input + (((size_t)b * p->in.h + iy) * p->in.w + ix) * p->in.c +
                                (size_t)g * in_per_group;
                            wk = w + ((size_t)ky * p->kw + kx) * in_per_group;
                            for (ic = 0; ic < in_per_group; ++ic) {
                                acc += (int32_t)x[ic] * (int32_t)wk[ic];
                            }
                        }
                    }
                    if (p->bias != NULL) {
                        acc += p->bias[oc];
                    }
                    out[oc] = (int16_t)edgec_fp_clamp(
                        edgec_requant_s16(acc, p->wide, p->out_mult[oc], p->out_shift[oc]), p->act_min, p->act_max);
                }
            }
        }
    }
}

void edgec_dwconv_s8(const edgec_dwconv_s8_t *p, const int8_t *input, int8_t *output)
{
    const int32_t in_offset = -p->input_zero_point;
    int32_t b, oy, ox, oc, ky, kx;
    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            for (ox = 0; ox < p->out.w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                int8_t *out = output + (((size_t)b * p->out.h + oy) * p->out.w + ox) * p->out.c;
                for (oc = 0; oc < p->out.c; ++oc) {
                    const int32_t ic = oc / p->depth_multiplier;
                    int32_t acc = 0;
                    for (ky = 0; ky < p->kh; ++ky) {
                        const int32_t iy = y0 + ky * p->dil_h;
                        if (iy < 0 || iy >= p->in.h) {
                            continue;
                        }
                        for (kx = 0; kx < p->kw; ++kx) {
                            const int32_t ix = x0 + kx * p->dil_w;
                            if (ix < 0 || ix >= p->in.w) {
                                continue;
                            }
                            acc += ((int32_t)input[(((size_t)b * p->in.h + iy) * p->in.w + ix) * p->in.c + ic] +
                                    in_offset) *
                                   (int32_t)p->weights[((size_t)ky * p->kw + kx) * p->out.c + oc];
                        }
                    }
                    if (p->bias != NULL) {
                        acc += p->bias[oc];
                    }
                    acc = edgec_requant(acc, p->out_mult[oc], p->out_shift[oc]) + p->output_zero_point;
                    out[oc] = (int8_t)edgec_fp_clamp(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

void edgec_dwconv_s16(const edgec_dwconv_s16_t *p, const int16_t *input, int16_t *output)
{
    int32_t b, oy, ox, oc, ky, kx;
    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            for (ox = 0; ox < p->out.w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                int16_t *out = output + (((size_t)b * p->out.h + oy) * p->out.w + ox) * p->out.c;
                for (oc = 0; oc < p->out.c; ++oc) {
                    const int32_t ic = oc / p->depth_multiplier;
                    int64_t acc = 0;
                    for (ky = 0; ky < p->kh; ++ky) {
                        const int32_t iy = y0 + ky * p->dil_h;
                        if (iy < 0 || iy >= p->in.h) {
                            continue;
                        }
                        for (kx = 0; kx < p->kw; ++kx) {
                            const int32_t ix = x0 + kx * p->dil_w;
                            if (ix < 0 || ix >= p->in.w) {
                                continue;
                            }
                            acc += (int32_t)input[(((size_t)b * p->in.h + iy) * p->in.w + ix) * p->in.c + ic] *
                                   (int32_t)p->weights[((size_t)ky * p->kw + kx) * p->out.c + oc];
                        }
                    }
                    if (p->bias != NULL) {
                        acc += p->bias[oc];
                    }
                    out[oc] = (int16_t)edgec_fp_clamp(
                        edgec_requant_s16(acc, p->wide, p->out_mult[oc], p->out_shift[oc]), p->act_min, p->act_max);
                }
            }
        }
    }
}
