/*
 * A fully connected layer on one row with clustered weights (one table of at most 16 int8
 * values for the layer, 4-bit codes), four output channels at a time: the one-row
 * counterpart of fast_gemm.c's quad stream (edgec_fc1_fast_s8). Bit-exact with it and with
 * the portable kernel: the same int32 sums, requantized by edgec_fp_requant2 of the doubled sum.
 *
 * The row is widened once into int16 pairs (x[8g + j], x[8g + j + 4]), j < 4, per group g of
 * eight inputs; the table is expanded once into scratch as pairs[b] = (table[b & 15],
 * table[b >> 4]), so a code byte holding the codes of w[8g + j] (low nibble) and
 * w[8g + j + 4] (high nibble) is one load from the table and one SMLAD. The stream
 * (emit_lut.py) holds per four channels their folded biases (not doubled); per group the
 * four channels' code bytes j = 0..3 in turn (one post-incremented byte load each, the four
 * widened pairs staying in registers); then the four multipliers and two shift words
 * (r1[0] | r1[1] << 8 | K << 16, r1[2] | r1[3] << 8 | K << 16), as the quad stream. On the
 * DSP extension that is 50 instructions per 32 products in assembly.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fast_common.h"

/* pairs[b] = (table[b & 15], table[b >> 4]): the first sixteen, then each row of sixteen as
 * the first plus its high half's difference (the low halves are the same in every row). */
#if !EDGEC_DSP_ASM
static void lut1_expand(const int8_t *table, int32_t *pairs)
{
    int32_t b, h;
    for (b = 0; b < 16; ++b) {
        pairs[b] = pack16(table[b], table[0]);
    }
    for (h = 1; h < 16; ++h) {
        const uint32_t delta = (uint32_t)(table[h] - table[0]) << 16;
        const int32_t *src = pairs;
        int32_t *dst = pairs + 16 * h;
        for (b = 0; b < 16; b += 4) {
            dst[b] = (int32_t)((uint32_t)src[b] + delta);
            dst[b + 1] = (int32_t)((uint32_t)src[b + 1] + delta);
            dst[b + 2] = (int32_t)((uint32_t)src[b + 2] + delta);
            dst[b + 3] = (int32_t)((uint32_t)src[b + 3] + delta);
        }
    }
}
#endif

#if EDGEC_DSP_ASM
/* The same in assembly: the first row by PKHBT, each other one as eight-word LDM, eight
 * ADDs, STM, twice (about 440 instructions, against the compiler's 900). */
void edgec_lut1_expand(const int8_t *table, int32_t *pairs);
#define LUT1_ROW0(r) "ldrsb " r ", [r3], #1\n" "pkhbt " r ", " r ", r12, lsl #16\n"
#define LUT1_ADD8                                                                                 \
    "add r4, r4, r0\n" "add r5, r5, r0\n" "add r6, r6, r0\n" "add r7, r7, r0\n" \
    "add r8, r8, r0\n" "add r9, r9, r0\n" "add r10, r10, r0\n" "add r11, r11, r0\n"
/* r0: the row's difference; r1: the next row; r2: the first row; r3: the table; r12: table[0] */
__asm__(".pushsection .text.edgec_lut1_expand,\"ax\",%progbits\n"
        ".syntax unified\n"
        ".thumb\n"
        ".p2align 2\n"
        ".global edgec_lut1_expand\n"
        ".type edgec_lut1_expand, %function\n"
        ".thumb_func\n"
        "edgec_lut1_expand:\n"
        "push {r4-r11, lr}\n"
        "ldrsb r12, [r0]\n"
        "mov r2, r1\n"
        "mov r3, r0\n"
        "movs lr, #2\n"
        "0:\n" LUT1_ROW0("r4") LUT1_ROW0("r5") LUT1_ROW0("r6") LUT1_ROW0("r7") LUT1_ROW0("r8") LUT1_ROW0("r9")
            LUT1_ROW0("r10") LUT1_ROW0("r11") "stmia r1!, {r4-r11}\n"
        "subs lr, lr, #1\n"
        "bne 0b\n"
        "add r3, r0, #1\n"
        "add lr, r0, #16\n"
        "1:\n"
        "ldrsb r0, [r3], #1\n"
        "sub r0, r0, r12\n"
        "lsl r0, r0, #16\n"
        "ldmia r2!, {r4-r11}\n" LUT1_ADD8 "stmia r1!, {r4-r11}\n"
        "ldmia r2!, {r4-r11}\n" LUT1_ADD8 "stmia r1!, {r4-r11}\n"
        "sub r2, r2, #64\n"
        "cmp r3, lr\n"
        "bne 1b\n"
        "pop {r4-r11, pc}\n"
        ".size edgec_lut1_expand, .-edgec_lut1_expand\n"
        ".popsection\n");
#define lut1_expand edgec_lut1_expand
#endif

/* The row's k inputs as (x[8g + j], x[8g + j + 4]) at wide[4g + j]; inputs past k read 0. */
static void lut1_widen(const int8_t *x, int32_t k, int32_t *wide)
{
    const int32_t full = k / 8;
    int32_t g, j;
    for (g = 0; g < full; ++g, x += 8, wide += 4) {
        const int32_t a = load4(x), b = load4(x + 4);
        const uint32_t ae = (uint32_t)SXTB16(a), ao = (uint32_t)SXTB16_ROR8(a);
        const uint32_t be = (uint32_t)SXTB16(b), bo = (uint32_t)SXTB16_ROR8(b);
        wide[0] = (int32_t)((ae & 0xFFFFu) | (be << 16));
        wide[1] = (int32_t)((ao & 0xFFFFu) | (bo << 16));
        wide[2] = (int32_t)((ae >> 16) | (be & 0xFFFF0000u));
        wide[3] = (int32_t)((ao >> 16) | (bo & 0xFFFF0000u));
    }
    if (8 * full < k) { /* the last, partial group */
        const int32_t left = k - 8 * full;
        for (j = 0; j < 4; ++j) {
            wide[j] = pack16(j < left ? x[j] : 0, j + 4 < left ? x[j + 4] : 0);
        }
    }
}

/* The plain-C form (host builds, clamps inside int8). */
FAST_COLD static void lut1_quads_c(const edgec_gemm_w4_s8_t *g, const int32_t *wide, const int32_t *pairs, int8_t *out)
{
    const int32_t groups = (g->k + 7) / 8;
    const int32_t *s = g->stream;
    int32_t oc, i, j, c;
    for (oc = 0; oc < g->n; oc += 4, out += 4) {
        const uint8_t *code = (const uint8_t *)(const void *)(s + 4);
        int32_t acc[4];
        for (c = 0; c < 4; ++c) {
            acc[c] = s[c];
        }
        for (i = 0; i < groups; ++i) {
            for (c = 0; c < 4; ++c, code += 4) {
                for (j = 0; j < 4; ++j) {
                    acc[c] = SMLAD(wide[4 * i + j], pairs[code[j]], acc[c]);
                }
            }
        }
        s += 4 + 4 * groups;
        for (c = 0; c < 4; ++c) {
            out[c] = requant2_out(2 * acc[c], s[c], s[4 + c / 2], c % 2, g->act_min, g->act_max);
        }
        s += 6;
    }
}

#if EDGEC_DSP_ASM
typedef struct {
    const int32_t *wide, *wide_end; /* the widened row */
    int32_t skip;                   /* (4 - groups % 4) % 4: groups the first loop turn skips */
    const int32_t *stream_end;
    const int32_t *stream;
    int8_t *out;
    const int32_t *pairs;
} lut1_args_t;
void edgec_lut1_dsp(const lut1_args_t *a);

/* A channel's next two code bytes against the widened pairs x0, x1: two table loads, two
 * SMLADs into acc. */
#define LUT1_TWO(acc, x0, x1)                  \
    "ldrb.w r8, [r10], #1\n"                   \
    "ldrb.w r9, [r10], #1\n"                   \
    "ldr.w r8, [r12, r8, lsl #2]\n"            \
    "ldr.w r9, [r12, r9, lsl #2]\n"            \
    "smlad " acc ", " x0 ", r8, " acc "\n"     \
    "smlad " acc ", " x1 ", r9, " acc "\n"
#define LUT1_CHANNEL(acc) LUT1_TWO(acc, "r4", "r5") LUT1_TWO(acc, "r6", "r7")
/* One group of eight k: its four widened pairs (r4..r7) against the four channels' code
 * bytes (four each): 50 instructions (200 bytes), 32 products into r0..r3. */
#define LUT1_GROUP                          \
    "ldrd r4, r5, [r11], #8\n"              \
    "ldrd r6, r7, [r11], #8\n"              \
    LUT1_CHANNEL("r0") LUT1_CHANNEL("r1") LUT1_CHANNEL("r2") LUT1_CHANNEL("r3")
/* r0..r3: the sums; r10: the stream; r11: the widened row; lr: its end; r12: the expanded
 * table; the stack: wide, wide_end, the loop's entry, stream_end, out. The groups loop is
 * unrolled four times and entered where groups % 4 remain. */
__asm__(".pushsection .text.edgec_lut1_dsp,\"ax\",%progbits\n"
        ".syntax unified\n"
        ".thumb\n"
        ".p2align 2\n"
        ".global edgec_lut1_dsp\n"
        ".type edgec_lut1_dsp, %function\n"
        ".thumb_func\n"
        "edgec_lut1_dsp:\n"
        "push {r4-r11, lr}\n"
        "ldm r0, {r1-r7}\n"
        "mov r12, r7\n"
        QUAD_ENTRY_ASM(".Llut1_loop", ".Llut1_second")
        ".Llut1_loop:\n" LUT1_GROUP ".Llut1_second:\n" LUT1_GROUP LUT1_GROUP LUT1_GROUP "cmp r11, lr\n"
        "bne .Llut1_loop\n"
        ".if (.Llut1_second - .Llut1_loop) != 200\n"
        ".error \"LUT1_GROUP must be 200 bytes\"\n"
        ".endif\n"
        QUAD_TAIL_ASM("lr")
        "add sp, #20\n"
        "pop {r4-r11, pc}\n"
        ".size edgec_lut1_dsp, .-edgec_lut1_dsp\n"
        ".popsection\n");
#endif

/* scratch: the widened row (EDGEC_LUT1_WIDE_BYTES(k)), then the expanded table (1024 bytes). */
void edgec_fc1_lut_fast_s8(const edgec_gemm_w4_s8_t *p, const int8_t *input, int8_t *output, int8_t *scratch)
{
    const int32_t groups = (p->k + 7) / 8;
    int32_t *const wide = (int32_t *)(void *)scratch;
    int32_t *const pairs = wide + 4 * groups;
    int32_t r;
    lut1_expand(p->table, pairs);
    for (r = 0; r < p->rows; ++r) {
        int8_t *out = output + (size_t)r * p->n;
        lut1_widen(input + (size_t)r * p->k, p->k, wide);
#if EDGEC_DSP_ASM
        if (full_range(p->act_min, p->act_max) && groups > 0 && p->n > 0) {
            lut1_args_t a;
            a.wide = wide;
            a.wide_end = wide + 4 * groups;
            a.skip = (4 - groups % 4) % 4;
            a.stream = p->stream;
            a.stream_end = p->stream + (size_t)(p->n / 4) * (size_t)(4 * groups + 10);
            a.out = out;
            a.pairs = pairs;
            edgec_lut1_dsp(&a);
            continue;
        }
#endif
        lut1_quads_c(p, wide, pairs, out);
    }
}
