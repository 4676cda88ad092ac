/*
 * Optimized float32 kernels (fast_f32_*.c): the same results as conv_f32.c, fc_f32.c and
 * pool_f32.c within float rounding (sums taken in another order, fused multiply-adds).
 *
 * Matrix products use weights packed at compile time in blocks of 8 output channels, k-major:
 * packed[block][k][8], so one load brings the 8 weights of one k; the last out_c % 8 channels
 * follow as [k][out_c % 8] (no padding: flash holds the model's own weight count). Depthwise
 * weights are packed the same way with k = kh * kw taps.
 */
#ifndef EDGEC_KERNELS_F32_FAST_H
#define EDGEC_KERNELS_F32_FAST_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Output clamp kinds: none, ReLU (max(x, 0), an integer mask), or [act_min, act_max]. */
enum { EDGEC_ACT_NONE, EDGEC_ACT_RELU, EDGEC_ACT_CLAMP };

/* out[r][o] = act(bias[o] + sum_k a[r][k] * w[o][k]) over the packed weights. */
typedef struct {
    int32_t k, out_c;
    int32_t act;
    float act_min, act_max;
    const float *weights; /* [out_c / 8][k][8], then [k][out_c % 8] */
    const float *bias;    /* [out_c] or NULL */
} edgec_gemm_f32_t;

/* Convolution (groups 1), NHWC, as a matrix product over the output pixels: with scratch
 * (2 * k floats) each pixel's window is gathered there; without (1x1, no pads: also a fully
 * connected layer, its batch rows as pixels) the rows are read in place. */
typedef struct {
    edgec_dims_t in, out;
    int32_t kh, kw, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left;
    edgec_gemm_f32_t gemm;
} edgec_conv_fast_f32_t;
void edgec_conv_fast_f32(const edgec_conv_fast_f32_t *p, const float *input, float *output,
                         void *scratch);
void edgec_conv_1x1_fast_f32(const edgec_conv_fast_f32_t *p, const float *input, float *output);

/* Depthwise convolution (multiplier 1), NHWC, weights [c / 8][kh][kw][8], [kh][kw][c % 8]. */
typedef struct {
    edgec_dims_t in, out;
    int32_t kh, kw, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left;
    int32_t act;
    float act_min, act_max;
    const float *weights;
    const float *bias; /* [c] or NULL */
} edgec_dwconv_fast_f32_t;
void edgec_dwconv_fast_f32(const edgec_dwconv_fast_f32_t *p, const float *input, float *output);

/* Average and max pooling (NHWC), eight channels per pass; same parameters as pool_f32.c. */
void edgec_avgpool_fast_f32(const edgec_pool_f32_t *p, const float *input, float *output);
void edgec_maxpool_fast_f32(const edgec_pool_f32_t *p, const float *input, float *output);
/* The average of all pixels of each image (the window is the whole input, no pads). */
void edgec_global_avgpool_fast_f32(const edgec_pool_f32_t *p, const float *input, float *output);

/* Softmax over the middle axis (log 0 only), one expf per element. */
void edgec_softmax_fast_f32(const edgec_softmax_f32_t *p, const float *input, float *output);

/* a op b over `size` elements of same-shape operands (b_stride 1) or a scalar b (b_stride 0),
 * op one of EDGEC_ADD, EDGEC_SUB, EDGEC_MUL, EDGEC_MAX, EDGEC_MIN, then the clamp. */
typedef struct {
    int32_t op, size, b_stride;
    int32_t act;
    float act_min, act_max;
} edgec_binary_fast_f32_t;
void edgec_binary_fast_f32(const edgec_binary_fast_f32_t *p, const float *a, const float *b,
                           float *output);

#ifdef __cplusplus
}
#endif

#endif /* EDGEC_KERNELS_F32_FAST_H */
