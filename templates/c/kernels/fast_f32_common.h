/*
 * Private header of the optimized float kernels (fast_f32_*.c): which path the core takes,
 * and the output clamp they share.
 *
 * EDGEC_F32_MVE: Helium float (Cortex-M55/M85), four lanes per vector (assembly, intrinsics).
 * EDGEC_F32_VFP: a single-precision FPU with fused multiply-add and 32 S registers
 *   (Cortex-M4F/M7/M33): inline assembly whose loads (VLDM) bring eight floats at once.
 * Otherwise (host builds, cores without an FPU) the same blocking in plain C.
 */
#ifndef EDGEC_FAST_F32_COMMON_H
#define EDGEC_FAST_F32_COMMON_H

#include <stdint.h>
#include <string.h>

#include "edgec_kernels.h"

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 2)
#define EDGEC_F32_MVE 1
#include <arm_mve.h>
#else
#define EDGEC_F32_MVE 0
#endif

#if !EDGEC_F32_MVE && defined(__thumb2__) && defined(__ARM_FP) && (__ARM_FP & 4) && \
    defined(__ARM_FEATURE_FMA)
#define EDGEC_F32_VFP 1
#else
#define EDGEC_F32_VFP 0
#endif

#if defined(__GNUC__)
#define F32_INLINE static inline __attribute__((always_inline))
#else
#define F32_INLINE static inline
#endif

/* The clamp of n outputs in place. ReLU clears every value whose sign bit is set (one mask
 * per word: -0.0 and negative NaNs become +0.0, as `x > 0 ? x : 0` makes them). */
#if defined(__GNUC__)
__attribute__((noinline, unused))
#endif
static void clamp_f32(float *v, int32_t n, int32_t act, float lo, float hi)
{
    int32_t i;
    if (act == EDGEC_ACT_RELU) {
        for (i = 0; i + 2 <= n; i += 2) { /* two words per load and store */
            uint32_t a, b;
            memcpy(&a, &v[i], sizeof a);
            memcpy(&b, &v[i + 1], sizeof b);
            a &= ~(uint32_t)((int32_t)a >> 31);
            b &= ~(uint32_t)((int32_t)b >> 31);
            memcpy(&v[i], &a, sizeof a);
            memcpy(&v[i + 1], &b, sizeof b);
        }
        if (i < n) {
            uint32_t u;
            memcpy(&u, &v[i], sizeof u);
            u &= ~(uint32_t)((int32_t)u >> 31);
            memcpy(&v[i], &u, sizeof u);
        }
    } else if (act == EDGEC_ACT_CLAMP) {
        for (i = 0; i < n; ++i) {
            v[i] = v[i] < lo ? lo : (v[i] > hi ? hi : v[i]);
        }
    }
}

#endif /* EDGEC_FAST_F32_COMMON_H */
