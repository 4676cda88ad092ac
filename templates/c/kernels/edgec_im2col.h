/*
 * The im2col row of one output pixel, shared by the kernels that run a convolution as a
 * matrix product over compactly stored weights (compact_int.c, fast_int4.c). Private to
 * the kernel sources.
 */
#ifndef EDGEC_IM2COL_H
#define EDGEC_IM2COL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "edgec_kernels.h"

/* The kh * kw * in_c inputs under output pixel `pixel` in [kh][kw][c] order, written to dst
 * (taps in the padding hold the input zero point, which the folded bias cancels); or, when
 * dst is NULL (a 1x1 convolution without padding), the input pixel itself. */
static inline const int8_t *edgec_pixel_row(const edgec_compact_conv_t *p, const int8_t *input, int32_t pixel, int8_t *dst)
{
    const int32_t ox = pixel % p->out.w, oy = (pixel / p->out.w) % p->out.h;
    const int32_t b = pixel / (p->out.w * p->out.h), c = p->in.c;
    const int32_t y0 = oy * p->stride_h - p->pad_top, x0 = ox * p->stride_w - p->pad_left;
    const int8_t *image = input + (size_t)b * p->in.h * p->in.w * c;
    int8_t *out = dst;
    int32_t ky, kx;
    if (dst == NULL) {
        return image + ((size_t)y0 * p->in.w + x0) * c;
    }
    for (ky = 0; ky < p->kh; ++ky, out += (size_t)p->kw * c) {
        const int32_t iy = y0 + ky * p->dil_h;
        const int8_t *src = image + (size_t)(iy < 0 ? 0 : iy) * p->in.w * c; /* read if iy is inside */
        if (iy < 0 || iy >= p->in.h) {
            memset(out, (int8_t)p->input_zero_point, (size_t)p->kw * c);
        } else if (p->dil_w == 1) { /* the row's taps are contiguous: one copy, padding around */
            const int32_t first = x0 < 0 ? (-x0 < p->kw ? -x0 : p->kw) : 0;
            const int32_t last = p->in.w - x0 < p->kw ? p->in.w - x0 : p->kw;
            const int32_t end = last > first ? last : first;
            memset(out, (int8_t)p->input_zero_point, (size_t)first * c);
            if (end > first) {
                memcpy(out + (size_t)first * c, src + (size_t)(x0 + first) * c, (size_t)(end - first) * c);
            }
            memset(out + (size_t)end * c, (int8_t)p->input_zero_point, (size_t)(p->kw - end) * c);
        } else {
            for (kx = 0; kx < p->kw; ++kx) {
                const int32_t ix = x0 + kx * p->dil_w;
                if (ix < 0 || ix >= p->in.w) {
                    memset(out + (size_t)kx * c, (int8_t)p->input_zero_point, (size_t)c);
                } else {
                    memcpy(out + (size_t)kx * c, src + (size_t)ix * c, (size_t)c);
                }
            }
        }
    }
    return dst;
}

#endif /* EDGEC_IM2COL_H */
