/*
 * The Cortex-M DSP-extension instructions the optimized int8 kernels use (SXTB16, SMLAD,
 * SMLABB, SMLATT, SADD16), as ACLE intrinsics where the core has them, else as C with the
 * instructions' definitions (Armv7E-M ARM), so host builds compute the same bits. Private to
 * the kernel sources (fast_*.c through fast_common.h, compact_int.c).
 */
#ifndef EDGEC_DSP_H
#define EDGEC_DSP_H

#include <stdint.h>
#include <string.h>

/* Two int16 values as the halves of a word (an SMLAD operand). */
static inline int32_t pack16(int32_t lo, int32_t hi)
{
    return (int32_t)(((uint32_t)hi << 16) | ((uint32_t)lo & 0xFFFFu));
}

/* Four int8 values as one word (an unaligned load is a single LDR on Armv7-M). */
static inline int32_t load4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP == 1
#include <arm_acle.h>
#define SXTB16(x) ((int32_t)__sxtb16((uint32_t)(x)))
/* SXTB16 with its built-in ROR #8: compilers do not fold a separate rotate into it. */
static inline int32_t SXTB16_ROR8(int32_t x)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
#define SMLAD(a, b, acc) ((int32_t)__smlad((uint32_t)(a), (uint32_t)(b), (uint32_t)(acc)))
#define SMLABB(a, b, acc) __smlabb((a), (b), (acc))
#define SMLATT(a, b, acc) __smlatt((a), (b), (acc))
#define SADD16(a, b) ((int32_t)__sadd16((uint32_t)(a), (uint32_t)(b)))
#else
/* The instructions' definitions (Armv7E-M ARM), on two's-complement halves. */
static inline int32_t lo16(int32_t x) { return (int32_t)(int16_t)(uint16_t)((uint32_t)x & 0xFFFFu); }
static inline int32_t hi16(int32_t x) { return (int32_t)(int16_t)(uint16_t)((uint32_t)x >> 16); }
static inline int32_t SXTB16(int32_t x)
{
    return pack16((int8_t)(uint8_t)((uint32_t)x & 0xFFu), (int8_t)(uint8_t)(((uint32_t)x >> 16) & 0xFFu));
}
static inline int32_t SXTB16_ROR8(int32_t x)
{
    return pack16((int8_t)(uint8_t)(((uint32_t)x >> 8) & 0xFFu), (int8_t)(uint8_t)((uint32_t)x >> 24));
}
static inline int32_t SMLAD(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(lo16(a) * lo16(b) + hi16(a) * hi16(b)));
}
static inline int32_t SMLABB(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(lo16(a) * lo16(b)));
}
static inline int32_t SMLATT(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(hi16(a) * hi16(b)));
}
static inline int32_t SADD16(int32_t a, int32_t b)
{
    return pack16(lo16(a) + lo16(b), hi16(a) + hi16(b));
}
#endif

#endif
