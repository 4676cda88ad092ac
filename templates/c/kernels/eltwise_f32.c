/* edgec float32 elementwise kernels: broadcasting binary ops, unary functions, affine. */
#include <math.h>

#include "edgec_kernels.h"

static float apply_binary(int32_t op, float a, float b)
{
    switch (op) {
    case EDGEC_ADD: return a + b;
    case EDGEC_SUB: return a - b;
    case EDGEC_MUL: return a * b;
    case EDGEC_DIV: return a / b;
    case EDGEC_MAX: return a > b ? a : b;
    case EDGEC_MIN: return a < b ? a : b;
    default: return a >= 0.0f ? a : a * b; /* EDGEC_PRELU: b is the slope */
    }
}

void edgec_binary_f32(const edgec_binary_f32_t *p, const float *a, const float *b, float *output)
{
    int32_t i0, i1, i2, i3;
    for (i0 = 0; i0 < p->dims[0]; ++i0) {
        for (i1 = 0; i1 < p->dims[1]; ++i1) {
            for (i2 = 0; i2 < p->dims[2]; ++i2) {
                const float *pa = a + i0 * p->a_stride[0] + i1 * p->a_stride[1] + i2 * p->a_stride[2];
                const float *pb = b + i0 * p->b_stride[0] + i1 * p->b_stride[1] + i2 * p->b_stride[2];
                for (i3 = 0; i3 < p->dims[3]; ++i3) {
                    float v = apply_binary(p->op, pa[i3 * p->a_stride[3]], pb[i3 * p->b_stride[3]]);
                    v = v < p->act_min ? p->act_min : (v > p->act_max ? p->act_max : v);
                    *output++ = v;
                }
            }
        }
    }
}

static float sigmoidf_stable(float x)
{
    const float e = expf(-fabsf(x));
    return x >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

static float apply_unary(const edgec_unary_f32_t *p, float x)
{
    switch (p->op) {
    case EDGEC_RELU: return x > 0.0f ? x : 0.0f;
    case EDGEC_CLIP: return x < p->min ? p->min : (x > p->max ? p->max : x);
    case EDGEC_LEAKY_RELU: return x >= 0.0f ? x : x * p->alpha;
    case EDGEC_SIGMOID: return sigmoidf_stable(x);
    case EDGEC_TANH: return tanhf(x);
    case EDGEC_HARD_SIGMOID: {
        const float v = x * p->alpha + p->beta;
        return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
    }
    case EDGEC_HARD_SWISH: {
        const float v = x * (1.0f / 6.0f) + 0.5f;
        return x * (v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v));
    }
    case EDGEC_ELU: return x > 0.0f ? x : p->alpha * expm1f(x);
    case EDGEC_SELU: return p->beta * (x > 0.0f ? x : p->alpha * expm1f(x));
    case EDGEC_SOFTPLUS: return x > 0.0f ? x + log1pf(expf(-x)) : log1pf(expf(x));
    case EDGEC_SOFTSIGN: return x / (1.0f + fabsf(x));
    case EDGEC_NEG: return -x;
    case EDGEC_ABS: return fabsf(x);
    case EDGEC_EXP: return expf(x);
    case EDGEC_LOG: return logf(x);
    case EDGEC_ERF: return erff(x);
    case EDGEC_RECIPROCAL: return 1.0f / x;
    case EDGEC_POW: return p->alpha == 2.0f ? x * x : powf(x, p->alpha);
    default: return sqrtf(x); /* EDGEC_SQRT */
    }
}

void edgec_unary_f32(const edgec_unary_f32_t *p, const float *input, float *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = apply_unary(p, input[i]);
    }
}

void edgec_channel_affine_f32(const edgec_channel_affine_f32_t *p, const float *input, float *output)
{
    int32_t o, c, i;
    for (o = 0; o < p->outer; ++o) {
        for (c = 0; c < p->channels; ++c) {
            const float s = p->scale[c], t = p->shift[c];
            for (i = 0; i < p->inner; ++i) {
                *output++ = *input++ * s + t;
            }
        }
    }
}
