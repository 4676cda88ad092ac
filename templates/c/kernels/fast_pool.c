/* Optimized int8 average pool over the whole image (a window the size of the input, no
 * padding: what a global average pool lowers to); see fast_common.h.
 *
 * Four channels at a time: SXTAB16 adds a pixel's four values into two pairs of int16 sums
 * (channels 0, 2 and, rotated by 8, 1, 3), exact for up to 255 pixels of |value| <= 128; the
 * pairs are widened into int32 sums every 255 pixels. The average rounds half away from zero,
 * as the portable kernel (pool_int.c). */
#include <stdint.h>

#include "fast_common.h"

#if EDGEC_DSP_ASM
static inline int32_t sxtab16(int32_t acc, int32_t x)
{
    int32_t r;
    __asm__("sxtab16 %0, %1, %2" : "=r"(r) : "r"(acc), "r"(x));
    return r;
}
static inline int32_t sxtab16_ror8(int32_t acc, int32_t x)
{
    int32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(acc), "r"(x));
    return r;
}
#else
static inline int32_t sxtab16(int32_t acc, int32_t x) { return SADD16(acc, SXTB16(x)); }
static inline int32_t sxtab16_ror8(int32_t acc, int32_t x) { return SADD16(acc, SXTB16_ROR8(x)); }
#endif

static int8_t average_out(int32_t sum, int32_t count, int32_t lo, int32_t hi)
{
    const int32_t value = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
    return (int8_t)edgec_fp_clamp(value, lo, hi);
}

void edgec_global_avgpool_fast_s8(const edgec_pool_int_t *p, const int8_t *input, int8_t *output)
{
    const int32_t channels = p->in.c, count = p->in.h * p->in.w;
    int32_t b, c, i;
    for (b = 0; b < p->in.n; ++b, input += (size_t)count * channels, output += channels) {
        for (c = 0; c < channels; c += 4) {
            int32_t sums[4] = {0, 0, 0, 0}, j;
            if (c + 4 <= channels) {
                const int8_t *x = input + c;
                for (i = 0; i < count;) {
                    const int32_t end = count - i > 255 ? i + 255 : count;
                    int32_t even = 0, odd = 0;
                    for (; i < end; ++i, x += channels) {
                        const int32_t v = load4(x);
                        even = sxtab16(even, v);
                        odd = sxtab16_ror8(odd, v);
                    }
                    sums[0] += half_lo(even);
                    sums[1] += half_lo(odd);
                    sums[2] += half_hi(even);
                    sums[3] += half_hi(odd);
                }
            } else { /* the last channels */
                for (i = 0; i < count; ++i) {
                    for (j = 0; c + j < channels; ++j) {
                        sums[j] += input[(size_t)i * channels + c + j];
                    }
                }
            }
            for (j = 0; j < 4 && c + j < channels; ++j) {
                output[c + j] = average_out(sums[j], count, p->act_min, p->act_max);
            }
        }
    }
}
