/*
 * The Cortex-M DSP-extension instructions the int8 kernels use (SXTB16, SMLAD), as ACLE
 * intrinsics where the core has them, else as C with the instructions' definitions
 * (Armv7E-M ARM), so host builds compute the same bits. Private to the kernel sources.
 * The same definitions as fast_int.c's own (which predates this header).
 */
#ifndef EDGEC_DSP_H
#define EDGEC_DSP_H

#include <stdint.h>
#include <string.h>

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP == 1
#include <arm_acle.h>
static inline int32_t edgec_sxtb16(int32_t x) { return (int32_t)__sxtb16((uint32_t)x); }
/* SXTB16 with its built-in ROR #8: compilers do not fold a separate rotate into it. */
static inline int32_t edgec_sxtb16_ror8(int32_t x)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
static inline int32_t edgec_smlad(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)__smlad((uint32_t)a, (uint32_t)b, (uint32_t)acc);
}
#else
static inline int32_t edgec_lo16(int32_t x) { return (int32_t)(int16_t)(uint16_t)((uint32_t)x & 0xFFFFu); }
static inline int32_t edgec_hi16(int32_t x) { return (int32_t)(int16_t)(uint16_t)((uint32_t)x >> 16); }
static inline int32_t edgec_sxtb16(int32_t x)
{
    const uint32_t lo = (uint32_t)(int32_t)(int8_t)(uint8_t)((uint32_t)x & 0xFFu) & 0xFFFFu;
    const uint32_t hi = (uint32_t)(int32_t)(int8_t)(uint8_t)(((uint32_t)x >> 16) & 0xFFu);
    return (int32_t)((hi << 16) | lo);
}
static inline int32_t edgec_sxtb16_ror8(int32_t x)
{
    return edgec_sxtb16((int32_t)(((uint32_t)x >> 8) | ((uint32_t)x << 24)));
}
static inline int32_t edgec_smlad(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc +
                     (uint32_t)(edgec_lo16(a) * edgec_lo16(b) + edgec_hi16(a) * edgec_hi16(b)));
}
#endif

/* Two int16 values as the halves of a word (an SMLAD operand). */
static inline int32_t edgec_pack16(int32_t lo, int32_t hi)
{
    return (int32_t)(((uint32_t)hi << 16) | ((uint32_t)lo & 0xFFFFu));
}

/* Four int8 values as one word (an unaligned load is a single LDR on Armv7-M). */
static inline int32_t edgec_load4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

#endif /* EDGEC_DSP_H */
