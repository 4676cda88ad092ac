/*
 * Optimized int8 matrix kernels: convolution as a matrix product (1x1 convolutions read
 * their rows in place, other convolutions through a two-pixel im2col scratch) and fully
 * connected layers. On Cortex-M55/M85 the Helium path (gemm_pairs_mve) takes over.
 *
 * Bit-exact with the portable kernels (see fast_common.h). On cores with the DSP extension (Cortex-M4/M7/M33/M55) the products use the
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
#include <stdint.h>
#include <string.h>

#include "fast_common.h"

/* Two rows widened to int16 for the inner loop, which then splits only the weights (a row
 * is split once, not once per pair of channels). Each group of four inputs is stored
 * (x0, x2), (x1, x3): the first word pairs with SXTB16 of four weights, the second with
 * SXTB16 ROR 8; the groups of the two rows interleave, so one pointer walks both. The
 * k % 4 last inputs are read from the int8 rows. */
static void widen_rows(const int8_t *r0, const int8_t *r1, int16_t *dst, int32_t k)
{
    int32_t i;
    for (i = 0; i + 4 <= k; i += 4, dst += 8) {
        const int32_t v = load4(r0 + i), w = load4(r1 + i);
        const int32_t words[4] = {SXTB16(v), SXTB16_ROR8(v), SXTB16(w), SXTB16_ROR8(w)};
        memcpy(dst, words, sizeof words);
    }
}

static inline int32_t load_pair(const int16_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The eight products of two rows (each split into its (0, 2) and (1, 3) pairs) with two
 * weight rows (ue/uo, ve/vo in scope) into the accumulators s00, s01, s10, s11. */
#define MAC_2X2(ae, ao, be, bo)                   \
    do {                                          \
        const int32_t ae_ = (ae), ao_ = (ao);     \
        const int32_t be_ = (be), bo_ = (bo);     \
        s00 = SMLAD(ao_, uo, SMLAD(ae_, ue, s00)); \
        s01 = SMLAD(ao_, vo, SMLAD(ae_, ve, s01)); \
        s10 = SMLAD(bo_, uo, SMLAD(be_, ue, s10)); \
        s11 = SMLAD(bo_, vo, SMLAD(be_, ve, s11)); \
    } while (0)

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP == 1
/* One group of four k of MAC_2X2 from the widened rows (q) and a pair's interleaved weights
 * (w), both post-incremented: 15 instructions for 16 products. LDRD needs a word-aligned
 * address: the weights of a pair are 2 * k bytes, so for an odd k every other pair loads its
 * two words with two LDRs (GEMM_LOAD_W_UNALIGNED). */
#define GEMM_LOAD_W_ALIGNED "ldrd %[u], %[v], [%[w]], #8\n"
#define GEMM_LOAD_W_UNALIGNED "ldr %[v], [%[w], #4]\nldr %[u], [%[w]], #8\n"
#define GEMM_GROUP_ASM(load_w)                     \
    load_w                                         \
    "ldrd %[xe], %[xo], [%[q]], #8\n"              \
    "sxtb16 %[ue], %[u]\n"                         \
    "sxtb16 %[u], %[u], ror #8\n"                  \
    "sxtb16 %[ve], %[v]\n"                         \
    "sxtb16 %[v], %[v], ror #8\n"                  \
    "smlad %[s00], %[xe], %[ue], %[s00]\n"         \
    "smlad %[s00], %[xo], %[u], %[s00]\n"          \
    "smlad %[s01], %[xe], %[ve], %[s01]\n"         \
    "smlad %[s01], %[xo], %[v], %[s01]\n"          \
    "ldrd %[xe], %[xo], [%[q]], #8\n"              \
    "smlad %[s10], %[xe], %[ue], %[s10]\n"         \
    "smlad %[s10], %[xo], %[u], %[s10]\n"          \
    "smlad %[s11], %[xe], %[ve], %[s11]\n"         \
    "smlad %[s11], %[xo], %[v], %[s11]\n"
#define GEMM_ASM_OPERANDS                                                                              \
    : [s00] "+r"(s00), [s01] "+r"(s01), [s10] "+r"(s10), [s11] "+r"(s11), [w] "+r"(w), [q] "+r"(q), \
      [u] "=&r"(u), [v] "=&r"(v), [ue] "=&r"(ue), [ve] "=&r"(ve), [xe] "=&r"(xe), [xo] "=&r"(xo)
#endif

/* The pair's k4 products with two widened rows; w, q advance past them. groups: k4 / 4 >= 1. */
ALWAYS_INLINE void gemm_2x2_wide(const int8_t **wp, const int16_t **qp, int32_t groups, int32_t acc[4])
{
    const int8_t *w = *wp;
    const int16_t *q = *qp;
    int32_t s00 = acc[0], s01 = acc[1], s10 = acc[2], s11 = acc[3];
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP == 1
    int32_t u, v, ue, ve, xe, xo;
    const int16_t *const end = q + 8 * groups; /* after the odd group, pairs of groups */
    if (((uintptr_t)w & 3u) == 0u) {
        if (groups & 1) {
            __asm__(GEMM_GROUP_ASM(GEMM_LOAD_W_ALIGNED) GEMM_ASM_OPERANDS : : "memory");
        }
        if (groups > 1) {
            __asm__("1:\n" GEMM_GROUP_ASM(GEMM_LOAD_W_ALIGNED) GEMM_GROUP_ASM(GEMM_LOAD_W_ALIGNED)
                    "cmp %[q], %[end]\n"
                    "bne 1b\n" GEMM_ASM_OPERANDS
                    : [end] "r"(end)
                    : "cc", "memory");
        }
    } else {
        if (groups & 1) {
            __asm__(GEMM_GROUP_ASM(GEMM_LOAD_W_UNALIGNED) GEMM_ASM_OPERANDS : : "memory");
        }
        if (groups > 1) {
            __asm__("1:\n" GEMM_GROUP_ASM(GEMM_LOAD_W_UNALIGNED) GEMM_GROUP_ASM(GEMM_LOAD_W_UNALIGNED)
                    "cmp %[q], %[end]\n"
                    "bne 1b\n" GEMM_ASM_OPERANDS
                    : [end] "r"(end)
                    : "cc", "memory");
        }
    }
#else
    int32_t g;
    for (g = 0; g < groups; ++g, w += 8, q += 8) {
        const int32_t u = load4(w), v = load4(w + 4);
        const int32_t ue = SXTB16(u), uo = SXTB16_ROR8(u);
        const int32_t ve = SXTB16(v), vo = SXTB16_ROR8(v);
        MAC_2X2(load_pair(q), load_pair(q + 2), load_pair(q + 4), load_pair(q + 6));
    }
#endif
    acc[0] = s00, acc[1] = s01, acc[2] = s10, acc[3] = s11;
    *wp = w;
    *qp = q;
}

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP == 1
/* requant_out (full form) of the accumulators a and b of one channel, whose table row is at
 * rq (post-incremented by 12 bytes); the results replace them. Temporaries: u (multiplier),
 * v (round_hi), ue (shift_hi), ve and xe (the 64-bit sum). */
#define GEMM_RQ2_ASM(a, b)                                 \
    "ldr %[ue], [%[rq], #8]\n"                             \
    "ldrd %[u], %[v], [%[rq]], #12\n"                     \
    "and %[ve], %[" #a "], #0x80000000\n"                   \
    "orr %[ve], %[ve], #0x40000000\n"                        \
    "add %[xe], %[v], %[" #a "], asr #31\n"                \
    "smlal %[ve], %[xe], %[" #a "], %[u]\n"                  \
    "asr %[" #a "], %[xe], %[ue]\n"                         \
    "ssat %[" #a "], #8, %[" #a "]\n"                      \
    "and %[ve], %[" #b "], #0x80000000\n"                   \
    "orr %[ve], %[ve], #0x40000000\n"                        \
    "add %[xe], %[v], %[" #b "], asr #31\n"                \
    "smlal %[ve], %[xe], %[" #b "], %[u]\n"                  \
    "asr %[" #b "], %[xe], %[ue]\n"                         \
    "ssat %[" #b "], #8, %[" #b "]\n"

/* The common case in one piece: two widened rows, k a multiple of 4 (every pair's weights
 * word-aligned, no tail), the full requantization form. Per pair of channels, one assembly
 * block runs the k / 4 groups (two per loop turn) and requantizes the four sums. */
static void gemm_pairs_wide_full(const edgec_gemm_s8_t *g, const int16_t *wide, int8_t *o0, int8_t *o1)
{
    const int32_t n = g->n, groups = g->k / 4;
    const int32_t *bias = g->bias, *rq = g->requant;
    const int8_t *w = g->weights;
    int32_t oc;
    for (oc = 0; oc + 2 <= n; oc += 2, bias += 2) {
        const int16_t *q = wide, *end = wide + 8 * groups;
        int32_t s00 = bias[0], s01 = bias[1], s10 = bias[0], s11 = bias[1];
        int32_t u, v, ue, ve, xe, xo;
        __asm__("sub %[u], %[end], %[q]\n"
                "tst %[u], #16\n"
                "beq 2f\n" GEMM_GROUP_ASM(GEMM_LOAD_W_ALIGNED) "2:\n"
                "cmp %[q], %[end]\n"
                "beq 3f\n"
                "1:\n" GEMM_GROUP_ASM(GEMM_LOAD_W_ALIGNED) GEMM_GROUP_ASM(GEMM_LOAD_W_ALIGNED)
                "cmp %[q], %[end]\n"
                "bne 1b\n"
                "3:\n" GEMM_RQ2_ASM(s00, s10) GEMM_RQ2_ASM(s01, s11)
                : [s00] "+r"(s00), [s01] "+r"(s01), [s10] "+r"(s10), [s11] "+r"(s11), [w] "+r"(w), [q] "+r"(q),
                  [rq] "+r"(rq), [u] "=&r"(u), [v] "=&r"(v), [ue] "=&r"(ue), [ve] "=&r"(ve), [xe] "=&r"(xe),
                  [xo] "=&r"(xo)
                : [end] "r"(end)
                : "cc", "memory");
        o0[oc] = (int8_t)s00;
        o0[oc + 1] = (int8_t)s01;
        o1[oc] = (int8_t)s10;
        o1[oc + 1] = (int8_t)s11;
    }
}
#endif

#if EDGEC_HELIUM
/* requant_out (full form) of a channel's two sums a and b, its table row at *rq. */
ALWAYS_INLINE void requant2_full(int32_t *a, int32_t *b, const int32_t *rq)
{
    int32_t s00 = *a, s10 = *b, u, v, ue, ve, xe;
    __asm__(GEMM_RQ2_ASM(s00, s10)
            : [s00] "+r"(s00), [s10] "+r"(s10), [rq] "+r"(rq), [u] "=&r"(u), [v] "=&r"(v), [ue] "=&r"(ue),
              [ve] "=&r"(ve), [xe] "=&r"(xe)
            :
            : "memory");
    *a = s00;
    *b = s10;
}

/* The sums of one row (two: and of r1) with a pair of channels' interleaved weights (*wp
 * advances past them) added to acc (r0's two channels, then r1's). Per 16 k, two gathers of
 * words at offsets (0, 8, 16, 24) and (4, 12, 20, 28) (even, odd) take the pair's two weight
 * rows out of their groups of four and VMLADAVA adds each 16-lane dot product; the k % 16
 * last with predicated (zeroing) loads. k a multiple of 4. */
ALWAYS_INLINE void mve_pair_sums(const int8_t **wp, const int8_t *r0, const int8_t *r1, int32_t k, int two,
                                 uint32x4_t even, uint32x4_t odd, int32_t acc[4])
{
    const int32_t k16 = k & ~15;
    const int8_t *w = *wp;
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    int32_t i;
    for (i = 0; i < k16; i += 16, w += 32) {
        const int32_t *const words = (const int32_t *)(const void *)w;
        const int8x16_t u = vreinterpretq_s8_s32(vldrwq_gather_offset_s32(words, even));
        const int8x16_t v = vreinterpretq_s8_s32(vldrwq_gather_offset_s32(words, odd));
        const int8x16_t x = vldrbq_s8(r0 + i);
        a00 = vmladavaq_s8(a00, x, u);
        a01 = vmladavaq_s8(a01, x, v);
        if (two) {
            const int8x16_t y = vldrbq_s8(r1 + i);
            a10 = vmladavaq_s8(a10, y, u);
            a11 = vmladavaq_s8(a11, y, v);
        }
    }
    if (k16 < k) { /* 4, 8 or 12 left: zeroing loads of the lanes that are there */
        const int32_t left = k - k16;
        const mve_pred16_t lanes = vctp32q((uint32_t)left / 4u), bytes = vctp8q((uint32_t)left);
        const int32_t *const words = (const int32_t *)(const void *)w;
        const int8x16_t u = vreinterpretq_s8_s32(vldrwq_gather_offset_z_s32(words, even, lanes));
        const int8x16_t v = vreinterpretq_s8_s32(vldrwq_gather_offset_z_s32(words, odd, lanes));
        const int8x16_t x = vldrbq_z_s8(r0 + i, bytes);
        a00 = vmladavaq_s8(a00, x, u);
        a01 = vmladavaq_s8(a01, x, v);
        if (two) {
            const int8x16_t y = vldrbq_z_s8(r1 + i, bytes);
            a10 = vmladavaq_s8(a10, y, u);
            a11 = vmladavaq_s8(a11, y, v);
        }
        w += 2 * left;
    }
    acc[0] = a00, acc[1] = a01, acc[2] = a10, acc[3] = a11;
    *wp = w;
}

/* Helium (MVE) on the Cortex-M55/M85: the pairs of channels of one or two rows (r1 NULL:
 * one), straight from the int8 rows (no widening), by mve_pair_sums: per 16 k and pair, 64
 * MACs in 8 instructions. k a multiple of 4, n even. */
ALWAYS_INLINE void gemm_pairs_mve_body(const edgec_gemm_s8_t *g, const int8_t *r0, const int8_t *r1, int8_t *o0,
                                       int8_t *o1, int two, int full)
{
    static const uint32_t offsets[4] = {0u, 8u, 16u, 24u};
    const uint32x4_t even = vld1q_u32(offsets), odd = vaddq_n_u32(even, 4u);
    const int32_t k = g->k, n = g->n;
    const int32_t clamp[3] = {g->output_zero_point, g->act_min, g->act_max};
    const int32_t *bias = g->bias, *rq = g->requant;
    const int8_t *w = g->weights;
    static const uint32_t lanes[4] = {0u, 1u, 2u, 3u};
    const uint32x4_t table_rows = vmulq_n_u32(vld1q_u32(lanes), 12u);
    dw_mve_t v;
    int32_t sums[2][4]; /* [row][channel]: the sums of four channels, requantized together */
    int32_t oc;
    v.zp = (rq[1] >> rq[2]) + g->output_zero_point; /* what the table holds, what it leaves */
    v.lo = g->act_min;
    v.hi = g->act_max;
    for (oc = 0; oc + 2 <= n; oc += 2, bias += 2, rq += 6) {
        int32_t acc[4] = {bias[0], bias[1], bias[0], bias[1]};
        int32_t a00, a01, a10, a11;
        mve_pair_sums(&w, r0, r1, k, two, even, odd, acc);
        a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
        if (oc % 4 == 0 && oc + 4 <= n) { /* the first pair of four channels: kept */
            sums[0][0] = a00, sums[0][1] = a01, sums[1][0] = a10, sums[1][1] = a11;
            continue;
        }
        if (oc % 4 == 2) { /* the second: the four requantized in vectors */
            sums[0][2] = a00, sums[0][3] = a01, sums[1][2] = a10, sums[1][3] = a11;
            vstrbq_s32(o0 + oc - 2, dw_requant_mve(vldrwq_s32(sums[0]), rq - 6, table_rows, &v));
            if (two) {
                vstrbq_s32(o1 + oc - 2, dw_requant_mve(vldrwq_s32(sums[1]), rq - 6, table_rows, &v));
            }
            continue;
        }
        if (full) { /* a last pair alone */
            requant2_full(&a00, &a10, rq);
            requant2_full(&a01, &a11, rq + 3);
        } else {
            a00 = requant_out(a00, rq, clamp, 0);
            a01 = requant_out(a01, rq + 3, clamp, 0);
            a10 = requant_out(a10, rq, clamp, 0);
            a11 = requant_out(a11, rq + 3, clamp, 0);
        }
        o0[oc] = (int8_t)a00;
        o0[oc + 1] = (int8_t)a01;
        if (two) {
            o1[oc] = (int8_t)a10;
            o1[oc + 1] = (int8_t)a11;
        }
    }
}

static void gemm_pairs_mve(const edgec_gemm_s8_t *g, const int8_t *r0, const int8_t *r1, int8_t *o0, int8_t *o1,
                           int full)
{
    if (r1 != NULL) {
        if (full) {
            gemm_pairs_mve_body(g, r0, r1, o0, o1, 1, 1);
        } else {
            gemm_pairs_mve_body(g, r0, r1, o0, o1, 1, 0);
        }
    } else if (full) {
        gemm_pairs_mve_body(g, r0, r0, o0, o0, 0, 1);
    } else {
        gemm_pairs_mve_body(g, r0, r0, o0, o0, 0, 0);
    }
}
#endif

/* The k4 first products of one row with a pair of channels' interleaved weights (*wp
 * advances past them), added to *s00 and *s01; the row split as it comes. */
ALWAYS_INLINE void pair_sums_one_row(const int8_t **wp, const int8_t *r0, int32_t k4, int32_t *s00p, int32_t *s01p)
{
    const int8_t *w = *wp;
    int32_t s00 = *s00p, s01 = *s01p;
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP == 1
    if (k4 > 0) { /* 12 instructions per 8 MACs (the compiler's loop spills) */
        const int8_t *x = r0;
        const int8_t *const end = r0 + k4;
        int32_t u, v, ue, ve, xe, xo;
        __asm__("1:\n"
                "ldr %[xo], [%[x]], #4\n"
                "ldr %[v], [%[w], #4]\n"
                "ldr %[u], [%[w]], #8\n"
                "sxtb16 %[xe], %[xo]\n"
                "sxtb16 %[xo], %[xo], ror #8\n"
                "sxtb16 %[ue], %[u]\n"
                "sxtb16 %[u], %[u], ror #8\n"
                "sxtb16 %[ve], %[v]\n"
                "sxtb16 %[v], %[v], ror #8\n"
                "smlad %[s00], %[xe], %[ue], %[s00]\n"
                "smlad %[s00], %[xo], %[u], %[s00]\n"
                "smlad %[s01], %[xe], %[ve], %[s01]\n"
                "smlad %[s01], %[xo], %[v], %[s01]\n"
                "cmp %[x], %[end]\n"
                "bne 1b\n"
                : [s00] "+r"(s00), [s01] "+r"(s01), [x] "+r"(x), [w] "+r"(w), [u] "=&r"(u), [v] "=&r"(v),
                  [ue] "=&r"(ue), [ve] "=&r"(ve), [xe] "=&r"(xe), [xo] "=&r"(xo)
                : [end] "r"(end)
                : "cc", "memory");
    }
#else
    int32_t i;
    for (i = 0; i < k4; i += 4, w += 8) {
        const int32_t x = load4(r0 + i), u = load4(w), v = load4(w + 4);
        const int32_t xe = SXTB16(x), xo = SXTB16_ROR8(x);
        s00 = SMLAD(xe, SXTB16(u), s00);
        s00 = SMLAD(xo, SXTB16_ROR8(u), s00);
        s01 = SMLAD(xe, SXTB16(v), s01);
        s01 = SMLAD(xo, SXTB16_ROR8(v), s01);
    }
#endif
    *s00p = s00, *s01p = s01;
    *wp = w;
}

/* Rows r0 and r1 (r1 may be NULL) times every weight row; o0/o1 receive n outputs each.
 * wide: scratch for the two widened rows (2 * k int16), or NULL to split the int8 rows in
 * the inner loop (a little slower, no scratch). Weights: per pair of output channels, their
 * k4 = k & ~3 first values interleaved in groups of four (w0[0..3], w1[0..3], w0[4..7], ...),
 * then the k - k4 last of w0, then those of w1 (2 * k bytes a pair); an odd last channel's
 * row follows as it is. */
ALWAYS_INLINE void gemm_rows_body(const edgec_gemm_s8_t *g, const int8_t *r0, const int8_t *r1, int16_t *wide,
                                  int8_t *o0, int8_t *o1, int full)
{
    /* Fields in locals: every int8 store may alias *g, which would force reloads. */
    const int32_t k = g->k, n = g->n, k4 = g->k & ~3, tail = g->k - (g->k & ~3);
    const int32_t clamp[3] = {g->output_zero_point, g->act_min, g->act_max};
    const int32_t *const bias = g->bias, *const rq = g->requant;
    const int8_t *const weights = g->weights;
    int32_t oc;
#if EDGEC_HELIUM
    if (k4 == k && k > 0 && n % 2 == 0) {
        gemm_pairs_mve(g, r0, r1, o0, o1, full);
        return;
    }
#endif
    if (r1 != NULL && wide != NULL) {
        widen_rows(r0, r1, wide, k);
    }
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP == 1
    if (full && r1 != NULL && wide != NULL && k4 == k && k > 0 && n % 2 == 0) {
        gemm_pairs_wide_full(g, wide, o0, o1);
        return;
    }
#endif
    for (oc = 0; oc + 2 <= n; oc += 2) {
        const int8_t *w = weights + (size_t)oc * k;
        const int8_t *const t0 = w + 2 * k4, *const t1 = t0 + tail;
        int32_t s00 = bias[oc], s01 = bias[oc + 1];
        int32_t i;
        if (r1 != NULL) {
            int32_t s10 = s00, s11 = s01;
            if (wide != NULL && k4 > 0) { /* the rows already split (widened) */
                const int16_t *q = wide;
                int32_t acc[4] = {s00, s01, s10, s11};
                gemm_2x2_wide(&w, &q, k4 / 4, acc);
                s00 = acc[0], s01 = acc[1], s10 = acc[2], s11 = acc[3];
            } else { /* no room to widen them: split both rows as they come */
                for (i = 0; i < k4; i += 4, w += 8) {
                    const int32_t x = load4(r0 + i), y = load4(r1 + i);
                    const int32_t u = load4(w), v = load4(w + 4);
                    const int32_t ue = SXTB16(u), uo = SXTB16_ROR8(u);
                    const int32_t ve = SXTB16(v), vo = SXTB16_ROR8(v);
                    MAC_2X2(SXTB16(x), SXTB16_ROR8(x), SXTB16(y), SXTB16_ROR8(y));
                }
            }
            for (i = 0; i < tail; ++i) {
                s00 += (int32_t)r0[k4 + i] * t0[i];
                s01 += (int32_t)r0[k4 + i] * t1[i];
                s10 += (int32_t)r1[k4 + i] * t0[i];
                s11 += (int32_t)r1[k4 + i] * t1[i];
            }
            {
                const int8_t q10 = requant_out(s10, rq + 3 * oc, clamp, full);
                const int8_t q11 = requant_out(s11, rq + 3 * (oc + 1), clamp, full);
                o1[oc] = q10;
                o1[oc + 1] = q11;
            }
        } else { /* one row (a batch-1 FC, an odd last pixel): split it as it comes */
            pair_sums_one_row(&w, r0, k4, &s00, &s01);
            for (i = 0; i < tail; ++i) {
                s00 += (int32_t)r0[k4 + i] * t0[i];
                s01 += (int32_t)r0[k4 + i] * t1[i];
            }
        }
        {
            const int8_t q00 = requant_out(s00, rq + 3 * oc, clamp, full);
            const int8_t q01 = requant_out(s01, rq + 3 * (oc + 1), clamp, full);
            o0[oc] = q00;
            o0[oc + 1] = q01;
        }
    }
    if (oc < n) { /* an odd channel count: the last weight row alone, from the int8 rows */
        const int8_t *w0 = weights + (size_t)oc * k;
        int32_t s0 = bias[oc], s1 = bias[oc];
        int32_t i;
        for (i = 0; i < k; ++i) {
            s0 += (int32_t)r0[i] * w0[i];
            if (r1 != NULL) {
                s1 += (int32_t)r1[i] * w0[i];
            }
        }
        {
            const int8_t q0 = requant_out(s0, rq + 3 * oc, clamp, full);
            const int8_t q1 = r1 != NULL ? requant_out(s1, rq + 3 * oc, clamp, full) : 0;
            o0[oc] = q0;
            if (r1 != NULL) {
                o1[oc] = q1;
            }
        }
    }
}

static void gemm_rows(const edgec_gemm_s8_t *g, const int8_t *r0, const int8_t *r1, int16_t *wide, int8_t *o0,
                      int8_t *o1)
{
    if (full_range(g->output_zero_point, g->act_min, g->act_max)) {
        gemm_rows_body(g, r0, r1, wide, o0, o1, 1);
    } else {
        gemm_rows_body(g, r0, r1, wide, o0, o1, 0);
    }
}

/* Where the two rows being computed are widened: into the outputs of later rows, which are
 * not written yet (the output never overlaps the input), so no scratch memory is needed:
 * the part of output[written, total) after a 4-byte boundary, if 2 * k int16 fit there;
 * else NULL (the last rows of a layer, or a small layer: the int8 rows are split in the
 * inner loop instead). */
static int16_t *unwritten_tail(int8_t *output, size_t written, size_t total, int32_t k)
{
    const size_t start = written + ((4u - ((uintptr_t)(output + written) & 3u)) & 3u);
    return start + 4u * (size_t)k <= total ? (int16_t *)(void *)(output + start) : NULL;
}

void edgec_fc_fast_s8(const edgec_gemm_s8_t *p, const int8_t *input, int8_t *output)
{
    const size_t total = (size_t)p->rows * p->n;
    int32_t r;
    for (r = 0; r + 2 <= p->rows; r += 2) {
        const int8_t *r0 = input + (size_t)r * p->k;
        int16_t *wide = unwritten_tail(output, (size_t)(r + 2) * p->n, total, p->k);
        gemm_rows(p, r0, r0 + p->k, wide, output + (size_t)r * p->n, output + (size_t)(r + 1) * p->n);
    }
    if (r < p->rows) {
        gemm_rows(p, input + (size_t)r * p->k, NULL, NULL, output + (size_t)r * p->n, NULL);
    }
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

/* The kh * kw * in_c inputs under output pixel `pixel`, in the weights' [kh][kw][c]
 * order, written to dst (taps in the padding hold the input zero point), then zeros up to
 * gemm.k (the compiler rounds k up to a multiple of 4 with zero weights); or, for a 1x1
 * convolution without padding (dst NULL), the input pixel itself. */
static const int8_t *conv_row(const edgec_conv_fast_s8_t *p, const int8_t *input, int32_t pixel, int8_t *dst)
{
    const int32_t ox = pixel % p->out.w;
    const int32_t oy = (pixel / p->out.w) % p->out.h;
    const int32_t b = pixel / (p->out.w * p->out.h);
    const int32_t c = p->in.c, kw = p->kw;
    const int32_t y0 = oy * p->stride_h - p->pad_top, x0 = ox * p->stride_w - p->pad_left;
    const int8_t zp = (int8_t)p->input_zero_point;
    int8_t *const row = dst;
    int32_t ky, kx;
    if (dst == NULL) {
        return input + (((size_t)b * p->in.h + y0) * p->in.w + x0) * c;
    }
    for (ky = 0; ky < p->kh; ++ky, dst += (size_t)kw * c) {
        const int32_t iy = y0 + ky * p->dil_h;
        const int8_t *src = input + ((size_t)b * p->in.h + (size_t)iy) * p->in.w * c;
        if (iy < 0 || iy >= p->in.h) {
            memset(dst, zp, (size_t)kw * c);
        } else if (p->dil_w == 1) { /* the row's taps are contiguous: one copy, padding around */
            const int32_t first = x0 < 0 ? (-x0 < kw ? -x0 : kw) : 0;
            const int32_t end = p->in.w - x0 < kw ? (p->in.w - x0 > first ? p->in.w - x0 : first) : kw;
            if (first > 0) {
                memset(dst, zp, (size_t)first * c);
            }
            copy_few(dst + (size_t)first * c, src + (size_t)(x0 + first) * c, (size_t)(end - first) * c);
            if (end < kw) {
                memset(dst + (size_t)end * c, zp, (size_t)(kw - end) * c);
            }
        } else {
            for (kx = 0; kx < kw; ++kx) {
                const int32_t ix = x0 + kx * p->dil_w;
                if (ix < 0 || ix >= p->in.w) {
                    memset(dst + (size_t)kx * c, zp, (size_t)c);
                } else {
                    memcpy(dst + (size_t)kx * c, src + (size_t)ix * c, (size_t)c);
                }
            }
        }
    }
    for (ky = (int32_t)(dst - row); ky < p->gemm.k; ++ky) {
        row[ky] = 0;
    }
    return row;
}

/* scratch: the two im2col rows (2 * k bytes; NULL for the 1x1 variant, which reads its rows
 * in place). The widened rows go to the output's unwritten tail. */
void edgec_conv_fast_s8(const edgec_conv_fast_s8_t *p, const int8_t *input, int8_t *output, int8_t *scratch)
{
    const int32_t pixels = p->out.n * p->out.h * p->out.w;
    const int32_t n = p->gemm.n, k = p->gemm.k;
    const size_t total = (size_t)pixels * n;
    int32_t px;
    for (px = 0; px + 2 <= pixels; px += 2) {
        const int8_t *r0 = conv_row(p, input, px, scratch);
        const int8_t *r1 = conv_row(p, input, px + 1, scratch != NULL ? scratch + k : NULL);
        int16_t *wide = unwritten_tail(output, (size_t)(px + 2) * n, total, k);
        gemm_rows(&p->gemm, r0, r1, wide, output + (size_t)px * n, output + (size_t)(px + 1) * n);
    }
    if (px < pixels) {
        gemm_rows(&p->gemm, conv_row(p, input, px, scratch), NULL, NULL, output + (size_t)px * n, NULL);
    }
}

void edgec_conv_1x1_fast_s8(const edgec_conv_fast_s8_t *p, const int8_t *input, int8_t *output)
{
    edgec_conv_fast_s8(p, input, output, NULL);
}

/* A convolution written in place over its input (the compiler places the input above the
 * output, see overlap.py): the output's unwritten tail still holds input, so the widened
 * rows go to `wide` (4 * k bytes) and the im2col rows to `rows` (2 * k bytes; NULL for a
 * 1x1 convolution, which reads its rows in place). Two pixels at a time, each pair read
 * before it is written. */
static void conv_fast_inplace(const edgec_conv_fast_s8_t *p, const int8_t *input, int8_t *output, int16_t *wide,
                              int8_t *rows)
{
    const int32_t pixels = p->out.n * p->out.h * p->out.w;
    const int32_t n = p->gemm.n, k = p->gemm.k;
    int32_t px;
    for (px = 0; px + 2 <= pixels; px += 2) {
        const int8_t *r0 = conv_row(p, input, px, rows);
        const int8_t *r1 = conv_row(p, input, px + 1, rows != NULL ? rows + k : NULL);
        gemm_rows(&p->gemm, r0, r1, wide, output + (size_t)px * n, output + (size_t)(px + 1) * n);
    }
    if (px < pixels) {
        gemm_rows(&p->gemm, conv_row(p, input, px, rows), NULL, NULL, output + (size_t)px * n, NULL);
    }
}

/* scratch: the widened rows (4 * k bytes, 4-byte aligned), then the two im2col rows. */
void edgec_conv_fast_inplace_s8(const edgec_conv_fast_s8_t *p, const int8_t *input, int8_t *output, int8_t *scratch)
{
    conv_fast_inplace(p, input, output, (int16_t *)(void *)scratch, scratch + 4 * (size_t)p->gemm.k);
}

/* scratch: the widened rows (4 * k bytes, 4-byte aligned). */
void edgec_conv_1x1_fast_inplace_s8(const edgec_conv_fast_s8_t *p, const int8_t *input, int8_t *output,
                                    int8_t *scratch)
{
    conv_fast_inplace(p, input, output, (int16_t *)(void *)scratch, NULL);
}

/* One row against a matrix in the pair layout (the gate products of recurrent_int.c): the
 * int32 sums bias[o] + sum_k w[o][k] * row[k], the input offset folded into the bias (the
 * compiler leaves m->input_zero_point at 0 for this kernel). */
void edgec_matrix_fast_s8(const edgec_matrix_int_t *m, const int8_t *row, int32_t *out)
{
    const int32_t k = m->k, n = m->n, k4 = m->k & ~3, tail = m->k - (m->k & ~3);
    const int32_t *const bias = m->bias;
    int32_t oc, i;
#if EDGEC_HELIUM
    static const uint32_t offsets[4] = {0u, 8u, 16u, 24u};
    const uint32x4_t even = vld1q_u32(offsets), odd = vaddq_n_u32(even, 4u);
#endif
    for (oc = 0; oc + 2 <= n; oc += 2) {
        const int8_t *w = m->weights + (size_t)oc * k;
        const int8_t *const t0 = w + 2 * k4, *const t1 = t0 + tail;
        int32_t s00 = bias[oc], s01 = bias[oc + 1];
#if EDGEC_HELIUM
        if (tail == 0 && k > 0) {
            int32_t acc[4] = {s00, s01, 0, 0};
            mve_pair_sums(&w, row, row, k, 0, even, odd, acc);
            out[oc] = acc[0];
            out[oc + 1] = acc[1];
            continue;
        }
#endif
        pair_sums_one_row(&w, row, k4, &s00, &s01);
        for (i = 0; i < tail; ++i) {
            s00 += (int32_t)row[k4 + i] * t0[i];
            s01 += (int32_t)row[k4 + i] * t1[i];
        }
        out[oc] = s00;
        out[oc + 1] = s01;
    }
    if (oc < n) { /* an odd channel count: the last row as it is */
        const int8_t *w0 = m->weights + (size_t)oc * k;
        int32_t s0 = bias[oc];
        for (i = 0; i < k; ++i) {
            s0 += (int32_t)row[i] * w0[i];
        }
        out[oc] = s0;
    }
}
