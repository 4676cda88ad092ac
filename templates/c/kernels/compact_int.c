/*
 * int8 fully connected and convolution kernels on compactly stored weights: sparse
 * (non-zeros with column steps) and clustered (4-bit indices into a table). Formats and
 * conventions in edgec_kernels_compact.h.
 *
 * Bit-exact with the dense kernels: each output is the same int32 sum (only the zero
 * weights are skipped, or each weight is read through its table) plus the same folded
 * bias, requantized by edgec_fp_mbqm as in conv_int.c and fc_int.c. Rows (FC batch rows,
 * or output pixels) go two at a time so that each decoded weight serves two products.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "edgec_fixedpoint.h"
#include "edgec_kernels.h"

static inline int8_t requant(const edgec_compact_out_t *q, int32_t acc, int32_t o)
{
    const int32_t v = edgec_fp_mbqm(acc, q->out_mult[o], q->out_shift[o]) + q->output_zero_point;
    return (int8_t)edgec_fp_clamp(v, q->act_min, q->act_max);
}

/* The n outputs of row r0 into o0 and, unless r1 is NULL, of row r1 into o1. */
typedef void (*rows_fn)(const void *weights, const int8_t *r0, const int8_t *r1, int8_t *o0, int8_t *o1);

static void sparse_rows(const void *weights, const int8_t *r0, const int8_t *r1, int8_t *o0, int8_t *o1)
{
    const edgec_sparse_s8_t *p = (const edgec_sparse_s8_t *)weights;
    const edgec_compact_out_t *q = &p->out;
    const uint8_t *step = p->steps;
    const int8_t *value = p->values;
    int32_t o, j;
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

static void clustered_rows(const void *weights, const int8_t *r0, const int8_t *r1, int8_t *o0, int8_t *o1)
{
    const edgec_clustered_s8_t *p = (const edgec_clustered_s8_t *)weights;
    const edgec_compact_out_t *q = &p->out;
    const int32_t k = q->k, row_bytes = (q->k + 1) / 2;
    int32_t o, i;
    for (o = 0; o < q->n; ++o) {
        const uint8_t *code = p->codes + (size_t)o * row_bytes;
        const int8_t *table = p->table + (size_t)o * p->table_stride;
        int32_t s0 = q->bias[o], s1 = s0;
        for (i = 0; i + 2 <= k; i += 2, ++code) {
            const int32_t w0 = table[*code & 15u], w1 = table[*code >> 4];
            s0 += (int32_t)r0[i] * w0 + (int32_t)r0[i + 1] * w1;
            if (r1 != NULL) {
                s1 += (int32_t)r1[i] * w0 + (int32_t)r1[i + 1] * w1;
            }
        }
        if (i < k) { /* an odd k: the row's last byte holds one index */
            const int32_t w0 = table[*code & 15u];
            s0 += (int32_t)r0[i] * w0;
            if (r1 != NULL) {
                s1 += (int32_t)r1[i] * w0;
            }
        }
        o0[o] = requant(q, s0, o);
        if (r1 != NULL) {
            o1[o] = requant(q, s1, o);
        }
    }
}

static void fc_rows(const edgec_compact_out_t *q, rows_fn rows, const void *weights, const int8_t *input,
                    int8_t *output)
{
    int32_t r;
    for (r = 0; r + 2 <= q->rows; r += 2) {
        const int8_t *x = input + (size_t)r * q->k;
        rows(weights, x, x + q->k, output + (size_t)r * q->n, output + (size_t)(r + 1) * q->n);
    }
    if (r < q->rows) {
        rows(weights, input + (size_t)r * q->k, NULL, output + (size_t)r * q->n, NULL);
    }
}

void edgec_fc_sparse_s8(const edgec_sparse_s8_t *p, const int8_t *input, int8_t *output)
{
    fc_rows(&p->out, sparse_rows, p, input, output);
}

void edgec_fc_clustered_s8(const edgec_clustered_s8_t *p, const int8_t *input, int8_t *output)
{
    fc_rows(&p->out, clustered_rows, p, input, output);
}

/* The kh * kw * in_c inputs under output pixel `pixel` in [kh][kw][c] order, written to dst
 * (taps in the padding hold the input zero point, which the folded bias cancels); or, when
 * dst is NULL (a 1x1 convolution without padding), the input pixel itself. */
static const int8_t *pixel_row(const edgec_compact_conv_t *p, const int8_t *input, int32_t pixel, int8_t *dst)
{
    const int32_t ox = pixel % p->out.w, oy = (pixel / p->out.w) % p->out.h;
    const int32_t b = pixel / (p->out.w * p->out.h), c = p->in.c;
    const int32_t y0 = oy * p->stride_h - p->pad_top, x0 = ox * p->stride_w - p->pad_left;
    const int8_t *image = input + (size_t)b * p->in.h * p->in.w * c;
    int8_t *out = dst;
    int32_t ky, kx;
    if (dst == NULL) {
        return image + ((size_t)y0 * p->in.w + x0) * c;
    }
    for (ky = 0; ky < p->kh; ++ky, out += (size_t)p->kw * c) {
        const int32_t iy = y0 + ky * p->dil_h;
        const int8_t *src = image + (size_t)(iy < 0 ? 0 : iy) * p->in.w * c; /* read if iy is inside */
        if (iy < 0 || iy >= p->in.h) {
            memset(out, (int8_t)p->input_zero_point, (size_t)p->kw * c);
        } else if (p->dil_w == 1) { /* the row's taps are contiguous: one copy, padding around */
            const int32_t first = x0 < 0 ? (-x0 < p->kw ? -x0 : p->kw) : 0;
            const int32_t last = p->in.w - x0 < p->kw ? p->in.w - x0 : p->kw;
            const int32_t end = last > first ? last : first;
            memset(out, (int8_t)p->input_zero_point, (size_t)first * c);
            if (end > first) {
                memcpy(out + (size_t)first * c, src + (size_t)(x0 + first) * c, (size_t)(end - first) * c);
            }
            memset(out + (size_t)end * c, (int8_t)p->input_zero_point, (size_t)(p->kw - end) * c);
        } else {
            for (kx = 0; kx < p->kw; ++kx) {
                const int32_t ix = x0 + kx * p->dil_w;
                if (ix < 0 || ix >= p->in.w) {
                    memset(out + (size_t)kx * c, (int8_t)p->input_zero_point, (size_t)c);
                } else {
                    memcpy(out + (size_t)kx * c, src + (size_t)ix * c, (size_t)c);
                }
            }
        }
    }
    return dst;
}

static void conv_pixels(const edgec_compact_conv_t *p, const edgec_compact_out_t *q, rows_fn rows,
                        const void *weights, const int8_t *input, int8_t *output, int8_t *scratch)
{
    const int32_t pixels = p->out.n * p->out.h * p->out.w;
    int32_t px;
    for (px = 0; px + 2 <= pixels; px += 2) {
        const int8_t *r0 = pixel_row(p, input, px, scratch);
        const int8_t *r1 = pixel_row(p, input, px + 1, scratch != NULL ? scratch + q->k : NULL);
        rows(weights, r0, r1, output + (size_t)px * q->n, output + (size_t)(px + 1) * q->n);
    }
    if (px < pixels) {
        rows(weights, pixel_row(p, input, px, scratch), NULL, output + (size_t)px * q->n, NULL);
    }
}

void edgec_conv_sparse_s8(const edgec_conv_sparse_s8_t *p, const int8_t *input, int8_t *output, int8_t *scratch)
{
    conv_pixels(&p->conv, &p->weights.out, sparse_rows, &p->weights, input, output, scratch);
}

void edgec_conv_1x1_sparse_s8(const edgec_conv_sparse_s8_t *p, const int8_t *input, int8_t *output)
{
    conv_pixels(&p->conv, &p->weights.out, sparse_rows, &p->weights, input, output, NULL);
}

void edgec_conv_clustered_s8(const edgec_conv_clustered_s8_t *p, const int8_t *input, int8_t *output,
                             int8_t *scratch)
{
    conv_pixels(&p->conv, &p->weights.out, clustered_rows, &p->weights, input, output, scratch);
}

void edgec_conv_1x1_clustered_s8(const edgec_conv_clustered_s8_t *p, const int8_t *input, int8_t *output)
{
    conv_pixels(&p->conv, &p->weights.out, clustered_rows, &p->weights, input, output, NULL);
}
