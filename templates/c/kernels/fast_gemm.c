/*
 * Optimized int8 matrix kernels for cores with the DSP extension (Cortex-M4/M7/M33; the
 * same C elsewhere: host builds, Cortex-M3): convolution as a matrix product (1x1 convolutions
 * read their rows in place, others through a two-pixel im2col scratch) and fully connected
 * layers. Bit-exact with the portable kernels (see fast_common.h).
 *
 * out[p][o] = requant(sum_k x[p][k] * w[o][k] + bias[o]), where bias[o] is the layer's bias
 * plus input_offset * sum_k w[o][k] (folded at compile time), so the inner loop never adds the
 * input offset; padded taps of the im2col rows hold the input zero point, whose product with
 * the folded offset cancels, as a zero does in the portable kernels.
 *
 * The weights and their per-channel constants are one stream of int32 words (emit_fast.py),
 * read front to back, with k4 = k rounded up to a multiple of 4 (zero weights):
 * - pairs (edgec_gemm_s8_t.stream): per pair of output channels a, b: bias[a], bias[b],
 *   doubled (2 * folded bias); their k4 weights in groups of four interleaved (a0..a3,
 *   b0..b3, a4..a7, ...); multiplier[a], multiplier[b]; r1[a] | r1[b] << 8 | K << 16 (r1 =
 *   -shift - 1, K = 2 * output zero point + 1: edgec_fp_requant2). An odd last channel:
 *   bias, its k4 weights, multiplier, r1 | K << 16.
 * - quads (edgec_fc1_fast_s8, a fully connected layer on one row, n a multiple of 4, k of 4):
 *   per four channels their folded biases (not doubled), per group of four k the four rows'
 *   words, the four multipliers, r1[0] | r1[1] << 8 | K << 16, r1[2] | r1[3] << 8 | K << 16.
 *
 * On DSP cores the products use SMLAD (two 16-bit multiply-accumulates): a 32-bit load brings
 * four int8 values, SXTB16 splits them into the pairs (0, 2) and, rotated by 8, (1, 3), and two
 * SMLADs take all four products. Two pixels' rows are widened (split and doubled with SADD16)
 * once into int16 words, and a routine in assembly (edgec_gemm2_dsp) runs all pairs of
 * channels: 15 instructions per 16 products, then the doubled sums' requantization in five
 * instructions each (edgec_fp_requant2: ASR, SMMLAR, ASR, ADD, SSAT). The doubled sums make
 * SMMLAR's rounding TFLM's; they need |sum| < 2^30, which the compiler checks. RV32 and the
 * Cortex-M0 read the same streams with plain multiply-adds (fast_scalar.h).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fast_common.h"
#include "fast_im2col.h"
#include "fast_scalar.h"

/* ---- the portable form of every path (host builds, odd rows, clamps inside int8) -------- */

/* One row's sums with a pair's two interleaved weight rows (b NULL: an odd last row alone,
 * stride 4 bytes per group instead of 8): SXTB16 and SMLAD on the int8 values as they come. */
FAST_COLD static void dot_pair(const int8_t *x, const int8_t *w, int32_t k, int32_t stride, int32_t *da, int32_t *db)
{
    int32_t a = 0, b = 0, i;
    for (i = 0; i + 4 <= k; i += 4, w += stride) {
        const int32_t v = load4(x + i), xe = SXTB16(v), xo = SXTB16_ROR8(v);
        const int32_t u = load4(w);
        a = SMLAD(xe, SXTB16(u), a);
        a = SMLAD(xo, SXTB16_ROR8(u), a);
        if (stride == 8) {
            const int32_t t = load4(w + 4);
            b = SMLAD(xe, SXTB16(t), b);
            b = SMLAD(xo, SXTB16_ROR8(t), b);
        }
    }
    for (; i < k; ++i) { /* the last group's k % 4 values */
        a += x[i] * w[i % 4];
        b += stride == 8 ? x[i] * w[4 + i % 4] : 0;
    }
    *da = a;
    *db = b;
}

/* Rows r0 and r1 (r1 NULL: one row) through the pair stream; o0/o1 receive n outputs each. */
FAST_COLD static void gemm_pairs_c(const edgec_gemm_s8_t *g, const int8_t *r0, const int8_t *r1, int8_t *o0, int8_t *o1)
{
    const int32_t k = g->k, k4 = (g->k + 3) & ~3, n = g->n, lo = g->act_min, hi = g->act_max;
    const int8_t *s = (const int8_t *)g->stream;
    int32_t oc;
    for (oc = 0; oc < n; oc += 2) {
        const int32_t two = oc + 1 < n, stride = two ? 8 : 4; /* bytes per group of four k */
        const int8_t *const w = s + 4 * (1 + two), *const tail = w + (k4 / 4) * stride;
        const int32_t rr = word_at(tail + 4 * (1 + two));
        int32_t da, db;
        dot_pair(r0, w, k, stride, &da, &db);
        o0[oc] = requant2_out(word_at(s) + 2 * da, word_at(tail), rr, 0, lo, hi);
        if (two) {
            o0[oc + 1] = requant2_out(word_at(s + 4) + 2 * db, word_at(tail + 4), rr, 1, lo, hi);
        }
        if (r1 != NULL) {
            dot_pair(r1, w, k, stride, &da, &db);
            o1[oc] = requant2_out(word_at(s) + 2 * da, word_at(tail), rr, 0, lo, hi);
            if (two) {
                o1[oc + 1] = requant2_out(word_at(s + 4) + 2 * db, word_at(tail + 4), rr, 1, lo, hi);
            }
        }
        s = tail + 4 * (2 + two);
    }
}

#if EDGEC_DSP_ASM
/* ---- DSP cores: two widened rows against every pair of channels, in assembly ---------------
 * Arguments (one pointer, r0): the fields in the order the routine loads them. */
typedef struct {
    const int32_t *wide, *wide_end; /* the widened rows: per group of four k, row 0's words (x0, x2),
                                       (x1, x3), doubled, then row 1's */
    int32_t out1;                   /* row 1's outputs minus row 0's, in bytes */
    const int32_t *stream_end;      /* after the last pair's record (n even) */
    int32_t skip;                   /* (4 - groups % 4) % 4: groups the first loop turn skips */
    const int32_t *stream;
    int8_t *out;
} gemm2_args_t;
void edgec_gemm2_dsp(const gemm2_args_t *a);

/* One group of four k: a pair's two weight words (r4, r6, split into r4/r5 and r6/r7) against
 * the two rows' widened words (r8, r9): 15 instructions (60 bytes), 16 products into r0..r3. */
#define GEMM2_GROUP                \
    "ldrd r4, r6, [r10], #8\n"     \
    "ldrd r8, r9, [r11], #8\n"     \
    "sxtb16 r5, r4, ror #8\n"      \
    "sxtb16 r4, r4\n"              \
    "sxtb16 r7, r6, ror #8\n"      \
    "sxtb16 r6, r6\n"              \
    "smlad r0, r8, r4, r0\n"       \
    "smlad r0, r9, r5, r0\n"       \
    "smlad r1, r8, r6, r1\n"       \
    "smlad r1, r9, r7, r1\n"       \
    "ldrd r8, r9, [r11], #8\n"     \
    "smlad r2, r8, r4, r2\n"       \
    "smlad r2, r9, r5, r2\n"       \
    "smlad r3, r8, r6, r3\n"       \
    "smlad r3, r9, r7, r3\n"
/* edgec_fp_requant2 of the doubled sum in `a` with multiplier `m`, r1 in r6's low byte and K
 * in r7, saturated to int8 (r8 a temporary). */
#define REQUANT2(a, m)                 \
    "asr r8, " a ", #31\n"             \
    "smmlar " a ", " a ", " m ", r8\n" \
    "asr " a ", " a ", r6\n"           \
    "add " a ", " a ", r7\n"           \
    "ssat " a ", #8, " a ", asr #1\n"

/* r0..r3: the sums (row 0 channel a, b, row 1 channel a, b); r10: the stream; r11: the
 * widened rows; r12: row 0's outputs; lr: the rows' end; the stack: wide, wide_end, out1,
 * stream_end, the loop's entry. The groups loop is unrolled four times and entered where
 * groups % 4 of them remain (each group's code the same size). */
__asm__(".pushsection .text.edgec_gemm2_dsp,\"ax\",%progbits\n"
        ".syntax unified\n"
        ".thumb\n"
        ".p2align 2\n"
        ".global edgec_gemm2_dsp\n"
        ".type edgec_gemm2_dsp, %function\n"
        ".thumb_func\n"
        "edgec_gemm2_dsp:\n"
        "push {r4-r11, lr}\n"
        "ldm r0, {r1-r7}\n"
        "adr r8, .Lgemm2_loop\n"
        "movs r9, #(.Lgemm2_second - .Lgemm2_loop)\n"
        "mla r5, r5, r9, r8\n"
        "orr r5, r5, #1\n"
        "push {r1-r5}\n"
        "mov r10, r6\n"
        "mov r12, r7\n"
        "1:\n"
        "ldrd r0, r1, [r10], #8\n"
        "mov r2, r0\n"
        "mov r3, r1\n"
        "ldrd r11, lr, [sp]\n"
        "ldr r4, [sp, #16]\n"
        "bx r4\n"
        ".p2align 2\n"
        ".Lgemm2_loop:\n" GEMM2_GROUP ".Lgemm2_second:\n" GEMM2_GROUP GEMM2_GROUP GEMM2_GROUP "cmp r11, lr\n"
        "bne .Lgemm2_loop\n"
        ".if (.Lgemm2_second - .Lgemm2_loop) != 60\n"
        ".error \"GEMM2_GROUP must be 60 bytes\"\n"
        ".endif\n"
        "ldrd r4, r5, [r10], #8\n"
        "ldr r6, [r10], #4\n"
        "asr r7, r6, #16\n" REQUANT2("r0", "r4") REQUANT2("r2", "r4") "lsr r6, r6, #8\n" REQUANT2("r1", "r5")
            REQUANT2("r3", "r5") "ldr r8, [sp, #8]\n"
        "strb r2, [r12, r8]\n"
        "strb r0, [r12], #1\n"
        "strb r3, [r12, r8]\n"
        "strb r1, [r12], #1\n"
        "ldr r8, [sp, #12]\n"
        "cmp r10, r8\n"
        "bne 1b\n"
        "add sp, #20\n"
        "pop {r4-r11, pc}\n"
        ".size edgec_gemm2_dsp, .-edgec_gemm2_dsp\n"
        ".popsection\n");

/* The same product on two int8 rows as they are (no room to widen them), k4 bytes each
 * readable (k a multiple of 4, or rows padded with zeros): each row's word split per group,
 * 19 instructions per 16 products; the sums start at the folded bias (half the doubled one)
 * and are doubled before the requantization. Arguments as edgec_gemm2_dsp's, but for the
 * rows. */
typedef struct {
    const int8_t *x0, *x0_end, *x1; /* the rows */
    int32_t out1;
    const int32_t *stream_end;
    const int32_t *stream;
    int8_t *out;
} gemm2u_args_t;
void edgec_gemm2u_dsp(const gemm2u_args_t *a);

#define GEMM2U_ROW(x, a, b)              \
    "ldr r8, [" x "], #4\n"              \
    "sxtb16 r9, r8, ror #8\n"            \
    "sxtb16 r8, r8\n"                    \
    "smlad " a ", r8, r4, " a "\n"       \
    "smlad " a ", r9, r5, " a "\n"       \
    "smlad " b ", r8, r6, " b "\n"       \
    "smlad " b ", r9, r7, " b "\n"
#define GEMM2U_GROUP                     \
    "ldrd r4, r6, [r10], #8\n"           \
    "sxtb16 r5, r4, ror #8\n"            \
    "sxtb16 r4, r4\n"                    \
    "sxtb16 r7, r6, ror #8\n"            \
    "sxtb16 r6, r6\n" GEMM2U_ROW("r11", "r0", "r1") GEMM2U_ROW("r12", "r2", "r3")

/* r0..r3: the sums; r10: the stream; r11, r12: the rows; lr: row 0's end; the stack: x0,
 * x0_end, x1, out1, stream_end, out (stored back after each pair). */
__asm__(".pushsection .text.edgec_gemm2u_dsp,\"ax\",%progbits\n"
        ".syntax unified\n"
        ".thumb\n"
        ".p2align 2\n"
        ".global edgec_gemm2u_dsp\n"
        ".type edgec_gemm2u_dsp, %function\n"
        ".thumb_func\n"
        "edgec_gemm2u_dsp:\n"
        "push {r4-r11, lr}\n"
        "ldm r0, {r1-r7}\n"
        "mov r10, r6\n"
        "push {r1-r5, r7}\n"
        "1:\n"
        "ldrd r0, r1, [r10], #8\n"
        "asr r0, r0, #1\n"
        "asr r1, r1, #1\n"
        "mov r2, r0\n"
        "mov r3, r1\n"
        "ldrd r11, lr, [sp]\n"
        "ldr r12, [sp, #8]\n"
        "2:\n" GEMM2U_GROUP "cmp r11, lr\n"
        "bne 2b\n"
        "lsl r0, r0, #1\n"
        "lsl r1, r1, #1\n"
        "lsl r2, r2, #1\n"
        "lsl r3, r3, #1\n"
        "ldrd r4, r5, [r10], #8\n"
        "ldr r6, [r10], #4\n"
        "asr r7, r6, #16\n" REQUANT2("r0", "r4") REQUANT2("r2", "r4") "lsr r6, r6, #8\n" REQUANT2("r1", "r5")
            REQUANT2("r3", "r5") "ldr r8, [sp, #12]\n"
        "ldr r9, [sp, #20]\n"
        "strb r2, [r9, r8]\n"
        "strb r0, [r9], #1\n"
        "strb r3, [r9, r8]\n"
        "strb r1, [r9], #1\n"
        "str r9, [sp, #20]\n"
        "ldr r8, [sp, #16]\n"
        "cmp r10, r8\n"
        "bne 1b\n"
        "add sp, #24\n"
        "pop {r4-r11, pc}\n"
        ".size edgec_gemm2u_dsp, .-edgec_gemm2u_dsp\n"
        ".popsection\n");

/* Two rows widened for edgec_gemm2_dsp: per group of four k, each row's (x0, x2), (x1, x3) as
 * int16 pairs, doubled; the last group of a k that is not a multiple of 4 filled with zeros. */
static void widen2(const int8_t *r0, const int8_t *r1, int32_t *wide, int32_t k)
{
    int32_t i;
    for (i = 0; i + 4 <= k; i += 4, wide += 4) {
        const int32_t x = load4(r0 + i), y = load4(r1 + i);
        const int32_t xe = SXTB16(x), xo = SXTB16_ROR8(x), ye = SXTB16(y), yo = SXTB16_ROR8(y);
        wide[0] = SADD16(xe, xe);
        wide[1] = SADD16(xo, xo);
        wide[2] = SADD16(ye, ye);
        wide[3] = SADD16(yo, yo);
    }
    if (i < k) {
        int8_t x[4] = {0, 0, 0, 0}, y[4] = {0, 0, 0, 0};
        memcpy(x, r0 + i, (size_t)(k - i));
        memcpy(y, r1 + i, (size_t)(k - i));
        wide[0] = pack16(2 * x[0], 2 * x[2]);
        wide[1] = pack16(2 * x[1], 2 * x[3]);
        wide[2] = pack16(2 * y[0], 2 * y[2]);
        wide[3] = pack16(2 * y[1], 2 * y[3]);
    }
}
#endif

/* Rows r0 and r1 (r1 may be NULL) times every weight row; o0/o1 receive n outputs each. wide:
 * room for the two widened rows (4 * k4 bytes, word-aligned), or NULL; whole: the rows may
 * be read in whole words (k4 bytes: k a multiple of 4, or rows padded with zeros). */
static void gemm_rows(const edgec_gemm_s8_t *g, const int8_t *r0, const int8_t *r1, int32_t *wide, int8_t *o0,
                      int8_t *o1, int whole)
{
#if EDGEC_DSP_ASM
    const int32_t k4 = (g->k + 3) & ~3, pairs = g->n / 2;
    if (wide != NULL && pairs > 0 && full_range(g->act_min, g->act_max)) {
        const int32_t record = 5 + k4 / 2; /* words per pair */
        gemm2_args_t a;
        widen2(r0, r1 != NULL ? r1 : r0, wide, g->k);
        a.wide = wide;
        a.wide_end = wide + k4;
        a.out1 = r1 != NULL ? (int32_t)(o1 - o0) : 0; /* one row: row 0's stores come last */
        a.stream = g->stream;
        a.stream_end = g->stream + (size_t)pairs * record;
        a.skip = (4 - (k4 / 4) % 4) % 4;
        a.out = o0;
        edgec_gemm2_dsp(&a);
        if (g->n % 2 == 0) {
            return;
        }
        { /* the odd last channel */
            edgec_gemm_s8_t last = *g;
            last.n = 1;
            last.stream = a.stream_end;
            gemm_pairs_c(&last, r0, r1, o0 + g->n - 1, o1 != NULL ? o1 + g->n - 1 : NULL);
        }
        return;
    }
    if (whole && pairs > 0 && full_range(g->act_min, g->act_max)) { /* no room: the int8 rows */
        const int32_t record = 5 + k4 / 2;
        gemm2u_args_t a;
        a.x0 = r0;
        a.x0_end = r0 + k4;
        a.x1 = r1 != NULL ? r1 : r0;
        a.out1 = r1 != NULL ? (int32_t)(o1 - o0) : 0;
        a.stream = g->stream;
        a.stream_end = g->stream + (size_t)pairs * record;
        a.out = o0;
        edgec_gemm2u_dsp(&a);
        if (g->n % 2 != 0) {
            edgec_gemm_s8_t last = *g;
            last.n = 1;
            last.stream = a.stream_end;
            gemm_pairs_c(&last, r0, r1, o0 + g->n - 1, o1 != NULL ? o1 + g->n - 1 : NULL);
        }
        return;
    }
#elif EDGEC_SCALAR
    (void)wide;
    gemm_rows_scalar(g, r0, r1, o0, o1, whole);
    return;
#else
    (void)wide;
    (void)whole;
#endif
    gemm_pairs_c(g, r0, r1, o0, o1);
}

/* Where the two rows being computed are widened: into the outputs of later rows, which are
 * not written yet (the output never overlaps the input): the part of output[written, total)
 * after a 4-byte boundary, if 4 * k4 bytes fit there; else NULL (the last rows of a layer). */
static int32_t *unwritten_tail(int8_t *output, size_t written, size_t total, int32_t k)
{
    const size_t start = written + ((4u - ((uintptr_t)(output + written) & 3u)) & 3u);
    const size_t k4 = (size_t)((k + 3) & ~3);
    return start + 4u * k4 <= total ? (int32_t *)(void *)(output + start) : NULL;
}

void edgec_fc_fast_s8(const edgec_gemm_s8_t *p, const int8_t *input, int8_t *output)
{
    const size_t total = (size_t)p->rows * p->n;
    int32_t r;
    for (r = 0; r + 2 <= p->rows; r += 2) {
        const int8_t *r0 = input + (size_t)r * p->k;
        int32_t *wide = unwritten_tail(output, (size_t)(r + 2) * p->n, total, p->k);
        gemm_rows(p, r0, r0 + p->k, wide, output + (size_t)r * p->n, output + (size_t)(r + 1) * p->n, p->k % 4 == 0);
    }
    if (r < p->rows) {
        gemm_rows(p, input + (size_t)r * p->k, NULL, NULL, output + (size_t)r * p->n, NULL, p->k % 4 == 0);
    }
}

/* ---- a fully connected layer on one row: four channels at a time (the quad stream) -------- */

FAST_COLD static void fc1_quads_c(const edgec_gemm_s8_t *g, const int8_t *x, int8_t *out)
{
    const int32_t k = g->k, lo = g->act_min, hi = g->act_max;
    const int8_t *s = (const int8_t *)g->stream;
    int32_t oc, i, j;
    for (oc = 0; oc < g->n; oc += 4, out += 4) {
        const int8_t *w = s + 16;
        int32_t d[4] = {0, 0, 0, 0};
        for (i = 0; i < k; i += 4, w += 16) {
            for (j = 0; j < 16; ++j) {
                d[j / 4] += x[i + j % 4] * w[j];
            }
        }
        for (j = 0; j < 4; ++j) {
            const int32_t rr = word_at(w + 16 + 4 * (j / 2));
            out[j] = requant2_out(2 * (word_at(s + 4 * j) + d[j]), word_at(w + 4 * j), rr, j % 2, lo, hi);
        }
        s = w + 24;
    }
}

#if EDGEC_DSP_ASM
typedef struct {
    const int8_t *x, *x_end; /* the row */
    int32_t skip;            /* (4 - (k / 4) % 4) % 4: groups the first loop turn skips */
    const int32_t *stream_end;
    const int32_t *stream;
    int8_t *out;
} fc1_args_t;
void edgec_fc1_dsp(const fc1_args_t *a);

/* One group of four k: the row's word (r4, split into r4/r5) against the four channels' words
 * (LDM into r6..r9, each split through r12): 20 instructions (80 bytes), 16 products into
 * r0..r3. */
#define FC1_CHANNEL(acc, w)              \
    "sxtb16 r12, " w "\n"                \
    "sxtb16 " w ", " w ", ror #8\n"      \
    "smlad " acc ", r4, r12, " acc "\n" \
    "smlad " acc ", r5, " w ", " acc "\n"
#define FC1_GROUP                                                                                   \
    "ldr.w r4, [r11], #4\n"                                                                       \
    "ldmia.w r10!, {r6, r7, r8, r9}\n"                                                            \
    "sxtb16 r5, r4, ror #8\n"                                                                     \
    "sxtb16 r4, r4\n" FC1_CHANNEL("r0", "r6") FC1_CHANNEL("r1", "r7") FC1_CHANNEL("r2", "r8") \
        FC1_CHANNEL("r3", "r9")

/* r0..r3: the sums; r10: the stream; r11: the row; lr: its end; the stack: x, x_end, the
 * loop's entry, stream_end, out. The groups loop is unrolled four times and entered where
 * k / 4 % 4 groups remain. */
__asm__(".pushsection .text.edgec_fc1_dsp,\"ax\",%progbits\n"
        ".syntax unified\n"
        ".thumb\n"
        ".p2align 2\n"
        ".global edgec_fc1_dsp\n"
        ".type edgec_fc1_dsp, %function\n"
        ".thumb_func\n"
        "edgec_fc1_dsp:\n"
        "push {r4-r11, lr}\n"
        "ldm r0, {r1-r6}\n"
        QUAD_ENTRY_ASM(".Lfc1_loop", ".Lfc1_second")
        ".Lfc1_loop:\n" FC1_GROUP ".Lfc1_second:\n" FC1_GROUP FC1_GROUP FC1_GROUP "cmp r11, lr\n"
        "bne .Lfc1_loop\n"
        ".if (.Lfc1_second - .Lfc1_loop) != 80\n"
        ".error \"FC1_GROUP must be 80 bytes\"\n"
        ".endif\n"
        QUAD_TAIL_ASM("r12")
        "add sp, #20\n"
        "pop {r4-r11, pc}\n"
        ".size edgec_fc1_dsp, .-edgec_fc1_dsp\n"
        ".popsection\n");
#endif

/* A fully connected layer whose rows are taken one at a time (n and k multiples of 4). */
void edgec_fc1_fast_s8(const edgec_gemm_s8_t *p, const int8_t *input, int8_t *output)
{
    int32_t r;
    for (r = 0; r < p->rows; ++r) {
        const int8_t *x = input + (size_t)r * p->k;
        int8_t *out = output + (size_t)r * p->n;
#if EDGEC_DSP_ASM
        if (full_range(p->act_min, p->act_max) && p->k > 0 && p->n > 0) {
            fc1_args_t a;
            a.x = x;
            a.x_end = x + p->k;
            a.skip = (4 - (p->k / 4) % 4) % 4;
            a.stream = p->stream;
            a.stream_end = p->stream + (size_t)(p->n / 4) * (size_t)(p->k + 10);
            a.out = out;
            edgec_fc1_dsp(&a);
            continue;
        }
#endif
#if EDGEC_SCALAR
        fc1_quads_scalar(p, x, out);
        continue;
#endif
        fc1_quads_c(p, x, out);
    }
}

/* ---- convolutions ------------------------------------------------------------------------ */

/* Where a layer's last rows are widened when the output's tail has no room left: the input
 * bytes that no pixel from `px` on reads (pixels read rows in order: those above the first
 * input row of pixel px's window, in its image), if the compiler marks the input as read by
 * this layer alone (input_dies) and 4 * k4 bytes fit there; else NULL. */
static int32_t *consumed_head(const edgec_conv_fast_s8_t *p, const int8_t *input, int32_t px)
{
    const int32_t oy = (px / p->out.w) % p->out.h, b = px / (p->out.w * p->out.h);
    const int32_t y0 = oy * p->stride_h - p->pad_top;
    const size_t dead = ((size_t)b * p->in.h + (size_t)(y0 > 0 ? y0 : 0)) * p->in.w * p->in.c;
    const size_t start = (4u - ((uintptr_t)input & 3u)) & 3u;
    const size_t k4 = (size_t)((p->gemm.k + 3) & ~3);
    if (!p->input_dies || start + 4u * k4 > dead) {
        return NULL;
    }
    return (int32_t *)(void *)(int8_t *)(uintptr_t)(input + start);
}

/* The convolution two pixels at a time: each pair's rows are read (into `rows`, or in place
 * for a 1x1 convolution: rows NULL) before its outputs are written, in pixel order (the order
 * overlap.py models for a layer planned over its input). wide: room for the widened rows
 * (4 * k4 bytes), or NULL to use the output's unwritten tail where it has room, else the
 * input's consumed head (input_dies), else the rows are split as they come. */
static void conv_pixels(const edgec_conv_fast_s8_t *p, const int8_t *input, int8_t *output, int32_t *wide,
                        int8_t *rows)
{
    const edgec_im2col_t window = IM2COL_OF(p);
    const int32_t pixels = p->out.n * p->out.h * p->out.w;
    const int32_t n = p->gemm.n, k = p->gemm.k, k4 = (p->gemm.k + 3) & ~3;
    const size_t total = (size_t)pixels * n;
    int32_t px;
    for (px = 0; px < pixels; px += 2) {
        const int32_t two = px + 1 < pixels;
        const int8_t *r0 = conv_row(&window, input, px, rows, k4);
        const int8_t *r1 = two ? conv_row(&window, input, px + 1, rows != NULL ? rows + k4 : NULL, k4) : NULL;
        int32_t *room = wide != NULL ? wide : unwritten_tail(output, (size_t)(px + 2) * n, total, k);
        if (room == NULL) {
            room = consumed_head(p, input, px);
        }
        gemm_rows(&p->gemm, r0, r1, room, output + (size_t)px * n, two ? output + (size_t)(px + 1) * n : NULL,
                  rows != NULL || k % 4 == 0);
    }
}

/* scratch: the two im2col rows (2 * k4 bytes, k4 = k rounded up to 4). */
void edgec_conv_fast_s8(const edgec_conv_fast_s8_t *p, const int8_t *input, int8_t *output, int8_t *scratch)
{
    conv_pixels(p, input, output, NULL, scratch);
}

void edgec_conv_1x1_fast_s8(const edgec_conv_fast_s8_t *p, const int8_t *input, int8_t *output)
{
    conv_pixels(p, input, output, NULL, NULL);
}

/* The widened rows in scratch (4 * k4 bytes), then, but for a 1x1 convolution, the im2col
 * rows: a layer whose output's tail would leave many pixels without room (the compiler asks
 * for this where that is more than an eighth of them), or one planned over its input
 * (overlap.py), whose output's tail still holds input. */
void edgec_conv_fast_wide_s8(const edgec_conv_fast_s8_t *p, const int8_t *input, int8_t *output, int8_t *scratch)
{
    const size_t k4 = (size_t)((p->gemm.k + 3) & ~3);
    conv_pixels(p, input, output, (int32_t *)(void *)scratch, scratch + 4 * k4);
}

void edgec_conv_1x1_fast_wide_s8(const edgec_conv_fast_s8_t *p, const int8_t *input, int8_t *output, int8_t *scratch)
{
    conv_pixels(p, input, output, (int32_t *)(void *)scratch, NULL);
}

void edgec_conv_fast_inplace_s8(const edgec_conv_fast_s8_t *p, const int8_t *input, int8_t *output, int8_t *scratch)
{
    edgec_conv_fast_wide_s8(p, input, output, scratch);
}

void edgec_conv_1x1_fast_inplace_s8(const edgec_conv_fast_s8_t *p, const int8_t *input, int8_t *output,
                                    int8_t *scratch)
{
    edgec_conv_1x1_fast_wide_s8(p, input, output, scratch);
}

/* ---- the product of two activations (edgec_kernels_attention.h) -------------------------- */

/* The right operand b[k][n] (zero point 0) as gemm_rows' record stream (see the top of this
 * file): per pair of columns their doubled folded biases (-a_zero_point times each column's
 * sum), their values in interleaved groups of four (k padded with zeros to k4), the two
 * multipliers and the shift word; an odd last column's record alone. One requantization for
 * every column (a per-tensor scale). */
static void pack_records(const edgec_matmul_fast_s8_t *p, const int8_t *b, int32_t *stream)
{
    const int32_t k = p->mm.k, n = p->mm.n, k4 = (k + 3) & ~3;
    const uint32_t high = (uint32_t)(p->twice_zp_plus_1 & 0xFFFF) << 16, r1 = (uint32_t)p->r1;
    int32_t c, i, j;
    for (c = 0; c < n; c += 2) {
        const int32_t cols = n - c >= 2 ? 2 : 1;
        int8_t *w;
        for (j = 0; j < cols; ++j) {
            int32_t sum = 0;
            for (i = 0; i < k; ++i) {
                sum += b[(size_t)i * n + c + j];
            }
            *stream++ = 2 * -p->mm.a_zero_point * sum;
        }
        w = (int8_t *)(void *)stream;
        for (i = 0; i < k4; i += 4) {
            for (j = 0; j < 4 * cols; ++j) {
                const int32_t row = i + j % 4;
                *w++ = row < k ? b[(size_t)row * n + c + j / 4] : 0;
            }
        }
        stream += cols * k4 / 4;
        for (j = 0; j < cols; ++j) {
            *stream++ = p->multiplier;
        }
        *stream++ = (int32_t)(high | r1 | (cols == 2 ? r1 << 8 : 0u));
    }
}

/* scratch: the record stream (edgec_matmul_fast_s8_t), then two widened rows (4 * k4 bytes). */
void edgec_matmul_fast_s8(const edgec_matmul_fast_s8_t *p, const int8_t *a, const int8_t *b, int8_t *output,
                          int8_t *scratch)
{
    const edgec_matmul_int_t *mm = &p->mm;
    const int32_t m = mm->m, k = mm->k, n = mm->n, k4 = (k + 3) & ~3;
    int32_t *const stream = (int32_t *)(void *)scratch;
    int32_t *const wide = stream + (n / 2) * (5 + k4 / 2) + (n % 2) * (3 + k4 / 4);
    const edgec_gemm_s8_t g = {m, k, n, -128, 127, stream};
    const int whole = k == k4; /* the rows of a may be read in whole words */
    int32_t i0, i1, i2, r;
    for (i0 = 0; i0 < mm->batch[0]; ++i0) {
        for (i1 = 0; i1 < mm->batch[1]; ++i1) {
            for (i2 = 0; i2 < mm->batch[2]; ++i2, output += (size_t)m * n) {
                const int8_t *x = a + (size_t)i0 * mm->a_stride[0] + (size_t)i1 * mm->a_stride[1] +
                                  (size_t)i2 * mm->a_stride[2];
                pack_records(p,
                             b + (size_t)i0 * mm->b_stride[0] + (size_t)i1 * mm->b_stride[1] +
                                 (size_t)i2 * mm->b_stride[2],
                             stream);
                for (r = 0; r + 2 <= m; r += 2) {
                    const int8_t *r0 = x + (size_t)r * k;
                    gemm_rows(&g, r0, r0 + k, wide, output + (size_t)r * n, output + (size_t)(r + 1) * n, whole);
                }
                if (r < m) {
                    gemm_rows(&g, x + (size_t)r * k, NULL, wide, output + (size_t)r * n, NULL, whole);
                }
            }
        }
    }
}
