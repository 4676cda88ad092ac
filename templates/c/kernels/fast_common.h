/*
 * Private header of the optimized int8 kernels (fast_gemm.c, fast_dwconv.c, fast_add.c): the
 * DSP instructions (or their C definitions off Arm), the Helium switch, and the
 * requantization helpers they share.
 *
 * They give the same outputs as the portable kernels (conv_int.c, fc_int.c, eltwise_int.c)
 * bit for bit: the int32 sums are the same sums in another order, and the requantization is
 * the same function (edgec_fp_mbqm_right, or its vector form below). Under a float rounding
 * (EDGEC_ROUNDING, edgec_fixedpoint.h) a table row is (the float32 scale's bits, the zero
 * point, 0) and requant_out is edgec_requant; the fixed-point assembly paths, which run only
 * in the `full` form, are then never taken.
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
ALWAYS_INLINE int8_t requant_out(int32_t acc, const int32_t *rq, const int32_t clamp[3], int full)
{
#if EDGEC_ROUNDING != EDGEC_ROUNDING_TFLM
    (void)full;
    return (int8_t)edgec_fp_clamp(edgec_requant(acc, rq[0], 0) + rq[1] + clamp[0], clamp[1], clamp[2]);
#else
    const int32_t v = edgec_fp_mbqm_right(acc, rq[0], rq[1], rq[2]);
    return (int8_t)(full ? SSAT8(v) : edgec_fp_clamp(v + clamp[0], clamp[1], clamp[2]));
#endif
}

/* Whether requant_out may take its `full` form (never under a float rounding: the full form's
 * assembly requantizes in fixed point). */
static inline int full_range(int32_t zero_point_left, int32_t act_min, int32_t act_max)
{
#if EDGEC_ROUNDING != EDGEC_ROUNDING_TFLM
    (void)zero_point_left;
    (void)act_min;
    (void)act_max;
    return 0;
#else
    return zero_point_left == 0 && act_min == -128 && act_max == 127;
#endif
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
#if EDGEC_ROUNDING != EDGEC_ROUNDING_TFLM
    /* float rounding: lane by lane, as requant_out */
    int32_t lanes[4];
    uint32_t offsets[4];
    int32_t i;
    vst1q_s32(lanes, acc);
    vst1q_u32(offsets, rows);
    for (i = 0; i < 4; ++i) {
        const int32_t *row = (const int32_t *)(const void *)((const uint8_t *)rq + offsets[i]);
        lanes[i] = edgec_fp_clamp(edgec_requant(lanes[i], row[0], 0) + row[1], v->lo, v->hi);
    }
    return vld1q_s32(lanes);
#else
    const int32x4_t m = vldrwq_gather_offset_s32(rq, rows);
    const int32x4_t shift_hi = vldrwq_gather_offset_s32(rq + 2, rows);
    int32x4_t h = vqrdmulhq_s32(acc, m);
    h = vaddq_s32(h, vshrq_n_s32(h, 31));
    h = vrshlq_s32(h, vmvnq_s32(shift_hi)); /* by -(shift_hi + 1) = -r */
    h = vaddq_n_s32(h, v->zp);
    return vmaxq_s32(vminq_s32(h, vdupq_n_s32(v->hi)), vdupq_n_s32(v->lo));
#endif
}
#endif

#endif /* EDGEC_FAST_COMMON_H */
