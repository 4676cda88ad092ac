/* Optimized int8 depthwise convolution (depth multiplier 1); see fast_common.h. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fast_common.h"
#include "fast_scalar.h"

/* Depthwise, depth multiplier 1. As in the matrix kernels the input offset is folded into
 * the bias (over all kh * kw taps), so a tap in the padding must read the input zero point:
 * `zeros` (a constant row of `channels` bytes, in flash) holds it for every channel.
 *
 * Four channels at a time: SXTB16 splits four inputs into channels (0, 2) and (1, 3), and
 * SMLABB/SMLATT accumulate each channel against weights split the same way at compile time
 * (`wide`: per block of four channels and per tap, the words (w0, w2) and (w1, w3) as int16
 * pairs), so a tap costs one input load, two SXTB16, one LDRD and four MACs. A 3x3 window
 * (dilation 1) whose taps are all inside the image reads them at fixed offsets; other
 * pixels go through a table of tap addresses (taps in the padding read `zeros`). The
 * k % 4 last channels (and windows of more than EDGEC_DW_MAX_TAPS taps) take a
 * one-channel loop over the int8 weights. */
#define EDGEC_DW_MAX_TAPS 25

static void dw_pixel_taps(const edgec_dwconv_s8_t *p, const int8_t *image, const int8_t *zeros, int32_t y0,
                          int32_t x0, const int8_t **taps)
{
    int32_t ky, kx;
    for (ky = 0; ky < p->kh; ++ky) {
        const int32_t iy = y0 + ky * p->dil_h;
        for (kx = 0; kx < p->kw; ++kx) {
            const int32_t ix = x0 + kx * p->dil_w;
            const int inside = (uint32_t)iy < (uint32_t)p->in.h && (uint32_t)ix < (uint32_t)p->in.w;
            *taps++ = inside ? image + ((size_t)iy * p->in.w + (size_t)ix) * p->in.c : zeros;
        }
    }
}

/* One tap of a block of four channels: v the four inputs, w its two weight words. */
#define DW_TAP(v, w)                               \
    do {                                           \
        const int32_t v_ = (v);                    \
        const int32_t ve_ = SXTB16(v_);            \
        const int32_t vo_ = SXTB16_ROR8(v_);       \
        const int32_t we_ = (w)[0], wo_ = (w)[1]; \
        a0 = SMLABB(ve_, we_, a0);                 \
        a2 = SMLATT(ve_, we_, a2);                 \
        a1 = SMLABB(vo_, wo_, a1);                 \
        a3 = SMLATT(vo_, wo_, a3);                 \
    } while (0)

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP == 1
/* requant_out (full range) of accumulator a against the table row at byte offset k of rq,
 * stored to out[i]: edgec_fp_mbqm_right (the zero point is in the table), SSAT. Volatile: its only effect is
 * the stores. */
#define RQ_FULL_ASM(a, k, i)                                \
    "ldrd %[m], %[rh], [%[rq], #" #k "]\n"                  \
    "ldr %[sh], [%[rq], #" #k " + 8]\n"                     \
    "and %[t], %[" #a "], #0x80000000\n"                    \
    "orr %[t], %[t], #0x40000000\n"                         \
    "add %[rh], %[rh], %[" #a "], asr #31\n"                \
    "smlal %[t], %[rh], %[" #a "], %[m]\n"                  \
    "asr %[" #a "], %[rh], %[sh]\n"                         \
    "ssat %[" #a "], #8, %[" #a "]\n"                       \
    "strb %[" #a "], [%[out], #" #i "]\n"
#endif

ALWAYS_INLINE void dw_store4(int8_t *out, int32_t a0, int32_t a1, int32_t a2, int32_t a3, const int32_t *rq,
                             const int32_t clamp[3], int full)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP == 1
    if (full) {
        int32_t m, rh, sh, t;
        __asm__ volatile(RQ_FULL_ASM(a0, 0, 0) RQ_FULL_ASM(a1, 12, 1) RQ_FULL_ASM(a2, 24, 2) RQ_FULL_ASM(a3, 36, 3)
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [m] "=&r"(m), [rh] "=&r"(rh),
                  [sh] "=&r"(sh), [t] "=&r"(t)
                : [rq] "r"(rq), [out] "r"(out)
                : "memory");
        return;
    }
#endif
    {
        const int8_t r0 = requant_out(a0, rq, clamp, full);
        const int8_t r1 = requant_out(a1, rq + 3, clamp, full);
        const int8_t r2 = requant_out(a2, rq + 6, clamp, full);
        const int8_t r3 = requant_out(a3, rq + 9, clamp, full);
        out[0] = r0;
        out[1] = r1;
        out[2] = r2;
        out[3] = r3;
    }
}

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP == 1
/* DW_TAP as assembly (the compiler's allocation spills): tap k of the table `taps` at
 * channel offset `c`, its weight words post-incremented from `w`. */
#define DW_TAP_ASM(k)                                  \
    "ldr %[v], [%[taps], #" #k "]\n"                   \
    "ldr %[v], [%[v], %[c]]\n"                         \
    "ldrd %[we], %[wo], [%[w]], #8\n"                  \
    "sxtb16 %[ve], %[v]\n"                             \
    "sxtb16 %[v], %[v], ror #8\n"                      \
    "smlabb %[a0], %[ve], %[we], %[a0]\n"              \
    "smlatt %[a2], %[ve], %[we], %[a2]\n"              \
    "smlabb %[a1], %[v], %[wo], %[a1]\n"               \
    "smlatt %[a3], %[v], %[wo], %[a3]\n"
/* The same tap read from `addr` (an addressing mode). */
#define DW_TAP_AT(addr)                                \
    "ldr %[v], " addr "\n"                             \
    "ldrd %[we], %[wo], [%[w]], #8\n"                  \
    "sxtb16 %[ve], %[v]\n"                             \
    "sxtb16 %[v], %[v], ror #8\n"                      \
    "smlabb %[a0], %[ve], %[we], %[a0]\n"              \
    "smlatt %[a2], %[ve], %[we], %[a2]\n"              \
    "smlabb %[a1], %[v], %[wo], %[a1]\n"               \
    "smlatt %[a3], %[v], %[wo], %[a3]\n"
#define DW_ASM_OPERANDS                                                                          \
    : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [w] "+r"(w), [v] "=&r"(v), \
      [ve] "=&r"(ve), [we] "=&r"(we), [wo] "=&r"(wo)                                          \
    : [taps] "r"(taps), [c] "r"(c)                                                              \
    : "memory"
#endif

/* The blocks of four channels of one pixel whose 3x3 window (dilation 1) lies inside the
 * image: its taps at fixed offsets from top (the window's top-left input pixel); row: the
 * input row stride in bytes. */
ALWAYS_INLINE void dw_pixel_3x3(const edgec_dwconv_fast_s8_t *q, const int8_t *top, ptrdiff_t row, int32_t blocks,
                                const int32_t clamp[3], int8_t *out, int full)
{
    const ptrdiff_t cs = q->conv.in.c;
    const int32_t *w = q->wide, *rq = q->requant, *bias = q->conv.bias;
    int32_t b;
    for (b = 0; b < blocks; ++b, top += 4, out += 4, rq += 12, bias += 4) {
        int32_t a0 = bias[0], a1 = bias[1], a2 = bias[2], a3 = bias[3];
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP == 1
        const int8_t *p = top;
        int32_t v, ve, we, wo;
        __asm__(DW_TAP_AT("[%[p]]") DW_TAP_AT("[%[p], %[cs]]") DW_TAP_AT("[%[p], %[cs], lsl #1]")
                "add %[p], %[p], %[row]\n" DW_TAP_AT("[%[p]]") DW_TAP_AT("[%[p], %[cs]]")
                DW_TAP_AT("[%[p], %[cs], lsl #1]") "add %[p], %[p], %[row]\n" DW_TAP_AT("[%[p]]")
                DW_TAP_AT("[%[p], %[cs]]") DW_TAP_AT("[%[p], %[cs], lsl #1]")
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [w] "+r"(w), [p] "+r"(p),
                  [v] "=&r"(v), [ve] "=&r"(ve), [we] "=&r"(we), [wo] "=&r"(wo)
                : [cs] "r"(cs), [row] "r"(row)
                : "memory");
#else
        int32_t ky, kx;
        for (ky = 0; ky < 3; ++ky) {
            for (kx = 0; kx < 3; ++kx, w += 2) {
                DW_TAP(load4(top + ky * row + kx * cs), w);
            }
        }
#endif
        dw_store4(out, a0, a1, a2, a3, rq, clamp, full);
    }
}

/* The blocks of four channels of one pixel through its table of taps (ntaps of them). */
ALWAYS_INLINE void dw_pixel_blocks(const edgec_dwconv_fast_s8_t *q, const int8_t *const *taps, int32_t ntaps,
                                   int32_t blocks, const int32_t clamp[3], int8_t *out, int full)
{
    const int32_t *w = q->wide, *rq = q->requant, *bias = q->conv.bias;
    int32_t b, t;
    for (b = 0; b < blocks; ++b, out += 4, rq += 12, bias += 4) {
        int32_t a0 = bias[0], a1 = bias[1], a2 = bias[2], a3 = bias[3];
        const int32_t c = 4 * b;
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP == 1
        int32_t v, ve, we, wo;
        if (ntaps == 9) {
            __asm__(DW_TAP_ASM(0) DW_TAP_ASM(4) DW_TAP_ASM(8) DW_TAP_ASM(12) DW_TAP_ASM(16) DW_TAP_ASM(20)
                        DW_TAP_ASM(24) DW_TAP_ASM(28) DW_TAP_ASM(32) DW_ASM_OPERANDS);
        } else {
            for (t = 0; t < ntaps; ++t) {
                const int8_t *const *one = taps + t;
                __asm__(DW_TAP_ASM(0)
                        : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [w] "+r"(w), [v] "=&r"(v),
                          [ve] "=&r"(ve), [we] "=&r"(we), [wo] "=&r"(wo)
                        : [taps] "r"(one), [c] "r"(c)
                        : "memory");
            }
        }
#else
        for (t = 0; t < ntaps; ++t, w += 2) {
            DW_TAP(load4(taps[t] + c), w);
        }
#endif
        dw_store4(out, a0, a1, a2, a3, rq, clamp, full);
    }
}

#if EDGEC_HELIUM
/* Helium depthwise, eight channels at a time: VLDRB.S16 widens eight inputs and eight
 * weights (the int8 weights [tap][c] as they are) to int16 lanes, VMULLB/VMULLT multiply
 * the even and the odd lanes into int32, two VADDs accumulate: 8 MACs in 6 instructions.
 * Four channels left: int32 lanes, VMUL and VADD. The requantization in vectors too:
 * VQRDMULH is TFLM's SRDHM (saturation included), and subtracting 1 from negative values
 * before VRSHL's round-half-up shift makes it round ties away from zero, as TFLM's
 * RoundingDivideByPOT (r >= 1 here). */
/* One tap of eight channels: inputs x, weights w. */
#define DW_TAP8(x, w)                                              \
    do {                                                           \
        const int16x8_t x_ = vldrbq_s16(x), w_ = vldrbq_s16(w);    \
        even = vaddq_s32(even, vmullbq_int_s16(x_, w_));           \
        odd = vaddq_s32(odd, vmulltq_int_s16(x_, w_));             \
    } while (0)

/* The 4 * (channels / 4) first channels of one pixel; taps: its table, or NULL for a 3x3
 * window inside the image whose top-left input pixel is top (row: the input row stride). */
ALWAYS_INLINE void dw_pixel_mve(const edgec_dwconv_fast_s8_t *q, const int8_t *const *taps, const int8_t *top,
                                   ptrdiff_t row, int32_t ntaps, int32_t channels, const dw_mve_t *v, int8_t *out)
{
    const ptrdiff_t cs = q->conv.out.c;
    const int32_t *const rq = q->requant, *const bias = q->conv.bias;
    const int8_t *const weights = q->conv.weights;
    int32_t c, t;
    for (c = 0; c + 8 <= channels; c += 8) {
        int32x4_t even = vldrwq_gather_shifted_offset_s32(bias + c, vshlq_n_u32(v->rows, 1));
        int32x4_t odd = vldrwq_gather_shifted_offset_s32(bias + c + 1, vshlq_n_u32(v->rows, 1));
        if (taps == NULL) {
            const int8_t *x = top + c, *w = weights + c;
            int32_t ky;
            for (ky = 0; ky < 3; ++ky, x += row, w += 3 * cs) {
                DW_TAP8(x, w);
                DW_TAP8(x + cs, w + cs);
                DW_TAP8(x + 2 * cs, w + 2 * cs);
            }
        } else {
            for (t = 0; t < ntaps; ++t) {
                DW_TAP8(taps[t] + c, weights + t * cs + c);
            }
        }
        vstrbq_scatter_offset_s32(out + c, v->even_out, dw_requant_mve(even, rq + 3 * c, v->even_rows, v));
        vstrbq_scatter_offset_s32(out + c, v->odd_out, dw_requant_mve(odd, rq + 3 * c, v->odd_rows, v));
    }
    if (c + 4 <= channels) {
        int32x4_t acc = vldrwq_s32(bias + c);
        for (t = 0; t < ntaps; ++t) {
            const int8_t *x = taps != NULL ? taps[t] : top + (t / 3) * row + (t % 3) * cs;
            acc = vaddq_s32(acc, vmulq_s32(vldrbq_s32(x + c), vldrbq_s32(weights + t * cs + c)));
        }
        vstrbq_s32(out + c, dw_requant_mve(acc, rq + 3 * c, vmulq_n_u32(v->rows, 12u), v));
    }
}
#endif

ALWAYS_INLINE void dwconv_fast(const edgec_dwconv_fast_s8_t *q, const int8_t *input, int8_t *output, int full)
{
    const edgec_dwconv_s8_t *const p = &q->conv;
    const int32_t channels = p->out.c, ntaps = p->kh * p->kw;
    const int32_t blocks = ntaps <= EDGEC_DW_MAX_TAPS ? channels / 4 : 0;
    const int32_t clamp[3] = {p->output_zero_point, p->act_min, p->act_max};
    const ptrdiff_t row = (ptrdiff_t)p->in.w * channels;
    const int window3 = p->kh == 3 && p->kw == 3 && p->dil_h == 1 && p->dil_w == 1;
    const int8_t *taps[EDGEC_DW_MAX_TAPS];
#if EDGEC_HELIUM
    static const uint32_t lanes[4] = {0u, 1u, 2u, 3u};
    const uint32x4_t rows = vld1q_u32(lanes);
    /* the zero point: what the table holds (zp * 2^(r-1) + 2^(r-2), shifted by r - 1) plus
     * what it leaves */
    const dw_mve_t mve = {vmulq_n_u32(rows, 24u), vaddq_n_u32(vmulq_n_u32(rows, 24u), 12u), rows,
                          vmulq_n_u32(rows, 2u), vaddq_n_u32(vmulq_n_u32(rows, 2u), 1u),
                          (q->requant[1] >> q->requant[2]) + p->output_zero_point, p->act_min, p->act_max};
#endif
    int32_t b, oy, ox, c;
    for (b = 0; b < p->out.n; ++b) {
        const int8_t *image = input + (size_t)b * p->in.h * row;
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            for (ox = 0; ox < p->out.w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                int8_t *out = output + (((size_t)b * p->out.h + oy) * p->out.w + ox) * channels;
#if EDGEC_SCALAR
                (void)window3;
                if (blocks > 0) {
                    dw_pixel_taps(p, image, q->padding, y0, x0, taps);
                    dw_blocks_scalar(q->wide, q->requant, p->bias, taps, ntaps, blocks, clamp, out, full);
                }
#else
                if (window3 && y0 >= 0 && y0 + 3 <= p->in.h && x0 >= 0 && x0 + 3 <= p->in.w) {
#if EDGEC_HELIUM
                    dw_pixel_mve(q, NULL, image + y0 * row + (ptrdiff_t)x0 * channels, row, 9, channels, &mve, out);
#else
                    dw_pixel_3x3(q, image + y0 * row + (ptrdiff_t)x0 * channels, row, blocks, clamp, out, full);
#endif
                } else if (blocks > 0) {
                    dw_pixel_taps(p, image, q->padding, y0, x0, taps);
#if EDGEC_HELIUM
                    dw_pixel_mve(q, taps, NULL, 0, ntaps, channels, &mve, out);
#else
                    dw_pixel_blocks(q, taps, ntaps, blocks, clamp, out, full);
#endif
                }
#endif
                for (c = 4 * blocks; c < channels; ++c) { /* the last channels, one at a time */
                    int32_t acc = p->bias[c];
                    const int8_t *w = p->weights + c;
                    int32_t ky, kx;
                    for (ky = 0; ky < p->kh; ++ky) {
                        const int32_t iy = y0 + ky * p->dil_h;
                        for (kx = 0; kx < p->kw; ++kx, w += channels) {
                            const int32_t ix = x0 + kx * p->dil_w;
                            const int inside = (uint32_t)iy < (uint32_t)p->in.h && (uint32_t)ix < (uint32_t)p->in.w;
                            const int32_t x =
                                inside ? image[((size_t)iy * p->in.w + ix) * channels + c] : p->input_zero_point;
                            acc += x * (int32_t)*w;
                        }
                    }
                    out[c] = requant_out(acc, q->requant + 3 * c, clamp, full);
                }
            }
        }
    }
}

void edgec_dwconv_fast_s8(const edgec_dwconv_fast_s8_t *q, const int8_t *input, int8_t *output)
{
    if (full_range(q->conv.output_zero_point, q->conv.act_min, q->conv.act_max)) {
        dwconv_fast(q, input, output, 1);
    } else {
        dwconv_fast(q, input, output, 0);
    }
}
