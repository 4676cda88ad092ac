/*
 * Optimized float32 pooling and elementwise kernels (NHWC): no call or switch per element.
 * Pooling walks each window tap once over the pixel's channels; the binary ops run one loop
 * per operator.
 */
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fast_f32_common.h"

/* Each window tap inside the input is one pass over the pixel's channels, accumulated in the
 * output row itself; then the average's division (a division, not a reciprocal's product:
 * the same float as the portable kernel and the reference, which a QuantizeLinear after a
 * float pool in an int8 model rounds at its exact ties) and the clamp. */
static void pool(const edgec_pool_f32_t *p, const float *input, float *output, int average)
{
    const int32_t c = p->in.c;
    int32_t b, oy, ox, y, x, j;
    for (b = 0; b < p->out.n; ++b) {
        const float *image = input + (size_t)b * p->in.h * p->in.w * c;
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            const int32_t ylo = y0 < 0 ? 0 : y0, yhi = y0 + p->kh < p->in.h ? y0 + p->kh : p->in.h;
            for (ox = 0; ox < p->out.w; ++ox, output += c) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                const int32_t xlo = x0 < 0 ? 0 : x0, xhi = x0 + p->kw < p->in.w ? x0 + p->kw : p->in.w;
                float count = 1.0f;
                for (j = 0; j < c; ++j) {
                    output[j] = average ? 0.0f : -FLT_MAX;
                }
                for (y = ylo; y < yhi; ++y) {
                    const float *row = image + ((size_t)y * p->in.w + xlo) * c;
                    for (x = xlo; x < xhi; ++x, row += c) {
                        for (j = 0; j < c; ++j) {
                            output[j] = average ? output[j] + row[j] : (row[j] > output[j] ? row[j] : output[j]);
                        }
                    }
                }
                if (average) {
                    int32_t ye = yhi, xe = xhi, ys = ylo, xs = xlo;
                    if (p->count_include_pad) { /* declared pads count, ceil-mode overhang not */
                        ys = y0;
                        xs = x0;
                        ye = y0 + p->kh < p->in.h + p->pad_bottom ? y0 + p->kh : p->in.h + p->pad_bottom;
                        xe = x0 + p->kw < p->in.w + p->pad_right ? x0 + p->kw : p->in.w + p->pad_right;
                    }
                    count = (float)((ye - ys) * (xe - xs));
                }
                for (j = 0; j < c; ++j) {
                    const float v = average ? output[j] / count : output[j];
                    output[j] = v < p->act_min ? p->act_min : (v > p->act_max ? p->act_max : v);
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

/* Average over all pixels (a pool whose window is the whole input, no pads). */
void edgec_global_avgpool_fast_f32(const edgec_pool_f32_t *p, const float *input, float *output)
{
    const int32_t c = p->in.c, pixels = p->in.h * p->in.w;
    const float scale = 1.0f / (float)pixels;
    int32_t b, i, j;
    for (b = 0; b < p->in.n; ++b, output += c) {
        for (j = 0; j < c; ++j) {
            output[j] = 0.0f;
        }
        for (i = 0; i < pixels; ++i, input += c) {
            for (j = 0; j < c; ++j) {
                output[j] += input[j];
            }
        }
        for (j = 0; j < c; ++j) {
            const float v = output[j] * scale;
            output[j] = v < p->act_min ? p->act_min : (v > p->act_max ? p->act_max : v);
        }
    }
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

/* Softmax (not log-softmax: no logf linked) with one expf per element, kept in the output. */
void edgec_softmax_fast_f32(const edgec_softmax_f32_t *p, const float *input, float *output)
{
    const int32_t n = p->axis_size, step = p->inner;
    int32_t o, i, k;
    for (o = 0; o < p->outer; ++o) {
        for (i = 0; i < step; ++i) {
            const float *x = input + (size_t)o * n * step + i;
            float *y = output + (size_t)o * n * step + i;
            float max = x[0], sum = 0.0f, scale;
            for (k = 1; k < n; ++k) {
                max = x[k * step] > max ? x[k * step] : max;
            }
            for (k = 0; k < n; ++k) {
                y[k * step] = expf(x[k * step] - max);
                sum += y[k * step];
            }
            scale = 1.0f / sum;
            for (k = 0; k < n; ++k) {
                y[k * step] *= scale;
            }
        }
    }
}
