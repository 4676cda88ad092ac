/* edgec integer elementwise math: Abs, Max/Min, Where, Sum/Mean of n inputs. TFLite's
 * arithmetic; see edgec_kernels_int.h and edgec/ops/integer/unary.py. */
#include "edgec_kernels.h"
#include "edgec_fixedpoint.h"

#define EDGEC_ABS_BODY(LO, HI)                                                                    \
    do {                                                                                          \
        int32_t i;                                                                                \
        for (i = 0; i < p->size; ++i) {                                                           \
            int32_t v = (int32_t)input[i] - p->input_zero_point;                                  \
            v = v < 0 ? -v : v;                                                                   \
            if (p->requantize) {                                                                  \
                v = edgec_fp_mbqm(v, p->mult, p->shift);                                          \
            }                                                                                     \
            output[i] = edgec_fp_clamp(v + p->output_zero_point, (LO), (HI));                     \
        }                                                                                         \
    } while (0)

void edgec_abs_s8(const edgec_abs_int_t *p, const int8_t *input, int8_t *output)
{
    EDGEC_ABS_BODY(-128, 127);
}

void edgec_abs_s16(const edgec_abs_int_t *p, const int16_t *input, int16_t *output)
{
    EDGEC_ABS_BODY(-32768, 32767);
}

/* An operand value in the output's quantization. */
static inline int32_t edgec_operand(const edgec_operand_requant_t *r, int32_t x, int32_t zp_out,
                                    int32_t lo, int32_t hi)
{
    if (!r->requantize) {
        return x;
    }
    return edgec_fp_clamp(edgec_fp_mbqm(x - r->input_zero_point, r->mult, r->shift) + zp_out, lo, hi);
}

#define EDGEC_OFFSET(s) (i0 * (s)[0] + i1 * (s)[1] + i2 * (s)[2] + i3 * (s)[3])

#define EDGEC_LOOP4(...) /* the body may hold commas */                                          \
    do {                                                                                          \
        int32_t i0, i1, i2, i3;                                                                   \
        for (i0 = 0; i0 < p->dims[0]; ++i0) {                                                     \
            for (i1 = 0; i1 < p->dims[1]; ++i1) {                                                 \
                for (i2 = 0; i2 < p->dims[2]; ++i2) {                                             \
                    for (i3 = 0; i3 < p->dims[3]; ++i3) {                                         \
                        __VA_ARGS__                                                               \
                    }                                                                             \
                }                                                                                 \
            }                                                                                     \
        }                                                                                         \
    } while (0)

#define EDGEC_MINMAX_BODY(T, LO, HI)                                                              \
    EDGEC_LOOP4({                                                                                 \
        const int32_t x = edgec_operand(&p->a, a[EDGEC_OFFSET(p->a_stride)], p->output_zero_point, \
                                        (LO), (HI));                                              \
        const int32_t y = edgec_operand(&p->b, b[EDGEC_OFFSET(p->b_stride)], p->output_zero_point, \
                                        (LO), (HI));                                              \
        *output++ = (T)(p->is_min ? (x < y ? x : y) : (x > y ? x : y));                           \
    })

void edgec_minmax_s8(const edgec_minmax_int_t *p, const int8_t *a, const int8_t *b, int8_t *output)
{
    EDGEC_MINMAX_BODY(int8_t, -128, 127);
}

void edgec_minmax_s16(const edgec_minmax_int_t *p, const int16_t *a, const int16_t *b, int16_t *output)
{
    EDGEC_MINMAX_BODY(int16_t, -32768, 32767);
}

#define EDGEC_WHERE_BODY(T, LO, HI)                                                               \
    EDGEC_LOOP4({                                                                                 \
        *output++ = (T)(p->condition[EDGEC_OFFSET(p->c_stride)]                                   \
                            ? edgec_operand(&p->a, a[EDGEC_OFFSET(p->a_stride)],                  \
                                            p->output_zero_point, (LO), (HI))                     \
                            : edgec_operand(&p->b, b[EDGEC_OFFSET(p->b_stride)],                  \
                                            p->output_zero_point, (LO), (HI)));                   \
    })

void edgec_where_s8(const edgec_where_int_t *p, const int8_t *a, const int8_t *b, int8_t *output)
{
    EDGEC_WHERE_BODY(int8_t, -128, 127);
}

void edgec_where_s16(const edgec_where_int_t *p, const int16_t *a, const int16_t *b, int16_t *output)
{
    EDGEC_WHERE_BODY(int16_t, -32768, 32767);
}

/* Each input centred, shifted left, rescaled (TFLite ADD's per-input step), summed, rescaled. */
#define EDGEC_ADD_N_BODY(T, LO, HI)                                                               \
    EDGEC_LOOP4({                                                                                 \
        int32_t k, total = 0;                                                                     \
        for (k = 0; k < p->n_inputs; ++k) {                                                       \
            const T *x = (const T *)inputs[k];                                                    \
            const int32_t v = (int32_t)x[EDGEC_OFFSET(p->strides + 4 * k)] - p->input_zero_point[k]; \
            total += edgec_fp_mbqm(v * (1 << p->left_shift), p->mult[k], p->shift[k]);            \
        }                                                                                         \
        total = edgec_fp_mbqm(total, p->out_mult, p->out_shift) + p->output_zero_point;           \
        *output++ = (T)edgec_fp_clamp(total, (LO), (HI));                                         \
    })

void edgec_add_n_s8(const edgec_add_n_int_t *p, const void *const *inputs, int8_t *output)
{
    EDGEC_ADD_N_BODY(int8_t, -128, 127);
}

void edgec_add_n_s16(const edgec_add_n_int_t *p, const void *const *inputs, int16_t *output)
{
    EDGEC_ADD_N_BODY(int16_t, -32768, 32767);
}
