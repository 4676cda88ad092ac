/*
 * Optimized float32 pooling and elementwise kernels (NHWC): no call or switch per element.
 * Pooling walks each window tap once over eight channels held in local accumulators (which
 * the compiler keeps in registers); the binary ops run one loop per operator.
 */
#include <float.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fast_f32_common.h"

/* One output pixel's window over channels [c0, c0 + n), n <= 8; taps inside the input. */
F32_INLINE void pool_block(const edgec_pool_f32_t *p, const float *image, int32_t y0, int32_t x0,
                           int32_t c0, int32_t n, int average, float *o)
{
    float s[8];
    int32_t ky, kx, j;
    const int32_t ylo = y0 < 0 ? 0 : y0, yhi = y0 + p->kh < p->in.h ? y0 + p->kh : p->in.h;
    const int32_t xlo = x0 < 0 ? 0 : x0, xhi = x0 + p->kw < p->in.w ? x0 + p->kw : p->in.w;
    for (j = 0; j < 8; ++j) {
        s[j] = average ? 0.0f : -FLT_MAX;
    }
    for (ky = ylo; ky < yhi; ++ky) {
        const float *x = image + ((size_t)ky * p->in.w + xlo) * p->in.c + c0;
        for (kx = xlo; kx < xhi; ++kx, x += p->in.c) {
            if (n == 8) {
                for (j = 0; j < 8; ++j) {
                    s[j] = average ? s[j] + x[j] : (x[j] > s[j] ? x[j] : s[j]);
                }
            } else {
                for (j = 0; j < n; ++j) {
                    s[j] = average ? s[j] + x[j] : (x[j] > s[j] ? x[j] : s[j]);
                }
            }
        }
    }
    if (average) {
        int32_t count = (yhi - ylo) * (xhi - xlo);
        if (p->count_include_pad) { /* declared pads count; the ceil-mode overhang does not */
            const int32_t ye = y0 + p->kh < p->in.h + p->pad_bottom ? y0 + p->kh : p->in.h + p->pad_bottom;
            const int32_t xe = x0 + p->kw < p->in.w + p->pad_right ? x0 + p->kw : p->in.w + p->pad_right;
            count = (ye - y0) * (xe - x0);
        }
        {
            const float scale = 1.0f / (float)count;
            for (j = 0; j < n; ++j) {
                s[j] *= scale;
            }
        }
    }
    for (j = 0; j < n; ++j) {
        o[j] = s[j] < p->act_min ? p->act_min : (s[j] > p->act_max ? p->act_max : s[j]);
    }
}

F32_INLINE void pool(const edgec_pool_f32_t *p, const float *input, float *output, int average)
{
    int32_t b, oy, ox, c0;
    for (b = 0; b < p->out.n; ++b) {
        const float *image = input + (size_t)b * p->in.h * p->in.w * p->in.c;
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            for (ox = 0; ox < p->out.w; ++ox, output += p->out.c) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                for (c0 = 0; c0 < p->out.c; c0 += 8) {
                    const int32_t n = p->out.c - c0 < 8 ? p->out.c - c0 : 8;
                    pool_block(p, image, y0, x0, c0, n, average, output + c0);
                }
            }
        }
    }
}

void edgec_avgpool_fast_f32(const edgec_pool_f32_t *p, const float *input, float *output)
{
    pool(p, input, output, 1);
}

void edgec_maxpool_fast_f32(const edgec_pool_f32_t *p, const float *input, float *output)
{
    pool(p, input, output, 0);
}

void edgec_binary_fast_f32(const edgec_binary_fast_f32_t *p, const float *a, const float *b,
                           float *output)
{
    const int32_t n = p->size, bs = p->b_stride;
    int32_t i;
    switch (p->op) {
    case EDGEC_ADD:
        for (i = 0; i < n; ++i) {
            output[i] = a[i] + b[i * bs];
        }
        break;
    case EDGEC_SUB:
        for (i = 0; i < n; ++i) {
            output[i] = a[i] - b[i * bs];
        }
        break;
    case EDGEC_MUL:
        for (i = 0; i < n; ++i) {
            output[i] = a[i] * b[i * bs];
        }
        break;
    case EDGEC_MAX:
        for (i = 0; i < n; ++i) {
            output[i] = a[i] > b[i * bs] ? a[i] : b[i * bs];
        }
        break;
    default: /* EDGEC_MIN */
        for (i = 0; i < n; ++i) {
            output[i] = a[i] < b[i * bs] ? a[i] : b[i * bs];
        }
        break;
    }
    clamp_f32(output, n, p->act, p->act_min, p->act_max);
}
