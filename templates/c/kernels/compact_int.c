/*
 * int8 fully connected and convolution kernels on compactly stored weights: sparse
 * (non-zeros with column steps) and clustered (4-bit indices into a table). Formats and
 * conventions in edgec_kernels_compact.h.
 *
 * Bit-exact with the dense kernels: each output is the same int32 sum (only the zero
 * weights are skipped, or each weight is read through its table) plus the same folded
 * bias, requantized by edgec_requant as in conv_int.c and fc_int.c. Rows (FC batch rows,
 * or output pixels) go two at a time so that each decoded weight serves two products.
 *
 * Clustered layers with one table and scratch memory first expand the table into `pairs`:
 * for each of the 256 code bytes, the two weights it selects as the halves of a word. The
 * indices of each group of four weights are stored (w0, w2), (w1, w3), the order in which
 * SXTB16 splits four int8 inputs, so each code byte is one table load and one SMLAD (two
 * multiply-accumulates) on the DSP extension.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "edgec_dsp.h"
#include "edgec_fixedpoint.h"
#include "edgec_im2col.h"
#include "edgec_kernels.h"

static inline int8_t requant(const edgec_compact_out_t *q, int32_t acc, int32_t o)
{
    const int32_t v = edgec_requant(acc, q->out_mult[o], q->out_shift[o]) + q->output_zero_point;
    return (int8_t)edgec_fp_clamp(v, q->act_min, q->act_max);
}

/* The n outputs of row r0 into o0 and, unless r1 is NULL, of row r1 into o1. `pairs`: the
 * expanded table of a clustered layer, or NULL. */
typedef void (*rows_fn)(const void *weights, const int32_t *pairs, const int8_t *r0, const int8_t *r1, int8_t *o0,
                        int8_t *o1);

static void sparse_rows(const void *weights, const int32_t *pairs, const int8_t *r0, const int8_t *r1, int8_t *o0,
                        int8_t *o1)
{
    const edgec_sparse_s8_t *p = (const edgec_sparse_s8_t *)weights;
    const edgec_compact_out_t *q = &p->out;
    const uint8_t *step = p->steps;
    const int8_t *value = p->values;
    int32_t o, j;
    (void)pairs;
    for (o = 0; o < q->n; ++o) {
        const int32_t entries = p->row_entries[o];
        int32_t s0 = q->bias[o], s1 = s0;
        size_t col = 0;
        if (r1 != NULL) {
            for (j = 0; j < entries; ++j) {
                const int32_t w = value[j];
                col += step[j];
                s0 += (int32_t)r0[col] * w;
                s1 += (int32_t)r1[col] * w;
            }
            o1[o] = requant(q, s1, o);
        } else {
            for (j = 0; j < entries; ++j) {
                col += step[j];
                s0 += (int32_t)r0[col] * value[j];
            }
        }
        o0[o] = requant(q, s0, o);
        step += entries;
        value += entries;
    }
}

/* pairs[b] = (table[b & 15], table[b >> 4]); indices past the table read 0 (never used). */
static void expand_pairs(const edgec_clustered_s8_t *p, int32_t *pairs)
{
    int32_t b;
    for (b = 0; b < 256; ++b) {
        const int32_t lo = (b & 15) < p->table_size ? p->table[b & 15] : 0;
        const int32_t hi = (b >> 4) < p->table_size ? p->table[b >> 4] : 0;
        pairs[b] = pack16(lo, hi);
    }
}

/* Products of one row's last k % 4 inputs, whose indices follow in plain order. */
static inline int32_t clustered_tail(const int8_t *table, const uint8_t *code, const int8_t *x, int32_t count)
{
    int32_t j, sum = 0;
    for (j = 0; j < count; ++j) {
        sum += (int32_t)x[j] * table[(code[j >> 1] >> ((j & 1) * 4)) & 15u];
    }
    return sum;
}

static void clustered_rows(const void *weights, const int32_t *pairs, const int8_t *r0, const int8_t *r1, int8_t *o0,
                           int8_t *o1)
{
    const edgec_clustered_s8_t *p = (const edgec_clustered_s8_t *)weights;
    const edgec_compact_out_t *q = &p->out;
    const int32_t k = q->k, k4 = q->k & ~3, row_bytes = (q->k + 1) / 2;
    int32_t o, i;
    for (o = 0; o < q->n; ++o) {
        const uint8_t *code = p->codes + (size_t)o * row_bytes;
        const int8_t *table = p->table + (size_t)o * p->table_stride;
        int32_t s0 = q->bias[o], s1 = s0;
        if (pairs != NULL) { /* one table, expanded: a load and an SMLAD per code byte */
            for (i = 0; i < k4; i += 4, code += 2) {
                const int32_t even = pairs[code[0]], odd = pairs[code[1]];
                const int32_t x = load4(r0 + i);
                s0 = SMLAD(SXTB16(x), even, s0);
                s0 = SMLAD(SXTB16_ROR8(x), odd, s0);
                if (r1 != NULL) {
                    const int32_t y = load4(r1 + i);
                    s1 = SMLAD(SXTB16(y), even, s1);
                    s1 = SMLAD(SXTB16_ROR8(y), odd, s1);
                }
            }
        } else {
            for (i = 0; i < k4; i += 4, code += 2) {
                const int32_t w0 = table[code[0] & 15u], w2 = table[code[0] >> 4];
                const int32_t w1 = table[code[1] & 15u], w3 = table[code[1] >> 4];
                s0 += (int32_t)r0[i] * w0 + (int32_t)r0[i + 1] * w1 + (int32_t)r0[i + 2] * w2 +
                      (int32_t)r0[i + 3] * w3;
                if (r1 != NULL) {
                    s1 += (int32_t)r1[i] * w0 + (int32_t)r1[i + 1] * w1 + (int32_t)r1[i + 2] * w2 +
                          (int32_t)r1[i + 3] * w3;
                }
            }
        }
        s0 += clustered_tail(table, code, r0 + k4, k - k4);
        o0[o] = requant(q, s0, o);
        if (r1 != NULL) {
            s1 += clustered_tail(table, code, r1 + k4, k - k4);
            o1[o] = requant(q, s1, o);
        }
    }
}

static void fc_rows(const edgec_compact_out_t *q, rows_fn rows, const void *weights, const int32_t *pairs,
                    const int8_t *input, int8_t *output)
{
    int32_t r;
    for (r = 0; r + 2 <= q->rows; r += 2) {
        const int8_t *x = input + (size_t)r * q->k;
        rows(weights, pairs, x, x + q->k, output + (size_t)r * q->n, output + (size_t)(r + 1) * q->n);
    }
    if (r < q->rows) {
        rows(weights, pairs, input + (size_t)r * q->k, NULL, output + (size_t)r * q->n, NULL);
    }
}

void edgec_fc_sparse_s8(const edgec_sparse_s8_t *p, const int8_t *input, int8_t *output)
{
    fc_rows(&p->out, sparse_rows, p, NULL, input, output);
}

/* scratch: room for the expanded table (EDGEC_CLUSTER_PAIRS_BYTES), or NULL */
void edgec_fc_clustered_s8(const edgec_clustered_s8_t *p, const int8_t *input, int8_t *output, int8_t *scratch)
{
    int32_t *pairs = NULL;
    if (scratch != NULL && p->table_stride == 0) {
        pairs = (int32_t *)(void *)scratch;
        expand_pairs(p, pairs);
    }
    fc_rows(&p->out, clustered_rows, p, pairs, input, output);
}

void edgec_fc_clustered_lean_s8(const edgec_clustered_s8_t *p, const int8_t *input, int8_t *output)
{
    edgec_fc_clustered_s8(p, input, output, NULL);
}

static void conv_pixels(const edgec_compact_conv_t *p, const edgec_compact_out_t *q, rows_fn rows,
                        const void *weights, const int32_t *pairs, const int8_t *input, int8_t *output,
                        int8_t *im2col)
{
    const int32_t pixels = p->out.n * p->out.h * p->out.w;
    int32_t px;
    for (px = 0; px + 2 <= pixels; px += 2) {
        const int8_t *r0 = edgec_pixel_row(p, input, px, im2col);
        const int8_t *r1 = edgec_pixel_row(p, input, px + 1, im2col != NULL ? im2col + q->k : NULL);
        rows(weights, pairs, r0, r1, output + (size_t)px * q->n, output + (size_t)(px + 1) * q->n);
    }
    if (px < pixels) {
        rows(weights, pairs, edgec_pixel_row(p, input, px, im2col), NULL, output + (size_t)px * q->n, NULL);
    }
}

void edgec_conv_sparse_s8(const edgec_conv_sparse_s8_t *p, const int8_t *input, int8_t *output, int8_t *scratch)
{
    conv_pixels(&p->conv, &p->weights.out, sparse_rows, &p->weights, NULL, input, output, scratch);
}

void edgec_conv_1x1_sparse_s8(const edgec_conv_sparse_s8_t *p, const int8_t *input, int8_t *output)
{
    conv_pixels(&p->conv, &p->weights.out, sparse_rows, &p->weights, NULL, input, output, NULL);
}

/* The expanded table of a one-table layer, at `offset` in the scratch (NULL without it). */
static int32_t *clustered_pairs(const edgec_clustered_s8_t *w, int8_t *scratch, size_t offset)
{
    int32_t *pairs = NULL;
    if (scratch != NULL && w->table_stride == 0) {
        pairs = (int32_t *)(void *)(scratch + offset);
        expand_pairs(w, pairs);
    }
    return pairs;
}

/* scratch: two im2col rows (2 * k bytes, rounded up to 4), then for a one-table layer the
 * expanded table */
void edgec_conv_clustered_s8(const edgec_conv_clustered_s8_t *p, const int8_t *input, int8_t *output,
                             int8_t *scratch)
{
    const int32_t *pairs = clustered_pairs(&p->weights, scratch, EDGEC_CLUSTER_IM2COL_BYTES(p->weights.out.k));
    conv_pixels(&p->conv, &p->weights.out, clustered_rows, &p->weights, pairs, input, output, scratch);
}

/* scratch: the expanded table of a one-table layer */
void edgec_conv_1x1_clustered_s8(const edgec_conv_clustered_s8_t *p, const int8_t *input, int8_t *output,
                                 int8_t *scratch)
{
    const int32_t *pairs = clustered_pairs(&p->weights, scratch, 0);
    conv_pixels(&p->conv, &p->weights.out, clustered_rows, &p->weights, pairs, input, output, NULL);
}

void edgec_conv_1x1_clustered_lean_s8(const edgec_conv_clustered_s8_t *p, const int8_t *input, int8_t *output)
{
    conv_pixels(&p->conv, &p->weights.out, clustered_rows, &p->weights, NULL, input, output, NULL);
}
