/*
 * Optimized int8 matrix kernels for Helium cores (Cortex-M55/M85; plain C elsewhere):
 * convolution as a matrix product (1x1 convolutions read their rows in place, others through
 * a two-pixel im2col scratch) and fully connected layers; see mve_common.h.
 *
 * out[p][o] = requant(sum_k x[p][k] * w[o][k] + bias[o]), bias[o] holding the layer's bias
 * plus input_offset * sum_k w[o][k] (folded at compile time); padded taps of the im2col rows
 * hold the input zero point, whose product with the folded offset cancels.
 *
 * The stream (emit_mve.py), per four output channels (n rounded up to 4 with zero rows):
 * their four biases; per group of 16 k (k rounded up to 16 with zeros) each channel's 16
 * weights; their four multipliers; their four shifts, negated (-r, int32).
 *
 * Per group of 16 k, one 16-byte load of each row and of each channel's weights and one
 * VMLADAVA per row and channel: 128 products in 16 instructions for two rows (in assembly:
 * eight sums need the eight even registers), 64 in 11 for one; then a row's four channels
 * requantized in one vector and stored with one narrowing store. The n % 4 last channels
 * take plain C.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fast_im2col.h"
#include "mve_common.h"

#define QUAD_WORDS(k16) (12 + (k16))

/* Channels [from, n) of rows r0 and r1 (r1 NULL: one row) in C, over the stream. */
static void quads_c(const edgec_gemm_mve_s8_t *g, int32_t from, const int8_t *r0, const int8_t *r1, int8_t *o0,
                    int8_t *o1)
{
    const int32_t k = g->k, k16 = (g->k + 15) & ~15;
    int32_t oc, i;
    for (oc = from; oc < g->n; ++oc) {
        const int32_t *q = g->stream + (size_t)(oc / 4) * QUAD_WORDS(k16);
        const int32_t j = oc % 4, m = q[4 + k16 + j], r1s = -q[8 + k16 + j] - 1;
        const int8_t *w = (const int8_t *)(q + 4) + 16 * j;
        int32_t a = q[j], b = q[j];
        for (i = 0; i < k; ++i) {
            const int32_t wi = w[(i / 16) * 64 + i % 16];
            a += r0[i] * wi;
            b += r1 != NULL ? r1[i] * wi : 0;
        }
        o0[oc] = mve_out(a, m, r1s, g->zero_point, g->act_min, g->act_max);
        if (r1 != NULL) {
            o1[oc] = mve_out(b, m, r1s, g->zero_point, g->act_min, g->act_max);
        }
    }
}

#if EDGEC_HELIUM
typedef struct {
    const int8_t *x0, *x1; /* the rows (x1 unused by the one-row routine) */
    int32_t groups;        /* full groups of 16 k */
    int32_t tail;          /* k % 16 */
    int32_t quads;         /* n / 4 */
    int8_t *out0, *out1;
    int32_t zero_point;
    const int32_t *stream;
    int32_t lo, hi;
} quads_args_t;
void edgec_quads2_mve(const quads_args_t *a);
void edgec_quads1_mve(const quads_args_t *a);

/* A channel's 16 weights against the rows' vectors q0 (and q1): sums in a (and b). */
#define QUAD_W2(a, b)                  \
    "vldrb.u8 q2, [r5], #16\n"         \
    "vmladava.s8 " a ", q0, q2\n"      \
    "vmladava.s8 " b ", q1, q2\n"
#define QUAD_W1(a)                     \
    "vldrb.u8 q2, [r5], #16\n"         \
    "vmladava.s8 " a ", q0, q2\n"
/* The four sums in a, b, c, d (ascending registers) requantized (multipliers q4, shifts q5,
 * clamp q6, q7, zero point r9) and stored at the output pointer in the stack slot `slot`
 * (through r0); they reach a vector through the stack's first 16 bytes. */
#define QUAD_OUT(a, b, c, d, slot)                \
    "stm sp, {" a ", " b ", " c ", " d "}\n"     \
    "vldrw.u32 q3, [sp]\n"                       \
    "vqrdmulh.s32 q3, q3, q4\n"                   \
    "vshr.s32 q2, q3, #31\n"                      \
    "vadd.i32 q3, q3, q2\n"                       \
    "vrshl.s32 q3, q3, q5\n"                      \
    "vadd.i32 q3, q3, r9\n"                       \
    "vmax.s32 q3, q3, q6\n"                       \
    "vmin.s32 q3, q3, q7\n"                       \
    "ldr r0, [sp, #" slot "]\n"                   \
    "vstrb.32 q3, [r0], #4\n"                     \
    "str r0, [sp, #" slot "]\n"
/* The routine's prologue: the arguments on the stack ([16] x0, [20] x1, [24] groups, [28] tail,
 * [32] quads, [36] out0, [40] out1, [44] zero point; [0, 16) for the sums), the stream in r5,
 * the clamp in q6/q7. */
#define QUAD_PROLOGUE(name)                                   \
    ".pushsection .text." name ",\"ax\",%progbits\n"          \
    ".syntax unified\n"                                       \
    ".thumb\n"                                                \
    ".p2align 2\n"                                            \
    ".global " name "\n"                                      \
    ".type " name ", %function\n"                             \
    ".thumb_func\n" name ":\n"                                \
    "push {r4-r11, lr}\n"                                     \
    "vpush {d8-d15}\n"                                        \
    "sub sp, #48\n"                                           \
    "ldm r0, {r1-r8}\n"                                       \
    "add r9, sp, #16\n"                                       \
    "stm r9, {r1-r8}\n"                                       \
    "ldr r5, [r0, #32]\n"                                     \
    "ldr r1, [r0, #36]\n"                                     \
    "vdup.32 q6, r1\n"                                        \
    "ldr r1, [r0, #40]\n"                                     \
    "vdup.32 q7, r1\n"
#define QUAD_EPILOGUE(name)                                   \
    "add sp, #48\n"                                           \
    "vpop {d8-d15}\n"                                         \
    "pop {r4-r11, pc}\n"                                      \
    ".size " name ", .-" name "\n"                            \
    ".popsection\n"

/* Two rows: sums r0, r2, r4, r6 (row 0) and r8, r10, r12, lr (row 1); r1, r3: the rows;
 * r5: the stream; r7: the groups left. */
__asm__(QUAD_PROLOGUE("edgec_quads2_mve") "1:\n"
        "ldm r5!, {r0, r2, r4, r6}\n"
        "mov r8, r0\n"
        "mov r10, r2\n"
        "mov r12, r4\n"
        "mov lr, r6\n"
        "ldrd r1, r3, [sp, #16]\n"
        "ldr r7, [sp, #24]\n"
        "cbz r7, 3f\n"
        "2:\n"
        "vldrb.u8 q0, [r1], #16\n"
        "vldrb.u8 q1, [r3], #16\n" QUAD_W2("r0", "r8") QUAD_W2("r2", "r10") QUAD_W2("r4", "r12")
            QUAD_W2("r6", "lr") "subs r7, #1\n"
        "bne 2b\n"
        "3:\n"
        "ldr r9, [sp, #28]\n"
        "cmp r9, #0\n"
        "beq 4f\n"
        "vctp.8 r9\n"
        "vpstt\n"
        "vldrbt.u8 q0, [r1]\n"
        "vldrbt.u8 q1, [r3]\n" QUAD_W2("r0", "r8") QUAD_W2("r2", "r10") QUAD_W2("r4", "r12") QUAD_W2("r6", "lr")
        "4:\n"
        "vldrw.u32 q4, [r5], #16\n"
        "vldrw.u32 q5, [r5], #16\n"
        "ldr r9, [sp, #44]\n" QUAD_OUT("r0", "r2", "r4", "r6", "36") QUAD_OUT("r8", "r10", "r12", "lr", "40")
        "ldr r9, [sp, #32]\n"
        "subs r9, #1\n"
        "str r9, [sp, #32]\n"
        "bne 1b\n" QUAD_EPILOGUE("edgec_quads2_mve"));

/* One row: sums r0, r2, r4, r6. */
__asm__(QUAD_PROLOGUE("edgec_quads1_mve") "1:\n"
        "ldm r5!, {r0, r2, r4, r6}\n"
        "ldr r1, [sp, #16]\n"
        "ldr r7, [sp, #24]\n"
        "cbz r7, 3f\n"
        "2:\n"
        "vldrb.u8 q0, [r1], #16\n" QUAD_W1("r0") QUAD_W1("r2") QUAD_W1("r4") QUAD_W1("r6") "subs r7, #1\n"
        "bne 2b\n"
        "3:\n"
        "ldr r9, [sp, #28]\n"
        "cmp r9, #0\n"
        "beq 4f\n"
        "vctp.8 r9\n"
        "vpst\n"
        "vldrbt.u8 q0, [r1]\n" QUAD_W1("r0") QUAD_W1("r2") QUAD_W1("r4") QUAD_W1("r6") "4:\n"
        "vldrw.u32 q4, [r5], #16\n"
        "vldrw.u32 q5, [r5], #16\n"
        "ldr r9, [sp, #44]\n" QUAD_OUT("r0", "r2", "r4", "r6", "36") "ldr r9, [sp, #32]\n"
        "subs r9, #1\n"
        "str r9, [sp, #32]\n"
        "bne 1b\n" QUAD_EPILOGUE("edgec_quads1_mve"));
#endif

static void gemm_rows_mve(const edgec_gemm_mve_s8_t *g, const int8_t *r0, const int8_t *r1, int8_t *o0, int8_t *o1)
{
    int32_t from = 0;
#if EDGEC_HELIUM
    if (g->n >= 4) {
        quads_args_t a;
        a.x0 = r0;
        a.x1 = r1;
        a.groups = g->k / 16;
        a.tail = g->k % 16;
        a.quads = g->n / 4;
        a.out0 = o0;
        a.out1 = o1;
        a.zero_point = g->zero_point;
        a.stream = g->stream;
        a.lo = g->act_min;
        a.hi = g->act_max;
        if (r1 != NULL) {
            edgec_quads2_mve(&a);
        } else {
            edgec_quads1_mve(&a);
        }
        from = 4 * (g->n / 4);
    }
#endif
    if (from < g->n) {
        quads_c(g, from, r0, r1, o0, o1);
    }
}

void edgec_fc_mve_s8(const edgec_gemm_mve_s8_t *p, const int8_t *input, int8_t *output)
{
    int32_t r;
    for (r = 0; r + 2 <= p->rows; r += 2) {
        const int8_t *r0 = input + (size_t)r * p->k;
        gemm_rows_mve(p, r0, r0 + p->k, output + (size_t)r * p->n, output + (size_t)(r + 1) * p->n);
    }
    if (r < p->rows) {
        gemm_rows_mve(p, input + (size_t)r * p->k, NULL, output + (size_t)r * p->n, NULL);
    }
}

/* Two pixels at a time, each pair's rows read (into `rows`, or in place for a 1x1
 * convolution: rows NULL) while its outputs are written, in pixel order (the order overlap.py
 * models for a layer planned over its input). */
static void conv_pixels_mve(const edgec_conv_mve_s8_t *p, const int8_t *input, int8_t *output, int8_t *rows)
{
    const edgec_im2col_t window = IM2COL_OF(p);
    const int32_t pixels = p->out.n * p->out.h * p->out.w;
    const int32_t n = p->gemm.n, k = p->gemm.k;
    int32_t px;
    for (px = 0; px < pixels; px += 2) {
        const int32_t two = px + 1 < pixels;
        const int8_t *r0 = conv_row(&window, input, px, rows, k);
        const int8_t *r1 = two ? conv_row(&window, input, px + 1, rows != NULL ? rows + k : NULL, k) : NULL;
        gemm_rows_mve(&p->gemm, r0, r1, output + (size_t)px * n, two ? output + (size_t)(px + 1) * n : NULL);
    }
}

/* scratch: the two im2col rows (2 * k bytes). */
void edgec_conv_mve_s8(const edgec_conv_mve_s8_t *p, const int8_t *input, int8_t *output, int8_t *scratch)
{
    conv_pixels_mve(p, input, output, scratch);
}

void edgec_conv_1x1_mve_s8(const edgec_conv_mve_s8_t *p, const int8_t *input, int8_t *output)
{
    conv_pixels_mve(p, input, output, NULL);
}
