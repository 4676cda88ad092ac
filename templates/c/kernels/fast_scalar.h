/*
 * The optimized int8 kernels' paths for cores without SIMD multiply-adds (EDGEC_SCALAR, see
 * fast_common.h: RV32IM, Cortex-M0/M0+/M23): plain 32-bit multiplies and adds over the DSP
 * kernels' record streams (fast_gemm.c and fast_dwconv.c describe them), written so that the
 * compiler keeps every sum in a register and addresses each operand with an immediate offset
 * (RISC-V loads take one; a loop bumps each pointer once per group). The sums are those of the
 * DSP paths in another order and end in the same requantization (edgec_fp_requant2 of the
 * doubled sum), so the outputs are the same bit for bit. Private to fast_gemm.c and
 * fast_dwconv.c.
 */
#ifndef EDGEC_FAST_SCALAR_H
#define EDGEC_FAST_SCALAR_H

#include "fast_common.h"

#if EDGEC_SCALAR
/* Armv6-M (Thumb-1) takes its assembly paths below; the C ones serve RV32 (and host builds
 * that define EDGEC_SCALAR to test them). */
#if defined(__ARM_ARCH_ISA_THUMB) && __ARM_ARCH_ISA_THUMB == 1 && defined(__GNUC__)
#define EDGEC_SCALAR_V6M 1
#else
#define EDGEC_SCALAR_V6M 0
#endif
#if defined(__riscv) && defined(__GNUC__) && !defined(__clang__)
/* GCC's scheduling before register allocation hoists every load of an unrolled block to its
 * top and spills what no longer fits (RISC-V: 468 stack accesses in fast_dwconv.c, 167
 * without it); the kernels' order of loads and multiply-adds is already the right one. */
#pragma GCC optimize("no-schedule-insns")
#endif

/* A word of the stream as int8 weights, int16 halves, or the next words. */
#define STREAM_BYTES(s) ((const int8_t *)(const void *)(s))
#define STREAM_HALVES(s) ((const int16_t *)(const void *)(s))
#define STREAM_WORDS(p) ((const int32_t *)(const void *)(p))

/* The high word of acc2 * m + 2^31 plus acc2 >> 31 (edgec_fp_requant2 before its shifts). On
 * Armv6-M, which has no long multiply, in Thumb-1: the product from four 16 x 16 ones, ADCS
 * carrying into the high word, 21 instructions instead of a library call. */
ALWAYS_INLINE int32_t requant2_high(int32_t acc2, int32_t m)
{
#if EDGEC_SCALAR_V6M
    int32_t x = acc2, xl, ml, lo, t;
    __asm__(".syntax unified\n\t"
            "uxth %[xl], %[x]\n\t"
            "asrs %[x], %[x], #16\n\t"     /* acc2 = xh * 2^16 + xl */
            "uxth %[ml], %[m]\n\t"
            "lsrs %[m], %[m], #16\n\t"     /* m = mh * 2^16 + ml, mh < 2^15 */
            "movs %[lo], %[ml]\n\t"
            "muls %[lo], %[xl], %[lo]\n\t" /* low word: xl * ml */
            "muls %[ml], %[x], %[ml]\n\t"  /* xh * ml */
            "muls %[xl], %[m], %[xl]\n\t"  /* xl * mh (>= 0) */
            "muls %[m], %[x], %[m]\n\t"    /* high word: xh * mh */
            "lsls %[t], %[ml], #16\n\t"
            "asrs %[ml], %[ml], #16\n\t"
            "adds %[lo], %[t]\n\t"
            "adcs %[m], %[ml]\n\t"         /* + xh * ml * 2^16 */
            "lsls %[t], %[xl], #16\n\t"
            "lsrs %[xl], %[xl], #16\n\t"
            "adds %[lo], %[t]\n\t"
            "adcs %[m], %[xl]\n\t"         /* + xl * mh * 2^16 */
            "lsrs %[lo], %[lo], #31\n\t"
            "adds %[m], %[lo]\n\t"         /* + 2^31: its carry out of the low word */
            "asrs %[x], %[x], #15\n\t"
            "adds %[m], %[x]\n\t"          /* + acc2 >> 31 */
            : [x] "+l"(x), [m] "+l"(m), [xl] "=&l"(xl), [ml] "=&l"(ml), [lo] "=&l"(lo), [t] "=&l"(t)
            :
            : "cc");
    return m;
#else
    int32_t hi;
    uint32_t lo;
    edgec_fp_mul64(acc2, m, &hi, &lo);
    return (acc2 >> 31) + hi + (int32_t)(lo >> 31);
#endif
}

/* The output of a doubled sum: edgec_fp_requant2 with channel j's shift of the word rr, then
 * the clamp (requant2_out). */
ALWAYS_INLINE int8_t requant2_scalar(int32_t acc2, int32_t m, int32_t rr, int32_t j, int32_t lo, int32_t hi)
{
    const int32_t v = ((requant2_high(acc2, m) >> rr_shift(rr, j)) + rr_k(rr)) >> 1;
    return (int8_t)edgec_fp_clamp(v, lo, hi);
}

/* A pair record's last three words (after its k4 / 4 groups of eight weights): the
 * multipliers and the shift word; the outputs of channels a, b from the sums da, db. */
#define PAIR_OUT(out, tail, s, da, db)                                                       \
    do {                                                                                     \
        (out)[0] = requant2_scalar((s)[0] + 2 * (da), (tail)[0], (tail)[2], 0, lo, hi);     \
        (out)[1] = requant2_scalar((s)[1] + 2 * (db), (tail)[1], (tail)[2], 1, lo, hi);     \
    } while (0)

/* One group of four k: rows x (and y), a pair's interleaved weights w (a0..a3, b0..b3). */
#define GEMM_SCALAR_GROUP(x, y, w, two)                                                              \
    do {                                                                                           \
        const int32_t x0 = (x)[0], x1 = (x)[1], x2 = (x)[2], x3 = (x)[3];                          \
        const int32_t u0 = (w)[0], u1 = (w)[1], u2 = (w)[2], u3 = (w)[3];                          \
        const int32_t v0 = (w)[4], v1 = (w)[5], v2 = (w)[6], v3 = (w)[7];                          \
        s00 += x0 * u0 + x1 * u1 + x2 * u2 + x3 * u3;                                              \
        s01 += x0 * v0 + x1 * v1 + x2 * v2 + x3 * v3;                                              \
        if (two) {                                                                                 \
            const int32_t y0 = (y)[0], y1 = (y)[1], y2 = (y)[2], y3 = (y)[3];                      \
            s10 += y0 * u0 + y1 * u1 + y2 * u2 + y3 * u3;                                          \
            s11 += y0 * v0 + y1 * v1 + y2 * v2 + y3 * v3;                                          \
        }                                                                                          \
    } while (0)

#if EDGEC_SCALAR_V6M
/* Armv6-M: the groups of a pair of channels with two rows, from w to end, in Thumb-1 (the
 * compiler's allocation of eight low registers spills). LDRSB takes no immediate offset, so
 * LDRB + SXTB; MULS overwrites a factor, so each k needs one copy: 17 instructions for 4
 * MACs. The sums live in high registers (ADD takes them). x, y, w: 4, 4, 8 bytes a group. */
ALWAYS_INLINE void gemm_groups_2x2_v6m(const int8_t **xp, const int8_t **yp, const int8_t **wp, const int8_t *end,
                                       int32_t *s00, int32_t *s01, int32_t *s10, int32_t *s11)
{
    const int8_t *x = *xp, *y = *yp, *w = *wp;
    int32_t a = *s00, b = *s01, c = *s10, d = *s11;
    int32_t vx, vy, vu, vv, t;
#define GEMM_V6M_K(j)                                        \
    "ldrb %[vx], [%[x], #" #j "]\n\tsxtb %[vx], %[vx]\n\t"     \
    "ldrb %[vy], [%[y], #" #j "]\n\tsxtb %[vy], %[vy]\n\t"     \
    "ldrb %[vu], [%[w], #" #j "]\n\tsxtb %[vu], %[vu]\n\t"     \
    "ldrb %[vv], [%[w], #4 + " #j "]\n\tsxtb %[vv], %[vv]\n\t" \
    "mov %[t], %[vu]\n\t"                                    \
    "muls %[t], %[vx], %[t]\n\tadd %[a], %[t]\n\t"            \
    "muls %[vu], %[vy], %[vu]\n\tadd %[c], %[vu]\n\t"         \
    "muls %[vx], %[vv], %[vx]\n\tadd %[b], %[vx]\n\t"         \
    "muls %[vv], %[vy], %[vv]\n\tadd %[d], %[vv]\n\t"
    __asm__(".syntax unified\n"
            "1:\n\t" GEMM_V6M_K(0) GEMM_V6M_K(1) GEMM_V6M_K(2) GEMM_V6M_K(3)
            "adds %[x], #4\n\t"
            "adds %[y], #4\n\t"
            "adds %[w], #8\n\t"
            "cmp %[w], %[end]\n\t"
            "bne 1b\n\t"
            : [x] "+l"(x), [y] "+l"(y), [w] "+l"(w), [a] "+h"(a), [b] "+h"(b), [c] "+h"(c), [d] "+h"(d),
              [vx] "=&l"(vx), [vy] "=&l"(vy), [vu] "=&l"(vu), [vv] "=&l"(vv), [t] "=&l"(t)
            : [end] "h"(end)
            : "cc", "memory");
#undef GEMM_V6M_K
    *xp = x, *yp = y, *wp = w;
    *s00 = a, *s01 = b, *s10 = c, *s11 = d;
}
#endif

#if !EDGEC_SCALAR_V6M
/* One k of two rows against two pairs of channels: the row values are loaded once for four
 * channels (u, v: pair A's two weights; p, q: pair B's). */
#define GEMM_QUAD_K(j)                                                            \
    do {                                                                          \
        const int32_t xj = x[j], yj = y[j];                                       \
        const int32_t u = wa[j], v = wa[4 + j], p = wb[j], q = wb[4 + j];         \
        a0 += xj * u, a1 += xj * v, b0 += xj * p, b1 += xj * q;                   \
        c0 += yj * u, c1 += yj * v, d0 += yj * p, d1 += yj * q;                   \
    } while (0)

/* Two rows against the two pair records at s (record: words per record; groups: the bytes
 * of the rows the groups cover): 24 loads, 32 multiplies, 32 adds for 32 MACs a group (RV32:
 * 2.9 instructions a MAC instead of 3.3). */
ALWAYS_INLINE void gemm_quad_rv32(const int32_t *s, int32_t record, int32_t groups, const int8_t *r0,
                                  const int8_t *r1, int8_t *o0, int8_t *o1, int32_t lo, int32_t hi)
{
    const int32_t *const sb = s + record;
    const int8_t *wa = STREAM_BYTES(s + 2), *wb = STREAM_BYTES(sb + 2);
    const int8_t *const end = wa + 2 * groups, *x = r0, *y = r1;
    int32_t a0 = 0, a1 = 0, b0 = 0, b1 = 0, c0 = 0, c1 = 0, d0 = 0, d1 = 0;
    for (; wa < end; x += 4, y += 4, wa += 8, wb += 8) {
        GEMM_QUAD_K(0);
        GEMM_QUAD_K(1);
        GEMM_QUAD_K(2);
        GEMM_QUAD_K(3);
    }
    {
        const int32_t *const ta = STREAM_WORDS(wa), *const tb = STREAM_WORDS(wb);
        PAIR_OUT(o0, ta, s, a0, a1);
        PAIR_OUT(o0 + 2, tb, sb, b0, b1);
        PAIR_OUT(o1, ta, s, c0, c1);
        PAIR_OUT(o1 + 2, tb, sb, d0, d1);
    }
}
#undef GEMM_QUAD_K
#endif

/* Rows r0 and r1 (two: 1; else r1 unused) times every channel of the pair stream. whole: the
 * rows may be read in whole words up to k4 (the weights there are zeros), so no k is left
 * after the groups. Per pair of channels and group of four k: 16 loads, 16 multiplies, 16
 * adds for 16 MACs (two rows). */
ALWAYS_INLINE void gemm_rows_scalar_body(const edgec_gemm_s8_t *g, const int8_t *r0, const int8_t *r1, int8_t *o0,
                                         int8_t *o1, int two, int whole)
{
    const int32_t k = g->k, n = g->n, k4 = (g->k + 3) & ~3, lo = g->act_min, hi = g->act_max;
    const int32_t groups = whole ? k4 : (k & ~3), tail = k - groups > 0 ? k - groups : 0;
    const int32_t record = 5 + k4 / 2; /* words per pair */
    const int32_t *s = g->stream;
    int32_t oc = 0, i;
#if !EDGEC_SCALAR_V6M /* (the M0 has the registers for two pairs of sums only) */
    if (two && tail == 0) {
        for (; oc + 4 <= n; oc += 4, s += 2 * record) {
            gemm_quad_rv32(s, record, groups, r0, r1, o0 + oc, o1 + oc, lo, hi);
        }
    }
#endif
    for (; oc + 2 <= n; oc += 2, s += record) {
        const int8_t *w = STREAM_BYTES(s + 2), *const t0 = w + 2 * groups;
        const int8_t *x = r0, *y = r1;
        int32_t s00 = 0, s01 = 0, s10 = 0, s11 = 0;
#if EDGEC_SCALAR_V6M
        if (two && w < t0) {
            gemm_groups_2x2_v6m(&x, &y, &w, t0, &s00, &s01, &s10, &s11);
        }
#endif
        for (; w < t0; x += 4, y += 4, w += 8) {
            GEMM_SCALAR_GROUP(x, y, w, two);
        }
        for (i = 0; i < tail; ++i) { /* the last group's k % 4 values */
            s00 += (int32_t)x[i] * t0[i];
            s01 += (int32_t)x[i] * t0[4 + i];
            if (two) {
                s10 += (int32_t)y[i] * t0[i];
                s11 += (int32_t)y[i] * t0[4 + i];
            }
        }
        {
            const int32_t *const t = s + record - 3;
            PAIR_OUT(o0 + oc, t, s, s00, s01);
            if (two) {
                PAIR_OUT(o1 + oc, t, s, s10, s11);
            }
        }
    }
    if (oc < n) { /* an odd last channel: its bias, k4 weights, multiplier, shift word */
        const int8_t *const w = STREAM_BYTES(s + 1);
        const int32_t *const t = s + 1 + k4 / 4;
        int32_t d0 = 0, d1 = 0;
        for (i = 0; i < k; ++i) {
            d0 += (int32_t)r0[i] * w[i];
            if (two) {
                d1 += (int32_t)r1[i] * w[i];
            }
        }
        o0[oc] = requant2_scalar(s[0] + 2 * d0, t[0], t[1], 0, lo, hi);
        if (two) {
            o1[oc] = requant2_scalar(s[0] + 2 * d1, t[0], t[1], 0, lo, hi);
        }
    }
}

/* gemm_rows_scalar_body with its row count known at each call: r1 NULL for one row. */
ALWAYS_INLINE void gemm_rows_scalar(const edgec_gemm_s8_t *g, const int8_t *r0, const int8_t *r1, int8_t *o0,
                                    int8_t *o1, int whole)
{
    if (r1 != NULL) {
        gemm_rows_scalar_body(g, r0, r1, o0, o1, 1, whole);
    } else {
        gemm_rows_scalar_body(g, r0, r0, o0, o0, 0, whole);
    }
}

/* One row through the quad stream (n and k multiples of 4): per group of four k the row's
 * four values against the four channels' words, 52 instructions for 16 MACs on RV32. */
ALWAYS_INLINE void fc1_quads_scalar(const edgec_gemm_s8_t *g, const int8_t *x, int8_t *out)
{
    const int32_t lo = g->act_min, hi = g->act_max;
    const int8_t *const end = x + g->k;
    const int32_t *s = g->stream;
    int32_t oc;
    for (oc = 0; oc < g->n; oc += 4, out += 4) {
        int32_t d0 = s[0], d1 = s[1], d2 = s[2], d3 = s[3]; /* the folded biases */
        const int8_t *w = STREAM_BYTES(s + 4), *xe;
        for (xe = x; xe < end; xe += 4, w += 16) {
            const int32_t x0 = xe[0], x1 = xe[1], x2 = xe[2], x3 = xe[3];
            d0 += x0 * w[0] + x1 * w[1] + x2 * w[2] + x3 * w[3];
            d1 += x0 * w[4] + x1 * w[5] + x2 * w[6] + x3 * w[7];
            d2 += x0 * w[8] + x1 * w[9] + x2 * w[10] + x3 * w[11];
            d3 += x0 * w[12] + x1 * w[13] + x2 * w[14] + x3 * w[15];
        }
        s = STREAM_WORDS(w); /* the four multipliers, two shift words */
        out[0] = requant2_scalar(2 * d0, s[0], s[4], 0, lo, hi);
        out[1] = requant2_scalar(2 * d1, s[1], s[4], 1, lo, hi);
        out[2] = requant2_scalar(2 * d2, s[2], s[5], 0, lo, hi);
        out[3] = requant2_scalar(2 * d3, s[3], s[5], 1, lo, hi);
        s += 6;
    }
}

/* Taps t and t + 1 of a block of four channels: their inputs from taps[t] + c and
 * taps[t + 1] + c, the weights channel j's (2 w[t][j], 2 w[t+1][j]) halves. */
#define DW_PAIR_SCALAR(t)                                      \
    do {                                                       \
        const int8_t *x_ = taps[t] + c, *y_ = taps[(t) + 1] + c; \
        const int16_t *w_ = w + 4 * (t);                       \
        a0 += (int32_t)x_[0] * w_[0] + (int32_t)y_[0] * w_[1]; \
        a1 += (int32_t)x_[1] * w_[2] + (int32_t)y_[1] * w_[3]; \
        a2 += (int32_t)x_[2] * w_[4] + (int32_t)y_[2] * w_[5]; \
        a3 += (int32_t)x_[3] * w_[6] + (int32_t)y_[3] * w_[7]; \
    } while (0)

/* An odd last tap t: the words (c0, c2), (c1, c3). */
#define DW_SINGLE_SCALAR(t)                \
    do {                                   \
        const int8_t *x_ = taps[t] + c;    \
        const int16_t *w_ = w + 4 * (t);   \
        a0 += (int32_t)x_[0] * w_[0];      \
        a2 += (int32_t)x_[2] * w_[1];      \
        a1 += (int32_t)x_[1] * w_[2];      \
        a3 += (int32_t)x_[3] * w_[3];      \
    } while (0)

#if EDGEC_SCALAR_V6M
/* Armv6-M: the pairs of taps of one block of four channels (channel offset c), sums in high
 * registers. Per channel one LDR of its word, split by ASRS and SXTH; inputs by LDRB + SXTB
 * (Thumb-1 sign-extends loads only with a register offset): 52 instructions for 8 MACs.
 * Returns the weights after the pairs. */
ALWAYS_INLINE const int16_t *dw_pairs_v6m(const int8_t *const *taps, const int16_t *w, int32_t pairs, int32_t c,
                                         int32_t *a0, int32_t *a1, int32_t *a2, int32_t *a3)
{
    const int8_t *const *const end = taps + 2 * pairs;
    int32_t a = *a0, b = *a1, d2 = *a2, d3 = *a3;
    int32_t x, y, word, u, v;
#define DW_V6M_CHANNEL(j, acc)                                      \
    "ldr %[word], [%[w], #4 * " #j "]\n\t"                          \
    "asrs %[u], %[word], #16\n\t"                                   \
    "sxth %[word], %[word]\n\t"                                     \
    "ldrb %[v], [%[x], #" #j "]\n\tsxtb %[v], %[v]\n\t"             \
    "muls %[v], %[word], %[v]\n\tadd %[" acc "], %[v]\n\t"          \
    "ldrb %[v], [%[y], #" #j "]\n\tsxtb %[v], %[v]\n\t"             \
    "muls %[v], %[u], %[v]\n\tadd %[" acc "], %[v]\n\t"
    __asm__(".syntax unified\n"
            "1:\n\t"
            "ldr %[x], [%[taps]]\n\t"
            "ldr %[y], [%[taps], #4]\n\t"
            "adds %[taps], #8\n\t"
            "adds %[x], %[c]\n\t"
            "adds %[y], %[c]\n\t" DW_V6M_CHANNEL(0, "a") DW_V6M_CHANNEL(1, "b") DW_V6M_CHANNEL(2, "d2")
                DW_V6M_CHANNEL(3, "d3") "adds %[w], #16\n\t"
            "cmp %[taps], %[end]\n\t"
            "bne 1b\n\t"
            : [taps] "+l"(taps), [w] "+l"(w), [a] "+h"(a), [b] "+h"(b), [d2] "+h"(d2), [d3] "+h"(d3),
              [x] "=&l"(x), [y] "=&l"(y), [word] "=&l"(word), [u] "=&l"(u), [v] "=&l"(v)
            : [c] "l"(c), [end] "h"(end)
            : "cc", "memory");
#undef DW_V6M_CHANNEL
    *a0 = a, *a1 = b, *a2 = d2, *a3 = d3;
    return w;
}
#endif

/* The blocks of four channels of one depthwise pixel through its table of taps, from the
 * stream: per pair of taps, eight inputs, eight weights, eight multiplies, eight adds; a 3x3
 * window unrolled on RV32 (the tap table and the weights at fixed offsets). */
ALWAYS_INLINE void dw_blocks_scalar(const edgec_dwconv_fast_s8_t *p, const int8_t *const *taps, int32_t ntaps,
                                    int32_t blocks, int8_t *out)
{
    const int32_t lo = p->act_min, hi = p->act_max, pairs = ntaps / 2;
    const int32_t *s = p->stream;
    int32_t b, t;
    for (b = 0; b < blocks; ++b, out += 4) {
        const int32_t c = 4 * b;
        const int16_t *w = STREAM_HALVES(s + 4);
        int32_t a0 = s[0], a1 = s[1], a2 = s[2], a3 = s[3]; /* the doubled biases */
#if EDGEC_SCALAR_V6M
        if (pairs > 0) {
            w = dw_pairs_v6m(taps, w, pairs, c, &a0, &a1, &a2, &a3) - 8 * pairs;
        }
        (void)t;
#else
        if (ntaps == 9) {
            DW_PAIR_SCALAR(0);
            DW_PAIR_SCALAR(2);
            DW_PAIR_SCALAR(4);
            DW_PAIR_SCALAR(6);
        } else {
            for (t = 0; t < 2 * pairs; t += 2) {
                DW_PAIR_SCALAR(t);
            }
        }
#endif
        if (ntaps & 1) {
            DW_SINGLE_SCALAR(ntaps - 1);
        }
        {
            const int32_t *const tail = STREAM_WORDS(w + 4 * ntaps); /* multipliers, shifts */
            out[0] = requant2_scalar(a0, tail[0], tail[4], 0, lo, hi);
            out[1] = requant2_scalar(a1, tail[1], tail[4], 1, lo, hi);
            out[2] = requant2_scalar(a2, tail[2], tail[5], 0, lo, hi);
            out[3] = requant2_scalar(a3, tail[3], tail[5], 1, lo, hi);
            s = tail + 6;
        }
    }
}
#endif

#endif /* EDGEC_FAST_SCALAR_H */
