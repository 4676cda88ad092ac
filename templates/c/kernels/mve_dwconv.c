/* Optimized int8 depthwise convolution (depth multiplier 1) for Helium cores; see mve_common.h.
 *
 * The input offset is folded into the bias (over all kh * kw taps), so a tap in the padding
 * reads `padding` (a constant row of out.c bytes equal to the input zero point).
 *
 * Eight channels at a time: VLDRB.S16 widens eight inputs and eight weights (the weights
 * [tap][c] as they are) to int16 lanes, VMULLB/VMULLT multiply the even and the odd lanes into
 * int32, two VADDs accumulate: 8 products in 6 instructions, the sums of channels 0, 2, 4, 6
 * and 1, 3, 5, 7 in two vectors (their biases, multipliers and shifts stored in that order).
 * After the requantization VMOVNB/VMOVNT interleave them back and one narrowing store writes
 * the eight bytes; the last block of a channel count that is not a multiple of 8 is predicated.
 * A pixel whose 3x3 window (dilation 1) lies inside the image reads its taps at fixed offsets,
 * others through a table of tap addresses. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mve_common.h"

#define EDGEC_DW_MAX_TAPS 25

/* Where channel c's bias, multiplier and shift are: per block of 8, evens then odds. */
static inline int32_t lane_of(int32_t c) { return (c & ~7) + (c & 1) * 4 + ((c & 7) >> 1); }

static void dw_taps_of(const edgec_dwconv_mve_s8_t *p, const int8_t *image, int32_t y0, int32_t x0,
                       const int8_t **taps)
{
    int32_t ky, kx;
    for (ky = 0; ky < p->kh; ++ky) {
        const int32_t iy = y0 + ky * p->dil_h;
        for (kx = 0; kx < p->kw; ++kx) {
            const int32_t ix = x0 + kx * p->dil_w;
            const int inside = (uint32_t)iy < (uint32_t)p->in.h && (uint32_t)ix < (uint32_t)p->in.w;
            *taps++ = inside ? image + ((size_t)iy * p->in.w + (size_t)ix) * p->in.c : p->padding;
        }
    }
}

#if EDGEC_HELIUM
/* Nine taps of 16 channels in assembly (the compiler's allocation spills): per tap, VMULLB and
 * VMULLT.S8 take the 16 products as int16 (even, odd channels) and VMOVLB/VMOVLT widen them
 * into four int32 sums, of channels (0, 4, 8, 12), (2, 6, 10, 14), (1, 5, 9, 13) and
 * (3, 7, 11, 15): 12 instructions per 16 products. The requantized sums narrow back in that
 * order to 16 bytes in channel order (VQMOVNB/VQMOVNT, saturating), one store.
 *
 * The stream per block of 16 channels: the four sums' biases (16 int32, in the order above),
 * the nine taps' 16 weights, the multipliers and the negated shifts (-r) in the same order. */
typedef struct {
    const int8_t *const *taps; /* nine tap addresses (channel 0; the padding row for a tap outside) */
    const int32_t *stream;
    int8_t *out;
    int32_t blocks;     /* channels / 16 */
    int32_t zero_point;
    int32_t clamp;      /* act_min & 255 | (act_max & 255) << 8 | 1 << 16 when that is all of int8 */
} dw16_args_t;
void edgec_dw16_mve(const dw16_args_t *a);

#define DW16_TAP(r)                    \
    "vldrb.u8 q4, [" r "], #16\n"      \
    "vldrb.u8 q5, [r10], #16\n"        \
    "vmullb.s8 q6, q4, q5\n"           \
    "vmullt.s8 q7, q4, q5\n"           \
    "vmovlb.s16 q4, q6\n"              \
    "vadd.i32 q0, q0, q4\n"            \
    "vmovlt.s16 q4, q6\n"              \
    "vadd.i32 q1, q1, q4\n"            \
    "vmovlb.s16 q4, q7\n"              \
    "vadd.i32 q2, q2, q4\n"            \
    "vmovlt.s16 q4, q7\n"              \
    "vadd.i32 q3, q3, q4\n"
/* mve_requant without the clamp, of sums q, the stream's multipliers then shifts at r10+off. */
#define DW16_REQUANT(q, m_off, r_off)           \
    "vldrw.u32 q4, [r10, #" m_off "]\n"        \
    "vldrw.u32 q5, [r10, #" r_off "]\n"        \
    "vqrdmulh.s32 " q ", " q ", q4\n"          \
    "vshr.s32 q4, " q ", #31\n"                \
    "vadd.i32 " q ", " q ", q4\n"              \
    "vrshl.s32 " q ", " q ", q5\n"             \
    "vadd.i32 " q ", " q ", lr\n"

/* r1..r9: the taps; r10: the stream; r11: the output; r12: the blocks left; lr: the zero
 * point; r0: the clamp word. */
__asm__(".pushsection .text.edgec_dw16_mve,\"ax\",%progbits\n"
        ".syntax unified\n"
        ".thumb\n"
        ".p2align 2\n"
        ".global edgec_dw16_mve\n"
        ".type edgec_dw16_mve, %function\n"
        ".thumb_func\n"
        "edgec_dw16_mve:\n"
        "push {r4-r11, lr}\n"
        "vpush {d8-d15}\n"
        "ldr r10, [r0, #4]\n"
        "ldr r11, [r0, #8]\n"
        "ldr r12, [r0, #12]\n"
        "ldr lr, [r0, #16]\n"
        "ldr r9, [r0]\n"
        "ldr r0, [r0, #20]\n"
        "ldm r9, {r1-r9}\n"
        "1:\n"
        "vldrw.u32 q0, [r10], #16\n"
        "vldrw.u32 q1, [r10], #16\n"
        "vldrw.u32 q2, [r10], #16\n"
        "vldrw.u32 q3, [r10], #16\n" DW16_TAP("r1") DW16_TAP("r2") DW16_TAP("r3") DW16_TAP("r4") DW16_TAP("r5")
            DW16_TAP("r6") DW16_TAP("r7") DW16_TAP("r8") DW16_TAP("r9") DW16_REQUANT("q0", "0", "64")
                DW16_REQUANT("q1", "16", "80") DW16_REQUANT("q2", "32", "96") DW16_REQUANT("q3", "48", "112")
        "add r10, r10, #128\n"
        "vqmovnb.s32 q4, q0\n"
        "vqmovnt.s32 q4, q1\n"
        "vqmovnb.s32 q5, q2\n"
        "vqmovnt.s32 q5, q3\n"
        "vqmovnb.s16 q6, q4\n"
        "vqmovnt.s16 q6, q5\n"
        "tst r0, #0x10000\n"
        "bne 2f\n"
        "vdup.8 q7, r0\n"
        "vmax.s8 q6, q6, q7\n"
        "ror r0, r0, #8\n"
        "vdup.8 q7, r0\n"
        "vmin.s8 q6, q6, q7\n"
        "ror r0, r0, #24\n"
        "2:\n"
        "vstrb.8 q6, [r11], #16\n"
        "subs r12, #1\n"
        "bne 1b\n"
        "vpop {d8-d15}\n"
        "pop {r4-r11, pc}\n"
        ".size edgec_dw16_mve, .-edgec_dw16_mve\n"
        ".popsection\n");
#endif

#if EDGEC_HELIUM
/* Channels [from, out.c) of one pixel through its table of taps, eight at a time with int16
 * lanes (VLDRB.S16, VMULLB/VMULLT, two VADDs per eight products); a last partial block is
 * predicated. The rest arrays hold those channels (rest_weights [tap][out.c - from]). */
MVE_INLINE void dw_rest_mve(const edgec_dwconv_mve_s8_t *p, const int8_t *const *taps, int32_t ntaps, int32_t from,
                            int8_t *out)
{
    const int32_t channels = p->out.c, count = channels - from, zp = p->zero_point;
    const int32_t lo = p->act_min, hi = p->act_max;
    int32_t c, t;
    for (c = 0; c < count; c += 8) {
        const mve_pred16_t pred = vctp16q((uint32_t)(count - c));
        const int8_t *w = p->rest_weights + c;
        int32x4_t even = vldrwq_s32(p->rest_bias + c), odd = vldrwq_s32(p->rest_bias + c + 4);
        int16x8_t r;
        for (t = 0; t < ntaps; ++t, w += count) {
            const int16x8_t x = vldrbq_z_s16(taps[t] + from + c, pred), wt = vldrbq_z_s16(w, pred);
            even = vaddq_s32(even, vmullbq_int_s16(x, wt));
            odd = vaddq_s32(odd, vmulltq_int_s16(x, wt));
        }
        even = mve_requant(even, vldrwq_s32(p->rest_mult + c), vldrbq_u32(p->rest_shift + c), zp, lo, hi);
        odd = mve_requant(odd, vldrwq_s32(p->rest_mult + c + 4), vldrbq_u32(p->rest_shift + c + 4), zp, lo, hi);
        r = vmovnbq_s32(vdupq_n_s16(0), even);
        r = vmovntq_s32(r, odd);
        vstrbq_p_s16(out + from + c, r, pred);
    }
}
#else
/* The 16-channel blocks of one pixel in C, over the stream. */
static void dw16_c(const edgec_dwconv_mve_s8_t *p, const int8_t *const *taps, int32_t blocks, int8_t *out)
{
    static const uint8_t order[16] = {0, 4, 8, 12, 2, 6, 10, 14, 1, 5, 9, 13, 3, 7, 11, 15};
    int32_t b, i, t;
    for (b = 0; b < blocks; ++b) {
        const int32_t *const s = p->stream + 84 * b;
        const int8_t *const w = (const int8_t *)(s + 16);
        for (i = 0; i < 16; ++i) {
            const int32_t c = 16 * b + order[i];
            int32_t acc = s[i];
            for (t = 0; t < 9; ++t) {
                acc += taps[t][c] * w[16 * t + order[i]];
            }
            out[c] = mve_out(acc, s[52 + i], -s[68 + i] - 1, p->zero_point, p->act_min, p->act_max);
        }
    }
}

/* Channels [from, out.c) of one pixel in C, over the rest arrays. */
static void dw_rest_c(const edgec_dwconv_mve_s8_t *p, const int8_t *const *taps, int32_t ntaps, int32_t from,
                      int8_t *out)
{
    const int32_t count = p->out.c - from;
    int32_t c, t;
    for (c = 0; c < count; ++c) {
        const int32_t j = lane_of(c);
        int32_t acc = p->rest_bias[j];
        for (t = 0; t < ntaps; ++t) {
            acc += taps[t][from + c] * p->rest_weights[(size_t)t * count + c];
        }
        out[from + c] = mve_out(acc, p->rest_mult[j], p->rest_shift[j], p->zero_point, p->act_min, p->act_max);
    }
}
#endif

void edgec_dwconv_mve_s8(const edgec_dwconv_mve_s8_t *p, const int8_t *input, int8_t *output)
{
    const int32_t channels = p->out.c, ntaps = p->kh * p->kw;
    const int32_t blocks = ntaps == 9 ? channels / 16 : 0, from = 16 * blocks;
    const ptrdiff_t row = (ptrdiff_t)p->in.w * p->in.c;
    const int8_t *taps[EDGEC_DW_MAX_TAPS];
    int32_t b, oy, ox;
#if EDGEC_HELIUM
    const int full = p->act_min == -128 && p->act_max == 127;
    dw16_args_t a;
    a.taps = taps;
    a.stream = p->stream;
    a.blocks = blocks;
    a.zero_point = p->zero_point;
    a.clamp = (p->act_min & 255) | (p->act_max & 255) << 8 | (full ? 1 << 16 : 0);
#endif
    if (ntaps > EDGEC_DW_MAX_TAPS) {
        return; /* the compiler gives this kernel at most EDGEC_DW_MAX_TAPS taps */
    }
    for (b = 0; b < p->out.n; ++b) {
        const int8_t *image = input + (size_t)b * p->in.h * row;
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            for (ox = 0; ox < p->out.w; ++ox) {
                int8_t *out = output + (((size_t)b * p->out.h + oy) * p->out.w + ox) * channels;
                dw_taps_of(p, image, y0, ox * p->stride_w - p->pad_left, taps);
#if EDGEC_HELIUM
                if (blocks > 0) {
                    a.out = out;
                    edgec_dw16_mve(&a);
                }
                if (from < channels) {
                    if (ntaps == 9) {
                        dw_rest_mve(p, taps, 9, from, out);
                    } else {
                        dw_rest_mve(p, taps, ntaps, from, out);
                    }
                }
#else
                dw16_c(p, taps, blocks, out);
                dw_rest_c(p, taps, ntaps, from, out);
#endif
            }
        }
    }
}
