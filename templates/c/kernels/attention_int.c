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
    const uint32_t hi = (uint32_t)(v >> 32);
    return hi != 0u ? 64 - edgec_fp_clz32(hi) : 32 - edgec_fp_clz32((uint32_t)v);
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

/* The per-call constants of a LayerNorm and the current row's 1 / sqrt(V), in locals (the
 * output stores could alias the parameter struct, which would force reloads). */
typedef struct {
    int32_t size, zero_point, lo, hi, out_total;
    int32_t r, total; /* the row's 1 / sqrt(V) and right shift to F fraction bits */
    int64_t round;
    const int32_t *gamma;
    const int64_t *bias;
} layernorm_t;

static layernorm_t layernorm_setup(const edgec_layernorm_int_t *p, int32_t lo, int32_t hi)
{
    layernorm_t c;
    c.size = p->size;
    c.zero_point = p->output_zero_point;
    c.lo = lo;
    c.hi = hi;
    c.out_total = p->out_total;
    c.gamma = p->gamma;
    c.bias = p->bias;
    c.r = c.total = 0;
    c.round = 0;
    return c;
}

/* V = size * s2 - s1^2 + E (at least 1), shifted right by 2k into 31 bits, its inverse
 * square root, and the shift to F fraction bits. */
static void row_scale(const edgec_layernorm_int_t *p, layernorm_t *c, int64_t s1, int64_t s2)
{
    int64_t v = (int64_t)p->size * s2 - s1 * s1 + p->epsilon_term;
    int32_t bits, k, e;
    v = v < 1 ? 1 : v;
    bits = bit_length64((uint64_t)v);
    k = bits > 30 ? (bits - 30) / 2 : 0;
    inv_sqrt((int32_t)(v >> (2 * k)), &c->r, &e);
    c->total = 31 + k - e - p->fraction_bits;
    c->round = (int64_t)1 << (c->total - 1);
}

/* The low 32 bits of v >> s (arithmetic), 1 <= s <= 62: the words of v, not a 64-bit shift. */
static inline int32_t shift_right64(int64_t v, int32_t s)
{
    const uint32_t lo = (uint32_t)(uint64_t)v;
    const int32_t hi = (int32_t)(v >> 32);
    return s >= 32 ? hi >> (s - 32) : (int32_t)((lo >> s) | ((uint32_t)hi << (32 - s)));
}

/* The normalized value n (F fraction bits, within int32) of size * (x - zp) - s1, then
 * (n * gamma + bias) >> out_total, plus the zero point, clamped. */
static inline int32_t normalized_out(const layernorm_t *c, int32_t centered, int32_t j)
{
    const int32_t n = shift_right64((int64_t)centered * c->r + c->round, c->total);
    const int32_t y = shift_right64((int64_t)n * c->gamma[j] + c->bias[j], c->out_total);
    return edgec_fp_clamp(y + c->zero_point, c->lo, c->hi);
}

void edgec_layernorm_s8(const edgec_layernorm_int_t *p, const int8_t *input, int8_t *output)
{
    layernorm_t c = layernorm_setup(p, -128, 127);
    const int32_t size = p->size, zp = p->input_zero_point;
    int32_t row, j;
    for (row = 0; row < p->rows; ++row, input += size, output += size) {
        int32_t s1 = 0, s2 = 0; /* int32: size <= 16384 and |d| <= 255 */
        for (j = 0; j < size; ++j) {
            const int32_t d = input[j] - zp;
            s1 += d;
            s2 += d * d;
        }
        row_scale(p, &c, s1, s2);
        for (j = 0; j < size; ++j) {
            output[j] = (int8_t)normalized_out(&c, size * (input[j] - zp) - s1, j);
        }
    }
}

void edgec_layernorm_s16(const edgec_layernorm_int_t *p, const int16_t *input, int16_t *output)
{
    layernorm_t c = layernorm_setup(p, -32768, 32767);
    const int32_t size = p->size;
    int32_t row, j;
    for (row = 0; row < p->rows; ++row, input += size, output += size) {
        int32_t s1 = 0; /* |s1| <= 2^29 */
        int64_t s2 = 0;
        for (j = 0; j < size; ++j) {
            s1 += input[j];
            s2 += (int32_t)input[j] * input[j];
        }
        row_scale(p, &c, s1, s2);
        for (j = 0; j < size; ++j) {
            output[j] = (int16_t)normalized_out(&c, size * input[j] - s1, j);
        }
    }
}
