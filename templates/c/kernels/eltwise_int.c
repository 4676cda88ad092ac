/* edgec integer elementwise kernels: Add, Mul, LeakyRelu, HardSwish, clamps, requantization,
 * requantizing Concat. TFLM reference semantics; see edgec_kernels_int.h. */
#include "edgec_kernels.h"
#include "edgec_fixedpoint.h"

/* Add and Mul in each rounding mode (edgec_kernels_int.h); add_s8/add_s16 and mul_s8/mul_s16
 * name the build's (LiteRT runs 16x8 in TFLM's kernels). */
static inline int32_t add_tflm(const edgec_add_int_t *p, int32_t a, int32_t b)
{
    /* |x - zp| < 2^16, so the shifted values fit in 32 bits (left_shift <= 20 for int8). */
    const int32_t va = edgec_fp_mbqm((a - p->a_zero_point) * (1 << p->left_shift), p->a_mult, p->a_shift);
    const int32_t vb = edgec_fp_mbqm((b - p->b_zero_point) * (1 << p->left_shift), p->b_mult, p->b_shift);
    const int32_t sum = edgec_fp_mbqm(va + vb, p->out_mult, p->out_shift) + p->output_zero_point;
    return edgec_fp_clamp(sum, p->act_min, p->act_max);
}

/* One product per statement: no fused multiply-add even where a compiler contracts within
 * an expression (clang's default). */
static inline int32_t add_onnxruntime(const edgec_add_int_t *p, int32_t a, int32_t b)
{
    const float b_term = (float)b * p->b_scale;
    const float a_term = (float)a * p->a_scale;
    const float partial = p->offset + b_term;
    return edgec_fp_clamp(edgec_fp_round_even(partial + a_term), p->act_min, p->act_max);
}

static inline int32_t add_xnnpack(const edgec_add_int_t *p, int32_t a, int32_t b)
{
    /* |bias| < 2^30 and |x * mult| < 2^28 (the compiler checks the multipliers' range) */
    const int32_t sum = (p->out_mult + a * p->a_mult + b * p->b_mult) >> p->out_shift;
    return edgec_fp_clamp(sum + p->output_zero_point, p->act_min, p->act_max);
}

static inline int32_t mul_tflm(const edgec_mul_int_t *p, int32_t a, int32_t b)
{
    const int32_t product = (a - p->a_zero_point) * (b - p->b_zero_point);
    const int32_t value = edgec_fp_mbqm(product, p->out_mult, p->out_shift) + p->output_zero_point;
    return edgec_fp_clamp(value, p->act_min, p->act_max);
}

static inline int32_t mul_onnxruntime(const edgec_mul_int_t *p, int32_t a, int32_t b)
{
    const float product = (float)((a - p->a_zero_point) * (b - p->b_zero_point));
    const float value = product * edgec_fp_float(p->out_mult);
    return edgec_fp_clamp(edgec_fp_round_even(value + (float)p->output_zero_point), p->act_min, p->act_max);
}

static inline int32_t mul_xnnpack(const edgec_mul_int_t *p, int32_t a, int32_t b)
{
    const float product = (float)((a - p->a_zero_point) * (b - p->b_zero_point));
    const int32_t value = edgec_fp_round_even(product * edgec_fp_float(p->out_mult)) + p->output_zero_point;
    return edgec_fp_clamp(value, p->act_min, p->act_max);
}

#if EDGEC_ROUNDING == EDGEC_ROUNDING_FLOAT
#define add_s8 add_onnxruntime
#define add_s16 add_onnxruntime
#define mul_s8 mul_onnxruntime
#define mul_s16 mul_onnxruntime
#elif EDGEC_ROUNDING == EDGEC_ROUNDING_LITERT
#define add_s8 add_xnnpack
#define add_s16 add_tflm
#define mul_s8 mul_xnnpack
#define mul_s16 mul_tflm
#else
#define add_s8 add_tflm
#define add_s16 add_tflm
#define mul_s8 mul_tflm
#define mul_s16 mul_tflm
#endif

/* The 4-d broadcasting loop shared by Add and Mul of both element types. The parameters are
 * copied first: a store through `out` may alias *P, and would force every field to be
 * reloaded for every element. */
#define EDGEC_BROADCAST_LOOP(T, PT, PARAMS, A, B, OUT, ONE)                                     \
    do {                                                                                          \
        const PT local_ = *(PARAMS);                                                              \
        const PT *const P = &local_;                                                              \
        int32_t i0, i1, i2, i3;                                                                   \
        T *out_ = (OUT);                                                                          \
        for (i0 = 0; i0 < (P)->dims[0]; ++i0) {                                                   \
            for (i1 = 0; i1 < (P)->dims[1]; ++i1) {                                               \
                for (i2 = 0; i2 < (P)->dims[2]; ++i2) {                                           \
                    const T *pa = (A) + i0 * (P)->a_stride[0] + i1 * (P)->a_stride[1] +           \
                                  i2 * (P)->a_stride[2];                                          \
                    const T *pb = (B) + i0 * (P)->b_stride[0] + i1 * (P)->b_stride[1] +           \
                                  i2 * (P)->b_stride[2];                                          \
                    for (i3 = 0; i3 < (P)->dims[3]; ++i3) {                                       \
                        *out_++ = (T)ONE((P), pa[i3 * (P)->a_stride[3]], pb[i3 * (P)->b_stride[3]]); \
                    }                                                                             \
                }                                                                                 \
            }                                                                                     \
        }                                                                                         \
    } while (0)

void edgec_add_s8(const edgec_add_int_t *p, const int8_t *a, const int8_t *b, int8_t *output)
{
    EDGEC_BROADCAST_LOOP(int8_t, edgec_add_int_t, p, a, b, output, add_s8);
}

void edgec_add_s16(const edgec_add_int_t *p, const int16_t *a, const int16_t *b, int16_t *output)
{
    EDGEC_BROADCAST_LOOP(int16_t, edgec_add_int_t, p, a, b, output, add_s16);
}

void edgec_mul_s8(const edgec_mul_int_t *p, const int8_t *a, const int8_t *b, int8_t *output)
{
    EDGEC_BROADCAST_LOOP(int8_t, edgec_mul_int_t, p, a, b, output, mul_s8);
}

void edgec_mul_s16(const edgec_mul_int_t *p, const int16_t *a, const int16_t *b, int16_t *output)
{
    EDGEC_BROADCAST_LOOP(int16_t, edgec_mul_int_t, p, a, b, output, mul_s16);
}

/* ---- unary ------------------------------------------------------------------------------ */

static int32_t leaky_one(const edgec_leaky_relu_int_t *p, int32_t x, int32_t lo, int32_t hi)
{
    const int32_t centered = x - p->input_zero_point;
    const int32_t value = centered >= 0 ? edgec_fp_mbqm(centered, p->identity_mult, p->identity_shift)
                                        : edgec_fp_mbqm(centered, p->alpha_mult, p->alpha_shift);
    return edgec_fp_clamp(value + p->output_zero_point, lo, hi);
}

void edgec_leaky_relu_s8(const edgec_leaky_relu_int_t *p, const int8_t *input, int8_t *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = (int8_t)leaky_one(p, input[i], -128, 127);
    }
}

void edgec_leaky_relu_s16(const edgec_leaky_relu_int_t *p, const int16_t *input, int16_t *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = (int16_t)leaky_one(p, input[i], -32768, 32767);
    }
}

static int32_t clamp_one(const edgec_clamp_int_t *p, int32_t x)
{
    if (p->requantize) {
        /* The requantized value saturates to the type's range, which contains the clamp. */
        x = edgec_rescale(x - p->input_zero_point, p->mult, p->shift) + p->output_zero_point;
    }
    return edgec_fp_clamp(x, p->act_min, p->act_max);
}

void edgec_clamp_s8(const edgec_clamp_int_t *p, const int8_t *input, int8_t *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = (int8_t)clamp_one(p, input[i]);
    }
}

void edgec_clamp_s16(const edgec_clamp_int_t *p, const int16_t *input, int16_t *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = (int16_t)clamp_one(p, input[i]);
    }
}

void edgec_lut_s8(const edgec_lut_s8_t *p, const int8_t *input, int8_t *output)
{
    const int8_t *const table = p->table + 128;
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = table[input[i]];
    }
}

static int32_t saturate16(int32_t x)
{
    return edgec_fp_clamp(x, -32768, 32767);
}

void edgec_hard_swish_s8(const edgec_hard_swish_s8_t *p, const int8_t *input, int8_t *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t hires = ((int32_t)input[i] - p->input_zero_point) * 128; /* fits int16 */
        const int32_t preshift = edgec_fp_srdhm16(hires, p->output_mult);
        int32_t reluish = hires;
        int32_t value;
        if (p->reluish_exponent > 0) {
            reluish = saturate16(reluish * (1 << (p->reluish_exponent - 1)));
        }
        reluish = edgec_fp_srdhm16(reluish, p->reluish_mult);
        if (p->reluish_exponent > 0) {
            reluish = saturate16(reluish * 2);
        }
        if (p->reluish_exponent < 0) {
            reluish = edgec_fp_rdbpot(reluish, -p->reluish_exponent);
        }
        reluish = (reluish + (1 << 15)) >> 1; /* [-1, 1] -> [0, 1] */
        value = edgec_fp_rdbpot(edgec_fp_sdhm16(reluish, preshift), -p->output_exponent);
        value = (int16_t)(uint16_t)(uint32_t)(value + p->output_zero_point);
        output[i] = (int8_t)edgec_fp_clamp(value, -128, 127);
    }
}

/* ---- requantization ------------------------------------------------------------------------ */

#define EDGEC_REQUANTIZE_BODY(OUT_T, LO, HI)                                                      \
    do {                                                                                          \
        int32_t i;                                                                                \
        for (i = 0; i < p->size; ++i) {                                                           \
            const int32_t v = edgec_rescale((int32_t)input[i] - p->input_zero_point, p->mult, p->shift); \
            output[i] = (OUT_T)edgec_fp_clamp(v + p->output_zero_point, (LO), (HI));              \
        }                                                                                         \
    } while (0)

void edgec_requantize_s8_s8(const edgec_requantize_int_t *p, const int8_t *input, int8_t *output)
{
    EDGEC_REQUANTIZE_BODY(int8_t, -128, 127);
}

void edgec_requantize_s8_s16(const edgec_requantize_int_t *p, const int8_t *input, int16_t *output)
{
    EDGEC_REQUANTIZE_BODY(int16_t, -32768, 32767);
}

void edgec_requantize_s16_s8(const edgec_requantize_int_t *p, const int16_t *input, int8_t *output)
{
    EDGEC_REQUANTIZE_BODY(int8_t, -128, 127);
}

void edgec_requantize_s16_s16(const edgec_requantize_int_t *p, const int16_t *input, int16_t *output)
{
    EDGEC_REQUANTIZE_BODY(int16_t, -32768, 32767);
}

/* ---- concatenation ------------------------------------------------------------------------ */

#define EDGEC_CONCAT_BODY(T, LO, HI)                                                              \
    do {                                                                                          \
        int32_t o, i, k;                                                                          \
        for (o = 0; o < p->outer; ++o) {                                                          \
            for (i = 0; i < p->n_inputs; ++i) {                                                   \
                const int32_t n = p->inner[i];                                                    \
                const T *x = (const T *)inputs[i] + (size_t)o * n;                                \
                if (!p->requantize[i]) {                                                          \
                    for (k = 0; k < n; ++k) {                                                     \
                        output[k] = x[k];                                                         \
                    }                                                                             \
                } else {                                                                          \
                    for (k = 0; k < n; ++k) {                                                     \
                        const int32_t v = edgec_rescale((int32_t)x[k] - p->input_zero_point[i],   \
                                                        p->mult[i], p->shift[i]);                 \
                        output[k] = (T)edgec_fp_clamp(v + p->output_zero_point, (LO), (HI));      \
                    }                                                                             \
                }                                                                                 \
                output += n;                                                                      \
            }                                                                                     \
        }                                                                                         \
    } while (0)

void edgec_concat_s8(const edgec_concat_int_t *p, const void *const *inputs, int8_t *output)
{
    EDGEC_CONCAT_BODY(int8_t, -128, 127);
}

void edgec_concat_s16(const edgec_concat_int_t *p, const void *const *inputs, int16_t *output)
{
    EDGEC_CONCAT_BODY(int16_t, -32768, 32767);
}
