/* edgec transposed-convolution geometry (private to convt_f32.c and convt_int.c). */
#ifndef EDGEC_CONVT_H
#define EDGEC_CONVT_H

#include <stdint.h>

/* The input index feeding output index o (already shifted by the crop) through tap k, or -1
 * when none does: o = i * stride + k * dilation with 0 <= i < size. */
static inline int32_t edgec_convt_source(int32_t o, int32_t k, int32_t stride, int32_t dil, int32_t size)
{
    const int32_t t = o - k * dil;
    int32_t i;
    if (t < 0 || t % stride != 0) {
        return -1;
    }
    i = t / stride;
    return i < size ? i : -1;
}

#endif /* EDGEC_CONVT_H */
