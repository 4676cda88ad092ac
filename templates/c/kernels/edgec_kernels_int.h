/*
 * edgec integer kernels (int8, and 16x8: int16 activations with int8 weights), with the
 * semantics of TensorFlow Lite Micro's reference kernels, bit for bit. Included by
 * edgec_kernels.h; the portable C sources are the reference that optimized variants must match.
 *
 * Conventions (beyond edgec_kernels.h)
 * - Activations are affine-quantized per tensor: real = scale * (q - zero_point). Parameters
 *   derived from scales (multipliers, shifts, clamps) are computed by the compiler exactly as
 *   TFLM's Prepare does and written into the parameter struct.
 * - Requantization is TFLM's MultiplyByQuantizedMultiplier (see edgec_fixedpoint.h): a
 *   multiplier in [2^30, 2^31) (0 for a zero scale) and a shift in [-31, 30]. Under
 *   --rounding float or litert, where a mode computes in float32, the same int32 fields hold
 *   float32 bit patterns instead (out_mult: the scale; a rescale's mult and shift: the input
 *   and output scales): the helpers edgec_requant, edgec_rescale... read them (see there).
 * - Per-channel arrays (out_mult, out_shift, bias) have one entry per output channel.
 * - Weights are int8, symmetric (zero point 0). Biases are int32 for int8 activations and
 *   int64 for int16 activations (`wide` selects the int64 requantization; wide = 0 means
 *   TFLM's 32-bit accumulator path, used when the model stored an int32 bias).
 * - act_min/act_max are quantized clamp bounds within the activation type's range.
 * - int16 activations have zero point 0 (the s16 conv and FC structs have no zero points).
 * - Accumulators: int32 for int8 (exact while taps * 255 * 128 + |bias| < 2^31, about 65,000
 *   taps per output, as in TFLM), int64 for 16x8.
 * - Outputs must not overlap inputs (the planner never lets them), except that the
 *   elementwise kernels (same element type) also work in place.
 * - Private helpers live in edgec_fixedpoint.h, included only by the kernel sources.
 */
#ifndef EDGEC_KERNELS_INT_H
#define EDGEC_KERNELS_INT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- convolution (NHWC input and output) --------------------------------------------- */

/* General and grouped convolution; weights [out_c][kh][kw][in_c / groups]. The 1x1 variant
 * (kh = kw = 1, no padding, groups = 1) reads one input pixel per output pixel. */
typedef struct {
    edgec_dims_t in, out;
    int32_t kh, kw, stride_h, stride_w, dil_h, dil_w;
    int32_t pad_top, pad_left, pad_bottom, pad_right;
    int32_t groups;
    int32_t input_zero_point, output_zero_point;
    int32_t act_min, act_max;
    const int8_t *weights;
    const int32_t *bias; /* [out_c] or NULL */
    const int32_t *out_mult, *out_shift;
} edgec_conv_s8_t;
void edgec_conv_s8(const edgec_conv_s8_t *p, const int8_t *input, int8_t *output);
void edgec_conv_1x1_s8(const edgec_conv_s8_t *p, const int8_t *input, int8_t *output);

typedef struct {
    edgec_dims_t in, out;
    int32_t kh, kw, stride_h, stride_w, dil_h, dil_w;
    int32_t pad_top, pad_left, pad_bottom, pad_right;
    int32_t groups;
    int32_t wide;
    int32_t act_min, act_max;
    const int8_t *weights;
    const int64_t *bias; /* [out_c] or NULL */
    const int32_t *out_mult, *out_shift;
} edgec_conv_s16_t;
void edgec_conv_s16(const edgec_conv_s16_t *p, const int16_t *input, int16_t *output);

/* Transposed convolution (TFLite TRANSPOSE_CONV per group) with the parameters of the
 * convolution structs: output pixel (oy, ox) sums (x + input offset) * w over the taps with
 * iy * stride_h + ky * dil_h = oy + pad_top (likewise for columns), then bias and requant. */
void edgec_conv_transpose_s8(const edgec_conv_s8_t *p, const int8_t *input, int8_t *output);
void edgec_conv_transpose_s16(const edgec_conv_s16_t *p, const int16_t *input, int16_t *output);

/* Depthwise convolution; output channel o reads input channel o / depth_multiplier;
 * weights [kh][kw][out_c]. */
typedef struct {
    edgec_dims_t in, out;
    int32_t kh, kw, stride_h, stride_w, dil_h, dil_w;
    int32_t pad_top, pad_left, pad_bottom, pad_right;
    int32_t depth_multiplier;
    int32_t input_zero_point, output_zero_point;
    int32_t act_min, act_max;
    const int8_t *weights;
    const int32_t *bias;
    const int32_t *out_mult, *out_shift;
} edgec_dwconv_s8_t;
void edgec_dwconv_s8(const edgec_dwconv_s8_t *p, const int8_t *input, int8_t *output);

typedef struct {
    edgec_dims_t in, out;
    int32_t kh, kw, stride_h, stride_w, dil_h, dil_w;
    int32_t pad_top, pad_left, pad_bottom, pad_right;
    int32_t depth_multiplier;
    int32_t wide;
    int32_t act_min, act_max;
    const int8_t *weights;
    const int64_t *bias;
    const int32_t *out_mult, *out_shift;
} edgec_dwconv_s16_t;
void edgec_dwconv_s16(const edgec_dwconv_s16_t *p, const int16_t *input, int16_t *output);

/* ---- fully connected: out[b][o] = requant(sum_i (in[b][i] - zp) * weights[o][i] + bias[o]) */
typedef struct {
    int32_t batches, in_features, out_features;
    int32_t input_zero_point, output_zero_point;
    int32_t act_min, act_max;
    const int8_t *weights; /* [out_features][in_features] */
    const int32_t *bias;
    const int32_t *out_mult, *out_shift;
} edgec_fc_s8_t;
void edgec_fc_s8(const edgec_fc_s8_t *p, const int8_t *input, int8_t *output);

typedef struct {
    int32_t batches, in_features, out_features;
    int32_t wide;
    int32_t act_min, act_max;
    const int8_t *weights;
    const int64_t *bias;
    const int32_t *out_mult, *out_shift;
} edgec_fc_s16_t;
void edgec_fc_s16(const edgec_fc_s16_t *p, const int16_t *input, int16_t *output);

/* ---- optimized int8 kernels for DSP cores (fast_*.c), bit-exact with the portable ones ----
 * A matrix product out[r][o] = requant(sum_k in[r][k] * weights[o][k] + bias[o]) where bias
 * already holds input_offset * sum_k weights[o][k] (folded at compile time). The weights and
 * per-channel constants are one stream of records (fast_gemm.c describes it). Rows are taken
 * two at a time and widened to int16 in the part of the output not written yet. */
typedef struct {
    int32_t rows, k, n;
    int32_t act_min, act_max;
    const int32_t *stream; /* pairs of channels; edgec_fc1_fast_s8: quads */
} edgec_gemm_s8_t;
void edgec_fc_fast_s8(const edgec_gemm_s8_t *p, const int8_t *input, int8_t *output);
/* One row at a time, four channels per pass (n and k multiples of 4). */
void edgec_fc1_fast_s8(const edgec_gemm_s8_t *p, const int8_t *input, int8_t *output);

/* Convolution (groups 1) as that product over output pixels, k = kh * kw * in_c. Scratch:
 * two im2col rows (2 * k bytes); the 1x1 variant (no padding) reads its rows in place and
 * needs none. The widened rows go to the output's unwritten tail, or over input the layer has
 * read (input_dies). */
typedef struct {
    edgec_dims_t in, out;
    int32_t kh, kw, stride_h, stride_w, dil_h, dil_w;
    int32_t pad_top, pad_left;
    int32_t input_zero_point;
    int32_t input_dies; /* read by this layer alone: rows may be widened over what it has read */
    edgec_gemm_s8_t gemm; /* weights [out_c][kh][kw][in_c] */
} edgec_conv_fast_s8_t;
void edgec_conv_fast_s8(const edgec_conv_fast_s8_t *p, const int8_t *input, int8_t *output, int8_t *scratch);
void edgec_conv_1x1_fast_s8(const edgec_conv_fast_s8_t *p, const int8_t *input, int8_t *output);
/* Scratch holding the widened rows (4 * k4 bytes, k4 = k rounded up to 4), then the im2col
 * rows (but for the 1x1 variants): where the output's tail would leave many pixels without
 * room, and in place over the input (overlap.py). */
void edgec_conv_fast_wide_s8(const edgec_conv_fast_s8_t *p, const int8_t *input, int8_t *output, int8_t *scratch);
void edgec_conv_1x1_fast_wide_s8(const edgec_conv_fast_s8_t *p, const int8_t *input, int8_t *output,
                                 int8_t *scratch);
void edgec_conv_1x1_fast_inplace_s8(const edgec_conv_fast_s8_t *p, const int8_t *input, int8_t *output,
                                    int8_t *scratch);
void edgec_conv_fast_inplace_s8(const edgec_conv_fast_s8_t *p, const int8_t *input, int8_t *output, int8_t *scratch);

/* Depthwise with depth_multiplier 1 (fast_dwconv.c describes the stream); padding: a
 * constant row of out.c bytes equal to the input zero point. */
typedef struct {
    edgec_dims_t in, out;
    int32_t kh, kw, stride_h, stride_w, dil_h, dil_w;
    int32_t pad_top, pad_left;
    int32_t act_min, act_max;
    const int8_t *padding;
    const int32_t *stream;
} edgec_dwconv_fast_s8_t;
void edgec_dwconv_fast_s8(const edgec_dwconv_fast_s8_t *p, const int8_t *input, int8_t *output);

/* ---- optimized int8 kernels for Helium cores (mve_*.c), bit-exact with the portable ones -
 * The same products on Cortex-M55/M85 (plain C elsewhere), with the layouts mve_gemm.c and
 * mve_dwconv.c describe; per channel a bias (with the input offset folded in), a multiplier
 * and r1 = -shift - 1. */
typedef struct {
    int32_t rows, k, n;
    int32_t zero_point, act_min, act_max;
    const int32_t *stream; /* per four channels: biases, weights, multipliers, -shifts */
} edgec_gemm_mve_s8_t;
void edgec_fc_mve_s8(const edgec_gemm_mve_s8_t *p, const int8_t *input, int8_t *output);

typedef struct {
    edgec_dims_t in, out;
    int32_t kh, kw, stride_h, stride_w, dil_h, dil_w;
    int32_t pad_top, pad_left;
    int32_t input_zero_point;
    edgec_gemm_mve_s8_t gemm; /* weights [out_c][kh][kw][in_c] */
} edgec_conv_mve_s8_t;
/* scratch: two im2col rows (2 * k bytes); the 1x1 variant (no padding) reads its rows in place.
 * Both may run over their own input (overlap.py): two pixels at a time, in pixel order. */
void edgec_conv_mve_s8(const edgec_conv_mve_s8_t *p, const int8_t *input, int8_t *output, int8_t *scratch);
void edgec_conv_1x1_mve_s8(const edgec_conv_mve_s8_t *p, const int8_t *input, int8_t *output);

/* Depthwise with depth_multiplier 1 (mve_dwconv.c describes the layouts): a 3x3 window's
 * channels in blocks of 16 from `stream`, the others from the rest arrays; padding: a
 * constant row of out.c bytes equal to the input zero point. */
typedef struct {
    edgec_dims_t in, out;
    int32_t kh, kw, stride_h, stride_w, dil_h, dil_w;
    int32_t pad_top, pad_left;
    int32_t zero_point, act_min, act_max;
    const int8_t *padding;
    const int32_t *stream;
    const int8_t *rest_weights;
    const int32_t *rest_bias, *rest_mult;
    const uint8_t *rest_shift;
} edgec_dwconv_mve_s8_t;
void edgec_dwconv_mve_s8(const edgec_dwconv_mve_s8_t *p, const int8_t *input, int8_t *output);

/* Add of two int8 operands of the output's shape: each operand's rescaled value tabulated at
 * compile time ([256], by q + 128); requant: one row as edgec_gemm_s8_t's (the zero point
 * included), or NULL: out_mult and out_shift (edgec_fp_mbqm) and output_zero_point.
 * --rounding float: float32 tables (a * a_scale; offset + b * b_scale) summed and rounded;
 * litert: bias + a * a_mult and b * b_mult, summed, >> out_shift, + output_zero_point. */
typedef struct {
    int32_t size;
    int32_t act_min, act_max;
    const int32_t *a_table, *b_table;
    const int32_t *requant;
    int32_t output_zero_point;
    int32_t out_mult, out_shift;
} edgec_add_fast_s8_t;
void edgec_add_fast_s8(const edgec_add_fast_s8_t *p, const int8_t *a, const int8_t *b, int8_t *output);

/* ---- broadcasting Add and Mul over a 4-d loop (strides in elements, 0 = broadcast) ----- */

/* Both inputs are shifted left by left_shift (20 for int8, 15 for int16), rescaled to a common
 * scale, summed, and rescaled to the output. --rounding float (onnxruntime's QLinearAdd):
 * (offset + b * b_scale) + a * a_scale in float32, rounded half to even. --rounding litert,
 * int8 (XNNPACK): ((out_mult + a * a_mult + b * b_mult) >> out_shift) + output_zero_point. */
typedef struct {
    int32_t dims[4];
    int32_t a_stride[4], b_stride[4];
    int32_t a_zero_point, b_zero_point, output_zero_point;
    int32_t left_shift;
    int32_t a_mult, a_shift, b_mult, b_shift, out_mult, out_shift;
    int32_t act_min, act_max;
    float a_scale, b_scale, offset; /* --rounding float only */
} edgec_add_int_t;
void edgec_add_s8(const edgec_add_int_t *p, const int8_t *a, const int8_t *b, int8_t *output);
void edgec_add_s16(const edgec_add_int_t *p, const int16_t *a, const int16_t *b, int16_t *output);

/* The product of the centered inputs, requantized once (float32 where the build's rounding
 * says: out_mult the scale's bits; onnxruntime adds the zero point before rounding). */
typedef struct {
    int32_t dims[4];
    int32_t a_stride[4], b_stride[4];
    int32_t a_zero_point, b_zero_point, output_zero_point;
    int32_t out_mult, out_shift;
    int32_t act_min, act_max;
} edgec_mul_int_t;
void edgec_mul_s8(const edgec_mul_int_t *p, const int8_t *a, const int8_t *b, int8_t *output);
void edgec_mul_s16(const edgec_mul_int_t *p, const int16_t *a, const int16_t *b, int16_t *output);

/* ---- pooling (NHWC; input and output share the quantization) --------------------------- */

/* The average rounds half away from zero and divides by the window positions inside the input;
 * with count_include_pad the positions in the declared pads (pad_bottom and pad_right exclude a
 * ceil-mode window's overhang, which never counts) count too, as input_zero_point. The max
 * never picks padding. --rounding float: onnxruntime's QLinearAveragePool, the dequantized
 * values summed in float32, divided, then quantized with the output's parameters (which may
 * differ from the input's). */
typedef struct {
    edgec_dims_t in, out;
    int32_t kh, kw, stride_h, stride_w;
    int32_t pad_top, pad_left, pad_bottom, pad_right;
    int32_t count_include_pad;
    int32_t input_zero_point;
    int32_t act_min, act_max;
    float input_scale, output_scale; /* --rounding float only */
    int32_t output_zero_point;       /* --rounding float only */
} edgec_pool_int_t;
void edgec_avgpool_s8(const edgec_pool_int_t *p, const int8_t *input, int8_t *output);
void edgec_avgpool_s16(const edgec_pool_int_t *p, const int16_t *input, int16_t *output);
void edgec_maxpool_s8(const edgec_pool_int_t *p, const int8_t *input, int8_t *output);
void edgec_maxpool_s16(const edgec_pool_int_t *p, const int16_t *input, int16_t *output);
/* Optimized (fast_pool.c): a window the size of the input, no padding, one output pixel. */
void edgec_global_avgpool_fast_s8(const edgec_pool_int_t *p, const int8_t *input, int8_t *output);

/* TFLM MEAN over the middle axis of [outer][count][inner]: the centered sum, requantized once
 * (1 / count is folded into out_mult / out_shift). */
typedef struct {
    int32_t outer, count, inner;
    int32_t input_zero_point, output_zero_point;
    int32_t out_mult, out_shift;
} edgec_mean_int_t;
void edgec_mean_s8(const edgec_mean_int_t *p, const int8_t *input, int8_t *output);
void edgec_mean_s16(const edgec_mean_int_t *p, const int16_t *input, int16_t *output);

/* ---- softmax over the middle axis of [outer][axis_size][inner] --------------------------- */

/* int8 input: gemmlowp exp of the difference to the row maximum scaled to Q5.26
 * (input_mult, input_left_shift), differences below diff_min contribute nothing. Output int8
 * (scale 1/256, zero point -128) or int16 (1/65536, -32768).
 * int16 input (scale 1/32768 out, zero point 0): interpolated 513-entry tables exp on [-10, 0]
 * and 1 / (1 + x) on [0, 1]; input_mult / input_left_shift are a multiplier and shift. */
typedef struct {
    int32_t outer, axis_size, inner;
    int32_t input_mult, input_left_shift, diff_min;
    const int16_t *exp_table;        /* int16 input only, else NULL */
    const int16_t *reciprocal_table; /* int16 input only, else NULL */
} edgec_softmax_int_t;
void edgec_softmax_s8(const edgec_softmax_int_t *p, const int8_t *input, int8_t *output);
void edgec_softmax_s8_s16(const edgec_softmax_int_t *p, const int8_t *input, int16_t *output);
void edgec_softmax_s16(const edgec_softmax_int_t *p, const int16_t *input, int16_t *output);

/* onnxruntime's int8 QLinearSoftmax (--rounding float): table[d] = exp of the difference d to
 * the row maximum (scaled), output_multiplier = floor(1 / output scale). */
typedef struct {
    int32_t outer, axis_size, inner;
    const float *table; /* [256] */
    float output_multiplier;
    int32_t output_zero_point;
} edgec_softmax_onnxruntime_t;
void edgec_softmax_onnxruntime_s8(const edgec_softmax_onnxruntime_t *p, const int8_t *input, int8_t *output);

/* ---- elementwise activations --------------------------------------------------------------- */

/* Logistic and Tanh. int8: the centered input rescaled to Q4 (input_mult, input_left_shift);
 * |x - zp| >= input_range_radius saturates; output scale 1/256, zp -128 (Logistic) or 1/128, 0
 * (Tanh). int16: the input scaled by input_mult >> input_left_shift (input_mult = 0: a
 * power-of-two input scale, factor 3) interpolates TFLite's 256-entry sigmoid table `table`. */
typedef struct {
    int32_t size;
    int32_t input_zero_point;
    int32_t input_mult, input_left_shift, input_range_radius;
    const uint16_t *table; /* int16 only, else NULL */
} edgec_sigmoid_int_t;
void edgec_logistic_s8(const edgec_sigmoid_int_t *p, const int8_t *input, int8_t *output);
void edgec_logistic_s16(const edgec_sigmoid_int_t *p, const int16_t *input, int16_t *output);
void edgec_tanh_s8(const edgec_sigmoid_int_t *p, const int8_t *input, int8_t *output);
void edgec_tanh_s16(const edgec_sigmoid_int_t *p, const int16_t *input, int16_t *output);

/* HardSwish in 16-bit fixed point (TFLite reference_ops::HardSwish); int16 multipliers. */
typedef struct {
    int32_t size;
    int32_t input_zero_point, output_zero_point;
    int32_t output_mult, output_exponent; /* exponent in [-15, 0] */
    int32_t reluish_mult, reluish_exponent; /* exponent in [-15, 16] */
} edgec_hard_swish_s8_t;
void edgec_hard_swish_s8(const edgec_hard_swish_s8_t *p, const int8_t *input, int8_t *output);

/* An int8 elementwise function as its table: output = table[input + 128] (--rounding float:
 * onnxruntime's QLinearSigmoid, QLinearLeakyRelu, and the ops it runs between
 * DequantizeLinear and QuantizeLinear). */
typedef struct {
    int32_t size;
    const int8_t *table; /* [256] */
} edgec_lut_s8_t;
void edgec_lut_s8(const edgec_lut_s8_t *p, const int8_t *input, int8_t *output);

/* LeakyRelu: identity_* requantizes x >= zero point, alpha_* (a negative multiplier for a
 * negative alpha) the rest; saturates to the type's range. */
typedef struct {
    int32_t size;
    int32_t input_zero_point, output_zero_point;
    int32_t identity_mult, identity_shift, alpha_mult, alpha_shift;
} edgec_leaky_relu_int_t;
void edgec_leaky_relu_s8(const edgec_leaky_relu_int_t *p, const int8_t *input, int8_t *output);
void edgec_leaky_relu_s16(const edgec_leaky_relu_int_t *p, const int16_t *input, int16_t *output);

/* Relu / Relu6 / Clip: optional requantization (requantize != 0), then clamp to
 * [act_min, act_max]. */
typedef struct {
    int32_t size;
    int32_t requantize;
    int32_t input_zero_point, output_zero_point;
    int32_t mult, shift;
    int32_t act_min, act_max;
} edgec_clamp_int_t;
void edgec_clamp_s8(const edgec_clamp_int_t *p, const int8_t *input, int8_t *output);
void edgec_clamp_s16(const edgec_clamp_int_t *p, const int16_t *input, int16_t *output);

/* Requantization between integer tensors (TFLite QUANTIZE, ONNX QuantizeLinear of an integer
 * input): out = saturate(requant(in - input_zero_point) + output_zero_point). */
typedef struct {
    int32_t size;
    int32_t input_zero_point, output_zero_point;
    int32_t mult, shift;
} edgec_requantize_int_t;
void edgec_requantize_s8_s8(const edgec_requantize_int_t *p, const int8_t *input, int8_t *output);
void edgec_requantize_s8_s16(const edgec_requantize_int_t *p, const int8_t *input, int16_t *output);
void edgec_requantize_s16_s8(const edgec_requantize_int_t *p, const int16_t *input, int8_t *output);
void edgec_requantize_s16_s16(const edgec_requantize_int_t *p, const int16_t *input, int16_t *output);

/* ---- bilinear resize (TFLite RESIZE_BILINEAR, channels-last, input quantization kept) ------
 * Output row y reads rows h_low[y] (weight 1024 - h_frac[y]) and h_high[y] (weight h_frac[y]),
 * columns likewise; the Q20 sum is divided by 2^20 rounding half away from zero. */
typedef struct {
    int32_t batch, in_h, in_w, channels, out_h, out_w;
    const int32_t *h_low, *h_high, *w_low, *w_high;
    const int32_t *h_frac, *w_frac; /* Q10 */
} edgec_resize_bilinear_int_t;
void edgec_resize_bilinear_s8(const edgec_resize_bilinear_int_t *p, const int8_t *input, int8_t *output);
void edgec_resize_bilinear_s16(const edgec_resize_bilinear_int_t *p, const int16_t *input, int16_t *output);

/* ---- elementwise math (edgec/ops/integer/unary.py) -------------------------------------------- */

/* The table functions (TFLite's int8 LUT kernels) run edgec_lut_s8 above. */

/* TFLite ABS: |x - input_zero_point|, requantized when the scales differ, plus the output
 * zero point, saturated. */
typedef struct {
    int32_t size;
    int32_t requantize;
    int32_t input_zero_point, output_zero_point;
    int32_t mult, shift;
} edgec_abs_int_t;
void edgec_abs_s8(const edgec_abs_int_t *p, const int8_t *input, int8_t *output);
void edgec_abs_s16(const edgec_abs_int_t *p, const int16_t *input, int16_t *output);

/* One operand brought to the output's quantization (TFLite QUANTIZE) when requantize != 0. */
typedef struct {
    int32_t requantize, input_zero_point, mult, shift;
} edgec_operand_requant_t;

/* Max (is_min = 0) or Min of two operands over a broadcasting 4-d loop (TFLite MAXIMUM /
 * MINIMUM on the operands in the output's quantization). */
typedef struct {
    int32_t is_min;
    int32_t dims[4];
    int32_t a_stride[4], b_stride[4];
    int32_t output_zero_point;
    edgec_operand_requant_t a, b;
} edgec_minmax_int_t;
void edgec_minmax_s8(const edgec_minmax_int_t *p, const int8_t *a, const int8_t *b, int8_t *output);
void edgec_minmax_s16(const edgec_minmax_int_t *p, const int16_t *a, const int16_t *b, int16_t *output);

/* Where with a constant condition (TFLite SELECT_V2 on the requantized operands). */
typedef struct {
    int32_t dims[4];
    int32_t c_stride[4], a_stride[4], b_stride[4];
    const uint8_t *condition;
    int32_t output_zero_point;
    edgec_operand_requant_t a, b;
} edgec_where_int_t;
void edgec_where_s8(const edgec_where_int_t *p, const int8_t *a, const int8_t *b, int8_t *output);
void edgec_where_s16(const edgec_where_int_t *p, const int16_t *a, const int16_t *b, int16_t *output);

/* Sum (or Mean) of n_inputs operands over a broadcasting 4-d loop: TFLite ADD's arithmetic for
 * n inputs. strides [n_inputs][4]; per input its zero point, multiplier and shift. */
typedef struct {
    int32_t n_inputs;
    int32_t dims[4];
    const int32_t *strides;
    const int32_t *input_zero_point, *mult, *shift;
    int32_t left_shift;
    int32_t output_zero_point, out_mult, out_shift;
} edgec_add_n_int_t;
void edgec_add_n_s8(const edgec_add_n_int_t *p, const void *const *inputs, int8_t *output);
void edgec_add_n_s16(const edgec_add_n_int_t *p, const void *const *inputs, int16_t *output);

/* ---- concatenation with requantization ----------------------------------------------------- */

/* For each of `outer` steps, input i contributes inner[i] elements; an input whose quantization
 * differs from the output's (requantize[i] != 0) is rescaled on the way (TFLite's QUANTIZE). */
typedef struct {
    int32_t n_inputs;
    int32_t outer;
    int32_t output_zero_point;
    const int32_t *inner;
    const int32_t *requantize;
    const int32_t *input_zero_point;
    const int32_t *mult;
    const int32_t *shift;
} edgec_concat_int_t;
void edgec_concat_s8(const edgec_concat_int_t *p, const void *const *inputs, int8_t *output);
void edgec_concat_s16(const edgec_concat_int_t *p, const void *const *inputs, int16_t *output);

#ifdef __cplusplus
}
#endif

#endif /* EDGEC_KERNELS_INT_H */
