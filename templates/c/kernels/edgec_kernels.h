/*
 * edgec kernel library: portable C99 kernels called by generated models.
 *
 * Conventions
 * - Activations of rank >= 3 are channels-last (NHWC; N, L, C for 1-d); rank <= 2 row-major.
 * - Every kernel takes a `const` parameter struct that the generator fills at compile time
 *   (shapes, strides, pads, clamps, weight pointers), then input and output pointers.
 *   Kernels never allocate and never fail: all checks happen when the model is compiled.
 * - Names: edgec_<op>[_<variant>]_<dtype>; f32 = float, s8 = int8, s16 = int16.
 * - Float clamps use +/-FLT_MAX for "no bound".
 */
#ifndef EDGEC_KERNELS_H
#define EDGEC_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Channels-last 4-d shape: batch, height, width, channels (1-d data has h = 1). */
typedef struct {
    int32_t n, h, w, c;
} edgec_dims_t;

/* ---- data movement (any element type; sizes in elements, elem_size in bytes) ---------- */
#define EDGEC_MAX_RANK 6

/* out[i0..i5] = in[j] where output memory axis k walks input memory axis perm[k]. */
typedef struct {
    int32_t elem_size;
    int32_t in_shape[EDGEC_MAX_RANK];
    int32_t perm[EDGEC_MAX_RANK];
    int32_t in_stride[EDGEC_MAX_RANK]; /* a strided input's element strides (a tile's rows of a
                                          channels-first tensor), or all 0: dense */
} edgec_permute_t;
void edgec_permute(const edgec_permute_t *p, const void *input, void *output);

/* Concatenate along one memory axis: for each of `outer` steps, copy inner_bytes[i] of input i. */
typedef struct {
    int32_t n_inputs;
    int32_t outer;
    const int32_t *inner_bytes;
} edgec_concat_t;
void edgec_concat(const edgec_concat_t *p, const void *const *inputs, void *output);

/* Padding of a memory-order tensor (padded to EDGEC_MAX_RANK with leading 1s): with `fill`
 * (constant), or reflecting about the end elements, repeating them (edge), or wrapping. */
enum { EDGEC_PAD_CONSTANT, EDGEC_PAD_REFLECT, EDGEC_PAD_EDGE, EDGEC_PAD_WRAP };
typedef struct {
    int32_t elem_size;
    int32_t in_shape[EDGEC_MAX_RANK];
    int32_t before[EDGEC_MAX_RANK];
    int32_t after[EDGEC_MAX_RANK];
    const void *fill; /* one element */
    int32_t mode;
} edgec_pad_t;
void edgec_pad(const edgec_pad_t *p, const void *input, void *output);

/* out[i] = in[start + i * step] per memory axis (steps may be negative). */
typedef struct {
    int32_t elem_size;
    int32_t in_shape[EDGEC_MAX_RANK];
    int32_t out_shape[EDGEC_MAX_RANK];
    int32_t start[EDGEC_MAX_RANK];
    int32_t step[EDGEC_MAX_RANK];
} edgec_slice_t;
void edgec_slice(const edgec_slice_t *p, const void *input, void *output);

/* Row-major gather of `count` constant indices along one axis. */
typedef struct {
    int32_t elem_size;
    int32_t outer, axis_size, inner, count;
    const int32_t *indices;
} edgec_gather_t;
void edgec_gather(const edgec_gather_t *p, const void *input, void *output);

/* Nearest-neighbour resize of channels-last data through per-axis source index tables. */
typedef struct {
    int32_t elem_size;
    int32_t batch, in_h, in_w, channels, out_h, out_w;
    const int32_t *h_index;
    const int32_t *w_index;
} edgec_resize_nearest_t;
void edgec_resize_nearest(const edgec_resize_nearest_t *p, const void *input, void *output);

/* Bilinear resize of channels-last data: output row y reads rows h_low[y] and h_high[y] with
 * weights h_weight[2 y] and h_weight[2 y + 1] (columns likewise), as onnxruntime weighs them. */
typedef struct {
    int32_t batch, in_h, in_w, channels, out_h, out_w;
    const int32_t *h_low, *h_high, *w_low, *w_high;
    const float *h_weight, *w_weight; /* [out][2]: low, high */
} edgec_resize_bilinear_f32_t;
void edgec_resize_bilinear_f32(const edgec_resize_bilinear_f32_t *p, const float *input, float *output);

/* ---- float32 compute ---------------------------------------------------------------- */
/* Convolution, NHWC input, weights [out_c][kh][kw][in_c / groups]. */
typedef struct {
    edgec_dims_t in, out;
    int32_t kh, kw, stride_h, stride_w, dil_h, dil_w;
    int32_t pad_top, pad_left, pad_bottom, pad_right;
    int32_t groups;
    float act_min, act_max;
    const float *weights;
    const float *bias; /* [out_c] or NULL */
} edgec_conv_f32_t;
void edgec_conv_f32(const edgec_conv_f32_t *p, const float *input, float *output);

/* Depthwise convolution, weights [kh][kw][in_c * multiplier]. */
typedef struct {
    edgec_dims_t in, out;
    int32_t kh, kw, stride_h, stride_w, dil_h, dil_w;
    int32_t pad_top, pad_left, pad_bottom, pad_right;
    int32_t multiplier;
    float act_min, act_max;
    const float *weights;
    const float *bias;
} edgec_dwconv_f32_t;
void edgec_dwconv_f32(const edgec_dwconv_f32_t *p, const float *input, float *output);

/* Transposed convolution: output pixel (oy, ox) sums the taps with iy * stride_h + ky * dil_h
 * = oy + pad_top (and likewise for columns); pad_top / pad_left crop the full result's start,
 * pad_bottom / pad_right are unused. Weights [out_c][kh][kw][in_c / groups]. */
void edgec_conv_transpose_f32(const edgec_conv_f32_t *p, const float *input, float *output);

/* Fully connected: out[b][o] = sum_i in[b][i] * weights[o][i] + bias[o]. */
typedef struct {
    int32_t batches, in_features, out_features;
    float act_min, act_max;
    const float *weights;
    const float *bias;
} edgec_fc_f32_t;
void edgec_fc_f32(const edgec_fc_f32_t *p, const float *input, float *output);

/* Broadcasting binary op over a 4-d loop; strides in elements (0 = broadcast). */
enum { EDGEC_ADD, EDGEC_SUB, EDGEC_MUL, EDGEC_DIV, EDGEC_MAX, EDGEC_MIN, EDGEC_PRELU };
typedef struct {
    int32_t op;
    int32_t dims[4];
    int32_t a_stride[4], b_stride[4];
    float act_min, act_max;
} edgec_binary_f32_t;
void edgec_binary_f32(const edgec_binary_f32_t *p, const float *a, const float *b, float *output);

enum {
    EDGEC_RELU, EDGEC_CLIP, EDGEC_LEAKY_RELU, EDGEC_SIGMOID, EDGEC_TANH, EDGEC_HARD_SIGMOID,
    EDGEC_HARD_SWISH, EDGEC_ELU, EDGEC_SELU, EDGEC_SOFTPLUS, EDGEC_SOFTSIGN, EDGEC_NEG, EDGEC_ABS,
    EDGEC_EXP, EDGEC_LOG, EDGEC_SQRT, EDGEC_ERF, EDGEC_RECIPROCAL, EDGEC_POW
}; /* EDGEC_POW: x to the power alpha */
typedef struct {
    int32_t op;
    int32_t size;
    float alpha, beta, min, max;
} edgec_unary_f32_t;
void edgec_unary_f32(const edgec_unary_f32_t *p, const float *input, float *output);

/* Per-channel affine map (inference BatchNorm): out = in * scale[c] + shift[c]. */
typedef struct {
    int32_t outer, channels, inner;
    const float *scale;
    const float *shift;
} edgec_channel_affine_f32_t;
void edgec_channel_affine_f32(const edgec_channel_affine_f32_t *p, const float *input, float *output);

/* Softmax (or log-softmax) over the middle axis of [outer][axis_size][inner]. */
typedef struct {
    int32_t outer, axis_size, inner, log;
} edgec_softmax_f32_t;
void edgec_softmax_f32(const edgec_softmax_f32_t *p, const float *input, float *output);

/* Max and average pooling, NHWC. The average divides by the window positions inside the
 * input, plus the declared pads when count_include_pad is set. */
typedef struct {
    edgec_dims_t in, out;
    int32_t kh, kw, stride_h, stride_w;
    int32_t pad_top, pad_left, pad_bottom, pad_right;
    int32_t count_include_pad;
    float act_min, act_max;
} edgec_pool_f32_t;
void edgec_maxpool_f32(const edgec_pool_f32_t *p, const float *input, float *output);
void edgec_avgpool_f32(const edgec_pool_f32_t *p, const float *input, float *output);

/* ---- reductions over memory-order dims (any axes, any layout) ------------------------
 * Each output element (the kept dims, walked in order) reduces the input elements of the
 * reduced dims; both are given as sizes with their element strides in the input, padded
 * to EDGEC_MAX_RANK with leading 1s. */
enum {
    EDGEC_REDUCE_MEAN, EDGEC_REDUCE_SUM, EDGEC_REDUCE_MAX, EDGEC_REDUCE_MIN, EDGEC_REDUCE_PROD,
    EDGEC_REDUCE_L1, EDGEC_REDUCE_L2, EDGEC_REDUCE_SUM_SQUARE, EDGEC_REDUCE_LOG_SUM,
    EDGEC_REDUCE_LOG_SUM_EXP
};
typedef struct {
    int32_t op;
    int32_t kept[EDGEC_MAX_RANK], kept_stride[EDGEC_MAX_RANK];
    int32_t red[EDGEC_MAX_RANK], red_stride[EDGEC_MAX_RANK];
} edgec_reduce_f32_t;
void edgec_reduce_f32(const edgec_reduce_f32_t *p, const float *input, float *output);

/* ArgMax (is_min = 0) or ArgMin over the reduced dims: the int64 index of the first extreme
 * value (the last with select_last). Integer inputs compare their raw values. */
typedef struct {
    int32_t is_min, select_last;
    int32_t kept[EDGEC_MAX_RANK], kept_stride[EDGEC_MAX_RANK];
    int32_t red[EDGEC_MAX_RANK], red_stride[EDGEC_MAX_RANK];
} edgec_arg_reduce_t;
void edgec_arg_reduce_f32(const edgec_arg_reduce_t *p, const float *input, int64_t *output);
void edgec_arg_reduce_s8(const edgec_arg_reduce_t *p, const int8_t *input, int64_t *output);
void edgec_arg_reduce_s16(const edgec_arg_reduce_t *p, const int16_t *input, int64_t *output);

/* ---- selection and conversion --------------------------------------------------------- */
/* Where with a constant condition, any element type: out = condition ? x : y over a
 * broadcasting 4-d loop (strides in elements, 0 = broadcast). */
typedef struct {
    int32_t elem_size;
    int32_t dims[4];
    int32_t c_stride[4], a_stride[4], b_stride[4];
    const uint8_t *condition;
} edgec_where_t;
void edgec_where(const edgec_where_t *p, const void *x, const void *y, void *output);

/* Cast between element types: float to integer truncates toward zero and saturates (NaN gives
 * 0), integer to narrower integer wraps, as a C conversion through uint64. */
enum { EDGEC_TYPE_F32, EDGEC_TYPE_S8, EDGEC_TYPE_U8, EDGEC_TYPE_S16, EDGEC_TYPE_S32, EDGEC_TYPE_S64 };
typedef struct {
    int32_t size, from, to;
} edgec_cast_t;
void edgec_cast(const edgec_cast_t *p, const void *input, void *output);

/* ---- float <-> integer (per-tensor affine) ----------------------------------------- */
typedef struct {
    int32_t size;
    float scale;
    int32_t zero_point;
} edgec_quantize_t;
/* q = saturate(round_half_even(x / scale) + zero_point), as ONNX QuantizeLinear. */
void edgec_quantize_f32_s8(const edgec_quantize_t *p, const float *input, int8_t *output);
void edgec_quantize_f32_s16(const edgec_quantize_t *p, const float *input, int16_t *output);
void edgec_quantize_f32_u8(const edgec_quantize_t *p, const float *input, uint8_t *output);
/* x = (q - zero_point) * scale. */
void edgec_dequantize_s8_f32(const edgec_quantize_t *p, const int8_t *input, float *output);
void edgec_dequantize_s16_f32(const edgec_quantize_t *p, const int16_t *input, float *output);
void edgec_dequantize_u8_f32(const edgec_quantize_t *p, const uint8_t *input, float *output);

#ifdef __cplusplus
}
#endif

/* Integer (int8 and 16x8) kernels, TFLite Micro semantics. */
#include "edgec_kernels_int.h"
/* int8 kernels on sparse or clustered weight storage. */
#include "edgec_kernels_compact.h"
/* int8 kernels with 4-bit weights (after the compact ones: it uses their geometry). */
#include "edgec_kernels_int4.h"
/* int8 kernels on entropy-coded weights (after the compact ones: they use their structs). */
#include "edgec_kernels_entropy.h"
/* Optimized float kernels (packed weights). */
#include "edgec_kernels_f32_fast.h"
/* Attention blocks: batched products of two activations, LayerNorm, GELU. */
#include "edgec_kernels_attention.h"
/* LSTM and GRU, float and integer. */
#include "edgec_kernels_recurrent.h"

#endif /* EDGEC_KERNELS_H */
