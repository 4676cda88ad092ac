/*
 * Optimized int8 kernels: convolution as a matrix product (1x1 convolutions read their rows
 * in place, other convolutions through a two-pixel im2col scratch), fully connected, and
 * depthwise convolution with a depth multiplier of 1.
 *
 * They give the same outputs as the portable kernels (conv_int.c, fc_int.c) bit for bit: the
 * int32 sums are the same sums in another order, and the requantization is the same
 * function. On cores with the DSP extension (Cortex-M4/M7/M33/M55) the products use the
 * dual 16-bit multiply-accumulate SMLAD: a 32-bit load brings four int8 values, SXTB16
 * splits them into the pairs (0, 2) and, rotated by 8, (1, 3), and two SMLADs take all four
 * products; weights and inputs split the same way, so no reordering is needed. Elsewhere
 * (host builds, Cortex-M3) the same code runs with C versions of those instructions.
 *
 * Matrix form: out[p][o] = requant(sum_k x[p][k] * w[o][k] + bias[o]), where bias[o] is the
 * layer's bias plus input_offset * sum_k w[o][k] (folded at compile time), so the inner loop
 * never adds the input offset. Padded taps of the im2col rows hold the input zero point,
 * whose product with the folded offset cancels, as a zero does in the portable kernels.
 */
#include <stddef.h>
#include <string.h>

#include "edgec_fixedpoint.h"
#include "edgec_kernels.h"

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP == 1
#include <arm_acle.h>
#define SXTB16(x) ((int32_t)__sxtb16((uint32_t)(x)))
/* SXTB16 with its built-in ROR #8: compilers do not fold a separate rotate into it. */
static inline int32_t SXTB16_ROR8(int32_t x)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
#define SMLAD(a, b, acc) ((int32_t)__smlad((uint32_t)(a), (uint32_t)(b), (uint32_t)(acc)))
#define SADD16(a, b) ((int32_t)__sadd16((uint32_t)(a), (uint32_t)(b)))
#define SMLABB(a, b, acc) __smlabb((a), (b), (acc))
#define SMLATT(a, b, acc) __smlatt((a), (b), (acc))
#else
/* The instructions' definitions (Armv7E-M ARM), on two's-complement halves. */
static inline int32_t lo16(int32_t x) { return (int32_t)(int16_t)(uint16_t)((uint32_t)x & 0xFFFFu); }
static inline int32_t hi16(int32_t x) { return (int32_t)(int16_t)(uint16_t)((uint32_t)x >> 16); }
static inline int32_t pack16(int32_t lo, int32_t hi)
{
    return (int32_t)(((uint32_t)hi << 16) | ((uint32_t)lo & 0xFFFFu));
}
static inline int32_t SXTB16(int32_t x)
{
    return pack16((int8_t)(uint8_t)((uint32_t)x & 0xFFu), (int8_t)(uint8_t)(((uint32_t)x >> 16) & 0xFFu));
}
static inline int32_t SXTB16_ROR8(int32_t x)
{
    return pack16((int8_t)(uint8_t)(((uint32_t)x >> 8) & 0xFFu), (int8_t)(uint8_t)((uint32_t)x >> 24));
}
static inline int32_t SMLAD(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(lo16(a) * lo16(b) + hi16(a) * hi16(b)));
}
static inline int32_t SADD16(int32_t a, int32_t b) { return pack16(lo16(a) + lo16(b), hi16(a) + hi16(b)); }
static inline int32_t SMLABB(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(lo16(a) * lo16(b)));
}
static inline int32_t SMLATT(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(hi16(a) * hi16(b)));
}
#endif

/* Inlined into each call site, so that constant arguments (border, kernel size) specialize it. */
#if defined(__GNUC__)
#define ALWAYS_INLINE static inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE static inline
#endif

/* A 16-bit value in both halves of a word. */
static inline int32_t pack16_offset(int32_t v)
{
    return (int32_t)(((uint32_t)v << 16) | ((uint32_t)v & 0xFFFFu));
}

/* Four int8 values as one word (an unaligned load is a single LDR on Armv7-M). */
static inline int32_t load4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* edgec_fp_mbqm, then the zero point and the clamp. Convolution and FC multipliers are never
 * negative (nor INT32_MIN), so the sign handling and the saturation case of the general
 * helper drop out; the result is the same. */
ALWAYS_INLINE int8_t requant_s8(int32_t acc, int32_t mult, int32_t shift, int32_t zp, int32_t lo, int32_t hi)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = left - shift;
    const int32_t x = (int32_t)((uint32_t)acc << left);
    const int32_t high = (int32_t)(((int64_t)x * mult + ((int64_t)1 << 30)) >> 31);
    const int32_t mask = (int32_t)(((uint32_t)1 << right) - 1u);
    const int32_t rounded = (high >> right) + ((high & mask) > (mask >> 1) + (high < 0) ? 1 : 0);
    return (int8_t)edgec_fp_clamp(rounded + zp, lo, hi);
}

/* Rows r0 and r1 (r1 may be NULL) times every weight row; o0/o1 receive n outputs each. */
static void gemm_rows(const edgec_gemm_s8_t *g, const int8_t *r0, const int8_t *r1, int8_t *o0, int8_t *o1)
{
    /* Fields in locals: every int8 store may alias *g, which would force reloads. */
    const int32_t k = g->k, n = g->n;
    const int32_t zp = g->output_zero_point, lo = g->act_min, hi = g->act_max;
    const int32_t *const bias = g->bias, *const mult = g->out_mult, *const shift = g->out_shift;
    const int8_t *const weights = g->weights;
    int32_t oc;
    for (oc = 0; oc + 2 <= n; oc += 2) {
        const int8_t *w0 = weights + (size_t)oc * k;
        const int8_t *w1 = w0 + k;
        int32_t s00 = bias[oc], s01 = bias[oc + 1];
        int32_t s10 = s00, s11 = s01;
        int32_t i = 0;
        if (r1 != NULL) {
            for (; i + 4 <= k; i += 4) {
                const int32_t a = load4(r0 + i), b = load4(r1 + i);
                const int32_t u = load4(w0 + i), v = load4(w1 + i);
                const int32_t ae = SXTB16(a), ao = SXTB16_ROR8(a);
                const int32_t be = SXTB16(b), bo = SXTB16_ROR8(b);
                const int32_t ue = SXTB16(u), uo = SXTB16_ROR8(u);
                const int32_t ve = SXTB16(v), vo = SXTB16_ROR8(v);
                s00 = SMLAD(ae, ue, s00);
                s00 = SMLAD(ao, uo, s00);
                s01 = SMLAD(ae, ve, s01);
                s01 = SMLAD(ao, vo, s01);
                s10 = SMLAD(be, ue, s10);
                s10 = SMLAD(bo, uo, s10);
                s11 = SMLAD(be, ve, s11);
                s11 = SMLAD(bo, vo, s11);
            }
            for (; i < k; ++i) {
                s00 += (int32_t)r0[i] * w0[i];
                s01 += (int32_t)r0[i] * w1[i];
                s10 += (int32_t)r1[i] * w0[i];
                s11 += (int32_t)r1[i] * w1[i];
            }
            o1[oc] = requant_s8(s10, mult[oc], shift[oc], zp, lo, hi);
            o1[oc + 1] =
                requant_s8(s11, mult[oc + 1], shift[oc + 1], zp, lo, hi);
        } else {
            for (; i + 4 <= k; i += 4) {
                const int32_t a = load4(r0 + i);
                const int32_t u = load4(w0 + i), v = load4(w1 + i);
                const int32_t ae = SXTB16(a), ao = SXTB16_ROR8(a);
                s00 = SMLAD(ae, SXTB16(u), s00);
                s00 = SMLAD(ao, SXTB16_ROR8(u), s00);
                s01 = SMLAD(ae, SXTB16(v), s01);
                s01 = SMLAD(ao, SXTB16_ROR8(v), s01);
            }
            for (; i < k; ++i) {
                s00 += (int32_t)r0[i] * w0[i];
                s01 += (int32_t)r0[i] * w1[i];
            }
        }
        o0[oc] = requant_s8(s00, mult[oc], shift[oc], zp, lo, hi);
        o0[oc + 1] =
            requant_s8(s01, mult[oc + 1], shift[oc + 1], zp, lo, hi);
    }
    if (oc < n) { /* an odd channel count: the last weight row alone */
        const int8_t *w0 = weights + (size_t)oc * k;
        int32_t s0 = bias[oc], s1 = bias[oc];
        int32_t i;
        for (i = 0; i < k; ++i) {
            s0 += (int32_t)r0[i] * w0[i];
            if (r1 != NULL) {
                s1 += (int32_t)r1[i] * w0[i];
            }
        }
        o0[oc] = requant_s8(s0, mult[oc], shift[oc], zp, lo, hi);
        if (r1 != NULL) {
            o1[oc] = requant_s8(s1, mult[oc], shift[oc], zp, lo, hi);
        }
    }
}

void edgec_fc_fast_s8(const edgec_gemm_s8_t *p, const int8_t *input, int8_t *output)
{
    int32_t b;
    for (b = 0; b + 2 <= p->rows; b += 2) {
        const int8_t *r0 = input + (size_t)b * p->k;
        gemm_rows(p, r0, r0 + p->k, output + (size_t)b * p->n, output + (size_t)(b + 1) * p->n);
    }
    if (b < p->rows) {
        gemm_rows(p, input + (size_t)b * p->k, NULL, output + (size_t)b * p->n, NULL);
    }
}

/* The k = kh * kw * in_c inputs under output pixel (b, oy, ox), in the weights' [kh][kw][c]
 * order; taps in the padding hold the input zero point. */
static const int8_t *conv_row(const edgec_conv_fast_s8_t *p, const int8_t *input, int32_t pixel, int8_t *scratch)
{
    const int32_t ox = pixel % p->out.w;
    const int32_t oy = (pixel / p->out.w) % p->out.h;
    const int32_t b = pixel / (p->out.w * p->out.h);
    const int32_t c = p->in.c;
    const int32_t y0 = oy * p->stride_h - p->pad_top, x0 = ox * p->stride_w - p->pad_left;
    int8_t *dst = scratch;
    int32_t ky, kx;
    if (scratch == NULL) { /* 1x1 without padding: the row is the input pixel itself */
        return input + (((size_t)b * p->in.h + y0) * p->in.w + x0) * c;
    }
    for (ky = 0; ky < p->kh; ++ky) {
        const int32_t iy = y0 + ky * p->dil_h;
        for (kx = 0; kx < p->kw; ++kx, dst += c) {
            const int32_t ix = x0 + kx * p->dil_w;
            if (iy < 0 || iy >= p->in.h || ix < 0 || ix >= p->in.w) {
                memset(dst, (int8_t)p->input_zero_point, (size_t)c);
            } else {
                memcpy(dst, input + (((size_t)b * p->in.h + iy) * p->in.w + ix) * c, (size_t)c);
            }
        }
    }
    return scratch;
}

void edgec_conv_fast_s8(const edgec_conv_fast_s8_t *p, const int8_t *input, int8_t *output, int8_t *scratch)
{
    const int32_t pixels = p->out.n * p->out.h * p->out.w;
    const int32_t n = p->gemm.n;
    int8_t *second = scratch != NULL ? scratch + p->gemm.k : NULL;
    int32_t px;
    for (px = 0; px + 2 <= pixels; px += 2) {
        const int8_t *r0 = conv_row(p, input, px, scratch);
        const int8_t *r1 = conv_row(p, input, px + 1, second);
        gemm_rows(&p->gemm, r0, r1, output + (size_t)px * n, output + (size_t)(px + 1) * n);
    }
    if (px < pixels) {
        gemm_rows(&p->gemm, conv_row(p, input, px, scratch), NULL, output + (size_t)px * n, NULL);
    }
}

void edgec_conv_1x1_fast_s8(const edgec_conv_fast_s8_t *p, const int8_t *input, int8_t *output)
{
    edgec_conv_fast_s8(p, input, output, NULL);
}

/* Depthwise, depth multiplier 1. As in the matrix kernels the input offset is folded into
 * the bias (over all kh * kw taps), so taps in the padding read the input zero point: a word
 * holding it four times. Four channels at a time: SXTB16 splits inputs and weights into
 * channels (0, 2) and (1, 3), SMLABB/SMLATT accumulate each channel. */
ALWAYS_INLINE void dw_channels4(const edgec_dwconv_s8_t *p, const int8_t *image, int32_t y0, int32_t x0,
                                int32_t c, int32_t pad_word, int border, int32_t kh, int32_t kw,
                                const int32_t clamp[3], int8_t *out)
{
    const int32_t channels = p->out.c;
    const ptrdiff_t row_step = (ptrdiff_t)p->dil_h * p->in.w * channels;
    const ptrdiff_t col_step = (ptrdiff_t)p->dil_w * channels;
    const int8_t *w = p->weights + c;
    /* offsets, not pointers: the window may start outside the image (border pixels) */
    ptrdiff_t row = ((ptrdiff_t)y0 * p->in.w + x0) * channels + c;
    int32_t a0 = p->bias[c], a1 = p->bias[c + 1], a2 = p->bias[c + 2], a3 = p->bias[c + 3];
    int32_t ky, kx;
    for (ky = 0; ky < kh; ++ky, row += row_step) {
        ptrdiff_t x = row;
        const int32_t iy = y0 + ky * p->dil_h;
        for (kx = 0; kx < kw; ++kx, x += col_step, w += channels) {
            const int32_t ix = x0 + kx * p->dil_w;
            const int32_t v = (!border || ((uint32_t)iy < (uint32_t)p->in.h && (uint32_t)ix < (uint32_t)p->in.w))
                                  ? load4(image + x)
                                  : pad_word;
            const int32_t u = load4(w);
            const int32_t ve = SXTB16(v), vo = SXTB16_ROR8(v);
            const int32_t ue = SXTB16(u), uo = SXTB16_ROR8(u);
            a0 = SMLABB(ve, ue, a0);
            a2 = SMLATT(ve, ue, a2);
            a1 = SMLABB(vo, uo, a1);
            a3 = SMLATT(vo, uo, a3);
        }
    }
    {
        const int8_t r0 = requant_s8(a0, p->out_mult[c], p->out_shift[c], clamp[0], clamp[1], clamp[2]);
        const int8_t r1 = requant_s8(a1, p->out_mult[c + 1], p->out_shift[c + 1], clamp[0], clamp[1], clamp[2]);
        const int8_t r2 = requant_s8(a2, p->out_mult[c + 2], p->out_shift[c + 2], clamp[0], clamp[1], clamp[2]);
        const int8_t r3 = requant_s8(a3, p->out_mult[c + 3], p->out_shift[c + 3], clamp[0], clamp[1], clamp[2]);
        out[c] = r0; /* stored last: an int8 store may alias *p */
        out[c + 1] = r1;
        out[c + 2] = r2;
        out[c + 3] = r3;
    }
}

/* One 3x3 tap for four channels (accumulators a0..a3, in scope where it is used). */
#define DW_TAP(xp, wp)                                                 \
    do {                                                               \
        const int32_t v_ = load4(xp), u_ = load4(wp);                  \
        const int32_t ve_ = SXTB16(v_), vo_ = SXTB16_ROR8(v_);         \
        const int32_t ue_ = SXTB16(u_), uo_ = SXTB16_ROR8(u_);         \
        a0 = SMLABB(ve_, ue_, a0);                                     \
        a2 = SMLATT(ve_, ue_, a2);                                     \
        a1 = SMLABB(vo_, uo_, a1);                                     \
        a3 = SMLATT(vo_, uo_, a3);                                     \
    } while (0)

/* A 3x3 window wholly inside the image: x is its top-left tap at channel c, w the weights
 * at channel c; row and col step one tap down and right. The nine taps unrolled. */
ALWAYS_INLINE void dw3x3_channels4(const edgec_dwconv_s8_t *p, const int8_t *x, const int8_t *w, ptrdiff_t row,
                                   ptrdiff_t col, int32_t c, const int32_t clamp[3], int8_t *out)
{
    const ptrdiff_t channels = p->out.c;
    int32_t a0 = p->bias[c], a1 = p->bias[c + 1], a2 = p->bias[c + 2], a3 = p->bias[c + 3];
    int32_t ky;
    for (ky = 0; ky < 3; ++ky, x += row, w += 3 * channels) {
        DW_TAP(x, w);
        DW_TAP(x + col, w + channels);
        DW_TAP(x + 2 * col, w + 2 * channels);
    }
    {
        const int8_t r0 = requant_s8(a0, p->out_mult[c], p->out_shift[c], clamp[0], clamp[1], clamp[2]);
        const int8_t r1 = requant_s8(a1, p->out_mult[c + 1], p->out_shift[c + 1], clamp[0], clamp[1], clamp[2]);
        const int8_t r2 = requant_s8(a2, p->out_mult[c + 2], p->out_shift[c + 2], clamp[0], clamp[1], clamp[2]);
        const int8_t r3 = requant_s8(a3, p->out_mult[c + 3], p->out_shift[c + 3], clamp[0], clamp[1], clamp[2]);
        out[c] = r0;
        out[c + 1] = r1;
        out[c + 2] = r2;
        out[c + 3] = r3;
    }
}

void edgec_dwconv_fast_s8(const edgec_dwconv_s8_t *p, const int8_t *input, int8_t *output)
{
    const int32_t channels = p->out.c;
    const int32_t zp = p->input_zero_point;
    const int32_t pad_word = (int32_t)(((uint32_t)zp & 0xFFu) * 0x01010101u);
    const int32_t span_h = (p->kh - 1) * p->dil_h, span_w = (p->kw - 1) * p->dil_w;
    const int32_t clamp[3] = {p->output_zero_point, p->act_min, p->act_max};
    int32_t b, oy, ox, c, ky, kx;
    for (b = 0; b < p->out.n; ++b) {
        const int8_t *image = input + (size_t)b * p->in.h * p->in.w * channels;
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            for (ox = 0; ox < p->out.w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                const int border = y0 < 0 || x0 < 0 || y0 + span_h >= p->in.h || x0 + span_w >= p->in.w;
                int8_t *out = output + (((size_t)b * p->out.h + oy) * p->out.w + ox) * channels;
                if (border) {
                    for (c = 0; c + 4 <= channels; c += 4) {
                        dw_channels4(p, image, y0, x0, c, pad_word, 1, p->kh, p->kw, clamp, out);
                    }
                } else if (p->kh == 3 && p->kw == 3) { /* the common case, unrolled */
                    const int8_t *corner = image + ((size_t)y0 * p->in.w + (size_t)x0) * channels;
                    const ptrdiff_t row = (ptrdiff_t)p->dil_h * p->in.w * channels;
                    const ptrdiff_t col = (ptrdiff_t)p->dil_w * channels;
                    for (c = 0; c + 4 <= channels; c += 4) {
                        dw3x3_channels4(p, corner + c, p->weights + c, row, col, c, clamp, out);
                    }
                } else {
                    for (c = 0; c + 4 <= channels; c += 4) {
                        dw_channels4(p, image, y0, x0, c, pad_word, 0, p->kh, p->kw, clamp, out);
                    }
                }
                for (; c < channels; ++c) { /* the last channels, one at a time */
                    int32_t acc = p->bias[c];
                    for (ky = 0; ky < p->kh; ++ky) {
                        const int32_t iy = y0 + ky * p->dil_h;
                        for (kx = 0; kx < p->kw; ++kx) {
                            const int32_t ix = x0 + kx * p->dil_w;
                            const int inside = iy >= 0 && iy < p->in.h && ix >= 0 && ix < p->in.w;
                            const int32_t x = inside ? image[((size_t)iy * p->in.w + ix) * channels + c] : zp;
                            acc += x * (int32_t)p->weights[((size_t)ky * p->kw + kx) * channels + c];
                        }
                    }
                    out[c] = requant_s8(acc, p->out_mult[c], p->out_shift[c], p->output_zero_point, p->act_min, p->act_max);
                }
            }
        }
    }
}
