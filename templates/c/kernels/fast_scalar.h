/*
 * The optimized int8 kernels' inner loops for cores without SIMD multiply-adds (EDGEC_SCALAR,
 * see fast_common.h: RV32IM, Cortex-M0/M0+/M23): plain 32-bit multiplies and adds over the
 * same weight layouts as the DSP paths, written so that the compiler keeps every sum in a
 * register and addresses each operand with an immediate offset (RISC-V loads take one; a
 * loop bumps each pointer once per group). Private to fast_gemm.c and fast_dwconv.c.
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
/* One group of four k: rows x (and y), a pair's interleaved weights w (w0[0..3], w1[0..3]). */
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

/* Two rows against channels oc..oc+3 (two pairs, k a multiple of 4): 24 loads, 32
 * multiplies, 32 adds for 32 MACs a group (RV32: 2.9 instructions a MAC instead of 3.3);
 * the outputs' requantization as elsewhere. */
ALWAYS_INLINE void gemm_quad_rv32(const edgec_gemm_s8_t *g, const int8_t *r0, const int8_t *r1, int8_t *o0,
                                  int8_t *o1, int32_t oc, const int32_t clamp[3], int full)
{
    const int32_t k = g->k, *const bias = g->bias + oc, *const rq = g->requant + 3 * oc;
    const int8_t *wa = g->weights + (size_t)oc * k, *wb = wa + 2 * k;
    const int8_t *const end = wb, *x = r0, *y = r1;
    int32_t a0 = bias[0], a1 = bias[1], b0 = bias[2], b1 = bias[3];
    int32_t c0 = a0, c1 = a1, d0 = b0, d1 = b1;
    for (; wa < end; x += 4, y += 4, wa += 8, wb += 8) {
        GEMM_QUAD_K(0);
        GEMM_QUAD_K(1);
        GEMM_QUAD_K(2);
        GEMM_QUAD_K(3);
    }
    o0[oc] = requant_out(a0, rq, clamp, full);
    o0[oc + 1] = requant_out(a1, rq + 3, clamp, full);
    o0[oc + 2] = requant_out(b0, rq + 6, clamp, full);
    o0[oc + 3] = requant_out(b1, rq + 9, clamp, full);
    o1[oc] = requant_out(c0, rq, clamp, full);
    o1[oc + 1] = requant_out(c1, rq + 3, clamp, full);
    o1[oc + 2] = requant_out(d0, rq + 6, clamp, full);
    o1[oc + 3] = requant_out(d1, rq + 9, clamp, full);
}
#undef GEMM_QUAD_K
#endif

/* Rows r0 and r1 (two: 1; else r1 unused) times every weight row, with edgec_gemm_s8_t's
 * layout (fast_gemm.c: pairs of channels interleaved in groups of four, their tails, an odd
 * last row as it is) and bias (the input offset folded in). Per pair of channels and group
 * of four k: 16 loads, 16 multiplies, 16 adds for 16 MACs (two rows). */
ALWAYS_INLINE void gemm_rows_scalar(const edgec_gemm_s8_t *g, const int8_t *r0, const int8_t *r1, int8_t *o0,
                                    int8_t *o1, int two, int full)
{
    const int32_t k = g->k, n = g->n, k4 = g->k & ~3, tail = g->k - (g->k & ~3);
    const int32_t clamp[3] = {g->output_zero_point, g->act_min, g->act_max};
    const int32_t *const bias = g->bias, *const rq = g->requant;
    const int8_t *const weights = g->weights;
    int32_t oc = 0, i;
#if !EDGEC_SCALAR_V6M /* (the M0 has the registers for two pairs of sums only) */
    if (two && tail == 0) {
        for (; oc + 4 <= n; oc += 4) {
            gemm_quad_rv32(g, r0, r1, o0, o1, oc, clamp, full);
        }
    }
#endif
    for (; oc + 2 <= n; oc += 2) {
        const int8_t *w = weights + (size_t)oc * k;
        const int8_t *const t0 = w + 2 * k4, *const t1 = t0 + tail;
        const int8_t *x = r0, *y = r1;
        int32_t s00 = bias[oc], s01 = bias[oc + 1], s10 = s00, s11 = s01;
#if EDGEC_SCALAR_V6M
        if (two && w < t0) {
            gemm_groups_2x2_v6m(&x, &y, &w, t0, &s00, &s01, &s10, &s11);
        }
#endif
        for (; w < t0; x += 4, y += 4, w += 8) {
            GEMM_SCALAR_GROUP(x, y, w, two);
        }
        for (i = 0; i < tail; ++i) {
            s00 += (int32_t)r0[k4 + i] * t0[i];
            s01 += (int32_t)r0[k4 + i] * t1[i];
            if (two) {
                s10 += (int32_t)r1[k4 + i] * t0[i];
                s11 += (int32_t)r1[k4 + i] * t1[i];
            }
        }
        o0[oc] = requant_out(s00, rq + 3 * oc, clamp, full);
        o0[oc + 1] = requant_out(s01, rq + 3 * (oc + 1), clamp, full);
        if (two) {
            o1[oc] = requant_out(s10, rq + 3 * oc, clamp, full);
            o1[oc + 1] = requant_out(s11, rq + 3 * (oc + 1), clamp, full);
        }
    }
    if (oc < n) { /* an odd channel count: the last weight row alone */
        const int8_t *w0 = weights + (size_t)oc * k;
        int32_t s0 = bias[oc], s1 = bias[oc];
        for (i = 0; i < k; ++i) {
            s0 += (int32_t)r0[i] * w0[i];
            if (two) {
                s1 += (int32_t)r1[i] * w0[i];
            }
        }
        o0[oc] = requant_out(s0, rq + 3 * oc, clamp, full);
        if (two) {
            o1[oc] = requant_out(s1, rq + 3 * oc, clamp, full);
        }
    }
}

/* gemm_rows_scalar with its constant arguments (two rows or one, the full int8 range or a
 * clamp) known at each call: r1 NULL for one row. */
ALWAYS_INLINE void gemm_rows_scalar_any(const edgec_gemm_s8_t *g, const int8_t *r0, const int8_t *r1, int8_t *o0, int8_t *o1)
{
    if (full_range(g->output_zero_point, g->act_min, g->act_max)) {
        if (r1 != NULL) {
            gemm_rows_scalar(g, r0, r1, o0, o1, 1, 1);
        } else {
            gemm_rows_scalar(g, r0, r0, o0, o0, 0, 1);
        }
    } else if (r1 != NULL) {
        gemm_rows_scalar(g, r0, r1, o0, o1, 1, 0);
    } else {
        gemm_rows_scalar(g, r0, r0, o0, o0, 0, 0);
    }
}

/* One tap t of a block of four channels: four inputs from taps[t] + c, four weights from the
 * block's int16 pairs (w0, w2), (w1, w3) in edgec_dwconv_fast_s8_t's wide table. */
#define DW_TAP_SCALAR(t)                              \
    do {                                              \
        const int8_t *x_ = taps[t] + c;               \
        const int16_t *w_ = w + 4 * (t);              \
        a0 += (int32_t)x_[0] * w_[0];                 \
        a2 += (int32_t)x_[2] * w_[1];                 \
        a1 += (int32_t)x_[1] * w_[2];                 \
        a3 += (int32_t)x_[3] * w_[3];                 \
    } while (0)

#if EDGEC_SCALAR_V6M
/* Armv6-M: ntaps taps of one block of four channels (channel offset c), sums in high
 * registers: LDRB + SXTB for the inputs, LDRH + SXTH for the int16 weights (Thumb-1 loads
 * sign-extend only with a register offset), 26 instructions for 4 MACs. */
ALWAYS_INLINE void dw_taps_v6m(const int8_t *const *taps, const int16_t *w, int32_t ntaps, int32_t c, int32_t *a0,
                               int32_t *a1, int32_t *a2, int32_t *a3)
{
    const int8_t *const *const end = taps + ntaps;
    int32_t a = *a0, b = *a1, d2 = *a2, d3 = *a3;
    int32_t x, v, u;
    __asm__(".syntax unified\n"
            "1:\n\t"
            "ldm %[taps]!, {%[x]}\n\t"
            "adds %[x], %[x], %[c]\n\t"
            "ldrb %[v], [%[x], #0]\n\tsxtb %[v], %[v]\n\t"
            "ldrh %[u], [%[w], #0]\n\tsxth %[u], %[u]\n\t"
            "muls %[v], %[u], %[v]\n\tadd %[a], %[v]\n\t"
            "ldrb %[v], [%[x], #2]\n\tsxtb %[v], %[v]\n\t"
            "ldrh %[u], [%[w], #2]\n\tsxth %[u], %[u]\n\t"
            "muls %[v], %[u], %[v]\n\tadd %[d2], %[v]\n\t"
            "ldrb %[v], [%[x], #1]\n\tsxtb %[v], %[v]\n\t"
            "ldrh %[u], [%[w], #4]\n\tsxth %[u], %[u]\n\t"
            "muls %[v], %[u], %[v]\n\tadd %[b], %[v]\n\t"
            "ldrb %[v], [%[x], #3]\n\tsxtb %[v], %[v]\n\t"
            "ldrh %[u], [%[w], #6]\n\tsxth %[u], %[u]\n\t"
            "muls %[v], %[u], %[v]\n\tadd %[d3], %[v]\n\t"
            "adds %[w], #8\n\t"
            "cmp %[taps], %[end]\n\t"
            "bne 1b\n\t"
            : [taps] "+l"(taps), [w] "+l"(w), [a] "+h"(a), [b] "+h"(b), [d2] "+h"(d2), [d3] "+h"(d3),
              [x] "=&l"(x), [v] "=&l"(v), [u] "=&l"(u)
            : [c] "l"(c), [end] "h"(end)
            : "cc", "memory");
    *a0 = a, *a1 = b, *a2 = d2, *a3 = d3;
}
#endif

/* The blocks of four channels of one depthwise pixel through its table of taps: per tap,
 * four inputs, four weights, four multiplies, four adds; a 3x3 window unrolled (the tap
 * table and the weights at fixed offsets). */
ALWAYS_INLINE void dw_blocks_scalar(const int32_t *wide, const int32_t *rq, const int32_t *bias,
                                    const int8_t *const *taps, int32_t ntaps, int32_t blocks, const int32_t clamp[3],
                                    int8_t *out, int full)
{
    const int16_t *w = (const int16_t *)(const void *)wide;
    int32_t b, t;
    for (b = 0; b < blocks; ++b, out += 4, rq += 12, bias += 4, w += 4 * ntaps) {
        int32_t a0 = bias[0], a1 = bias[1], a2 = bias[2], a3 = bias[3];
        const int32_t c = 4 * b;
#if EDGEC_SCALAR_V6M
        if (ntaps > 0) {
            dw_taps_v6m(taps, w, ntaps, c, &a0, &a1, &a2, &a3);
        }
        (void)t;
#else
        if (ntaps == 9) {
            DW_TAP_SCALAR(0);
            DW_TAP_SCALAR(1);
            DW_TAP_SCALAR(2);
            DW_TAP_SCALAR(3);
            DW_TAP_SCALAR(4);
            DW_TAP_SCALAR(5);
            DW_TAP_SCALAR(6);
            DW_TAP_SCALAR(7);
            DW_TAP_SCALAR(8);
        } else {
            for (t = 0; t < ntaps; ++t) {
                DW_TAP_SCALAR(t);
            }
        }
#endif
        out[0] = requant_out(a0, rq, clamp, full);
        out[1] = requant_out(a1, rq + 3, clamp, full);
        out[2] = requant_out(a2, rq + 6, clamp, full);
        out[3] = requant_out(a3, rq + 9, clamp, full);
    }
}
#endif

#endif /* EDGEC_FAST_SCALAR_H */
