/*
 * Private header of the optimized int8 kernels for Helium cores (mve_gemm.c, mve_dwconv.c:
 * Cortex-M55/M85 with MVE): the Helium switch and the requantization they share. Elsewhere
 * (host builds) the same kernels run as plain C over the same layouts.
 *
 * Bit-exact with the portable kernels: the sums are the same sums in another order, and the
 * requantization is TFLM's MultiplyByQuantizedMultiplier (edgec_fp_mbqm) with the channel's
 * multiplier m >= 0 and shift -(r1 + 1), r1 stored in a byte.
 */
#ifndef EDGEC_MVE_COMMON_H
#define EDGEC_MVE_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "edgec_fixedpoint.h"
#include "edgec_kernels.h"

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#define EDGEC_HELIUM 1
#include <arm_mve.h>
#else
#define EDGEC_HELIUM 0
#endif

#if defined(__GNUC__)
#define MVE_INLINE static inline __attribute__((always_inline))
#else
#define MVE_INLINE static inline
#endif

/* One output from its sum: edgec_fp_mbqm plus the zero point, clamped. */
static inline int8_t mve_out(int32_t acc, int32_t m, int32_t r1, int32_t zero_point, int32_t lo, int32_t hi)
{
    return (int8_t)edgec_fp_clamp(edgec_fp_mbqm(acc, m, -(r1 + 1)) + zero_point, lo, hi);
}

#if EDGEC_HELIUM
/* Four outputs: VQRDMULH is TFLM's SRDHM (m >= 0), and subtracting 1 from negative values
 * before VRSHL's round-half-up shift by r = r1 + 1 (VMVN gives -r) makes it round ties away
 * from zero, as TFLM's RoundingDivideByPOT. */
MVE_INLINE int32x4_t mve_requant(int32x4_t acc, int32x4_t m, uint32x4_t r1, int32_t zero_point, int32_t lo,
                                 int32_t hi)
{
    int32x4_t h = vqrdmulhq_s32(acc, m);
    h = vaddq_s32(h, vshrq_n_s32(h, 31));
    h = vrshlq_s32(h, vreinterpretq_s32_u32(vmvnq_u32(r1)));
    h = vaddq_n_s32(h, zero_point);
    return vmaxq_s32(vminq_s32(h, vdupq_n_s32(hi)), vdupq_n_s32(lo));
}
#endif

#endif /* EDGEC_MVE_COMMON_H */
