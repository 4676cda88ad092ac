/*
 * Private header of the optimized int8 kernels for cores with the DSP extension (fast_gemm.c,
 * fast_dwconv.c, fast_add.c; their paths for RV32 and the Cortex-M0 in fast_scalar.h): the DSP
 * instructions (or their C definitions elsewhere), the assembly and scalar switches, and the
 * requantization they share.
 *
 * They give the same outputs as the portable kernels (conv_int.c, fc_int.c, eltwise_int.c)
 * bit for bit: the int32 sums are the same sums in another order, and the requantization is
 * the same function (edgec_fp_requant2 of the doubled sum, edgec_fixedpoint.h).
 * They run only in builds of TFLM's rounding (--rounding tflm, the default): under a float
 * rounding emit_fast.fast_requant gives no table and the portable kernels run every layer.
 */
#ifndef EDGEC_FAST_COMMON_H
#define EDGEC_FAST_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "edgec_dsp.h"
#include "edgec_fixedpoint.h"
#include "edgec_kernels.h"

/* The hand-written Thumb-2 routines: a DSP core and a compiler that takes GNU assembly. */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP == 1 && defined(__thumb2__) && defined(__GNUC__)
#define EDGEC_DSP_ASM 1
#else
#define EDGEC_DSP_ASM 0
#endif

/* Plain 32-bit multiply-adds on cores with neither the DSP extension nor Helium and no cheap
 * unaligned word loads: 32-bit RISC-V (RV32IM) and Armv6-M / Armv8-M Baseline (Cortex-M0,
 * M0+, M23), where emulating SXTB16 and SMLAD costs more than it saves (fast_scalar.h). The
 * same sums in another order, so the same outputs; a host build may define EDGEC_SCALAR 1
 * to test these paths. */
#ifndef EDGEC_SCALAR
#if !(defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP == 1) && \
    (defined(__riscv) || (defined(__ARM_ARCH_ISA_THUMB) && __ARM_ARCH_ISA_THUMB == 1))
#define EDGEC_SCALAR 1
#else
#define EDGEC_SCALAR 0
#endif
#endif

/* Inlined into each call site: the compiler keeps the per-layer values in registers. */
#if defined(__GNUC__)
#define ALWAYS_INLINE static inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE static inline
#endif

/* A record's last word: r1 (= -shift - 1) of its first channel in the low byte, of the next
 * in the next byte, K = 2 * output zero point + 1 in the high half (see fast_gemm.c). */
static inline int32_t rr_shift(int32_t rr, int32_t channel) { return (int32_t)(((uint32_t)rr >> (8 * channel)) & 0xFFu); }
static inline int32_t rr_k(int32_t rr) { return (int32_t)(int16_t)(uint16_t)((uint32_t)rr >> 16); }

/* The output of a doubled sum acc2 = 2 * (bias + sum): edgec_fp_requant2, then the clamp. */
static inline int8_t requant2_out(int32_t acc2, int32_t m, int32_t rr, int32_t channel, int32_t lo, int32_t hi)
{
    return (int8_t)edgec_fp_clamp(edgec_fp_requant2(acc2, m, rr_shift(rr, channel), rr_k(rr)), lo, hi);
}

/* The plain-C paths that DSP cores take only for leftovers (odd channels, clamps inside int8,
 * rows without room): compiled for size there. */
#if defined(__GNUC__) && EDGEC_DSP_ASM
#define FAST_COLD __attribute__((cold, noinline))
#else
#define FAST_COLD
#endif

/* Whether the clamp is int8's own range (the assembly's SSAT does it). */
static inline int full_range(int32_t act_min, int32_t act_max) { return act_min == -128 && act_max == 127; }

/* The int16 halves of a word. */
static inline int32_t half_lo(int32_t x) { return (int32_t)(int16_t)(uint16_t)((uint32_t)x & 0xFFFFu); }
static inline int32_t half_hi(int32_t x) { return (int32_t)(int16_t)(uint16_t)((uint32_t)x >> 16); }

/* A word of a record stream (int32 words) read through a byte pointer. */
static inline int32_t word_at(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The start of the one-row, four-channel routines (fast_gemm.c's edgec_fc1_dsp,
 * fast_lut_fc1.c's edgec_lut1_dsp), their arguments in r1..r6 (row start, row end, groups
 * the first loop turn skips, stream end, stream, out): the loop's entry (`loop` plus the
 * skipped groups' bytes) and the arguments to the stack (row, row end, entry, stream end,
 * out); then label 1, each pass: the four biases into r0..r3, the row into r11, its end
 * into lr, and the jump into the loop. */
#define QUAD_ENTRY_ASM(loop, second)                \
    "adr r7, " loop "\n"                            \
    "movs r8, #(" second " - " loop ")\n"           \
    "mla r3, r3, r8, r7\n"                          \
    "orr r3, r3, #1\n"                              \
    "mov r10, r5\n"                                 \
    "push {r1-r4, r6}\n"                            \
    "1:\n"                                          \
    "ldm r10!, {r0-r3}\n"                           \
    "ldrd r11, lr, [sp]\n"                          \
    "ldr r4, [sp, #8]\n"                            \
    "bx r4\n"                                       \
    ".p2align 2\n"
/* The end of a pass of the one-row, four-channel routines (fast_gemm.c's edgec_fc1_dsp,
 * fast_lut_fc1.c's edgec_lut1_dsp): the sums in r0..r3, the stream (r10) at the four
 * multipliers and two shift words; each sum doubled and requantized (edgec_fp_requant2: r11
 * a temporary, K in register `k`), the outputs stored at the stack's out (sp + 16), then back
 * to label 1 until the stream reaches the stack's stream end (sp + 12). */
#define QUAD_REQUANT_ASM(a, m, r, k)    \
    "lsl " a ", " a ", #1\n"            \
    "asr r11, " a ", #31\n"             \
    "smmlar " a ", " a ", " m ", r11\n" \
    "asr " a ", " a ", " r "\n"         \
    "add " a ", " a ", " k "\n"         \
    "ssat " a ", #8, " a ", asr #1\n"
#define QUAD_TAIL_ASM(k)                                                                        \
    "ldm r10!, {r4-r7}\n"                                                                       \
    "ldrd r8, r9, [r10], #8\n"                                                                  \
    "asr " k ", r8, #16\n" QUAD_REQUANT_ASM("r0", "r4", "r8", k) "lsr r8, r8, #8\n"             \
        QUAD_REQUANT_ASM("r1", "r5", "r8", k) QUAD_REQUANT_ASM("r2", "r6", "r9", k) "lsr r9, r9, #8\n" \
            QUAD_REQUANT_ASM("r3", "r7", "r9", k) "ldr r11, [sp, #16]\n"                        \
    "strb r0, [r11], #1\n"                                                                      \
    "strb r1, [r11], #1\n"                                                                      \
    "strb r2, [r11], #1\n"                                                                      \
    "strb r3, [r11], #1\n"                                                                      \
    "str r11, [sp, #16]\n"                                                                      \
    "ldr r8, [sp, #12]\n"                                                                       \
    "cmp r10, r8\n"                                                                             \
    "bne 1b\n"

#endif /* EDGEC_FAST_COMMON_H */
