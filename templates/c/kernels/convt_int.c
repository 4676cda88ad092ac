/* edgec integer transposed convolution (NHWC): TFLite TRANSPOSE_CONV's arithmetic, gathered per
 * output pixel (the integer sum is the same as TFLite's scatter into an int32 buffer). */
#include "edgec_kernels.h"
#include "edgec_convt.h"
#include "edgec_fixedpoint.h"

/* The body for element type T with accumulator ACC; FINISH(acc, oc) requantizes one output. */
#define EDGEC_CONVT_BODY(T, ACC, IN_OFFSET, FINISH)                                               \
    do {                                                                                          \
        const int32_t in_per_group = p->in.c / p->groups;                                         \
        const int32_t out_per_group = p->out.c / p->groups;                                       \
        int32_t b, oy, ox, oc, ky, kx, ic;                                                        \
        for (b = 0; b < p->out.n; ++b) {                                                          \
            for (oy = 0; oy < p->out.h; ++oy) {                                                   \
                for (ox = 0; ox < p->out.w; ++ox) {                                               \
                    T *out = output + (((size_t)b * p->out.h + oy) * p->out.w + ox) * p->out.c;   \
                    for (oc = 0; oc < p->out.c; ++oc) {                                           \
                        const int32_t g = oc / out_per_group;                                     \
                        const int8_t *w = p->weights + (size_t)oc * p->kh * p->kw * in_per_group; \
                        ACC acc = 0;                                                              \
                        for (ky = 0; ky < p->kh; ++ky) {                                          \
                            const int32_t iy =                                                    \
                                edgec_convt_source(oy + p->pad_top, ky, p->stride_h, p->dil_h, p->in.h); \
                            if (iy < 0) {                                                         \
                                continue;                                                         \
                            }                                                                     \
                            for (kx = 0; kx < p->kw; ++kx) {                                      \
                                const int32_t ix = edgec_convt_source(ox + p->pad_left, kx, p->stride_w, \
                                                                p->dil_w, p->in.w);               \
                                const T *x;                                                       \
                                const int8_t *wk;                                                 \
                                if (ix < 0) {                                                     \
                                    continue;                                                     \
                                }                                                                 \
                                x = input + (((size_t)b * p->in.h + iy) * p->in.w + ix) * p->in.c + \
                                    (size_t)g * in_per_group;                                     \
                                wk = w + ((size_t)ky * p->kw + kx) * in_per_group;                \
                                for (ic = 0; ic < in_per_group; ++ic) {                           \
                                    acc += ((int32_t)x[ic] + (IN_OFFSET)) * (int32_t)wk[ic];      \
                                }                                                                 \
                            }                                                                     \
                        }                                                                         \
                        if (p->bias != NULL) {                                                    \
                            acc += p->bias[oc];                                                   \
                        }                                                                         \
                        out[oc] = (T)edgec_fp_clamp(FINISH(acc, oc), p->act_min, p->act_max);     \
                    }                                                                             \
                }                                                                                 \
            }                                                                                     \
        }                                                                                         \
    } while (0)

#define EDGEC_CONVT_S8_FINISH(acc, oc)                                                            \
    (edgec_fp_mbqm((acc), p->out_mult[oc], p->out_shift[oc]) + p->output_zero_point)

void edgec_conv_transpose_s8(const edgec_conv_s8_t *p, const int8_t *input, int8_t *output)
{
    EDGEC_CONVT_BODY(int8_t, int32_t, -p->input_zero_point, EDGEC_CONVT_S8_FINISH);
}

#define EDGEC_CONVT_S16_FINISH(acc, oc)                                                           \
    edgec_fp_requant_s16((acc), p->wide, p->out_mult[oc], p->out_shift[oc])

void edgec_conv_transpose_s16(const edgec_conv_s16_t *p, const int16_t *input, int16_t *output)
{
    EDGEC_CONVT_BODY(int16_t, int64_t, 0, EDGEC_CONVT_S16_FINISH);
}
