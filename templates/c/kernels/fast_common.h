/*
 * Private header of the optimized int8 kernels (fast_gemm.c, fast_dwconv.c, fast_add.c): the
 * DSP instructions (or their C definitions off Arm), the Helium switch, and the
 * requantization helpers they share.
 *
 * They give the same outputs as the portable kernels (conv_int.c, fc_int.c, eltwise_int.c)
 * bit for bit: the int32 sums are the same sums in another order, and the requantization is
 * the same function (edgec_fp_mbqm_right, or its vector form below).
 */
#ifndef EDGEC_FAST_COMMON_H
#define EDGEC_FAST_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "edgec_dsp.h"
#include "edgec_fixedpoint.h"
#include "edgec_kernels.h"

/* Helium (MVE integer) paths: Cortex-M55/M85, which also have the DSP extension. */
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1) && defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP == 1
#define EDGEC_HELIUM 1
#include <arm_mve.h>
#else
#define EDGEC_HELIUM 0
#endif

/* Plain 32-bit multiply-adds on cores with neither the DSP extension nor Helium and no
 * cheap unaligned word loads: 32-bit RISC-V (RV32IM) and Armv6-M / Armv8-M Baseline
 * (Cortex-M0, M0+, M23), where emulating SXTB16 and SMLAD costs more than it saves. The
 * same sums in another order, so the same outputs; a host build may define EDGEC_SCALAR 1
 * to test these paths. */
#ifndef EDGEC_SCALAR
#if !EDGEC_HELIUM && !(defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP == 1) && \
    (defined(__riscv) || (defined(__ARM_ARCH_ISA_THUMB) && __ARM_ARCH_ISA_THUMB == 1))
#define EDGEC_SCALAR 1
#else
#define EDGEC_SCALAR 0
#endif
#endif

#if defined(__ARM_FEATURE_SAT) && __ARM_FEATURE_SAT == 1
#include <arm_acle.h>
#define SSAT8(x) __ssat((x), 8)
#else
#define SSAT8(x) edgec_fp_clamp((x), -128, 127)
#endif

/* Inlined into each call site: the compiler keeps the per-layer values in registers. */
#if defined(__GNUC__)
#define ALWAYS_INLINE static inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE static inline
#endif

/* edgec_fp_mbqm plus the output zero point, as edgec_fp_mbqm_right from the channel's row
 * rq of the requant table (the compiler gives these kernels only multipliers >= 0 with
 * shifts <= -2, and puts the zero point in the table where it fits), then the clamp. clamp:
 * {the zero point the table leaves to add, act_min, act_max}. full (a constant at each call
 * site): nothing left to add and the range is the whole of int8, one saturation. */
/* edgec_fp_mbqm_right(x, rq[0], rq[1], rq[2]). On Armv6-M (no long multiply) in Thumb-1:
 * the 64-bit sum x * m + N (see edgec_fixedpoint.h) from four 16 x 16 products with ADCS
 * carrying into the high word, 30 instructions instead of the C version's ~70. */
ALWAYS_INLINE int32_t mbqm_right_row(int32_t x, const int32_t *rq)
{
#if EDGEC_NO_LONG_MULTIPLY && defined(__GNUC__) && defined(__ARM_ARCH_ISA_THUMB) && __ARM_ARCH_ISA_THUMB == 1
    int32_t m, xl, xh, ml, lo, t;
    __asm__(".syntax unified\n\t"
            "ldr %[m], [%[rq]]\n\t"
            "uxth %[xl], %[x]\n\t"
            "asrs %[xh], %[x], #16\n\t"   /* x = xh * 2^16 + xl */
            "uxth %[ml], %[m]\n\t"
            "lsrs %[m], %[m], #16\n\t"    /* m = mh * 2^16 + ml, mh < 2^15 */
            "movs %[lo], %[ml]\n\t"
            "muls %[lo], %[xl], %[lo]\n\t" /* low word: xl * ml */
            "muls %[ml], %[xh], %[ml]\n\t" /* xh * ml */
            "muls %[xl], %[m], %[xl]\n\t"  /* xl * mh (>= 0) */
            "muls %[m], %[xh], %[m]\n\t"   /* high word: xh * mh */
            "lsls %[t], %[ml], #16\n\t"
            "asrs %[ml], %[ml], #16\n\t"
            "adds %[lo], %[t]\n\t"
            "adcs %[m], %[ml]\n\t"         /* + xh * ml * 2^16 */
            "lsls %[t], %[xl], #16\n\t"
            "lsrs %[xl], %[xl], #16\n\t"
            "adds %[lo], %[t]\n\t"
            "adcs %[m], %[xl]\n\t"         /* + xl * mh * 2^16 */
            "asrs %[xh], %[xh], #15\n\t"   /* -1 if x < 0 */
            "lsls %[t], %[xh], #31\n\t"
            "adds %[lo], %[t]\n\t"
            "adcs %[m], %[xh]\n\t"         /* - 2^31 if x < 0 */
            "movs %[t], #1\n\t"
            "lsls %[t], %[t], #30\n\t"
            "adds %[lo], %[t]\n\t"
            "ldr %[t], [%[rq], #4]\n\t"
            "adcs %[m], %[t]\n\t"          /* + 2^30 + round_hi * 2^32 */
            "ldr %[t], [%[rq], #8]\n\t"
            "asrs %[m], %[t]\n\t"          /* the high word >> shift_hi */
            : [m] "=&l"(m), [xl] "=&l"(xl), [xh] "=&l"(xh), [ml] "=&l"(ml), [lo] "=&l"(lo), [t] "=&l"(t)
            : [x] "l"(x), [rq] "l"(rq)
            : "cc");
    return m;
#else
    return edgec_fp_mbqm_right(x, rq[0], rq[1], rq[2]);
#endif
}

ALWAYS_INLINE int8_t requant_out(int32_t acc, const int32_t *rq, const int32_t clamp[3], int full)
{
    const int32_t v = mbqm_right_row(acc, rq);
    return (int8_t)(full ? SSAT8(v) : edgec_fp_clamp(v + clamp[0], clamp[1], clamp[2]));
}

/* Whether requant_out may take its `full` form. */
static inline int full_range(int32_t zero_point_left, int32_t act_min, int32_t act_max)
{
    return zero_point_left == 0 && act_min == -128 && act_max == 127;
}

#if EDGEC_HELIUM
/* Four channels' requantization in vectors: VQRDMULH is TFLM's SRDHM (saturation included),
 * and subtracting 1 from negative values before VRSHL's round-half-up shift makes it round
 * ties away from zero, as TFLM's RoundingDivideByPOT (r >= 1 here). rows: byte offsets of the
 * four channels' table rows. */
typedef struct {
    uint32x4_t even_rows, odd_rows; /* byte offsets of table rows 0, 2, 4, 6 and 1, 3, 5, 7 */
    uint32x4_t rows;                /* 0, 1, 2, 3 */
    uint32x4_t even_out, odd_out;   /* bytes 0, 2, 4, 6 and 1, 3, 5, 7 */
    int32_t zp, lo, hi;             /* the output zero point (whole), the clamp */
} dw_mve_t;

ALWAYS_INLINE int32x4_t dw_requant_mve(int32x4_t acc, const int32_t *rq, uint32x4_t rows, const dw_mve_t *v)
{
    const int32x4_t m = vldrwq_gather_offset_s32(rq, rows);
    const int32x4_t shift_hi = vldrwq_gather_offset_s32(rq + 2, rows);
    int32x4_t h = vqrdmulhq_s32(acc, m);
    h = vaddq_s32(h, vshrq_n_s32(h, 31));
    h = vrshlq_s32(h, vmvnq_s32(shift_hi)); /* by -(shift_hi + 1) = -r */
    h = vaddq_n_s32(h, v->zp);
    return vmaxq_s32(vminq_s32(h, vdupq_n_s32(v->hi)), vdupq_n_s32(v->lo));
}
#endif

#endif /* EDGEC_FAST_COMMON_H */
