/* Optimized int8 depthwise convolution (depth multiplier 1) for DSP cores; see fast_common.h.
 *
 * As in the matrix kernels the input offset is folded into the bias (over all kh * kw taps),
 * so a tap in the padding must read the input zero point: `padding` (a constant row of
 * out.c bytes, in flash) holds it for every channel.
 *
 * The stream (emit_fast.py), per block of four channels (the channels padded to a multiple
 * of four): their doubled biases; per pair of taps (t, t+1) four words, channel j's
 * (2 w[t][j], 2 w[t+1][j]) as int16 halves; an odd last tap's two words (2 w[c0], 2 w[c2])
 * and (2 w[c1], 2 w[c3]); the four multipliers; two words r1 r1 K as in fast_gemm.c. That
 * is 10 + 2 * kh * kw words.
 *
 * On DSP cores, four channels at a time: PKHBT/PKHTB regroup two taps' input words into
 * (tap t, tap t+1) byte pairs and SXTB16 splits them per channel, so that one SMLAD takes two
 * taps of a channel: 14 instructions per eight products. A pixel whose 3x3 window (dilation 1)
 * lies inside the image reads its taps at fixed offsets (edgec_dw3x3_dsp, a run of such pixels
 * per call); other pixels go through a table of tap addresses (taps in the padding read
 * `padding`). The requantization is fast_gemm.c's (edgec_fp_requant2 in five instructions).
 * The c % 4 last channels, other clamps and host builds take plain C over the same stream;
 * RV32 and the Cortex-M0 take their blocks of four channels in fast_scalar.h.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fast_common.h"
#include "fast_scalar.h"

#define EDGEC_DW_MAX_TAPS 25

/* Per tap the address of its input pixel (channel 0), or `padding` for a tap outside. */
static void dw_pixel_taps(const edgec_dwconv_fast_s8_t *p, const int8_t *image, int32_t y0, int32_t x0,
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

/* Channels [from, to) of one pixel from the stream, in C. */
FAST_COLD static void dw_channels_c(const edgec_dwconv_fast_s8_t *p, const int8_t *const *taps, int32_t from, int32_t to,
                          int8_t *out)
{
    const int32_t ntaps = p->kh * p->kw, words = 10 + 2 * ntaps, paired = ntaps & ~1;
    int32_t c, t;
    for (c = from; c < to; ++c) {
        const int8_t *const block = (const int8_t *)(p->stream + (size_t)(c / 4) * (size_t)words);
        const int32_t j = c % 4;
        int32_t acc = word_at(block + 4 * j);
        for (t = 0; t < ntaps; ++t) {
            int32_t word, half;
            if (t < paired) { /* pair t / 2: channel j's word, tap t % 2's half */
                word = word_at(block + 16 + 16 * (t / 2) + 4 * j);
                half = t % 2;
            } else { /* the odd last tap: (c0, c2), (c1, c3) */
                word = word_at(block + 16 + 8 * paired + 4 * (j % 2));
                half = j / 2;
            }
            acc += taps[t][c] * (half ? half_hi(word) : half_lo(word));
        }
        {
            const int8_t *const tail = block + 4 * (4 + 2 * ntaps);
            out[c] = requant2_out(acc, word_at(tail + 4 * j), word_at(tail + 16 + 4 * (j / 2)), j % 2, p->act_min,
                                  p->act_max);
        }
    }
}

#if EDGEC_DSP_ASM
/* Two taps of four channels: input words r4 (tap t) and r5 (tap t + 1), regrouped into
 * (t, t+1) pairs per channel, against the stream's four words: 12 instructions, 8 products. */
#define DW_PAIR                       \
    "pkhbt r6, r4, r5, lsl #16\n"     \
    "pkhtb r5, r5, r4, asr #16\n"     \
    "sxtb16 r4, r6\n"                 \
    "sxtb16 r6, r6, ror #8\n"         \
    "ldrd r7, r8, [r11], #8\n"        \
    "smlad r0, r4, r7, r0\n"          \
    "smlad r1, r6, r8, r1\n"          \
    "sxtb16 r4, r5\n"                 \
    "sxtb16 r5, r5, ror #8\n"         \
    "ldrd r7, r8, [r11], #8\n"        \
    "smlad r2, r4, r7, r2\n"          \
    "smlad r3, r5, r8, r3\n"
/* One tap of four channels (input word r4) against the stream's two words. */
#define DW_SINGLE                     \
    "sxtb16 r5, r4, ror #8\n"         \
    "sxtb16 r4, r4\n"                 \
    "ldrd r7, r8, [r11], #8\n"        \
    "smlabb r0, r4, r7, r0\n"         \
    "smlatt r2, r4, r7, r2\n"         \
    "smlabb r1, r5, r8, r1\n"         \
    "smlatt r3, r5, r8, r3\n"
/* edgec_fp_requant2 of the doubled sum in `a`, multiplier `m`, r1 in `r`'s low byte, K in `k`,
 * temporary `t`. */
#define DW_REQUANT(a, m, r, k, t)       \
    "asr " t ", " a ", #31\n"           \
    "smmlar " a ", " a ", " m ", " t "\n" \
    "asr " a ", " a ", " r "\n"         \
    "add " a ", " a ", " k "\n"         \
    "ssat " a ", #8, " a ", asr #1\n"

typedef struct {
    const int8_t *const *taps, *const *pairs_end; /* the table; after its last pair */
    int32_t single;                               /* an odd last tap */
    int32_t channels;                             /* 4 * the blocks */
    const int32_t *stream;
    int8_t *out;
} dw_taps_args_t;
void edgec_dw_taps_dsp(const dw_taps_args_t *a);

/* One pixel through its table of taps. r0..r3: the sums; r9: the table cursor; r10: the
 * channel offset; r11: the stream; lr: the table's pairs end; the stack: taps, pairs_end,
 * single, channels, out. */
__asm__(".pushsection .text.edgec_dw_taps_dsp,\"ax\",%progbits\n"
        ".syntax unified\n"
        ".thumb\n"
        ".p2align 2\n"
        ".global edgec_dw_taps_dsp\n"
        ".type edgec_dw_taps_dsp, %function\n"
        ".thumb_func\n"
        "edgec_dw_taps_dsp:\n"
        "push {r4-r11, lr}\n"
        "ldm r0, {r1-r6}\n"
        "mov r11, r5\n"
        "push {r1-r4, r6}\n"
        "movs r10, #0\n"
        "1:\n"
        "ldm r11!, {r0-r3}\n"
        "ldrd r9, lr, [sp]\n"
        "cmp r9, lr\n"
        "beq 3f\n"
        "2:\n"
        "ldr r12, [r9], #4\n"
        "ldr r4, [r12, r10]\n"
        "ldr r12, [r9], #4\n"
        "ldr r5, [r12, r10]\n" DW_PAIR "cmp r9, lr\n"
        "bne 2b\n"
        "3:\n"
        "ldr r4, [sp, #8]\n"
        "cbz r4, 4f\n"
        "ldr r12, [r9]\n"
        "ldr r4, [r12, r10]\n" DW_SINGLE "4:\n"
        "ldm r11!, {r4-r7}\n"
        "ldrd r8, r12, [r11], #8\n"
        "asr lr, r8, #16\n" DW_REQUANT("r0", "r4", "r8", "lr", "r9") "lsr r8, r8, #8\n"
            DW_REQUANT("r1", "r5", "r8", "lr", "r9") DW_REQUANT("r2", "r6", "r12", "lr", "r9") "lsr r12, r12, #8\n"
                DW_REQUANT("r3", "r7", "r12", "lr", "r9") "ldr r9, [sp, #16]\n"
        "add r9, r9, r10\n"
        "strb r0, [r9]\n"
        "strb r1, [r9, #1]\n"
        "strb r2, [r9, #2]\n"
        "strb r3, [r9, #3]\n"
        "ldr r12, [sp, #12]\n"
        "adds r10, #4\n"
        "cmp r10, r12\n"
        "bne 1b\n"
        "add sp, #20\n"
        "pop {r4-r11, pc}\n"
        ".size edgec_dw_taps_dsp, .-edgec_dw_taps_dsp\n"
        ".popsection\n");

/* A 3x3 window's taps from the table at r9: a pair's two input words. */
#define DW_TABLE_PAIR(a, b)           \
    "ldr r12, [r9, #" #a "]\n"       \
    "ldr r4, [r12, r10]\n"           \
    "ldr r12, [r9, #" #b "]\n"       \
    "ldr r5, [r12, r10]\n" DW_PAIR

/* edgec_dw_taps_dsp unrolled for nine taps (the table's offsets fixed); same arguments. */
__asm__(".pushsection .text.edgec_dw_taps9_dsp,\"ax\",%progbits\n"
        ".syntax unified\n"
        ".thumb\n"
        ".p2align 2\n"
        ".global edgec_dw_taps9_dsp\n"
        ".type edgec_dw_taps9_dsp, %function\n"
        ".thumb_func\n"
        "edgec_dw_taps9_dsp:\n"
        "push {r4-r11, lr}\n"
        "ldm r0, {r1-r6}\n"
        "mov r11, r5\n"
        "push {r1-r4, r6}\n"
        "movs r10, #0\n"
        "1:\n"
        "ldm r11!, {r0-r3}\n"
        "ldr r9, [sp]\n" DW_TABLE_PAIR(0, 4) DW_TABLE_PAIR(8, 12) DW_TABLE_PAIR(16, 20) DW_TABLE_PAIR(24, 28)
        "ldr r12, [r9, #32]\n"
        "ldr r4, [r12, r10]\n" DW_SINGLE "ldm r11!, {r4-r7}\n"
        "ldrd r8, r12, [r11], #8\n"
        "asr lr, r8, #16\n" DW_REQUANT("r0", "r4", "r8", "lr", "r9") "lsr r8, r8, #8\n"
            DW_REQUANT("r1", "r5", "r8", "lr", "r9") DW_REQUANT("r2", "r6", "r12", "lr", "r9") "lsr r12, r12, #8\n"
                DW_REQUANT("r3", "r7", "r12", "lr", "r9") "ldr r9, [sp, #16]\n"
        "add r9, r9, r10\n"
        "strb r0, [r9]\n"
        "strb r1, [r9, #1]\n"
        "strb r2, [r9, #2]\n"
        "strb r3, [r9, #3]\n"
        "ldr r12, [sp, #12]\n"
        "adds r10, #4\n"
        "cmp r10, r12\n"
        "bne 1b\n"
        "add sp, #20\n"
        "pop {r4-r11, pc}\n"
        ".size edgec_dw_taps9_dsp, .-edgec_dw_taps9_dsp\n"
        ".popsection\n");
void edgec_dw_taps9_dsp(const dw_taps_args_t *a);

typedef struct {
    const int8_t *top;     /* the first pixel's window, top left, channel 0 */
    int32_t channel_bytes; /* the input's channels: a tap's step to the right */
    int32_t row_bytes;     /* the input's row */
    int32_t pixel_step;    /* stride_w * channel_bytes */
    int32_t blocks_bytes;  /* 4 * the blocks: the output's step per pixel is the channels */
    int32_t out_step;      /* the output pixel's bytes */
    int32_t pixels;
    const int32_t *stream;
    int8_t *out;
} dw3x3_args_t;
void edgec_dw3x3_dsp(const dw3x3_args_t *a);

/* A run of pixels whose 3x3 window (dilation 1) lies inside the image. r0..r3: the sums;
 * r9: the window's top left at the block's channel; r10: the channel stride; r11: the
 * stream; r12: the row stride; lr: the output; the stack (after the saved registers):
 * [0] the block loop's output end, [4] stream, [8] pixel_step, [12] blocks_bytes,
 * [16] out_step, [20] pixels left, [24] the pixel's top. */
__asm__(".pushsection .text.edgec_dw3x3_dsp,\"ax\",%progbits\n"
        ".syntax unified\n"
        ".thumb\n"
        ".p2align 2\n"
        ".global edgec_dw3x3_dsp\n"
        ".type edgec_dw3x3_dsp, %function\n"
        ".thumb_func\n"
        "edgec_dw3x3_dsp:\n"
        "push {r4-r11, lr}\n"
        "sub sp, #28\n"
        "ldm r0, {r1-r9}\n" /* top, cs, row, pixel_step, blocks_bytes, out_step, pixels, stream, out */
        "mov r10, r2\n"
        "mov r12, r3\n"
        "str r8, [sp, #4]\n"
        "str r4, [sp, #8]\n"
        "str r5, [sp, #12]\n"
        "str r6, [sp, #16]\n"
        "str r7, [sp, #20]\n"
        "str r1, [sp, #24]\n"
        "mov lr, r9\n"
        "0:\n" /* a pixel */
        "ldr r9, [sp, #24]\n"
        "ldr r11, [sp, #4]\n"
        "ldr r4, [sp, #12]\n"
        "add r4, r4, lr\n"
        "str r4, [sp]\n"
        "1:\n" /* a block of four channels */
        "ldm r11!, {r0-r3}\n"
        "ldr r4, [r9]\n"
        "ldr r5, [r9, r10]\n" DW_PAIR "ldr r4, [r9, r10, lsl #1]\n"
        "add r9, r9, r12\n"
        "ldr r5, [r9]\n" DW_PAIR "ldr r4, [r9, r10]\n"
        "ldr r5, [r9, r10, lsl #1]\n"
        "add r9, r9, r12\n" DW_PAIR "ldr r4, [r9]\n"
        "ldr r5, [r9, r10]\n" DW_PAIR "ldr r4, [r9, r10, lsl #1]\n" DW_SINGLE "sub r9, r9, r12, lsl #1\n"
        "adds r9, #4\n"
        "ldrd r4, r5, [r11]\n"
        "ldr r6, [r11, #16]\n"
        "asr r7, r6, #16\n" DW_REQUANT("r0", "r4", "r6", "r7", "r8") "lsr r6, r6, #8\n"
            DW_REQUANT("r1", "r5", "r6", "r7", "r8") "ldrd r4, r5, [r11, #8]\n"
        "ldr r6, [r11, #20]\n" DW_REQUANT("r2", "r4", "r6", "r7", "r8") "lsr r6, r6, #8\n"
            DW_REQUANT("r3", "r5", "r6", "r7", "r8") "adds r11, #24\n"
        "strb r0, [lr], #1\n"
        "strb r1, [lr], #1\n"
        "strb r2, [lr], #1\n"
        "strb r3, [lr], #1\n"
        "ldr r4, [sp]\n"
        "cmp lr, r4\n"
        "bne 1b\n"
        "ldr r4, [sp, #12]\n" /* the next pixel: its output, its window */
        "sub lr, lr, r4\n"
        "ldr r4, [sp, #16]\n"
        "add lr, lr, r4\n"
        "ldr r4, [sp, #24]\n"
        "ldr r5, [sp, #8]\n"
        "add r4, r4, r5\n"
        "str r4, [sp, #24]\n"
        "ldr r4, [sp, #20]\n"
        "subs r4, #1\n"
        "str r4, [sp, #20]\n"
        "bne 0b\n"
        "add sp, #28\n"
        "pop {r4-r11, pc}\n"
        ".size edgec_dw3x3_dsp, .-edgec_dw3x3_dsp\n"
        ".popsection\n");
#endif

void edgec_dwconv_fast_s8(const edgec_dwconv_fast_s8_t *p, const int8_t *input, int8_t *output)
{
    const int32_t channels = p->out.c, ntaps = p->kh * p->kw;
    const ptrdiff_t row = (ptrdiff_t)p->in.w * p->in.c;
    const int8_t *taps[EDGEC_DW_MAX_TAPS];
    int32_t b, oy, ox;
#if EDGEC_DSP_ASM
    const int32_t blocks = ntaps <= EDGEC_DW_MAX_TAPS && full_range(p->act_min, p->act_max) ? channels / 4 : 0;
    const int window3 = p->kh == 3 && p->kw == 3 && p->dil_h == 1 && p->dil_w == 1 && blocks > 0;
    /* the output columns whose windows lie inside the image's columns: [first, last) */
    const int32_t first = (p->pad_left + p->stride_w - 1) / p->stride_w;
    const int32_t last0 = p->in.w + p->pad_left >= 3 ? (p->in.w + p->pad_left - 3) / p->stride_w + 1 : 0;
    const int32_t last = window3 ? (last0 < p->out.w ? last0 : p->out.w) : 0;
#elif EDGEC_SCALAR
    const int32_t blocks = ntaps <= EDGEC_DW_MAX_TAPS ? channels / 4 : 0;
#else
    const int32_t blocks = 0;
#endif
    if (ntaps > EDGEC_DW_MAX_TAPS) {
        return; /* the compiler gives this kernel at most EDGEC_DW_MAX_TAPS taps */
    }
    for (b = 0; b < p->out.n; ++b) {
        const int8_t *image = input + (size_t)b * p->in.h * row;
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            int8_t *const out_row = output + ((size_t)b * p->out.h + oy) * p->out.w * channels;
            for (ox = 0; ox < p->out.w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                int8_t *out = out_row + (size_t)ox * channels;
#if EDGEC_DSP_ASM
                if (window3 && ox == first && first < last && y0 >= 0 && y0 + 3 <= p->in.h) {
                    dw3x3_args_t a; /* the row's inside pixels in one call */
                    a.top = image + y0 * row + (ptrdiff_t)x0 * p->in.c;
                    a.channel_bytes = p->in.c;
                    a.row_bytes = (int32_t)row;
                    a.pixel_step = p->stride_w * p->in.c;
                    a.blocks_bytes = 4 * blocks;
                    a.out_step = channels;
                    a.pixels = last - first;
                    a.stream = p->stream;
                    a.out = out;
                    edgec_dw3x3_dsp(&a);
                    if (4 * blocks < channels) {
                        for (; ox < last; ++ox) {
                            dw_pixel_taps(p, image, y0, ox * p->stride_w - p->pad_left, taps);
                            dw_channels_c(p, taps, 4 * blocks, channels, out_row + (size_t)ox * channels);
                        }
                    } else {
                        ox = last;
                    }
                    --ox;
                    continue;
                }
#endif
                dw_pixel_taps(p, image, y0, x0, taps);
#if EDGEC_DSP_ASM
                if (blocks > 0) {
                    dw_taps_args_t a;
                    a.taps = taps;
                    a.pairs_end = taps + (ntaps & ~1);
                    a.single = ntaps & 1;
                    a.channels = 4 * blocks;
                    a.stream = p->stream;
                    a.out = out;
                    if (ntaps == 9) {
                        edgec_dw_taps9_dsp(&a);
                    } else {
                        edgec_dw_taps_dsp(&a);
                    }
                }
#elif EDGEC_SCALAR
                dw_blocks_scalar(p, taps, ntaps, blocks, out);
#endif
                dw_channels_c(p, taps, 4 * blocks, channels, out);
            }
        }
    }
}
