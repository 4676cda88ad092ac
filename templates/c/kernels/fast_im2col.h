/*
 * Private header of the optimized matrix kernels (fast_gemm.c, mve_gemm.c): the im2col row of
 * one output pixel. The convolution structs share their leading fields (dims, window, input
 * zero point), which is all it reads.
 */
#ifndef EDGEC_FAST_IM2COL_H
#define EDGEC_FAST_IM2COL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "edgec_dsp.h"
#include "edgec_kernels.h"

/* What conv_row reads of a convolution (copied from its struct with IM2COL_OF). */
typedef struct {
    edgec_dims_t in, out;
    int32_t kh, kw, stride_h, stride_w, dil_h, dil_w;
    int32_t pad_top, pad_left;
    int32_t input_zero_point;
} edgec_im2col_t;

#define IM2COL_OF(p)                                                                                     \
    {                                                                                                    \
        (p)->in, (p)->out, (p)->kh, (p)->kw, (p)->stride_h, (p)->stride_w, (p)->dil_h, (p)->dil_w,   \
            (p)->pad_top, (p)->pad_left, (p)->input_zero_point                                         \
    }

/* memcpy for an im2col row segment: a few bytes (a library call would cost more than the
 * copy) as words, then bytes; more through memcpy. */
static inline void copy_few(int8_t *dst, const int8_t *src, size_t n)
{
    if (n > 16) {
        memcpy(dst, src, n);
        return;
    }
    for (; n >= 4; n -= 4, dst += 4, src += 4) {
        const int32_t v = load4(src);
        memcpy(dst, &v, sizeof v);
    }
    for (; n > 0; --n) {
        *dst++ = *src++;
    }
}

/* memset for a few bytes (the padding of an im2col row segment). */
static inline void fill_few(int8_t *dst, int8_t value, size_t n)
{
    if (n > 16) {
        memset(dst, value, n);
        return;
    }
    for (; n > 0; --n) {
        *dst++ = value;
    }
}

/* The kh * kw * in_c inputs under output pixel `pixel`, in the weights' [kh][kw][c] order,
 * written to dst (taps in the padding hold the input zero point), then zeros up to `length`
 * bytes; or, for a 1x1 convolution without padding (dst NULL), the input pixel itself. */
static const int8_t *conv_row(const edgec_im2col_t *p, const int8_t *input, int32_t pixel, int8_t *dst,
                              int32_t length)
{
    const int32_t ox = pixel % p->out.w;
    const int32_t oy = (pixel / p->out.w) % p->out.h;
    const int32_t b = pixel / (p->out.w * p->out.h);
    const int32_t c = p->in.c, kw = p->kw;
    const int32_t y0 = oy * p->stride_h - p->pad_top, x0 = ox * p->stride_w - p->pad_left;
    const int8_t zp = (int8_t)p->input_zero_point;
    const size_t width = (size_t)kw * c, row_bytes = (size_t)p->in.w * c;
    const int8_t *const image = input + (size_t)b * p->in.h * row_bytes;
    int8_t *const row = dst;
    int32_t ky, kx;
    if (dst == NULL) {
        return image + (size_t)y0 * row_bytes + (size_t)x0 * c;
    }
    if (p->dil_w == 1) { /* a window row's taps are contiguous: one copy, padding around */
        const int32_t first = x0 < 0 ? (-x0 < kw ? -x0 : kw) : 0;
        const int32_t end = p->in.w - x0 < kw ? (p->in.w - x0 > first ? p->in.w - x0 : first) : kw;
        const size_t lead = (size_t)first * c, body = (size_t)(end - first) * c;
        const int8_t *const from = image + (ptrdiff_t)(x0 + first) * c;
        for (ky = 0; ky < p->kh; ++ky, dst += width) {
            const int32_t iy = y0 + ky * p->dil_h;
            if (iy < 0 || iy >= p->in.h) {
                fill_few(dst, zp, width);
                continue;
            }
            fill_few(dst, zp, lead);
            copy_few(dst + lead, from + (size_t)iy * row_bytes, body);
            fill_few(dst + lead + body, zp, width - lead - body);
        }
        fill_few(dst, 0, (size_t)(length - (dst - row)));
        return row;
    }
    for (ky = 0; ky < p->kh; ++ky, dst += width) {
        const int32_t iy = y0 + ky * p->dil_h;
        for (kx = 0; kx < kw; ++kx) {
            const int32_t ix = x0 + kx * p->dil_w;
            if (iy < 0 || iy >= p->in.h || ix < 0 || ix >= p->in.w) {
                fill_few(dst + (size_t)kx * c, zp, (size_t)c);
            } else {
                copy_few(dst + (size_t)kx * c, image + (size_t)iy * row_bytes + (size_t)ix * c, (size_t)c);
            }
        }
    }
    fill_few(dst, 0, (size_t)(length - (dst - row)));
    return row;
}

#endif /* EDGEC_FAST_IM2COL_H */
