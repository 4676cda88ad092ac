/*
 * Optimized int8 depthwise convolution with 4-bit weights (see edgec_kernels_int4.h for the
 * formats), for the layers the int8 stream (fast_int4_stream.c) does not take: without
 * scratch memory, on Helium, or a requantization outside that stream's table.
 *
 * As fast_dwconv.c, four channels at a time (SXTB16 splits the inputs into channels (0, 2)
 * and (1, 3), SMLABB / SMLATT accumulate each channel), the weights of eight channels of a
 * tap in one word, each channel pair one masked shift; products are 4096 times the true
 * ones and shifted back after at most 25 taps, exact. With scratch the weights are first
 * decoded into int16 pairs (edgec_dwconv_w4_wide_s8).
 *
 * The matrix products with 4-bit weights are in fast_int4_gemm.c.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fast_common.h"
#include "mve_common.h"

/* Saturation to int8 (one SSAT where the core has it). */
#if defined(__ARM_FEATURE_SAT) && __ARM_FEATURE_SAT == 1
#include <arm_acle.h>
#define SSAT8(x) __ssat((x), 8)
#else
#define SSAT8(x) edgec_fp_clamp((x), -128, 127)
#endif

#define W4_MASK 0xF000F000u

/* edgec_fp_mbqm(x, m, left - r) for m >= 0, from a plain row (m, left, -1 - r) (left = 0
 * or r = 0): SRDHM is floor((x * 2^left * m + 2^30) / 2^31), and with the rounding right
 * shift by r >= 1, floor((x * m + 2^30 + 2^(30 + r) - [x < 0] * 2^31) / 2^(31 + r)), as in
 * edgec_fp_mbqm_right's derivation (edgec_fixedpoint.h). */
static int32_t w4_mbqm_plain(int32_t x, const int32_t *rq)
{
    const int32_t x1 = (int32_t)((uint32_t)x << rq[1]), r = -1 - rq[2];
    const int64_t p = (int64_t)x1 * rq[0];
    int64_t n;
    if (r == 0) {
        return (int32_t)((p + 0x40000000) >> 31);
    }
    n = 0x40000000 + ((int64_t)((uint32_t)1 << (r - 1)) << 31) - (x1 < 0 ? (int64_t)0x80000000 : 0);
    return (int32_t)((p + n) >> 32) >> (r - 1);
}

/* A channel's requantization from its row: the table of edgec_fp_mbqm_right (shift_hi >= 0),
 * or a plain row (shift_hi < 0: a scale of 1/4 or more, rare), then the zero point left
 * to add and the clamp. */
ALWAYS_INLINE int8_t w4_requant(int32_t acc, const int32_t *rq, const int32_t clamp[3])
{
    int32_t v;
    if (__builtin_expect(rq[2] < 0, 0)) {
        v = w4_mbqm_plain(acc, rq);
    } else {
        v = edgec_fp_mbqm_right(acc, rq[0], rq[1], rq[2]);
    }
    return (int8_t)edgec_fp_clamp(v + clamp[0], clamp[1], clamp[2]);
}


/* Requantize a0..a3 in place, full range: with one table row (`same`) or four consecutive
 * rows. SSAT saturates to int8 (six instructions an output on the DSP extension). */
ALWAYS_INLINE void w4_requant4_full(int32_t *a0, int32_t *a1, int32_t *a2, int32_t *a3, const int32_t *rq,
                                    int same)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP == 1
    int32_t b0 = *a0, b1 = *a1, b2 = *a2, b3 = *a3, m, rh, sh, t, h;
#define W4_RQ_ONE(a, k)                                  \
    "ldrd %[m], %[rh], [%[rq], #" #k "]\n"              \
    "ldr %[sh], [%[rq], #" #k " + 8]\n"                 \
    "and %[t], %[" #a "], #0x80000000\n"                \
    "orr %[t], %[t], #0x40000000\n"                     \
    "add %[h], %[rh], %[" #a "], asr #31\n"             \
    "smlal %[t], %[h], %[" #a "], %[m]\n"               \
    "asr %[" #a "], %[h], %[sh]\n"                      \
    "ssat %[" #a "], #8, %[" #a "]\n"
#define W4_RQ_SAME(a)                                    \
    "and %[t], %[" #a "], #0x80000000\n"                \
    "orr %[t], %[t], #0x40000000\n"                     \
    "add %[h], %[rh], %[" #a "], asr #31\n"             \
    "smlal %[t], %[h], %[" #a "], %[m]\n"               \
    "asr %[" #a "], %[h], %[sh]\n"                      \
    "ssat %[" #a "], #8, %[" #a "]\n"
#define W4_RQ_OPERANDS                                                                              \
    : [b0] "+r"(b0), [b1] "+r"(b1), [b2] "+r"(b2), [b3] "+r"(b3), [m] "=&r"(m), [rh] "=&r"(rh),      \
      [sh] "=&r"(sh), [t] "=&r"(t), [h] "=&r"(h)                                                     \
    : [rq] "r"(rq)                                                                                   \
    : "memory"
    if (same) {
        __asm__("ldrd %[m], %[rh], [%[rq]]\n"
                "ldr %[sh], [%[rq], #8]\n" W4_RQ_SAME(b0) W4_RQ_SAME(b1) W4_RQ_SAME(b2) W4_RQ_SAME(b3)
                    W4_RQ_OPERANDS);
    } else {
        __asm__(W4_RQ_ONE(b0, 0) W4_RQ_ONE(b1, 12) W4_RQ_ONE(b2, 24) W4_RQ_ONE(b3, 36) W4_RQ_OPERANDS);
    }
    *a0 = b0, *a1 = b1, *a2 = b2, *a3 = b3;
#else
    const int32_t step = same ? 0 : 3;
    *a0 = SSAT8(edgec_fp_mbqm_right(*a0, rq[0], rq[1], rq[2]));
    *a1 = SSAT8(edgec_fp_mbqm_right(*a1, rq[step], rq[step + 1], rq[step + 2]));
    *a2 = SSAT8(edgec_fp_mbqm_right(*a2, rq[2 * step], rq[2 * step + 1], rq[2 * step + 2]));
    *a3 = SSAT8(edgec_fp_mbqm_right(*a3, rq[3 * step], rq[3 * step + 1], rq[3 * step + 2]));
#endif
}

/* ---- depthwise -------------------------------------------------------------------------- */
#define W4_DW_MAX_TAPS 25

/* Nibble of channel c (0..7) in its block's word: channels 0, 1, 4, 5, 2, 3, 6, 7. */
static inline int32_t w4_dw_weight(uint32_t word, int32_t c)
{
    static const uint8_t place[8] = {0, 1, 4, 5, 2, 3, 6, 7};
    const int32_t v = (int32_t)((word >> (4 * place[c])) & 15u);
    return v - ((v & 8) << 1);
}

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP == 1
/* One tap (k: its byte offset in the tap table) of four channels at offset c: the tap's
 * weight word post-incremented from w, its channel pairs by masked shifts `even`, `odd`. */
#define W4_DW_TAP_ASM(k, even, odd)                \
    "ldr %[v], [%[taps], #" #k "]\n"               \
    "ldr %[v], [%[v], %[c]]\n"                     \
    "ldr %[p], [%[w]], #4\n"                       \
    "and %[we], %[m], %[p]" even "\n"              \
    "and %[p], %[m], %[p]" odd "\n"                \
    "sxtb16 %[ve], %[v]\n"                         \
    "sxtb16 %[v], %[v], ror #8\n"                  \
    "smlabb %[a0], %[ve], %[we], %[a0]\n"          \
    "smlatt %[a2], %[ve], %[we], %[a2]\n"          \
    "smlabb %[a1], %[v], %[p], %[a1]\n"            \
    "smlatt %[a3], %[v], %[p], %[a3]\n"
#define W4_DW_NINE(even, odd)                                                                          \
    W4_DW_TAP_ASM(0, even, odd) W4_DW_TAP_ASM(4, even, odd) W4_DW_TAP_ASM(8, even, odd)              \
    W4_DW_TAP_ASM(12, even, odd) W4_DW_TAP_ASM(16, even, odd) W4_DW_TAP_ASM(20, even, odd)           \
    W4_DW_TAP_ASM(24, even, odd) W4_DW_TAP_ASM(28, even, odd) W4_DW_TAP_ASM(32, even, odd)
#define W4_DW_OPERANDS                                                                                 \
    : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [w] "+r"(w), [v] "=&r"(v), [ve] "=&r"(ve), \
      [p] "=&r"(p), [we] "=&r"(we)                                                                     \
    : [taps] "r"(tp), [c] "r"(c), [m] "r"(m)                                                            \
    : "memory"
#endif

/* Channels c..c+3 of one pixel over its taps (the first four of their block of eight, or
 * with `high` the last four): the sums into a[0..3]. */
ALWAYS_INLINE void w4_dw_block(const uint32_t *w, const int8_t *const *taps, int32_t ntaps, int32_t c, int high,
                               int32_t a[4])
{
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, t;
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP == 1
    const uint32_t m = W4_MASK;
    int32_t v, ve, p, we;
    const int8_t *const *tp = taps;
    if (ntaps == 9 && high) {
        __asm__(W4_DW_NINE(", lsl #4", "") W4_DW_OPERANDS);
    } else if (ntaps == 9) {
        __asm__(W4_DW_NINE(", lsl #12", ", lsl #8") W4_DW_OPERANDS);
    } else {
        for (t = 0; t < ntaps; ++t, ++tp) {
            if (high) {
                __asm__(W4_DW_TAP_ASM(0, ", lsl #4", "") W4_DW_OPERANDS);
            } else {
                __asm__(W4_DW_TAP_ASM(0, ", lsl #12", ", lsl #8") W4_DW_OPERANDS);
            }
        }
    }
#else
    for (t = 0; t < ntaps; ++t) {
        const uint32_t word = w[t];
        const int32_t x = load4(taps[t] + c);
        const int32_t xe = SXTB16(x), xo = SXTB16_ROR8(x);
        const int32_t we = (int32_t)((word << (high ? 4 : 12)) & W4_MASK);
        const int32_t wo = (int32_t)((word << (high ? 0 : 8)) & W4_MASK);
        a0 = SMLABB(xe, we, a0);
        a2 = SMLATT(xe, we, a2);
        a1 = SMLABB(xo, wo, a1);
        a3 = SMLATT(xo, wo, a3);
    }
#endif
    a[0] = a0 >> 12, a[1] = a1 >> 12, a[2] = a2 >> 12, a[3] = a3 >> 12;
}

/* Four channels' sums plus their biases, requantized (rows rq) into out[0..3]. */
ALWAYS_INLINE void w4_dw_out4(const int32_t a[4], const int32_t *bias, const int32_t *rq, const int32_t clamp[3],
                              int full, int8_t *out)
{
    int32_t a0 = bias[0] + a[0], a1 = bias[1] + a[1], a2 = bias[2] + a[2], a3 = bias[3] + a[3];
    /* full: 1 no plain row in the layer, 2 maybe some: they are checked */
    if (full == 1 || (full == 2 && (rq[2] | rq[5] | rq[8] | rq[11]) >= 0)) {
        w4_requant4_full(&a0, &a1, &a2, &a3, rq, 0);
    } else {
        a0 = w4_requant(a0, rq, clamp), a1 = w4_requant(a1, rq + 3, clamp);
        a2 = w4_requant(a2, rq + 6, clamp), a3 = w4_requant(a3, rq + 9, clamp);
    }
    out[0] = (int8_t)a0, out[1] = (int8_t)a1, out[2] = (int8_t)a2, out[3] = (int8_t)a3;
}

/* One output pixel: its channels four at a time, the channels % 4 last one at a time. */
static void w4_dw_pixel(const edgec_dwconv_w4_fast_s8_t *q, const int8_t *const *taps, int32_t ntaps, int8_t *out)
{
    const edgec_dwconv_s8_t *p = &q->conv;
    const int32_t channels = p->out.c, fours = channels / 4 * 4;
    const int32_t clamp[3] = {p->output_zero_point, p->act_min, p->act_max};
    const int full = (p->output_zero_point == 0 && full_range(p->act_min, p->act_max)) ? 1 + (q->plain_rows > 0) : 0;
    const int32_t *rq = q->requant, *bias = p->bias;
    int32_t c, t;
    for (c = 0; c < fours; c += 4, rq += 12) {
        const uint32_t *w = q->packed + (size_t)(c >> 3) * ntaps;
        int32_t a[4];
        if (c & 4) {
            w4_dw_block(w, taps, ntaps, c, 1, a);
        } else {
            w4_dw_block(w, taps, ntaps, c, 0, a);
        }
        w4_dw_out4(a, bias + c, rq, clamp, full, out + c);
    }
    for (c = fours; c < channels; ++c, rq += 3) { /* the channels % 4 last, one at a time */
        const uint32_t *words = q->packed + (size_t)(c >> 3) * ntaps;
        int32_t acc = 0;
        for (t = 0; t < ntaps; ++t) {
            acc += (int32_t)taps[t][c] * w4_dw_weight(words[t], c & 7);
        }
        out[c] = w4_requant(bias[c] + acc, rq, clamp);
    }
}

/* The addresses of the kh * kw taps of the output pixel whose window starts at (y0, x0); taps
 * in the padding read `padding` (the input zero point for every channel). */
static void w4_dw_taps(const edgec_dwconv_s8_t *p, const int8_t *image, const int8_t *padding, int32_t y0,
                       int32_t x0, const int8_t **taps)
{
    int32_t ky, kx;
    for (ky = 0; ky < p->kh; ++ky) {
        const int32_t iy = y0 + ky * p->dil_h;
        for (kx = 0; kx < p->kw; ++kx) {
            const int32_t ix = x0 + kx * p->dil_w;
            const int inside = (uint32_t)iy < (uint32_t)p->in.h && (uint32_t)ix < (uint32_t)p->in.w;
            *taps++ = inside ? image + ((size_t)iy * p->in.w + (size_t)ix) * p->in.c : padding;
        }
    }
}

void edgec_dwconv_w4_fast_s8(const edgec_dwconv_w4_fast_s8_t *q, const int8_t *input, int8_t *output)
{
    const edgec_dwconv_s8_t *p = &q->conv;
    const int8_t *taps[W4_DW_MAX_TAPS];
    const int32_t ntaps = p->kh * p->kw;
    int32_t b, oy, ox;
    for (b = 0; b < p->out.n; ++b) {
        const int8_t *image = input + (size_t)b * p->in.h * p->in.w * p->in.c;
        for (oy = 0; oy < p->out.h; ++oy) {
            for (ox = 0; ox < p->out.w; ++ox) {
                const int32_t y0 = oy * p->stride_h - p->pad_top, x0 = ox * p->stride_w - p->pad_left;
                int8_t *out = output + (((size_t)b * p->out.h + oy) * p->out.w + ox) * p->out.c;
                w4_dw_taps(p, image, q->padding, y0, x0, taps);
                w4_dw_pixel(q, taps, ntaps, out);
            }
        }
    }
}

/* Depthwise with scratch memory: the weights decoded once into int16 pairs (w0, w2), (w1, w3)
 * per block of four channels and tap (as fast_dwconv.c's `wide`), then per pixel and block
 * one input load, two SXTB16, one LDRD and four MACs a tap; a 3x3 window inside the image
 * reads its taps at fixed offsets. scratch: EDGEC_W4_DW_SCRATCH_BYTES(taps, channels). */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP == 1
#define W4_WIDE_TAP_ASM(load)                      \
    load                                           \
    "ldrd %[we], %[wo], [%[w]], #8\n"              \
    "sxtb16 %[ve], %[v]\n"                         \
    "sxtb16 %[v], %[v], ror #8\n"                  \
    "smlabb %[a0], %[ve], %[we], %[a0]\n"          \
    "smlatt %[a2], %[ve], %[we], %[a2]\n"          \
    "smlabb %[a1], %[v], %[wo], %[a1]\n"           \
    "smlatt %[a3], %[v], %[wo], %[a3]\n"
#define W4_AT(addr) "ldr %[v], " addr "\n"
#endif

/* The sums of channels c..c+3 of one pixel: taps from the table, or (taps NULL) a 3x3 window
 * whose top-left input is top, rows `row` bytes apart, pixels cs apart. */
ALWAYS_INLINE void w4_wide_block(const int32_t *w, const int8_t *const *taps, const int8_t *top, ptrdiff_t row,
                                 ptrdiff_t cs, int32_t ntaps, int32_t c, int32_t a[4])
{
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, t;
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP == 1
    int32_t v, ve, we, wo;
    if (taps == NULL) {
        const int8_t *p = top + c;
        __asm__(W4_WIDE_TAP_ASM(W4_AT("[%[p]]")) W4_WIDE_TAP_ASM(W4_AT("[%[p], %[cs]]"))
                    W4_WIDE_TAP_ASM(W4_AT("[%[p], %[cs], lsl #1]")) "add %[p], %[p], %[row]\n"
                    W4_WIDE_TAP_ASM(W4_AT("[%[p]]")) W4_WIDE_TAP_ASM(W4_AT("[%[p], %[cs]]"))
                    W4_WIDE_TAP_ASM(W4_AT("[%[p], %[cs], lsl #1]")) "add %[p], %[p], %[row]\n"
                    W4_WIDE_TAP_ASM(W4_AT("[%[p]]")) W4_WIDE_TAP_ASM(W4_AT("[%[p], %[cs]]"))
                    W4_WIDE_TAP_ASM(W4_AT("[%[p], %[cs], lsl #1]"))
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [w] "+r"(w), [p] "+r"(p),
                  [v] "=&r"(v), [ve] "=&r"(ve), [we] "=&r"(we), [wo] "=&r"(wo)
                : [cs] "r"(cs), [row] "r"(row)
                : "memory");
    } else if (ntaps == 9) {
#define W4_TAB(k) "ldr %[v], [%[taps], #" #k "]\nldr %[v], [%[v], %[c]]\n"
        __asm__(W4_WIDE_TAP_ASM(W4_TAB(0)) W4_WIDE_TAP_ASM(W4_TAB(4)) W4_WIDE_TAP_ASM(W4_TAB(8))
                    W4_WIDE_TAP_ASM(W4_TAB(12)) W4_WIDE_TAP_ASM(W4_TAB(16)) W4_WIDE_TAP_ASM(W4_TAB(20))
                        W4_WIDE_TAP_ASM(W4_TAB(24)) W4_WIDE_TAP_ASM(W4_TAB(28)) W4_WIDE_TAP_ASM(W4_TAB(32))
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [w] "+r"(w), [v] "=&r"(v),
                  [ve] "=&r"(ve), [we] "=&r"(we), [wo] "=&r"(wo)
                : [taps] "r"(taps), [c] "r"(c)
                : "memory");
    } else {
        for (t = 0; t < ntaps; ++t) {
            const int8_t *x = taps[t] + c;
            __asm__(W4_WIDE_TAP_ASM(W4_AT("[%[x]]"))
                    : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [w] "+r"(w), [v] "=&r"(v),
                      [ve] "=&r"(ve), [we] "=&r"(we), [wo] "=&r"(wo)
                    : [x] "r"(x)
                    : "memory");
        }
    }
#else
    for (t = 0; t < ntaps; ++t, w += 2) {
        const int8_t *x = taps != NULL ? taps[t] : top + (t / 3) * row + (t % 3) * cs;
        const int32_t v = load4(x + c), ve = SXTB16(v), vo = SXTB16_ROR8(v);
        a0 = SMLABB(ve, w[0], a0);
        a2 = SMLATT(ve, w[0], a2);
        a1 = SMLABB(vo, w[1], a1);
        a3 = SMLATT(vo, w[1], a3);
    }
#endif
    a[0] = a0, a[1] = a1, a[2] = a2, a[3] = a3;
}

void edgec_dwconv_w4_wide_s8(const edgec_dwconv_w4_fast_s8_t *q, const int8_t *input, int8_t *output,
                             int8_t *scratch)
{
    const edgec_dwconv_s8_t *p = &q->conv;
    const int32_t channels = p->out.c, ntaps = p->kh * p->kw, fours = channels / 4 * 4;
    const int32_t clamp[3] = {p->output_zero_point, p->act_min, p->act_max};
    const ptrdiff_t row = (ptrdiff_t)p->in.w * channels;
    const int window3 = p->kh == 3 && p->kw == 3 && p->dil_h == 1 && p->dil_w == 1;
    const int full = (p->output_zero_point == 0 && full_range(p->act_min, p->act_max)) ? 1 + (q->plain_rows > 0) : 0;
    int32_t *const wide = (int32_t *)(void *)scratch;
    const int8_t *taps[W4_DW_MAX_TAPS];
    int32_t b, oy, ox, c, t;
    for (c = 0; c < fours; c += 4) { /* decode: per block of four channels and tap, two pairs */
        for (t = 0; t < ntaps; ++t) {
            const uint32_t word = q->packed[(size_t)(c >> 3) * ntaps + t];
            int32_t *dst = wide + ((size_t)(c / 4) * ntaps + t) * 2;
            dst[0] = pack16(w4_dw_weight(word, (c & 4) + 0), w4_dw_weight(word, (c & 4) + 2));
            dst[1] = pack16(w4_dw_weight(word, (c & 4) + 1), w4_dw_weight(word, (c & 4) + 3));
        }
    }
    for (b = 0; b < p->out.n; ++b) {
        const int8_t *image = input + (size_t)b * p->in.h * row;
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            for (ox = 0; ox < p->out.w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                int8_t *out = output + (((size_t)b * p->out.h + oy) * p->out.w + ox) * channels;
                const int inner = window3 && y0 >= 0 && y0 + 3 <= p->in.h && x0 >= 0 && x0 + 3 <= p->in.w;
                const int8_t *top = inner ? image + y0 * row + (ptrdiff_t)x0 * channels : NULL;
                const int32_t *rq = q->requant;
                if (!inner) {
                    w4_dw_taps(p, image, q->padding, y0, x0, taps);
                }
                for (c = 0; c < fours; c += 4, rq += 12) {
                    int32_t a[4];
                    w4_wide_block(wide + (size_t)(c / 4) * ntaps * 2, inner ? NULL : taps, top, row, channels,
                                  ntaps, c, a);
                    w4_dw_out4(a, p->bias + c, rq, clamp, full, out + c);
                }
                if (fours < channels) { /* the channels % 4 last from the packed words */
                    if (inner) {
                        w4_dw_taps(p, image, q->padding, y0, x0, taps);
                    }
                    for (c = fours; c < channels; ++c, rq += 3) {
                        int32_t acc = 0;
                        for (t = 0; t < ntaps; ++t) {
                            acc += (int32_t)taps[t][c] *
                                   w4_dw_weight(q->packed[(size_t)(c >> 3) * ntaps + t], c & 7);
                        }
                        out[c] = w4_requant(p->bias[c] + acc, rq, clamp);
                    }
                }
            }
        }
    }
}
