/*
 * Optimized float32 depthwise convolution (multiplier 1, NHWC): each output pixel in blocks
 * of 8 channels, over the taps inside the input only (no bounds test per tap). On a
 * single-precision FPU (EDGEC_F32_VFP) one tap is two VLDMs (8 inputs, 8 weights) and 8
 * VFMAs, the 8 accumulators staying in registers over the window; with Helium it is four
 * vector loads and two vector FMAs. The last c % 8 channels run in plain C.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fast_f32_common.h"

static const float zero_bias[8];

/* The valid window of one block: in and w at its first tap; rows x cols taps; col_step and
 * row_skip in floats (input), w_skip in floats (weights) to the next row of taps. */
typedef struct {
    int32_t rows, cols, col_step, row_skip, w_skip;
} window_t;

static void dw_block8(const float *in, const float *w, const float *b, const window_t *win, float *o)
{
#if EDGEC_F32_VFP
    int32_t rows = win->rows, cols = win->cols, n;
    const int32_t col_bytes = 4 * win->col_step, row_bytes = 4 * win->row_skip;
    const int32_t w_bytes = 4 * win->w_skip;
    __asm__ volatile(
        "vldmia %[b], {s16-s23}\n"
        "1:\n"
        "mov %[n], %[cols]\n"
        "2:\n"
        "vldmia %[w]!, {s8-s15}\n"
        "vldmia %[in], {s0-s7}\n"
        "add %[in], %[in], %[cb]\n"
        "vfma.f32 s16, s8, s0\n vfma.f32 s17, s9, s1\n vfma.f32 s18, s10, s2\n"
        "vfma.f32 s19, s11, s3\n vfma.f32 s20, s12, s4\n vfma.f32 s21, s13, s5\n"
        "vfma.f32 s22, s14, s6\n vfma.f32 s23, s15, s7\n"
        "subs %[n], %[n], #1\n"
        "bne 2b\n"
        "add %[in], %[in], %[rb]\n"
        "add %[w], %[w], %[wb]\n"
        "subs %[rows], %[rows], #1\n"
        "bne 1b\n"
        "vstmia %[o], {s16-s23}\n"
        : [in] "+r"(in), [w] "+r"(w), [rows] "+r"(rows), [n] "=&r"(n)
        : [b] "r"(b), [cols] "r"(cols), [cb] "r"(col_bytes), [rb] "r"(row_bytes),
          [wb] "r"(w_bytes), [o] "r"(o)
        : "cc", "memory", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10",
          "s11", "s12", "s13", "s14", "s15", "s16", "s17", "s18", "s19", "s20", "s21", "s22",
          "s23");
#elif EDGEC_F32_MVE
    float32x4_t c0 = vld1q_f32(b), c1 = vld1q_f32(b + 4);
    int32_t r, t;
    for (r = 0; r < win->rows; ++r, in += win->row_skip, w += win->w_skip) {
        for (t = 0; t < win->cols; ++t, in += win->col_step, w += 8) {
            c0 = vfmaq_f32(c0, vld1q_f32(in), vld1q_f32(w));
            c1 = vfmaq_f32(c1, vld1q_f32(in + 4), vld1q_f32(w + 4));
        }
    }
    vst1q_f32(o, c0);
    vst1q_f32(o + 4, c1);
#else
    float s[8];
    int32_t r, t, j;
    memcpy(s, b, sizeof s);
    for (r = 0; r < win->rows; ++r, in += win->row_skip, w += win->w_skip) {
        for (t = 0; t < win->cols; ++t, in += win->col_step, w += 8) {
            for (j = 0; j < 8; ++j) {
                s[j] += in[j] * w[j];
            }
        }
    }
    memcpy(o, s, sizeof s);
#endif
}

/* The last n = c % 8 channels of one pixel; their weights are [kh][kw][n] (unpadded). */
static void dw_tail(const float *in, const float *w, const float *b, const window_t *win,
                    int32_t n, float *o)
{
    const int32_t w_skip = win->w_skip / 8 * n;
    int32_t r, t, j;
    for (j = 0; j < n; ++j) {
        const float *x = in + j, *wk = w + j;
        float s = b ? b[j] : 0.0f;
        for (r = 0; r < win->rows; ++r, x += win->row_skip, wk += w_skip) {
            for (t = 0; t < win->cols; ++t, x += win->col_step, wk += n) {
                s += *x * *wk;
            }
        }
        o[j] = s;
    }
}

void edgec_dwconv_fast_f32(const edgec_dwconv_fast_f32_t *p, const float *input, float *output)
{
    const int32_t c = p->in.c, taps = p->kh * p->kw;
    int32_t b, oy, ox, blk, t;
    for (b = 0; b < p->out.n; ++b) {
        const float *image = input + (size_t)b * p->in.h * p->in.w * c;
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            /* the taps inside the input: ky0 <= ky < ky1 (ceil divisions by the dilation) */
            const int32_t ky0 = y0 < 0 ? (-y0 + p->dil_h - 1) / p->dil_h : 0;
            const int32_t yl = p->in.h - y0, ky1 = yl <= 0 ? 0 : (yl + p->dil_h - 1) / p->dil_h;
            const int32_t rows = (ky1 < p->kh ? ky1 : p->kh) - ky0;
            for (ox = 0; ox < p->out.w; ++ox, output += c) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                const int32_t kx0 = x0 < 0 ? (-x0 + p->dil_w - 1) / p->dil_w : 0;
                const int32_t xl = p->in.w - x0, kx1 = xl <= 0 ? 0 : (xl + p->dil_w - 1) / p->dil_w;
                window_t win;
                ptrdiff_t first;
                size_t w_first;
                win.rows = rows;
                win.cols = (kx1 < p->kw ? kx1 : p->kw) - kx0;
                win.col_step = p->dil_w * c;
                win.row_skip = p->dil_h * p->in.w * c - win.cols * win.col_step;
                win.w_skip = 8 * (p->kw - win.cols);
                first = ((ptrdiff_t)(y0 + ky0 * p->dil_h) * p->in.w + x0 + kx0 * p->dil_w) * c;
                w_first = 8 * ((size_t)ky0 * p->kw + kx0);
                for (blk = 0; blk * 8 < c; ++blk) {
                    const int32_t n = c - 8 * blk < 8 ? c - 8 * blk : 8;
                    const float *bias = p->bias ? p->bias + 8 * blk : NULL;
                    const float *w = p->weights + (size_t)blk * 8 * taps + w_first / 8 * n;
                    if (win.rows <= 0 || win.cols <= 0) { /* the window lies in the padding */
                        for (t = 0; t < n; ++t) {
                            output[8 * blk + t] = bias ? bias[t] : 0.0f;
                        }
                    } else if (n == 8) {
                        dw_block8(image + first + 8 * blk, w, bias ? bias : zero_bias, &win,
                                  output + 8 * blk);
                    } else {
                        dw_tail(image + first + 8 * blk, w, bias, &win, n, output + 8 * blk);
                    }
                }
                clamp_f32(output, c, p->act, p->act_min, p->act_max);
            }
        }
    }
}
