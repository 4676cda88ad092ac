/* edgec integer kernels of attention blocks; see edgec_kernels_attention.h and, for the
 * LayerNorm's arithmetic, edgec/ops/integer/layernorm.py (this is its C twin). */
#include "edgec_kernels.h"
#include "edgec_fixedpoint.h"

/* Offsets of batch matrix `index` of an operand: the batch index dotted with its strides. */
static size_t batch_offset(const edgec_matmul_int_t *p, const int32_t *stride, int32_t index)
{
    const int32_t i2 = index % p->batch[2], rest = index / p->batch[2];
    const int32_t i1 = rest % p->batch[1], i0 = rest / p->batch[1];
    return (size_t)i0 * stride[0] + (size_t)i1 * stride[1] + (size_t)i2 * stride[2];
}

void edgec_matmul_s8(const edgec_matmul_int_t *p, const int8_t *a, const int8_t *b, int8_t *output)
{
    const int32_t batches = p->batch[0] * p->batch[1] * p->batch[2];
    int32_t index, r, c, i;
    for (index = 0; index < batches; ++index) {
        const int8_t *x = a + batch_offset(p, p->a_stride, index);
        const int8_t *y = b + batch_offset(p, p->b_stride, index);
        for (r = 0; r < p->m; ++r) {
            for (c = 0; c < p->n; ++c) {
                int32_t acc = 0;
                for (i = 0; i < p->k; ++i) {
                    acc += ((int32_t)x[(size_t)r * p->k + i] - p->a_zero_point) *
                           ((int32_t)y[(size_t)i * p->n + c] - p->b_zero_point);
                }
                acc = edgec_fp_mbqm(acc, p->out_mult, p->out_shift) + p->output_zero_point;
                *output++ = (int8_t)edgec_fp_clamp(acc, -128, 127);
            }
        }
    }
}

void edgec_matmul_s16(const edgec_matmul_int_t *p, const int16_t *a, const int16_t *b, int16_t *output)
{
    const int32_t batches = p->batch[0] * p->batch[1] * p->batch[2];
    int32_t index, r, c, i;
    for (index = 0; index < batches; ++index) {
        const int16_t *x = a + batch_offset(p, p->a_stride, index);
        const int16_t *y = b + batch_offset(p, p->b_stride, index);
        for (r = 0; r < p->m; ++r) {
            for (c = 0; c < p->n; ++c) {
                int64_t acc = 0;
                for (i = 0; i < p->k; ++i) {
                    acc += (int32_t)x[(size_t)r * p->k + i] * (int32_t)y[(size_t)i * p->n + c];
                }
                *output++ = (int16_t)edgec_fp_clamp(edgec_fp_mbqm64(acc, p->out_mult, p->out_shift),
                                                    -32768, 32767);
            }
        }
    }
}

/* Bits needed for v > 0. */
static int32_t bit_length64(uint64_t v)
{
    int32_t bits = 0;
    while (v != 0u) {
        v >>= 1;
        ++bits;
    }
    return bits;
}

/* TFLite GetInvSqrtQuantizedMultiplierExp(v, -1) for v >= 0: 1 / sqrt(v) ~ *r * 2^(*e - 31). */
static void inv_sqrt(int32_t v, int32_t *r, int32_t *e)
{
    const int32_t half_three = (1 << 28) + (1 << 27); /* 1.5 in Q3 */
    int32_t shift = 11, pairs, half_input, y = 1 << 28, i;
    if (v <= 1) {
        *r = EDGEC_INT32_MAX;
        *e = 0;
        return;
    }
    while (v >= (1 << 29)) {
        v /= 4;
        ++shift;
    }
    pairs = (edgec_fp_clz32((uint32_t)v) - 1) / 2 - 1;
    shift -= pairs;
    v <<= 2 * pairs;
    half_input = edgec_fp_rdbpot(v >> 1, 1);
    for (i = 0; i < 5; ++i) { /* Newton-Raphson: y = 1.5 y - (v / 2) y^3, in Q3 */
        const int32_t cube = edgec_fp_mul_pot(edgec_fp_srdhm(edgec_fp_srdhm(y, y), y), 6);
        y = edgec_fp_mul_pot(edgec_fp_sub(edgec_fp_srdhm(half_three, y), edgec_fp_srdhm(half_input, cube)), 3);
    }
    y = edgec_fp_srdhm(y, 1518500250); /* times sqrt(2) / 2 */
    if (shift < 0) {
        y = (int32_t)((uint32_t)y << -shift);
        shift = 0;
    }
    *r = y;
    *e = -shift;
}

/* The row's 1 / sqrt(V) as a multiplier r and the right shift that gives F fraction bits. */
static void row_scale(const edgec_layernorm_int_t *p, int64_t s1, int64_t s2, int32_t *r, int32_t *total)
{
    int64_t v = (int64_t)p->size * s2 - s1 * s1 + p->epsilon_term;
    int32_t bits, k, e;
    v = v < 1 ? 1 : v;
    bits = bit_length64((uint64_t)v);
    k = bits > 30 ? (bits - 30) / 2 : 0;
    inv_sqrt((int32_t)(v >> (2 * k)), r, &e);
    *total = 31 + k - e - p->fraction_bits;
}

/* acc = n * gamma + bias of the row's j-th value, requantized and clamped to [lo, hi]. */
static int32_t normalized_out(const edgec_layernorm_int_t *p, int32_t centered, int32_t r, int32_t total,
                              int32_t j, int32_t lo, int32_t hi)
{
    const int64_t n = ((int64_t)centered * r + ((int64_t)1 << (total - 1))) >> total;
    const int64_t acc = n * p->gamma[j] + p->bias[j];
    return edgec_fp_clamp(edgec_fp_mbqm64(acc, p->out_mult, p->out_shift) + p->output_zero_point, lo, hi);
}

void edgec_layernorm_s8(const edgec_layernorm_int_t *p, const int8_t *input, int8_t *output)
{
    const int32_t size = p->size;
    int32_t row, j, r, total;
    for (row = 0; row < p->rows; ++row, input += size, output += size) {
        int32_t s1 = 0, s2 = 0; /* int32: size <= 16384 and |d| <= 255 */
        for (j = 0; j < size; ++j) {
            const int32_t d = input[j] - p->input_zero_point;
            s1 += d;
            s2 += d * d;
        }
        row_scale(p, s1, s2, &r, &total);
        for (j = 0; j < size; ++j) {
            const int32_t centered = size * (input[j] - p->input_zero_point) - s1;
            output[j] = (int8_t)normalized_out(p, centered, r, total, j, -128, 127);
        }
    }
}

void edgec_layernorm_s16(const edgec_layernorm_int_t *p, const int16_t *input, int16_t *output)
{
    const int32_t size = p->size;
    int32_t row, j, r, total;
    for (row = 0; row < p->rows; ++row, input += size, output += size) {
        int32_t s1 = 0; /* |s1| <= 2^29 */
        int64_t s2 = 0;
        for (j = 0; j < size; ++j) {
            s1 += input[j];
            s2 += (int32_t)input[j] * input[j];
        }
        row_scale(p, s1, s2, &r, &total);
        for (j = 0; j < size; ++j) {
            const int32_t centered = size * input[j] - s1;
            output[j] = (int16_t)normalized_out(p, centered, r, total, j, -32768, 32767);
        }
    }
}

void edgec_lut_s8(const edgec_lut_s8_t *p, const int8_t *input, int8_t *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = p->table[(int32_t)input[i] + 128];
    }
}
