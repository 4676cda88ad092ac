/* edgec integer bilinear resize (NHWC), TFLite ResizeBilinearInteger's arithmetic. The four Q20
 * weights of an output pixel are formed once for all its channels. */
#include "edgec_kernels.h"

/* (total + 2^19) / 2^20 for total > 0, else (total - 2^19) / 2^20, C division. int8 sums fit
 * int32: |weights| <= 1024 + 2048 (the tables' bound), so |total| <= 128 * 3072^2 < 2^31. */
#define EDGEC_ROUND_Q20(ACC, total)                                                               \
    (int32_t)(((total) > 0 ? (total) + ((ACC)1 << 19) : (total) - ((ACC)1 << 19)) / ((ACC)1 << 20))

#define EDGEC_RESIZE_BILINEAR_BODY(T, ACC)                                                             \
    do {                                                                                          \
        const size_t row = (size_t)p->in_w * p->channels;                                         \
        int32_t b, y, x, c;                                                                       \
        for (b = 0; b < p->batch; ++b) {                                                          \
            const T *image = input + (size_t)b * p->in_h * row;                                   \
            for (y = 0; y < p->out_h; ++y) {                                                      \
                const T *top = image + (size_t)p->h_low[y] * row;                                 \
                const T *bottom = image + (size_t)p->h_high[y] * row;                             \
                const ACC fy = p->h_frac[y];                                                  \
                for (x = 0; x < p->out_w; ++x) {                                                  \
                    const size_t l = (size_t)p->w_low[x] * p->channels;                           \
                    const size_t r = (size_t)p->w_high[x] * p->channels;                          \
                    const ACC fx = p->w_frac[x];                                              \
                    const ACC w_tl = (1024 - fy) * (1024 - fx), w_tr = (1024 - fy) * fx;      \
                    const ACC w_bl = fy * (1024 - fx), w_br = fy * fx;                        \
                    T *out = output + (((size_t)b * p->out_h + y) * p->out_w + x) * p->channels;  \
                    for (c = 0; c < p->channels; ++c) {                                           \
                        const ACC total = top[l + c] * w_tl + bottom[l + c] * w_bl +              \
                                          top[r + c] * w_tr + bottom[r + c] * w_br;               \
                        out[c] = (T)EDGEC_ROUND_Q20(ACC, total);                                  \
                    }                                                                             \
                }                                                                                 \
            }                                                                                     \
        }                                                                                         \
    } while (0)

void edgec_resize_bilinear_s8(const edgec_resize_bilinear_int_t *p, const int8_t *input, int8_t *output)
{
    EDGEC_RESIZE_BILINEAR_BODY(int8_t, int32_t);
}

void edgec_resize_bilinear_s16(const edgec_resize_bilinear_int_t *p, const int16_t *input, int16_t *output)
{
    EDGEC_RESIZE_BILINEAR_BODY(int16_t, int64_t);
}
