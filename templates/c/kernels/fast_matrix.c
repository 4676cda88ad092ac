/*
 * The gate products of the integer LSTM and GRU (recurrent_int.c) on DSP and Helium cores:
 * one int8 row against a matrix, int32 sums out (the recurrent kernel requantizes them per
 * gate, so these kernels have no requantization). The matrix rows go in pairs: per pair
 * their first k4 = k - k % 4 values interleaved in groups of four (one 8-byte step reads a
 * group of both), then the k % 4 last of each; an odd last row as it is
 * (emit_recurrent.pair_layout). Bit-exact with edgec_matrix_s8: the same sums in another order.
 */
#include <stddef.h>
#include <stdint.h>

#include "edgec_dsp.h"
#include "mve_common.h"

#if EDGEC_HELIUM
/* The sums of one row (two: and of r1) with a pair of channels' interleaved weights (*wp
 * advances past them) added to acc (r0's two channels, then r1's). Per 16 k, two gathers of
 * words at offsets (0, 8, 16, 24) and (4, 12, 20, 28) (even, odd) take the pair's two weight
 * rows out of their groups of four and VMLADAVA adds each 16-lane dot product; the k % 16
 * last with predicated (zeroing) loads. k a multiple of 4. */
MVE_INLINE void mve_pair_sums(const int8_t **wp, const int8_t *r0, const int8_t *r1, int32_t k, int two,
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

#endif

/* The k4 first products of one row with a pair of channels' interleaved weights (*wp
 * advances past them), added to *s00 and *s01; the row split as it comes. */
static inline void pair_sums_one_row(const int8_t **wp, const int8_t *r0, int32_t k4, int32_t *s00p, int32_t *s01p)
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
