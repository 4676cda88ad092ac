/*
 * Optimized float32 matrix kernels: convolution as a matrix product (1x1 convolutions read
 * their rows in place, the others through a two-pixel im2col scratch) and fully connected
 * layers, over weights packed in blocks of 8 output channels (edgec_kernels_f32_fast.h);
 * the last out_c % 8 channels run in plain C.
 *
 * The inner kernel takes two rows against one block: 16 accumulators. On a single-precision
 * FPU (EDGEC_F32_VFP) it is assembly holding everything in the 32 S registers: per four k,
 * two VLDMs bring four inputs of each row, four VLDMs the block's weights, and 64 VFMAs do
 * the work (72 instructions for 64 multiply-adds). With Helium (assembly too) two k are one
 * LDRD per row, four vector loads and eight vector FMAs by the rows' scalars.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fast_f32_common.h"

static const float zero_bias[8];

#if EDGEC_F32_VFP
/* Eight weights (one k) against one input of each row: s16-s23 += s8-s15 * x0, s24-s31 += * x1. */
#define F32_STEP2(x0, x1)                                                                     \
    "vldmia %[w]!, {s8-s15}\n"                                                                \
    "vfma.f32 s16, s8, " x0 "\n vfma.f32 s17, s9, " x0 "\n vfma.f32 s18, s10, " x0 "\n"       \
    "vfma.f32 s19, s11, " x0 "\n vfma.f32 s20, s12, " x0 "\n vfma.f32 s21, s13, " x0 "\n"     \
    "vfma.f32 s22, s14, " x0 "\n vfma.f32 s23, s15, " x0 "\n"                                 \
    "vfma.f32 s24, s8, " x1 "\n vfma.f32 s25, s9, " x1 "\n vfma.f32 s26, s10, " x1 "\n"       \
    "vfma.f32 s27, s11, " x1 "\n vfma.f32 s28, s12, " x1 "\n vfma.f32 s29, s13, " x1 "\n"     \
    "vfma.f32 s30, s14, " x1 "\n vfma.f32 s31, s15, " x1 "\n"
#define F32_STEP1(x0)                                                                         \
    "vldmia %[w]!, {s8-s15}\n"                                                                \
    "vfma.f32 s16, s8, " x0 "\n vfma.f32 s17, s9, " x0 "\n vfma.f32 s18, s10, " x0 "\n"       \
    "vfma.f32 s19, s11, " x0 "\n vfma.f32 s20, s12, " x0 "\n vfma.f32 s21, s13, " x0 "\n"     \
    "vfma.f32 s22, s14, " x0 "\n vfma.f32 s23, s15, " x0 "\n"
#define F32_CLOBBERS                                                                          \
    "cc", "memory", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", \
        "s12", "s13", "s14", "s15", "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23",   \
        "s24", "s25", "s26", "s27", "s28", "s29", "s30", "s31"
#endif

/* Rows a0 and a1 (k inputs each) against the block's packed weights w plus bias b (8):
 * o0[0..7] and o1[0..7]. a1 may equal a0 (one row: the same sums stored twice). */
static void block_2x8(const float *a0, const float *a1, const float *w, const float *b, int32_t k,
                      float *o0, float *o1)
{
#if EDGEC_F32_VFP
    int32_t quads = k >> 2, rest = k & 3;
    __asm__ volatile(
        "vldmia %[b], {s16-s23}\n"
        "vldmia %[b], {s24-s31}\n"
        "cmp %[quads], #0\n"
        "beq 2f\n"
        "1:\n"
        "vldmia %[a0]!, {s0-s3}\n"
        "vldmia %[a1]!, {s4-s7}\n" F32_STEP2("s0", "s4") F32_STEP2("s1", "s5")
            F32_STEP2("s2", "s6") F32_STEP2("s3", "s7")
        "subs %[quads], %[quads], #1\n"
        "bne 1b\n"
        "2:\n"
        "cmp %[rest], #0\n"
        "beq 4f\n"
        "3:\n"
        "vldmia %[a0]!, {s0}\n"
        "vldmia %[a1]!, {s4}\n" F32_STEP2("s0", "s4")
        "subs %[rest], %[rest], #1\n"
        "bne 3b\n"
        "4:\n"
        "vstmia %[o0], {s16-s23}\n"
        "vstmia %[o1], {s24-s31}\n"
        : [a0] "+r"(a0), [a1] "+r"(a1), [w] "+r"(w), [quads] "+r"(quads), [rest] "+r"(rest)
        : [b] "r"(b), [o0] "r"(o0), [o1] "r"(o1)
        : F32_CLOBBERS);
#elif EDGEC_F32_MVE
    /* Two k per pass: LDRD brings both inputs of a row into core registers, the scalar
     * operand of VFMA (q0, q1: row 0; q4, q5: row 1; 16 instructions for 32 products). */
    int32_t pairs = k >> 1, x0, y0, x1, y1;
    __asm__ volatile(
        "vldrw.u32 q0, [%[b]]\n"
        "vldrw.u32 q1, [%[b], #16]\n"
        "vmov q4, q0\n"
        "vmov q5, q1\n"
        "cmp %[pairs], #0\n"
        "beq 2f\n"
        "1:\n"
        "ldrd %[x0], %[y0], [%[a0]], #8\n"
        "ldrd %[x1], %[y1], [%[a1]], #8\n"
        "vldrw.u32 q2, [%[w]], #16\n"
        "vldrw.u32 q3, [%[w]], #16\n"
        "vfma.f32 q0, q2, %[x0]\n vfma.f32 q1, q3, %[x0]\n"
        "vfma.f32 q4, q2, %[x1]\n vfma.f32 q5, q3, %[x1]\n"
        "vldrw.u32 q2, [%[w]], #16\n"
        "vldrw.u32 q3, [%[w]], #16\n"
        "vfma.f32 q0, q2, %[y0]\n vfma.f32 q1, q3, %[y0]\n"
        "vfma.f32 q4, q2, %[y1]\n vfma.f32 q5, q3, %[y1]\n"
        "subs %[pairs], %[pairs], #1\n"
        "bne 1b\n"
        "2:\n"
        "tst %[k], #1\n" /* an odd k: one more */
        "beq 3f\n"
        "ldr %[x0], [%[a0]]\n"
        "ldr %[x1], [%[a1]]\n"
        "vldrw.u32 q2, [%[w]]\n"
        "vldrw.u32 q3, [%[w], #16]\n"
        "vfma.f32 q0, q2, %[x0]\n vfma.f32 q1, q3, %[x0]\n"
        "vfma.f32 q4, q2, %[x1]\n vfma.f32 q5, q3, %[x1]\n"
        "3:\n"
        "vstrw.32 q4, [%[o1]]\n"
        "vstrw.32 q5, [%[o1], #16]\n"
        "vstrw.32 q0, [%[o0]]\n"
        "vstrw.32 q1, [%[o0], #16]\n"
        : [a0] "+r"(a0), [a1] "+r"(a1), [w] "+r"(w), [pairs] "+r"(pairs), [x0] "=&r"(x0),
          [y0] "=&r"(y0), [x1] "=&r"(x1), [y1] "=&r"(y1)
        : [b] "r"(b), [k] "r"(k), [o0] "r"(o0), [o1] "r"(o1)
        : "cc", "memory", "d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9", "d10",
          "d11");
#else
    float s0[8], s1[8];
    int32_t i, j;
    for (j = 0; j < 8; ++j) {
        s0[j] = b[j];
        s1[j] = b[j];
    }
    for (i = 0; i < k; ++i, w += 8) {
        for (j = 0; j < 8; ++j) {
            s0[j] += a0[i] * w[j];
            s1[j] += a1[i] * w[j];
        }
    }
    memcpy(o1, s1, sizeof s1);
    memcpy(o0, s0, sizeof s0);
#endif
}

/* One row against one block (batch-1 fully connected layers). */
static void block_1x8(const float *a0, const float *w, const float *b, int32_t k, float *o0)
{
#if EDGEC_F32_VFP
    int32_t quads = k >> 2, rest = k & 3;
    __asm__ volatile(
        "vldmia %[b], {s16-s23}\n"
        "cmp %[quads], #0\n"
        "beq 2f\n"
        "1:\n"
        "vldmia %[a0]!, {s0-s3}\n" F32_STEP1("s0") F32_STEP1("s1") F32_STEP1("s2") F32_STEP1("s3")
        "subs %[quads], %[quads], #1\n"
        "bne 1b\n"
        "2:\n"
        "cmp %[rest], #0\n"
        "beq 4f\n"
        "3:\n"
        "vldmia %[a0]!, {s0}\n" F32_STEP1("s0")
        "subs %[rest], %[rest], #1\n"
        "bne 3b\n"
        "4:\n"
        "vstmia %[o0], {s16-s23}\n"
        : [a0] "+r"(a0), [w] "+r"(w), [quads] "+r"(quads), [rest] "+r"(rest)
        : [b] "r"(b), [o0] "r"(o0)
        : F32_CLOBBERS);
#elif EDGEC_F32_MVE
    float32x4_t c0 = vld1q_f32(b), c1 = vld1q_f32(b + 4);
    float32x4_t d0 = vdupq_n_f32(0.0f), d1 = d0; /* odd k: two chains, fewer stalls */
    int32_t i;
    for (i = 0; i + 2 <= k; i += 2, w += 16) {
        c0 = vfmaq_n_f32(c0, vld1q_f32(w), a0[i]);
        c1 = vfmaq_n_f32(c1, vld1q_f32(w + 4), a0[i]);
        d0 = vfmaq_n_f32(d0, vld1q_f32(w + 8), a0[i + 1]);
        d1 = vfmaq_n_f32(d1, vld1q_f32(w + 12), a0[i + 1]);
    }
    if (i < k) {
        c0 = vfmaq_n_f32(c0, vld1q_f32(w), a0[i]);
        c1 = vfmaq_n_f32(c1, vld1q_f32(w + 4), a0[i]);
    }
    vst1q_f32(o0, vaddq_f32(c0, d0));
    vst1q_f32(o0 + 4, vaddq_f32(c1, d1));
#else
    block_2x8(a0, a0, w, b, k, o0, o0);
#endif
}

/* The last out_c % 8 channels (weights [k][n], unpadded) of rows a0 and a1, in plain C. */
static void tail_rows(const float *a0, const float *a1, const float *w, const float *b,
                      int32_t k, int32_t n, float *o0, float *o1)
{
    float s0[8], s1[8];
    int32_t i, j;
    for (j = 0; j < n; ++j) {
        s0[j] = s1[j] = b ? b[j] : 0.0f;
    }
    for (i = 0; i < k; ++i, w += n) {
        for (j = 0; j < n; ++j) {
            s0[j] += a0[i] * w[j];
            s1[j] += a1[i] * w[j];
        }
    }
    memcpy(o1, s1, (size_t)n * sizeof(float));
    memcpy(o0, s0, (size_t)n * sizeof(float));
}

/* All output channels of rows a0 and a1 (a1 == a0: one row) into o0 and o1. */
static void gemm_rows(const edgec_gemm_f32_t *g, const float *a0, const float *a1, float *o0,
                      float *o1)
{
    const int32_t k = g->k, full = g->out_c >> 3;
    const float *w = g->weights;
    int32_t blk;
    for (blk = 0; blk < full; ++blk, w += 8 * k) {
        const float *b = g->bias ? g->bias + 8 * blk : zero_bias;
        if (a1 == a0) {
            block_1x8(a0, w, b, k, o0 + 8 * blk);
        } else {
            block_2x8(a0, a1, w, b, k, o0 + 8 * blk, o1 + 8 * blk);
        }
    }
    if (g->out_c & 7) {
        const int32_t at = 8 * full;
        tail_rows(a0, a1, w, g->bias ? g->bias + at : NULL, k, g->out_c & 7, o0 + at, o1 + at);
    }
    clamp_f32(o0, g->out_c, g->act, g->act_min, g->act_max);
    if (a1 != a0) {
        clamp_f32(o1, g->out_c, g->act, g->act_min, g->act_max);
    }
}

/* Address of output pixel `pix`'s input row when it is read in place (1x1, no pads). */
static const float *pointwise_row(const edgec_conv_fast_f32_t *p, const float *input, int32_t pix)
{
    const int32_t per_image = p->out.h * p->out.w;
    const int32_t b = pix / per_image, rest = pix - b * per_image;
    const int32_t oy = rest / p->out.w, ox = rest - oy * p->out.w;
    return input +
           (((size_t)b * p->in.h + (size_t)oy * p->stride_h) * p->in.w + (size_t)ox * p->stride_w) *
               p->in.c;
}

/* The receptive field of output pixel `pix` as one row of k floats (zeros where padded). */
static void im2col_row(const edgec_conv_fast_f32_t *p, const float *input, int32_t pix, float *row)
{
    const int32_t per_image = p->out.h * p->out.w, c = p->in.c;
    const int32_t b = pix / per_image, rest = pix - b * per_image;
    const int32_t oy = rest / p->out.w, ox = rest - oy * p->out.w;
    const int32_t y0 = oy * p->stride_h - p->pad_top, x0 = ox * p->stride_w - p->pad_left;
    const float *image = input + (size_t)b * p->in.h * p->in.w * c;
    const int32_t inside = p->dil_w == 1 && x0 >= 0 && x0 + p->kw <= p->in.w;
    int32_t ky, kx;
    for (ky = 0; ky < p->kh; ++ky) {
        const int32_t iy = y0 + ky * p->dil_h;
        if (iy < 0 || iy >= p->in.h) {
            memset(row, 0, (size_t)p->kw * c * sizeof(float));
            row += p->kw * c;
            continue;
        }
        if (inside) { /* the window's row is contiguous in NHWC */
            memcpy(row, image + ((size_t)iy * p->in.w + x0) * c, (size_t)p->kw * c * sizeof(float));
            row += p->kw * c;
            continue;
        }
        for (kx = 0; kx < p->kw; ++kx, row += c) {
            const int32_t ix = x0 + kx * p->dil_w;
            if (ix < 0 || ix >= p->in.w) {
                memset(row, 0, (size_t)c * sizeof(float));
            } else {
                memcpy(row, image + ((size_t)iy * p->in.w + ix) * c, (size_t)c * sizeof(float));
            }
        }
    }
}

/* Output pixel pix's row: read in place (no scratch: 1x1 without pads) or gathered. */
static const float *conv_row(const edgec_conv_fast_f32_t *p, const float *input, int32_t pix,
                             float *scratch)
{
    if (scratch == NULL) {
        return pointwise_row(p, input, pix);
    }
    im2col_row(p, input, pix, scratch);
    return scratch;
}

#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void conv_gemm(const edgec_conv_fast_f32_t *p, const float *input, float *output,
                      void *scratch)
{
    const int32_t pixels = p->out.n * p->out.h * p->out.w, n = p->out.c, k = p->gemm.k;
    float *const rows = (float *)scratch; /* two rows of k floats, or NULL */
    int32_t pix;
    for (pix = 0; pix < pixels; pix += 2) {
        float *o0 = output + (size_t)pix * n;
        const float *a0 = conv_row(p, input, pix, rows);
        const float *a1 = pix + 1 < pixels ? conv_row(p, input, pix + 1, rows ? rows + k : NULL) : a0;
        gemm_rows(&p->gemm, a0, a1, o0, a1 == a0 ? o0 : o0 + n);
    }
}

void edgec_conv_fast_f32(const edgec_conv_fast_f32_t *p, const float *input, float *output,
                         void *scratch)
{
    conv_gemm(p, input, output, scratch);
}

void edgec_conv_1x1_fast_f32(const edgec_conv_fast_f32_t *p, const float *input, float *output)
{
    conv_gemm(p, input, output, NULL);
}

/* ---- the product of two activations (edgec_kernels_attention.h) -------------------------- */

/* b[k][n] as the GEMM's packed weights: [n / 8][k][8], then [k][n % 8]. */
static void pack_operand(const float *b, int32_t k, int32_t n, float *w)
{
    const int32_t full = n >> 3, rest = n & 7;
    int32_t blk, i;
    for (blk = 0; blk < full; ++blk) {
        for (i = 0; i < k; ++i, w += 8) {
            memcpy(w, b + (size_t)i * n + 8 * blk, 8 * sizeof(float));
        }
    }
    for (i = 0; rest > 0 && i < k; ++i, w += rest) {
        memcpy(w, b + (size_t)i * n + 8 * full, (size_t)rest * sizeof(float));
    }
}

/* scratch: k * n floats, each batch's right operand packed. */
void edgec_matmul_fast_f32(const edgec_matmul_f32_t *p, const float *a, const float *b, float *output,
                           void *scratch)
{
    const edgec_gemm_f32_t g = {p->k, p->n, EDGEC_ACT_NONE, 0.0f, 0.0f, (const float *)scratch, NULL};
    const int32_t m = p->m, k = p->k, n = p->n;
    int32_t i0, i1, i2, r;
    for (i0 = 0; i0 < p->batch[0]; ++i0) {
        for (i1 = 0; i1 < p->batch[1]; ++i1) {
            for (i2 = 0; i2 < p->batch[2]; ++i2, output += (size_t)m * n) {
                const float *x = a + (size_t)i0 * p->a_stride[0] + (size_t)i1 * p->a_stride[1] +
                                 (size_t)i2 * p->a_stride[2];
                pack_operand(b + (size_t)i0 * p->b_stride[0] + (size_t)i1 * p->b_stride[1] +
                                 (size_t)i2 * p->b_stride[2],
                             k, n, (float *)scratch);
                for (r = 0; r < m; r += 2) {
                    const float *a0 = x + (size_t)r * k;
                    const float *a1 = r + 1 < m ? a0 + k : a0;
                    float *o0 = output + (size_t)r * n;
                    gemm_rows(&g, a0, a1, o0, a1 == a0 ? o0 : o0 + n);
                }
            }
        }
    }
}

/* One row against a packed matrix (the gate products of recurrent_f32.c): the blocks of
 * gemm_rows, without a clamp. */
void edgec_matrix_fast_f32(const edgec_matrix_f32_t *m, const float *row, float *out)
{
    edgec_gemm_f32_t g;
    g.k = m->k;
    g.out_c = m->n;
    g.act = EDGEC_ACT_NONE;
    g.act_min = 0.0f;
    g.act_max = 0.0f;
    g.weights = m->weights;
    g.bias = m->bias;
    gemm_rows(&g, row, row, out, out);
}
