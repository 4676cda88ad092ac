/*
 * Optimized int8 matrix products with 4-bit weights (edgec_kernels_int4.h): a convolution
 * (groups 1, through an im2col row unless 1x1) or a fully connected layer, out[r][o] =
 * requant(sum_k in[r][k] * w[o][k] + bias[o]), the bias folded as in fast_gemm.c.
 *
 * The stream holds per output channel its weight row as words of eight nibbles, then its
 * doubled folded bias, multiplier and shift word (r1 | K << 16): the int8 kernels'
 * requantization (edgec_fp_requant2, five instructions on the DSP extension).
 *
 * On cores with the DSP extension four rows (output pixels, batch rows) are widened at a
 * time into int16 pairs (x[j], x[j + 4]) per group of eight k, the pairs a masked shift
 * makes of a weight word; then one assembly loop takes every channel against the four
 * rows: per group of eight k one load, four masked shifts (AND with a shifted register) and
 * sixteen SMLADs, 29 instructions for 32 multiply-accumulates; then the bias, the four
 * requantizations and stores. Rows left over go one at a time. On Helium (Cortex-M55) the
 * int8 rows are read as they are: VLD2 splits 32 inputs into the even and odd k, which meet
 * the low and high nibbles of 16 weight bytes (sign-extended by shifts), two VMLADAVAs.
 *
 * Every sum is exact: the products are 4096 times the true ones, and chunks of at most 256
 * products stay within 2^30, each shifted back (>> 11: the doubled sum) before the next.
 *
 * Clustered weights (one table of at most 16 int8 values for the layer, `table` not NULL)
 * take the same loops: each byte j of a weight word holds the codes of (w[j], w[j + 4]), and
 * the table is expanded per call into scratch as pairs[b] = (table[b & 15], table[b >> 4]),
 * so each code byte is one UXTB and one load (33 instructions for 32 products).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "edgec_im2col.h"
#include "fast_common.h"
#include "mve_common.h"

#define W4_MASK 0xF000F000u
#define W4_CHUNK 32 /* groups of eight k per exact chunk (256 products) */

/* The pair (w[j], w[j + 4]) * 4096 of a word of eight nibbles. */
static inline int32_t w4_pair(uint32_t word, int32_t j)
{
    return (int32_t)((word << (12 - 4 * j)) & W4_MASK);
}

/* Row `row` of k int8 inputs (NULL: zeros) into slot r of the widened rows `wide` (`count`
 * rows interleaved): per group g of eight, per j < 4, the int16 pair (x[8g + j], x[8g + j + 4])
 * at wide[(g * 4 + j) * count + r]; inputs past k read 0. */
static void w4_widen(const int8_t *row, int32_t k, int32_t *wide, int32_t count, int32_t r)
{
    const int32_t groups = (k + 7) / 8, full = k / 8;
    int32_t g, j;
    int32_t *dst = wide + r;
    for (g = 0; g < full; ++g, dst += 4 * count) {
        if (row == NULL) {
            dst[0] = dst[count] = dst[2 * count] = dst[3 * count] = 0;
            continue;
        }
        {
            const int32_t a = load4(row + 8 * g), b = load4(row + 8 * g + 4);
            const uint32_t ae = (uint32_t)SXTB16(a), ao = (uint32_t)SXTB16_ROR8(a);
            const uint32_t be = (uint32_t)SXTB16(b), bo = (uint32_t)SXTB16_ROR8(b);
            dst[0] = (int32_t)((ae & 0xFFFFu) | (be << 16));
            dst[count] = (int32_t)((ao & 0xFFFFu) | (bo << 16));
            dst[2 * count] = (int32_t)((ae >> 16) | (be & 0xFFFF0000u));
            dst[3 * count] = (int32_t)((ao >> 16) | (bo & 0xFFFF0000u));
        }
    }
    if (g < groups) { /* the last, partial group */
        for (j = 0; j < 4; ++j) {
            const int32_t lo = row != NULL && 8 * g + j < k ? row[8 * g + j] : 0;
            const int32_t hi = row != NULL && 8 * g + j + 4 < k ? row[8 * g + j + 4] : 0;
            dst[j * count] = pack16(lo, hi);
        }
    }
}

/* A channel's record: its weight words, then 2 * bias, multiplier, shift word. */
static inline const int32_t *w4_record(const edgec_gemm_w4_s8_t *g, int32_t o)
{
    return g->stream + (size_t)o * (size_t)((g->k + 7) / 8 + 3);
}

/* The doubled sums of a record's weight words with the widened rows at q (`count` rows
 * interleaved, count 1 or 4), added to acc[0..count): nibbles, or (pairs not NULL) code
 * bytes through the expanded table. */
ALWAYS_INLINE void w4_dot(const uint32_t *w, const int32_t *q, int32_t groups, int32_t count, const int32_t *pairs,
                          int32_t *acc)
{
    int32_t done, g, j, r;
    for (done = 0; done < groups; done += W4_CHUNK) {
        const int32_t chunk = groups - done < W4_CHUNK ? groups - done : W4_CHUNK;
        int32_t s[4] = {0, 0, 0, 0};
        for (g = 0; g < chunk; ++g, ++w) {
            for (j = 0; j < 4; ++j, q += count) {
                const int32_t t = pairs != NULL ? pairs[(*w >> (8 * j)) & 0xFFu] : w4_pair(*w, j);
                for (r = 0; r < count; ++r) {
                    s[r] = SMLAD(q[r], t, s[r]);
                }
            }
        }
        for (r = 0; r < count; ++r) {
            acc[r] += pairs != NULL ? 2 * s[r] : s[r] >> 11;
        }
    }
}

#if EDGEC_DSP_ASM
/* One group of eight k of a weight row (post-incremented w) against four widened rows
 * (post-incremented q): 29 instructions, 32 products. */
/* Four widened rows' next pairs (post-incremented q) times the weight pair in t. */
#define W4_MACS4_ASM                              \
    "ldrd %[a], %[b], [%[q]], #8\n"              \
    "smlad %[s0], %[a], %[t], %[s0]\n"           \
    "smlad %[s1], %[b], %[t], %[s1]\n"           \
    "ldrd %[a], %[b], [%[q]], #8\n"              \
    "smlad %[s2], %[a], %[t], %[s2]\n"           \
    "smlad %[s3], %[b], %[t], %[s3]\n"
#define W4_PAIR_ASM(shift) "and %[t], %[m], %[p]" shift "\n" W4_MACS4_ASM
#define W4_GROUP_ASM                              \
    "ldr %[p], [%[w]], #4\n"                      \
    W4_PAIR_ASM(", lsl #12") W4_PAIR_ASM(", lsl #8") W4_PAIR_ASM(", lsl #4") W4_PAIR_ASM("")
/* edgec_fp_requant2 of s with multiplier m and shift word rr (registers; r1 in its low byte,
 * K in its high half), SSAT to int8. */
#define W4_RQ2_ASM(s, m, rr)                      \
    "asr %[t], %[" #s "], #31\n"                 \
    "smmlar %[" #s "], %[" #s "], %[" #m "], %[t]\n" \
    "asr %[" #s "], %[" #s "], %[" #rr "]\n"     \
    "add %[" #s "], %[" #s "], %[" #rr "], asr #16\n" \
    "ssat %[" #s "], #8, %[" #s "], asr #1\n"

/* A group of eight clustered weights: four code bytes, each one load from the expanded
 * table (at m) of the pair (w[j], w[j + 4]): 33 instructions, 32 products. */
#define W4_CODE_ASM(extract) extract "ldr %[t], [%[m], %[t], lsl #2]\n" W4_MACS4_ASM
#define W4_CODES_ASM                                                                   \
    "ldr %[p], [%[w]], #4\n"                                                           \
    W4_CODE_ASM("uxtb %[t], %[p]\n") W4_CODE_ASM("uxtb %[t], %[p], ror #8\n")          \
    W4_CODE_ASM("uxtb %[t], %[p], ror #16\n") W4_CODE_ASM("lsr %[t], %[p], #24\n")

/* What the loop keeps in memory while the registers hold the product. */
typedef struct {
    const int32_t *wide;
    int32_t bytes; /* a weight row's */
    int8_t *out;
    int32_t n;
    const int8_t *out_end;
} w4_loop_t;

/* Every channel against four widened rows: per channel its groups (GROUP), the doubled sums
 * (DOUBLE: the operand that turns a sum into twice the true one) plus the doubled bias, the
 * four requantizations and stores. */
#define W4_ROWS4_ASM(GROUP, DOUBLE)                                                                              \
    __asm__ volatile("0:\n"                                                                                    \
                     "ldr %[q], [%[st], #0]\n"                                                                 \
                     "ldr %[t], [%[st], #4]\n"                                                                 \
                     "add %[end], %[w], %[t]\n"                                                                \
                     "movs %[s0], #0\n"                                                                        \
                     "movs %[s1], #0\n"                                                                        \
                     "movs %[s2], #0\n"                                                                        \
                     "movs %[s3], #0\n"                                                                        \
                     "tst %[t], #4\n"                                                                          \
                     "beq 2f\n" GROUP "2:\n"                                                                   \
                     "cmp %[w], %[end]\n"                                                                      \
                     "beq 3f\n"                                                                                \
                     "1:\n" GROUP GROUP "cmp %[w], %[end]\n"                                                   \
                     "bne 1b\n"                                                                                \
                     "3:\n"                                                                                    \
                     "ldr %[b], [%[w]], #4\n"                                                                  \
                     "add %[s0], %[b], %[s0], " DOUBLE "\n"                                                    \
                     "add %[s1], %[b], %[s1], " DOUBLE "\n"                                                    \
                     "add %[s2], %[b], %[s2], " DOUBLE "\n"                                                    \
                     "add %[s3], %[b], %[s3], " DOUBLE "\n"                                                    \
                     "ldrd %[p], %[end], [%[w]], #8\n" W4_RQ2_ASM(s0, p, end) W4_RQ2_ASM(s1, p, end)                 \
                         W4_RQ2_ASM(s2, p, end) W4_RQ2_ASM(s3, p, end) "ldr %[a], [%[st], #8]\n"                     \
                                                                 "ldr %[t], [%[st], #12]\n"                    \
                                                                 "strb %[s0], [%[a]]\n"                        \
                                                                 "strb %[s1], [%[a], %[t]]\n"                  \
                                                                 "add %[b], %[a], %[t], lsl #1\n"              \
                                                                 "strb %[s2], [%[b]]\n"                        \
                                                                 "strb %[s3], [%[b], %[t]]\n"                  \
                                                                 "add %[a], %[a], #1\n"                        \
                                                                 "str %[a], [%[st], #8]\n"                     \
                                                                 "ldr %[t], [%[st], #16]\n"                    \
                                                                 "cmp %[a], %[t]\n"                            \
                                                                 "bne 0b\n"                                    \
                     : [s0] "=&r"(s0), [s1] "=&r"(s1), [s2] "=&r"(s2), [s3] "=&r"(s3), [w] "+r"(w), [q] "=&r"(q), \
                       [p] "=&r"(p), [t] "=&r"(t), [a] "=&r"(a), [b] "=&r"(b), [end] "=&r"(end)                \
                     : [m] "r"(m), [st] "r"(sp)                                                                \
                     : "cc", "memory")

/* Four widened rows times every channel, for int8's full output range: out[r * n + o].
 * Nibbles (a layer of one chunk, k <= 256), or (pairs not NULL) codes through the table. */
ALWAYS_INLINE void w4_rows4_asm(const edgec_gemm_w4_s8_t *g, const int32_t *pairs, const int32_t *wide, int8_t *out)
{
    w4_loop_t st = {wide, 4 * ((g->k + 7) / 8), out, g->n, out + g->n};
    const int32_t *w = g->stream;
    w4_loop_t *const sp = &st;
    int32_t s0, s1, s2, s3, t, a, b, p, end;
    const int32_t *q;
    if (pairs == NULL) {
        const uint32_t m = W4_MASK;
        W4_ROWS4_ASM(W4_GROUP_ASM, "asr #11");
    } else {
        const int32_t *const m = pairs;
        W4_ROWS4_ASM(W4_CODES_ASM, "lsl #1");
    }
}
#endif

#if EDGEC_DSP_ASM && !EDGEC_HELIUM
/* One row, two channels (records at wa, wb): a group of eight codes of each through the
 * table at m, the four input pairs shared (26 instructions, 16 products). */
#define W4_CODE1_ASM(x)                           \
    "ldrb %[t], [%[wa]], #1\n"                   \
    "ldr %[t], [%[m], %[t], lsl #2]\n"           \
    "smlad %[s0], %[" #x "], %[t], %[s0]\n"      \
    "ldrb %[t], [%[wb]], #1\n"                   \
    "ldr %[t], [%[m], %[t], lsl #2]\n"           \
    "smlad %[s1], %[" #x "], %[t], %[s1]\n"
#define W4_CODES1_ASM                             \
    "ldrd %[x0], %[x1], [%[q]], #8\n"            \
    "ldrd %[x2], %[x3], [%[q]], #8\n"            \
    W4_CODE1_ASM(x0) W4_CODE1_ASM(x1) W4_CODE1_ASM(x2) W4_CODE1_ASM(x3)
/* The same with nibbles (the mask in m): 22 instructions, 16 products. */
#define W4_NIB1_ASM(shift)                        \
    "ldr %[x2], [%[q]], #4\n"                    \
    "and %[t], %[m], %[x0]" shift "\n"           \
    "smlad %[s0], %[x2], %[t], %[s0]\n"          \
    "and %[t], %[m], %[x1]" shift "\n"           \
    "smlad %[s1], %[x2], %[t], %[s1]\n"
#define W4_NIBS1_ASM                              \
    "ldr %[x0], [%[wa]], #4\n"                   \
    "ldr %[x1], [%[wb]], #4\n"                   \
    W4_NIB1_ASM(", lsl #12") W4_NIB1_ASM(", lsl #8") W4_NIB1_ASM(", lsl #4") W4_NIB1_ASM("")

/* What the one-row loop keeps in memory. */
typedef struct {
    const int32_t *wide;
    int32_t bytes; /* a weight row's */
    int8_t *out;
    const int8_t *out_end;
    int32_t record; /* a channel's record, bytes */
} w4_row_loop_t;

/* LOOP: the groups (W4_GROUPS_2: two at a time; W4_GROUPS_1: one, smaller code). */
#define W4_GROUPS_2(GROUP)                                                                                         \
    "tst %[t], #4\n" /* an odd count of groups: one first */                                                     \
    "beq 2f\n" GROUP "2:\n"                                                                                       \
    "cmp %[wa], %[end]\n"                                                                                         \
    "beq 3f\n"                                                                                                    \
    "1:\n" GROUP GROUP "cmp %[wa], %[end]\n"                                                                      \
    "bne 1b\n"                                                                                                    \
    "3:\n"
#define W4_GROUPS_1(GROUP) "1:\n" GROUP "cmp %[wa], %[end]\n" "bne 1b\n"
#define W4_ROW1_ASM(LOOP, DOUBLE)                                                                                  \
    __asm__ volatile("0:\n"                                                                                      \
                     "ldr %[q], [%[st], #0]\n"                                                                   \
                     "ldr %[t], [%[st], #16]\n"                                                                  \
                     "add %[wb], %[wa], %[t]\n"                                                                  \
                     "ldr %[t], [%[st], #4]\n"                                                                   \
                     "add %[end], %[wa], %[t]\n"                                                                 \
                     "movs %[s0], #0\n"                                                                          \
                     "movs %[s1], #0\n" LOOP                                                                     \
                     "ldr %[t], [%[wa]], #4\n"                                                                   \
                     "add %[s0], %[t], %[s0], " DOUBLE "\n"                                                      \
                     "ldr %[t], [%[wb]], #4\n"                                                                   \
                     "add %[s1], %[t], %[s1], " DOUBLE "\n"                                                      \
                     "ldrd %[x0], %[x1], [%[wa]]\n" W4_RQ2_ASM(s0, x0, x1)                                       \
                     "ldrd %[x0], %[x1], [%[wb]], #8\n" W4_RQ2_ASM(s1, x0, x1)                                   \
                     "mov %[wa], %[wb]\n"                                                                        \
                     "ldr %[t], [%[st], #8]\n"                                                                   \
                     "strb %[s0], [%[t]]\n"                                                                      \
                     "strb %[s1], [%[t], #1]\n"                                                                  \
                     "add %[t], %[t], #2\n"                                                                      \
                     "str %[t], [%[st], #8]\n"                                                                   \
                     "ldr %[x0], [%[st], #12]\n"                                                                 \
                     "cmp %[t], %[x0]\n"                                                                         \
                     "bne 0b\n"                                                                                  \
                     : [s0] "=&r"(s0), [s1] "=&r"(s1), [x0] "=&r"(x0), [x1] "=&r"(x1), [x2] "=&r"(x2),           \
                       [x3] "=&r"(x3), [t] "=&r"(t), [wa] "+r"(wa), [wb] "=&r"(wb), [q] "=&r"(q), [end] "=&r"(end) \
                     : [m] "r"(m), [st] "r"(sp)                                                                  \
                     : "cc", "memory")

/* One widened row times the channels in pairs (n >= 2; the last of an odd n is left):
 * out[o]. Nibbles (k <= 256), or (pairs not NULL) codes through the table. */
ALWAYS_INLINE void w4_row1_asm(const edgec_gemm_w4_s8_t *g, const int32_t *pairs, const int32_t *wide, int8_t *out)
{
    const int32_t bytes = 4 * ((g->k + 7) / 8);
    w4_row_loop_t st = {wide, bytes, out, out + (g->n & ~1), bytes + 12};
    const int32_t *wa = g->stream;
    w4_row_loop_t *const sp = &st;
    int32_t s0, s1, x0, x1, x2, x3, t;
    const int32_t *wb, *q, *end;
    if (pairs == NULL) {
        const uint32_t m = W4_MASK;
        W4_ROW1_ASM(W4_GROUPS_1(W4_NIBS1_ASM), "asr #11"); /* leftover rows: the smaller loop */
    } else {
        const int32_t *const m = pairs;
        W4_ROW1_ASM(W4_GROUPS_2(W4_CODES1_ASM), "lsl #1"); /* a clustered FC's every row */
    }
}
#endif

#if EDGEC_HELIUM
/* Helium: the sum of one row of k int8 inputs with one weight row (words of 8 nibbles). */
static int32_t w4_dot_mve(const uint32_t *words, const int8_t *x, int32_t k)
{
    static const uint8_t even_offsets[16] = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
    const uint8x16_t even = vld1q_u8(even_offsets), odd = vaddq_n_u8(even, 1u);
    const int8_t *w = (const int8_t *)(const void *)words;
    int32_t acc = 0, i;
    for (i = 0; i + 32 <= k; i += 32, w += 16) {
        const int8x16x2_t v = vld2q_s8(x + i);
        const int8x16_t packed = vldrbq_s8(w);
        acc = vmladavaq_s8(acc, v.val[0], vshrq_n_s8(vshlq_n_s8(packed, 4), 4));
        acc = vmladavaq_s8(acc, v.val[1], vshrq_n_s8(packed, 4));
    }
    if (i < k) { /* up to 31 left: zeroing loads of what is there */
        const int32_t left = k - i;
        const mve_pred16_t pe = vctp8q((uint32_t)(left + 1) / 2u), po = vctp8q((uint32_t)left / 2u);
        const int8x16_t packed = vldrbq_z_s8(w, vctp8q((uint32_t)(left + 1) / 2u));
        const int8x16_t xe = vldrbq_gather_offset_z_s8(x + i, even, pe);
        const int8x16_t xo = vldrbq_gather_offset_z_s8(x + i, odd, po);
        acc = vmladavaq_s8(acc, xe, vshrq_n_s8(vshlq_n_s8(packed, 4), 4));
        acc = vmladavaq_s8(acc, xo, vshrq_n_s8(packed, 4));
    }
    return acc;
}
#endif

/* `count` rows (1 or 4; widened, or on Helium one int8 row) times the channels from `from`
 * on: out[r * n + o]. */
static void w4_rows(const edgec_gemm_w4_s8_t *g, const int32_t *pairs, const int8_t *row, const int32_t *wide,
                    int32_t count, int32_t from, int8_t *out)
{
    const int32_t n = g->n, groups = (g->k + 7) / 8;
    int32_t o, r;
    (void)row;
    for (o = from; o < n; ++o) {
        const int32_t *rec = w4_record(g, o);
        int32_t acc[4] = {0, 0, 0, 0};
#if EDGEC_HELIUM
        acc[0] = 2 * w4_dot_mve((const uint32_t *)(const void *)rec, row, g->k);
        (void)pairs;
#elif EDGEC_DSP_ASM
        w4_dot((const uint32_t *)(const void *)rec, wide, groups, count, pairs, acc); /* leftovers: small */
#else
        if (count == 4) { /* the main path in C: the count a constant in each call, unrolled */
            w4_dot((const uint32_t *)(const void *)rec, wide, groups, 4, pairs, acc);
        } else {
            w4_dot((const uint32_t *)(const void *)rec, wide, groups, 1, pairs, acc);
        }
#endif
        for (r = 0; r < count; ++r) {
            out[(size_t)r * n + o] =
                requant2_out(rec[groups] + acc[r], rec[groups + 1], rec[groups + 2], 0, g->act_min, g->act_max);
        }
    }
}

/* Rows [first, first + count) of the product, each row got by row(ctx, index, im2col). */
typedef const int8_t *(*w4_row_fn)(const void *ctx, const int8_t *input, int32_t index, int8_t *im2col);

/* table: a constant in each caller (0 nibbles, 1 codes), so that each keeps its loops only */
ALWAYS_INLINE void w4_gemm(const edgec_gemm_w4_s8_t *g, int32_t total, w4_row_fn row_of, const void *ctx,
                           const int8_t *input, int8_t *output, int8_t *scratch, int8_t *im2col, const int table)
{
    int32_t *const wide = (int32_t *)(void *)scratch;
    int32_t *pairs = NULL, first = 0;
    if (table) { /* after the widened rows: pairs[b] = (table[b & 15], table[b >> 4]) */
        int32_t lo[16], b, h;
        pairs = wide + EDGEC_W4_WIDE_BYTES(g->k) / 4u;
        for (b = 0; b < 16; ++b) {
            lo[b] = pack16(g->table[b], 0);
        }
        for (h = 0; h < 16; ++h) {
            const int32_t high = pack16(0, g->table[h]);
            int32_t *const dst = pairs + 16 * h;
            for (b = 0; b < 16; ++b) {
                dst[b] = lo[b] | high;
            }
        }
    }
#if EDGEC_DSP_ASM
    /* nibble sums stay exact over one chunk; code sums (unscaled) over any k */
    const int rows4_asm = (table || g->k <= 8 * W4_CHUNK) && g->n > 0 && full_range(g->act_min, g->act_max);
#endif
    while (first < total) {
        /* Helium reads each row once per channel as it is: no need to group them */
        const int32_t count = total - first >= 4 && !EDGEC_HELIUM ? 4 : 1;
        const int8_t *row = NULL;
        int32_t r;
        for (r = 0; r < count; ++r) {
            row = row_of(ctx, input, first + r, im2col);
#if !EDGEC_HELIUM
            w4_widen(row, g->k, wide, count, r);
#endif
        }
#if EDGEC_DSP_ASM
        if (count == 4 && rows4_asm) {
            w4_rows4_asm(g, pairs, wide, output + (size_t)first * g->n);
            first += count;
            continue;
        }
#endif
#if EDGEC_DSP_ASM && !EDGEC_HELIUM
        if (count == 1 && rows4_asm && g->n >= 2) { /* the pairs of channels, then an odd last */
            w4_row1_asm(g, pairs, wide, output + (size_t)first * g->n);
            w4_rows(g, pairs, row, wide, 1, g->n & ~1, output + (size_t)first * g->n);
            first += count;
            continue;
        }
#endif
        w4_rows(g, pairs, row, wide, count, 0, output + (size_t)first * g->n);
        first += count;
    }
}

static void w4_gemm_nibbles(const edgec_gemm_w4_s8_t *g, int32_t total, w4_row_fn row_of, const void *ctx,
                            const int8_t *input, int8_t *output, int8_t *scratch, int8_t *im2col)
{
    w4_gemm(g, total, row_of, ctx, input, output, scratch, im2col, 0);
}

static void w4_gemm_codes(const edgec_gemm_w4_s8_t *g, int32_t total, w4_row_fn row_of, const void *ctx,
                          const int8_t *input, int8_t *output, int8_t *scratch, int8_t *im2col)
{
    w4_gemm(g, total, row_of, ctx, input, output, scratch, im2col, 1);
}

static const int8_t *fc_row(const void *ctx, const int8_t *input, int32_t index, int8_t *im2col)
{
    (void)im2col;
    return input + (size_t)index * ((const edgec_gemm_w4_s8_t *)ctx)->k;
}

void edgec_fc_w4_fast_s8(const edgec_gemm_w4_s8_t *p, const int8_t *input, int8_t *output, int8_t *scratch)
{
    w4_gemm_nibbles(p, p->rows, fc_row, p, input, output, scratch, NULL);
}

void edgec_fc_lut_fast_s8(const edgec_gemm_w4_s8_t *p, const int8_t *input, int8_t *output, int8_t *scratch)
{
    w4_gemm_codes(p, p->rows, fc_row, p, input, output, scratch, NULL);
}

/* A pixel's im2col row; the widening copies it before the next one is made, so one row of
 * scratch serves every pixel (NULL for a 1x1 convolution without padding: read in place). */
static const int8_t *conv_row(const void *ctx, const int8_t *input, int32_t pixel, int8_t *im2col)
{
    return edgec_pixel_row((const edgec_compact_conv_t *)ctx, input, pixel, im2col);
}

/* The im2col row's place in scratch: after the widened rows (and a clustered layer's table). */
static int8_t *conv_im2col(const edgec_conv_w4_fast_s8_t *p, int8_t *scratch, size_t table_bytes)
{
    const edgec_compact_conv_t *c = &p->conv;
    const int pointwise = c->kh == 1 && c->kw == 1 && c->pad_top == 0 && c->pad_left == 0;
    return pointwise ? NULL : scratch + EDGEC_W4_WIDE_BYTES(p->gemm.k) + table_bytes;
}

void edgec_conv_w4_fast_s8(const edgec_conv_w4_fast_s8_t *p, const int8_t *input, int8_t *output, int8_t *scratch)
{
    const edgec_compact_conv_t *c = &p->conv;
    w4_gemm_nibbles(&p->gemm, c->out.n * c->out.h * c->out.w, conv_row, c, input, output, scratch,
                    conv_im2col(p, scratch, 0));
}

void edgec_conv_lut_fast_s8(const edgec_conv_w4_fast_s8_t *p, const int8_t *input, int8_t *output, int8_t *scratch)
{
    const edgec_compact_conv_t *c = &p->conv;
    w4_gemm_codes(&p->gemm, c->out.n * c->out.h * c->out.w, conv_row, c, input, output, scratch,
                  conv_im2col(p, scratch, 1024));
}
