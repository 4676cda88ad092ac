/* edgec integer pooling and mean kernels (NHWC), TFLM reference semantics. */
#include "edgec_kernels.h"
#include "edgec_fixedpoint.h"

/* One output value of an average (average != 0) or max pool; `at` reads channel c of a pixel. */
#define EDGEC_POOL_BODY(T, TYPE_MIN, AVERAGE)                                                     \
    do {                                                                                          \
        int32_t b, oy, ox, c, ky, kx;                                                             \
        for (b = 0; b < p->out.n; ++b) {                                                          \
            for (oy = 0; oy < p->out.h; ++oy) {                                                   \
                const int32_t y0 = oy * p->stride_h - p->pad_top;                                 \
                for (ox = 0; ox < p->out.w; ++ox) {                                               \
                    const int32_t x0 = ox * p->stride_w - p->pad_left;                            \
                    for (c = 0; c < p->out.c; ++c) {                                              \
                        int32_t acc = (AVERAGE) ? 0 : (TYPE_MIN);                                 \
                        int32_t inside = 0, value;                                                \
                        for (ky = 0; ky < p->kh; ++ky) {                                          \
                            const int32_t iy = y0 + ky;                                           \
                            if (iy < 0 || iy >= p->in.h) {                                        \
                                continue;                                                         \
                            }                                                                     \
                            for (kx = 0; kx < p->kw; ++kx) {                                      \
                                const int32_t ix = x0 + kx;                                       \
                                int32_t v;                                                        \
                                if (ix < 0 || ix >= p->in.w) {                                    \
                                    continue;                                                     \
                                }                                                                 \
                                v = input[(((size_t)b * p->in.h + iy) * p->in.w + ix) * p->in.c + c]; \
                                if (AVERAGE) {                                                    \
                                    acc += v;                                                     \
                                } else if (v > acc) {                                             \
                                    acc = v;                                                      \
                                }                                                                 \
                                ++inside;                                                         \
                            }                                                                     \
                        }                                                                         \
                        value = acc;                                                              \
                        if (AVERAGE) {                                                            \
                            int32_t count = inside;                                               \
                            if (p->count_include_pad) {                                           \
                                /* the declared pads count, a ceil-mode overhang does not */      \
                                const int32_t y_lim = p->in.h + p->pad_bottom;                    \
                                const int32_t x_lim = p->in.w + p->pad_right;                     \
                                const int32_t y_end = y0 + p->kh < y_lim ? y0 + p->kh : y_lim;    \
                                const int32_t x_end = x0 + p->kw < x_lim ? x0 + p->kw : x_lim;    \
                                count = (y_end - y0) * (x_end - x0);                              \
                                acc += (count - inside) * p->input_zero_point;                    \
                            }                                                                     \
                            /* rounded half away from zero, as TFLM */                           \
                            value = count == 0 ? 0                                                \
                                    : acc > 0  ? (acc + count / 2) / count                        \
                                               : (acc - count / 2) / count;                       \
                        }                                                                         \
                        output[(((size_t)b * p->out.h + oy) * p->out.w + ox) * p->out.c + c] =    \
                            (T)edgec_fp_clamp(value, p->act_min, p->act_max);                     \
                    }                                                                             \
                }                                                                                 \
            }                                                                                     \
        }                                                                                         \
    } while (0)

/* onnxruntime's QLinearAveragePool (--rounding float): the dequantized window summed in
 * float32 in row order (padding adds zero), divided by the count, quantized with the zero
 * point added before the rounding. */
#define EDGEC_AVGPOOL_FLOAT_BODY(T, LO, HI)                                                       \
    do {                                                                                          \
        int32_t b, oy, ox, c, ky, kx;                                                             \
        for (b = 0; b < p->out.n; ++b) {                                                          \
            for (oy = 0; oy < p->out.h; ++oy) {                                                   \
                const int32_t y0 = oy * p->stride_h - p->pad_top;                                 \
                for (ox = 0; ox < p->out.w; ++ox) {                                               \
                    const int32_t x0 = ox * p->stride_w - p->pad_left;                            \
                    for (c = 0; c < p->out.c; ++c) {                                              \
                        float total = 0.0f;                                                       \
                        int32_t count = 0, value;                                                 \
                        for (ky = 0; ky < p->kh; ++ky) {                                          \
                            const int32_t iy = y0 + ky;                                           \
                            for (kx = 0; kx < p->kw; ++kx) {                                      \
                                const int32_t ix = x0 + kx;                                       \
                                int32_t v;                                                        \
                                float real;                                                       \
                                if (iy < 0 || iy >= p->in.h || ix < 0 || ix >= p->in.w) {         \
                                    continue;                                                     \
                                }                                                                 \
                                v = input[(((size_t)b * p->in.h + iy) * p->in.w + ix) * p->in.c + c]; \
                                real = p->input_scale * (float)(v - p->input_zero_point);         \
                                total += real; /* apart: never a fused multiply-add */            \
                                ++count;                                                          \
                            }                                                                     \
                        }                                                                         \
                        if (p->count_include_pad) {                                               \
                            count = p->kh * p->kw;                                                \
                        }                                                                         \
                        value = edgec_fp_round_even(total / (float)count / p->output_scale +      \
                                                    (float)p->output_zero_point);                 \
                        value = edgec_fp_clamp(edgec_fp_clamp(value, (LO), (HI)), p->act_min, p->act_max); \
                        output[(((size_t)b * p->out.h + oy) * p->out.w + ox) * p->out.c + c] =    \
                            (T)value;                                                             \
                    }                                                                             \
                }                                                                                 \
            }                                                                                     \
        }                                                                                         \
    } while (0)

void edgec_avgpool_s8(const edgec_pool_int_t *p, const int8_t *input, int8_t *output)
{
#if EDGEC_ROUNDING == EDGEC_ROUNDING_FLOAT
    EDGEC_AVGPOOL_FLOAT_BODY(int8_t, -128, 127);
#else
    EDGEC_POOL_BODY(int8_t, -128, 1);
#endif
}

void edgec_avgpool_s16(const edgec_pool_int_t *p, const int16_t *input, int16_t *output)
{
#if EDGEC_ROUNDING == EDGEC_ROUNDING_FLOAT
    EDGEC_AVGPOOL_FLOAT_BODY(int16_t, -32768, 32767);
#else
    EDGEC_POOL_BODY(int16_t, -32768, 1);
#endif
}

void edgec_maxpool_s8(const edgec_pool_int_t *p, const int8_t *input, int8_t *output)
{
    EDGEC_POOL_BODY(int8_t, -128, 0);
}

void edgec_maxpool_s16(const edgec_pool_int_t *p, const int16_t *input, int16_t *output)
{
    EDGEC_POOL_BODY(int16_t, -32768, 0);
}

/* The sum wraps at 32 bits exactly as TFLM's int32 accumulator (and the numpy reference). */
#define EDGEC_MEAN_BODY(T, LO, HI)                                                                \
    do {                                                                                          \
        int32_t o, i, k;                                                                          \
        const uint32_t zp_total = (uint32_t)p->input_zero_point * (uint32_t)p->count;             \
        for (o = 0; o < p->outer; ++o) {                                                          \
            const T *x = input + (size_t)o * p->count * p->inner;                                 \
            for (i = 0; i < p->inner; ++i) {                                                      \
                uint32_t total = 0;                                                               \
                int32_t value;                                                                    \
                for (k = 0; k < p->count; ++k) {                                                  \
                    total += (uint32_t)(int32_t)x[(size_t)k * p->inner + i];                      \
                }                                                                                 \
                value = edgec_requant_onnxruntime((int32_t)(total - zp_total), p->out_mult, p->out_shift); \
                output[(size_t)o * p->inner + i] = (T)edgec_fp_clamp(value + p->output_zero_point, (LO), (HI)); \
            }                                                                                     \
        }                                                                                         \
    } while (0)

void edgec_mean_s8(const edgec_mean_int_t *p, const int8_t *input, int8_t *output)
{
    EDGEC_MEAN_BODY(int8_t, -128, 127);
}

void edgec_mean_s16(const edgec_mean_int_t *p, const int16_t *input, int16_t *output)
{
    EDGEC_MEAN_BODY(int16_t, -32768, 32767);
}
