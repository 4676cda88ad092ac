/* edgec integer convolution and fully connected kernels with 4-bit weights (packed two per
 * byte), TFLM reference semantics: the loops of conv_int.c and fc_int.c reading each weight
 * from its nibble. See edgec_kernels_int4.h. */
#include <stddef.h>
#include <stdint.h>

#include "edgec_kernels.h"
#include "edgec_fixedpoint.h"

/* Weight i of a packed array, sign-extended from its nibble. */
static inline int32_t nibble(const uint8_t *packed, size_t i)
{
    const int32_t v = (i & 1u) ? (int32_t)(packed[i >> 1] >> 4) : (int32_t)(packed[i >> 1] & 15u);
    return v - ((v & 8) << 1);
}

/* The window geometry every convolution struct starts with. */
typedef struct {
    edgec_dims_t in, out;
    int32_t kh, kw, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left;
} window_t;

#define WINDOW_OF(c) {(c).in, (c).out, (c).kh, (c).kw, (c).stride_h, (c).stride_w, (c).dil_h, (c).dil_w, \
                      (c).pad_top, (c).pad_left}

/* The sum over output pixel (b, oy, ox)'s window of (input + in_offset) * weight, for the
 * `count` input channels from c0: weight index w0 + tap * tap_stride + channel. Taps in the
 * padding add nothing ((zp - zp) * w). int16 inputs when wide_input. */
static int64_t window_sum(const window_t *g, const void *input, int wide_input, int32_t in_offset, int32_t b,
                          int32_t oy, int32_t ox, int32_t c0, int32_t count, const uint8_t *packed, size_t w0,
                          size_t tap_stride)
{
    const int32_t y0 = oy * g->stride_h - g->pad_top, x0 = ox * g->stride_w - g->pad_left;
    int64_t acc = 0;
    int32_t ky, kx, i;
    for (ky = 0; ky < g->kh; ++ky) {
        const int32_t iy = y0 + ky * g->dil_h;
        if (iy < 0 || iy >= g->in.h) {
            continue;
        }
        for (kx = 0; kx < g->kw; ++kx) {
            const int32_t ix = x0 + kx * g->dil_w;
            size_t at, w;
            if (ix < 0 || ix >= g->in.w) {
                continue;
            }
            at = (((size_t)b * g->in.h + (size_t)iy) * g->in.w + (size_t)ix) * g->in.c + (size_t)c0;
            w = w0 + ((size_t)ky * g->kw + (size_t)kx) * tap_stride;
            for (i = 0; i < count; ++i) {
                const int32_t x = wide_input ? ((const int16_t *)input)[at + i] : ((const int8_t *)input)[at + i];
                acc += (int64_t)(x + in_offset) * nibble(packed, w + (size_t)i);
            }
        }
    }
    return acc;
}

static inline int32_t wrap32(int64_t acc)
{
    return (int32_t)(uint32_t)(uint64_t)acc;
}

static int32_t requant_s16(int64_t acc, int32_t wide, int32_t mult, int32_t shift)
{
    return wide ? edgec_fp_mbqm64(acc, mult, shift) : edgec_fp_mbqm(wrap32(acc), mult, shift);
}

void edgec_conv_w4_s8(const edgec_conv_w4_s8_t *q, const int8_t *input, int8_t *output)
{
    const edgec_conv_s8_t *p = &q->conv;
    const window_t g = WINDOW_OF(*p);
    const int32_t cg = p->in.c / p->groups, per_group = p->out.c / p->groups;
    const size_t row = (size_t)p->kh * p->kw * cg;
    int32_t b, oy, ox, oc;
    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < p->out.h; ++oy) {
            for (ox = 0; ox < p->out.w; ++ox) {
                int8_t *out = output + (((size_t)b * p->out.h + oy) * p->out.w + ox) * p->out.c;
                for (oc = 0; oc < p->out.c; ++oc) {
                    int64_t acc = window_sum(&g, input, 0, -p->input_zero_point, b, oy, ox, (oc / per_group) * cg,
                                             cg, q->packed, (size_t)oc * row, (size_t)cg);
                    int32_t v;
                    if (p->bias != NULL) {
                        acc += p->bias[oc];
                    }
                    v = edgec_fp_mbqm(wrap32(acc), p->out_mult[oc], p->out_shift[oc]) + p->output_zero_point;
                    out[oc] = (int8_t)edgec_fp_clamp(v, p->act_min, p->act_max);
                }
            }
        }
    }
}

void edgec_conv_w4_s16(const edgec_conv_w4_s16_t *q, const int16_t *input, int16_t *output)
{
    const edgec_conv_s16_t *p = &q->conv;
    const window_t g = WINDOW_OF(*p);
    const int32_t cg = p->in.c / p->groups, per_group = p->out.c / p->groups;
    const size_t row = (size_t)p->kh * p->kw * cg;
    int32_t b, oy, ox, oc;
    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < p->out.h; ++oy) {
            for (ox = 0; ox < p->out.w; ++ox) {
                int16_t *out = output + (((size_t)b * p->out.h + oy) * p->out.w + ox) * p->out.c;
                for (oc = 0; oc < p->out.c; ++oc) {
                    int64_t acc = window_sum(&g, input, 1, 0, b, oy, ox, (oc / per_group) * cg, cg, q->packed,
                                             (size_t)oc * row, (size_t)cg);
                    if (p->bias != NULL) {
                        acc += p->bias[oc];
                    }
                    out[oc] = (int16_t)edgec_fp_clamp(requant_s16(acc, p->wide, p->out_mult[oc], p->out_shift[oc]),
                                                      p->act_min, p->act_max);
                }
            }
        }
    }
}

void edgec_dwconv_w4_s8(const edgec_dwconv_w4_s8_t *q, const int8_t *input, int8_t *output)
{
    const edgec_dwconv_s8_t *p = &q->conv;
    const window_t g = WINDOW_OF(*p);
    int32_t b, oy, ox, oc;
    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < p->out.h; ++oy) {
            for (ox = 0; ox < p->out.w; ++ox) {
                int8_t *out = output + (((size_t)b * p->out.h + oy) * p->out.w + ox) * p->out.c;
                for (oc = 0; oc < p->out.c; ++oc) {
                    int64_t acc = window_sum(&g, input, 0, -p->input_zero_point, b, oy, ox,
                                             oc / p->depth_multiplier, 1, q->packed, (size_t)oc, (size_t)p->out.c);
                    int32_t v;
                    if (p->bias != NULL) {
                        acc += p->bias[oc];
                    }
                    v = edgec_fp_mbqm(wrap32(acc), p->out_mult[oc], p->out_shift[oc]) + p->output_zero_point;
                    out[oc] = (int8_t)edgec_fp_clamp(v, p->act_min, p->act_max);
                }
            }
        }
    }
}

void edgec_dwconv_w4_s16(const edgec_dwconv_w4_s16_t *q, const int16_t *input, int16_t *output)
{
    const edgec_dwconv_s16_t *p = &q->conv;
    const window_t g = WINDOW_OF(*p);
    int32_t b, oy, ox, oc;
    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < p->out.h; ++oy) {
            for (ox = 0; ox < p->out.w; ++ox) {
                int16_t *out = output + (((size_t)b * p->out.h + oy) * p->out.w + ox) * p->out.c;
                for (oc = 0; oc < p->out.c; ++oc) {
                    int64_t acc = window_sum(&g, input, 1, 0, b, oy, ox, oc / p->depth_multiplier, 1, q->packed,
                                             (size_t)oc, (size_t)p->out.c);
                    if (p->bias != NULL) {
                        acc += p->bias[oc];
                    }
                    out[oc] = (int16_t)edgec_fp_clamp(requant_s16(acc, p->wide, p->out_mult[oc], p->out_shift[oc]),
                                                      p->act_min, p->act_max);
                }
            }
        }
    }
}

void edgec_fc_w4_s8(const edgec_fc_w4_s8_t *q, const int8_t *input, int8_t *output)
{
    const edgec_fc_s8_t *p = &q->fc;
    int32_t b, o, i;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = input + (size_t)b * p->in_features;
        for (o = 0; o < p->out_features; ++o) {
            const size_t w = (size_t)o * p->in_features;
            int64_t acc = 0;
            int32_t v;
            for (i = 0; i < p->in_features; ++i) {
                acc += (int64_t)(x[i] - p->input_zero_point) * nibble(q->packed, w + (size_t)i);
            }
            if (p->bias != NULL) {
                acc += p->bias[o];
            }
            v = edgec_fp_mbqm(wrap32(acc), p->out_mult[o], p->out_shift[o]) + p->output_zero_point;
            output[(size_t)b * p->out_features + o] = (int8_t)edgec_fp_clamp(v, p->act_min, p->act_max);
        }
    }
}

void edgec_fc_w4_s16(const edgec_fc_w4_s16_t *q, const int16_t *input, int16_t *output)
{
    const edgec_fc_s16_t *p = &q->fc;
    int32_t b, o, i;
    for (b = 0; b < p->batches; ++b) {
        const int16_t *x = input + (size_t)b * p->in_features;
        for (o = 0; o < p->out_features; ++o) {
            const size_t w = (size_t)o * p->in_features;
            int64_t acc = 0;
            for (i = 0; i < p->in_features; ++i) {
                acc += (int64_t)x[i] * nibble(q->packed, w + (size_t)i);
            }
            if (p->bias != NULL) {
                acc += p->bias[o];
            }
            output[(size_t)b * p->out_features + o] = (int16_t)edgec_fp_clamp(
                requant_s16(acc, p->wide, p->out_mult[o], p->out_shift[o]), p->act_min, p->act_max);
        }
    }
}
