/* edgec float <-> integer conversions (per-tensor), matching ONNX Quantize/DequantizeLinear. */
#include "edgec_kernels.h"

/* Round half to even without libm: exact for |x| < 2^23, where float has a fraction. */
static float round_half_even(float x)
{
    const float magic = 8388608.0f; /* 2^23 */
    if (x >= magic || x <= -magic) {
        return x;
    }
    if (x >= 0.0f) {
        volatile float t = x + magic; /* the FPU rounds to nearest even here */
        return t - magic;
    } else {
        volatile float t = x - magic;
        return t + magic;
    }
}

static int32_t quantize_one(float x, const edgec_quantize_t *p, int32_t lo, int32_t hi)
{
    const float q = round_half_even(x / p->scale) + (float)p->zero_point;
    if (!(q >= (float)lo)) { /* also catches NaN */
        return lo;
    }
    return q > (float)hi ? hi : (int32_t)q;
}

void edgec_quantize_f32_s8(const edgec_quantize_t *p, const float *input, int8_t *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = (int8_t)quantize_one(input[i], p, -128, 127);
    }
}

void edgec_quantize_f32_s16(const edgec_quantize_t *p, const float *input, int16_t *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = (int16_t)quantize_one(input[i], p, -32768, 32767);
    }
}

void edgec_quantize_f32_u8(const edgec_quantize_t *p, const float *input, uint8_t *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = (uint8_t)quantize_one(input[i], p, 0, 255);
    }
}

void edgec_dequantize_s8_f32(const edgec_quantize_t *p, const int8_t *input, float *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = (float)((int32_t)input[i] - p->zero_point) * p->scale;
    }
}

void edgec_dequantize_s16_f32(const edgec_quantize_t *p, const int16_t *input, float *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = (float)((int32_t)input[i] - p->zero_point) * p->scale;
    }
}

void edgec_dequantize_u8_f32(const edgec_quantize_t *p, const uint8_t *input, float *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = (float)((int32_t)input[i] - p->zero_point) * p->scale;
    }
}
