/*
 * Optimized int8 kernels with 4-bit weights that reuse the int8 kernels' record streams
 * (fast_common.h): the weights stay nibbles in flash, and each call first writes the int8
 * kernel's stream into scratch, then runs that kernel on it. The outputs are the int8
 * kernel's, so bit-exact as it is; decoding costs a few instructions per weight per call.
 *
 * Depthwise (edgec_kernels_int4.h, edgec_dwconv_w4_stream_s8_t): per block of four channels
 * the flash holds the stream's ten constant words (four doubled biases, then four multipliers
 * and two shift words) and one byte per weight word of the stream: the low nibble the word's
 * low half, the high nibble its high half (each half twice the weight, fast_dwconv.c).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fast_common.h"

/* A stream weight word (2 lo, 2 hi as int16 halves) from its byte of two nibbles. */
static inline int32_t w4_stream_word(uint32_t byte)
{
    const uint32_t lo = (uint32_t)((int32_t)(byte << 28) >> 27) & 0xFFFFu;
    const uint32_t hi = (uint32_t)((int32_t)(byte << 24) >> 28) << 17;
    return (int32_t)(lo | hi);
}

void edgec_dwconv_w4_stream_s8(const edgec_dwconv_w4_stream_s8_t *p, const int8_t *input, int8_t *output,
                               int8_t *scratch)
{
    const int32_t ntaps = p->conv.kh * p->conv.kw, blocks = (p->conv.out.c + 3) / 4, words = 2 * ntaps;
    int32_t *const stream = (int32_t *)(void *)scratch;
    const uint8_t *bytes = p->nibbles;
    const int32_t *constants = p->constants;
    edgec_dwconv_fast_s8_t conv = p->conv;
    int32_t *s = stream;
    int32_t b, i;
    for (b = 0; b < blocks; ++b, constants += 10) {
        memcpy(s, constants, 4 * sizeof(int32_t));
        s += 4;
        for (i = 0; i < words; ++i) {
            *s++ = w4_stream_word(*bytes++);
        }
        memcpy(s, constants + 4, 6 * sizeof(int32_t));
        s += 6;
    }
    conv.stream = stream;
    edgec_dwconv_fast_s8(&conv, input, output);
}
