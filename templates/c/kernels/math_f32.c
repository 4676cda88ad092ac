/* edgec selection and type conversion (any element type; float where it converts). */
#include <math.h>
#include <string.h>

#include "edgec_kernels.h"

void edgec_where(const edgec_where_t *p, const void *x, const void *y, void *output)
{
    const uint8_t *a = (const uint8_t *)x, *b = (const uint8_t *)y;
    uint8_t *out = (uint8_t *)output;
    const size_t elem = (size_t)p->elem_size;
    int32_t i0, i1, i2, i3;
    for (i0 = 0; i0 < p->dims[0]; ++i0) {
        for (i1 = 0; i1 < p->dims[1]; ++i1) {
            for (i2 = 0; i2 < p->dims[2]; ++i2) {
                for (i3 = 0; i3 < p->dims[3]; ++i3) {
                    const int32_t c = i0 * p->c_stride[0] + i1 * p->c_stride[1] + i2 * p->c_stride[2] +
                                      i3 * p->c_stride[3];
                    const int32_t k = p->condition[c] ? i0 * p->a_stride[0] + i1 * p->a_stride[1] +
                                                            i2 * p->a_stride[2] + i3 * p->a_stride[3]
                                                      : i0 * p->b_stride[0] + i1 * p->b_stride[1] +
                                                            i2 * p->b_stride[2] + i3 * p->b_stride[3];
                    memcpy(out, (p->condition[c] ? a : b) + (size_t)k * elem, elem);
                    out += elem;
                }
            }
        }
    }
}

/* Float to a signed range: truncated toward zero, saturated, NaN to 0. */
static int64_t float_to_int(double v, double lo, double hi)
{
    if (v != v) {
        return 0;
    }
    v = v < lo ? lo : (v > hi ? hi : v);
    return (int64_t)v;
}

void edgec_cast(const edgec_cast_t *p, const void *input, void *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        double real = 0.0;
        int64_t whole = 0;
        switch (p->from) {
        case EDGEC_TYPE_F32: real = ((const float *)input)[i]; break;
        case EDGEC_TYPE_S8: whole = ((const int8_t *)input)[i]; break;
        case EDGEC_TYPE_U8: whole = ((const uint8_t *)input)[i]; break;
        case EDGEC_TYPE_S16: whole = ((const int16_t *)input)[i]; break;
        case EDGEC_TYPE_S32: whole = ((const int32_t *)input)[i]; break;
        default: whole = ((const int64_t *)input)[i]; break; /* EDGEC_TYPE_S64 */
        }
        if (p->from == EDGEC_TYPE_F32 && p->to != EDGEC_TYPE_F32) {
            const int u8 = p->to == EDGEC_TYPE_U8;
            const double lo = u8 ? 0.0 : p->to == EDGEC_TYPE_S8 ? -128.0 : p->to == EDGEC_TYPE_S16 ? -32768.0
                            : p->to == EDGEC_TYPE_S32 ? -2147483648.0 : -9223372036854775808.0;
            const double hi = u8 ? 255.0 : p->to == EDGEC_TYPE_S8 ? 127.0 : p->to == EDGEC_TYPE_S16 ? 32767.0
                            : p->to == EDGEC_TYPE_S32 ? 2147483647.0 : 9223372036854774784.0;
            whole = float_to_int(real, lo, hi);
        }
        switch (p->to) {
        case EDGEC_TYPE_F32:
            ((float *)output)[i] = p->from == EDGEC_TYPE_F32 ? (float)real : (float)whole;
            break;
        case EDGEC_TYPE_S8: ((int8_t *)output)[i] = (int8_t)(uint8_t)(uint64_t)whole; break;
        case EDGEC_TYPE_U8: ((uint8_t *)output)[i] = (uint8_t)(uint64_t)whole; break;
        case EDGEC_TYPE_S16: ((int16_t *)output)[i] = (int16_t)(uint16_t)(uint64_t)whole; break;
        case EDGEC_TYPE_S32: ((int32_t *)output)[i] = (int32_t)(uint32_t)(uint64_t)whole; break;
        default: ((int64_t *)output)[i] = whole; break;
        }
    }
}
