/* edgec float32 kernels of attention blocks; see edgec_kernels_attention.h. */
#include <math.h>

#include "edgec_kernels.h"

/* Row by row, each output row accumulated over k (the right operand read row-major). */
static void matmul_one(int32_t m, int32_t k, int32_t n, const float *a, const float *b, float *out)
{
    int32_t r, i, j;
    for (r = 0; r < m; ++r, out += n) {
        for (j = 0; j < n; ++j) {
            out[j] = 0.0f;
        }
        for (i = 0; i < k; ++i) {
            const float x = a[(size_t)r * k + i];
            const float *row = b + (size_t)i * n;
            for (j = 0; j < n; ++j) {
                out[j] += x * row[j];
            }
        }
    }
}

void edgec_matmul_f32(const edgec_matmul_f32_t *p, const float *a, const float *b, float *output)
{
    const size_t per_output = (size_t)p->m * p->n;
    int32_t i0, i1, i2;
    for (i0 = 0; i0 < p->batch[0]; ++i0) {
        for (i1 = 0; i1 < p->batch[1]; ++i1) {
            for (i2 = 0; i2 < p->batch[2]; ++i2) {
                const size_t at_a = (size_t)i0 * p->a_stride[0] + (size_t)i1 * p->a_stride[1] +
                                    (size_t)i2 * p->a_stride[2];
                const size_t at_b = (size_t)i0 * p->b_stride[0] + (size_t)i1 * p->b_stride[1] +
                                    (size_t)i2 * p->b_stride[2];
                matmul_one(p->m, p->k, p->n, a + at_a, b + at_b, output);
                output += per_output;
            }
        }
    }
}

void edgec_layernorm_f32(const edgec_layernorm_f32_t *p, const float *input, float *output)
{
    const int32_t size = p->size;
    int32_t r, j;
    for (r = 0; r < p->rows; ++r, input += size, output += size) {
        float sum = 0.0f, squares = 0.0f, mean, scale;
        for (j = 0; j < size; ++j) {
            sum += input[j];
        }
        mean = sum / (float)size;
        for (j = 0; j < size; ++j) { /* two passes: no cancellation in the variance */
            const float centered = input[j] - mean;
            squares += centered * centered;
        }
        scale = 1.0f / sqrtf(squares / (float)size + p->epsilon);
        for (j = 0; j < size; ++j) {
            const float y = (input[j] - mean) * scale * p->gamma[j];
            output[j] = p->beta != NULL ? y + p->beta[j] : y;
        }
    }
}

void edgec_gelu_f32(const edgec_gelu_f32_t *p, const float *input, float *output)
{
    const float sqrt_2_over_pi = 0.7978845608028654f, half_sqrt2 = 0.7071067811865476f;
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const float x = input[i];
        if (p->approximate) {
            output[i] = 0.5f * x * (1.0f + tanhf(sqrt_2_over_pi * (x + 0.044715f * x * x * x)));
        } else {
            output[i] = 0.5f * x * erfcf(-x * half_sqrt2); /* no cancellation for x << 0 */
        }
    }
}
