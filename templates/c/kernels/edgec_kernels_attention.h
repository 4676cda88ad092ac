/*
 * edgec kernels of attention blocks: the product of two activations (batched), layer
 * normalization, GELU; float32, and int8 / 16x8 with edgec's integer semantics (TFLite's
 * BATCH_MATMUL, GELU's 256-entry table, edgec's own integer LayerNorm: see
 * edgec/ops/integer/layernorm.py). Included by edgec_kernels.h.
 *
 * Batched products: out[i][m][n] = sum_k a[i][m][k] * b[i][k][n] for every batch index i =
 * (i0, i1, i2) < batch; the operands' matrices start at i . a_stride and i . b_stride
 * elements (a stride 0 broadcasts), the output's are contiguous.
 */
#ifndef EDGEC_KERNELS_ATTENTION_H
#define EDGEC_KERNELS_ATTENTION_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EDGEC_MATMUL_BATCH_DIMS 3

/* ---- float32 ------------------------------------------------------------------------ */
typedef struct {
    int32_t batch[EDGEC_MATMUL_BATCH_DIMS];
    int32_t a_stride[EDGEC_MATMUL_BATCH_DIMS], b_stride[EDGEC_MATMUL_BATCH_DIMS];
    int32_t m, k, n;
} edgec_matmul_f32_t;
void edgec_matmul_f32(const edgec_matmul_f32_t *p, const float *a, const float *b, float *output);
/* The same with the fast float GEMM (fast_f32_gemm.c): each batch's right operand is packed
 * into scratch (k * n floats) as the GEMM's weights. */
void edgec_matmul_fast_f32(const edgec_matmul_f32_t *p, const float *a, const float *b, float *output,
                           void *scratch);

/* Each of `rows` rows of `size` values: (x - mean) / sqrt(var + epsilon) * gamma + beta. */
typedef struct {
    int32_t rows, size;
    float epsilon;
    const float *gamma; /* [size] */
    const float *beta;  /* [size] or NULL */
} edgec_layernorm_f32_t;
void edgec_layernorm_f32(const edgec_layernorm_f32_t *p, const float *input, float *output);

/* 0.5 x (1 + erf(x / sqrt 2)), or with approximate the tanh form. */
typedef struct {
    int32_t size, approximate;
} edgec_gelu_f32_t;
void edgec_gelu_f32(const edgec_gelu_f32_t *p, const float *input, float *output);

/* ---- integer --------------------------------------------------------------------------- */
/* TFLite BATCH_MATMUL: int8, int32 sums of (a - a_zp) * (b - b_zp), requantized by
 * out_mult / out_shift (edgec_fp_mbqm) plus output_zero_point; 16x8: zero points 0, int64
 * sums, edgec_fp_mbqm64. */
typedef struct {
    int32_t batch[EDGEC_MATMUL_BATCH_DIMS];
    int32_t a_stride[EDGEC_MATMUL_BATCH_DIMS], b_stride[EDGEC_MATMUL_BATCH_DIMS];
    int32_t m, k, n;
    int32_t a_zero_point, b_zero_point, output_zero_point;
    int32_t out_mult, out_shift;
} edgec_matmul_int_t;
void edgec_matmul_s8(const edgec_matmul_int_t *p, const int8_t *a, const int8_t *b, int8_t *output);
void edgec_matmul_s16(const edgec_matmul_int_t *p, const int16_t *a, const int16_t *b, int16_t *output);

/* The int8 product on the optimized GEMM of fast_gemm.c (b_zero_point 0): per batch the right
 * operand's columns become the GEMM's record stream in scratch (weights, doubled biases
 * -a_zero_point times their sums, requantization; then two widened rows). */
typedef struct {
    edgec_matmul_int_t mm;   /* out_mult, out_shift unused: the doubled requantization below */
    int32_t multiplier, r1;  /* edgec_fp_requant2's multiplier and r - 1 */
    int32_t twice_zp_plus_1; /* K = 2 * output zero point + 1 */
} edgec_matmul_fast_s8_t;
void edgec_matmul_fast_s8(const edgec_matmul_fast_s8_t *p, const int8_t *a, const int8_t *b, int8_t *output,
                          int8_t *scratch);

/* edgec's integer LayerNorm over rows of `size` values (ops/integer/layernorm.py): the
 * normalized value n (fraction_bits fraction bits), then out = (n * gamma[j] + bias[j]) >>
 * out_total (low 32 bits) + output_zero_point, clamped; gamma and bias hold the scale and
 * the bias times the 16-bit multiplier of edgec_fp_mbqm64, the bias with its rounding
 * (layernorm.folded_terms: the reference's integers). */
typedef struct {
    int32_t rows, size;
    int32_t input_zero_point, output_zero_point;
    int64_t epsilon_term;  /* round(epsilon * size^2 / s_x^2) */
    int32_t fraction_bits; /* of the normalized value */
    int32_t out_total;     /* 15 - the output shift */
    const int32_t *gamma;  /* [size] */
    const int64_t *bias;   /* [size] */
} edgec_layernorm_int_t;
void edgec_layernorm_s8(const edgec_layernorm_int_t *p, const int8_t *input, int8_t *output);
void edgec_layernorm_s16(const edgec_layernorm_int_t *p, const int16_t *input, int16_t *output);

/* Optimized int8 softmax over the middle axis of [outer][axis_size][inner] (fast_softmax.c):
 * TFLM's arithmetic with exp(diff) tabulated for -diff = 0..255 (Q0; differences below
 * diff_min contribute nothing). Bit-exact with edgec_softmax_s8 / edgec_softmax_s8_s16. */
typedef struct {
    int32_t outer, axis_size, inner, diff_min;
    const int32_t *exp_table; /* [256] */
} edgec_softmax_table_s8_t;
void edgec_softmax_table_s8(const edgec_softmax_table_s8_t *p, const int8_t *input, int8_t *output);
void edgec_softmax_table_s8_s16(const edgec_softmax_table_s8_t *p, const int8_t *input, int16_t *output);

/* GELU in int8 runs edgec_lut_s8 (edgec_kernels_int.h) on its 256 values. */

#ifdef __cplusplus
}
#endif

#endif /* EDGEC_KERNELS_ATTENTION_H */
