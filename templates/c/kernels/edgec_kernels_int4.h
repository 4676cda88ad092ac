/*
 * edgec integer kernels with 4-bit weights (--weight-bits 4), bit-exact with the integer
 * reference: the weights are the same integers as an int8 layer's (symmetric, in [-8, 7]),
 * two to a byte in flash, so every sum is the one the int8 kernels make.
 *
 * Portable kernels (int4_int.c): the parameter structs of edgec_kernels_int.h with their
 * `weights` NULL, and `packed`: the weights in the same order ([out_c][kh][kw][in_c /
 * groups], depthwise [kh][kw][out_c], fully connected [out][in]) as nibbles, the first in
 * the low nibble of each byte (ONNX's INT4 packing).
 *
 * Optimized kernels (fast_int4_gemm.c, fast_int4.c, fast_int4_stream.c; DSP assembly on
 * Cortex-M4/M7/M33, Helium on the M55, the same arithmetic in C elsewhere): a matrix product
 * out[r][o] = requant(sum_k in[r][k] * w[o][k] + bias[o]) with bias folded as in
 * edgec_gemm_s8_t. Each weight row is padded with zeros to a multiple of 8 and stored as
 * 32-bit words of 8 nibbles in natural order. A
 * masked shift, (word << (12 - 4j)) & 0xF000F000, gives the pair (w[j], w[j + 4]) as the two
 * halves of a word, each 4096 times the weight: one instruction per SMLAD operand. Sums of
 * 4096-scaled products wrap, but sums over at most 256 k stay within 2^31 / 4096 in
 * magnitude, so each such chunk is shifted back (>> 12) exactly and added up.
 */
#ifndef EDGEC_KERNELS_INT4_H
#define EDGEC_KERNELS_INT4_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- portable ------------------------------------------------------------------------- */
typedef struct {
    edgec_conv_s8_t conv; /* weights NULL */
    const uint8_t *packed;
} edgec_conv_w4_s8_t;
void edgec_conv_w4_s8(const edgec_conv_w4_s8_t *p, const int8_t *input, int8_t *output);

typedef struct {
    edgec_conv_s16_t conv;
    const uint8_t *packed;
} edgec_conv_w4_s16_t;
void edgec_conv_w4_s16(const edgec_conv_w4_s16_t *p, const int16_t *input, int16_t *output);

typedef struct {
    edgec_dwconv_s8_t conv;
    const uint8_t *packed;
} edgec_dwconv_w4_s8_t;
void edgec_dwconv_w4_s8(const edgec_dwconv_w4_s8_t *p, const int8_t *input, int8_t *output);

typedef struct {
    edgec_dwconv_s16_t conv;
    const uint8_t *packed;
} edgec_dwconv_w4_s16_t;
void edgec_dwconv_w4_s16(const edgec_dwconv_w4_s16_t *p, const int16_t *input, int16_t *output);

typedef struct {
    edgec_fc_s8_t fc;
    const uint8_t *packed;
} edgec_fc_w4_s8_t;
void edgec_fc_w4_s8(const edgec_fc_w4_s8_t *p, const int8_t *input, int8_t *output);

typedef struct {
    edgec_fc_s16_t fc;
    const uint8_t *packed;
} edgec_fc_w4_s16_t;
void edgec_fc_w4_s16(const edgec_fc_w4_s16_t *p, const int16_t *input, int16_t *output);

/* ---- optimized (int8 activations) ----------------------------------------------------- */
/* A matrix product (fast_int4_gemm.c): per output channel o its record of (k + 7) / 8 + 3
 * words: the weight row, zero-padded to a multiple of 8, as words of 8 nibbles (value i in
 * bits 4i..4i+3); 2 * (bias + input_offset * sum_k w[o][k]); the multiplier; r1 | K << 16
 * (r1 = -shift - 1, K = 2 * output zero point + 1: edgec_fp_requant2, fast_gemm.c). */
typedef struct {
    int32_t rows, k, n; /* rows: a fully connected layer's batch (a convolution's: its pixels) */
    int32_t act_min, act_max;
    const int32_t *stream;
    /* NULL, or clustered weights: the layer's table of 16 int8 values, and in each weight
     * word bytes of two codes (byte j: w[j] low nibble, w[j + 4] high) instead of nibbles */
    const int8_t *table;
} edgec_gemm_w4_s8_t;

/* Scratch: four rows widened to int16 pairs, EDGEC_W4_WIDE_BYTES(k), word-aligned; then for
 * a clustered layer its expanded table, 1024 bytes. */
#define EDGEC_W4_WIDE_BYTES(k) ((size_t)64u * (((size_t)(k) + 7u) / 8u))
void edgec_fc_w4_fast_s8(const edgec_gemm_w4_s8_t *p, const int8_t *input, int8_t *output, int8_t *scratch);
/* The same with clustered weights (table not NULL). */
void edgec_fc_lut_fast_s8(const edgec_gemm_w4_s8_t *p, const int8_t *input, int8_t *output, int8_t *scratch);
/* A clustered fully connected layer whose rows go one at a time, four channels per pass
 * (fast_lut_fc1.c; n a multiple of 4): its own stream (see there), `table` as above.
 * Scratch: one widened row, EDGEC_LUT1_WIDE_BYTES(k), then the expanded table (1024 bytes). */
#define EDGEC_LUT1_WIDE_BYTES(k) ((size_t)16u * (((size_t)(k) + 7u) / 8u))
void edgec_fc1_lut_fast_s8(const edgec_gemm_w4_s8_t *p, const int8_t *input, int8_t *output, int8_t *scratch);

/* Convolution (groups 1) as that product over the output pixels, k = kh * kw * in_c.
 * Scratch: the widened rows (and expanded table), then (unless kh = kw = 1 without padding)
 * one im2col row of k bytes. */
typedef struct {
    edgec_compact_conv_t conv; /* the geometry (edgec_kernels_compact.h) */
    edgec_gemm_w4_s8_t gemm;
} edgec_conv_w4_fast_s8_t;
void edgec_conv_w4_fast_s8(const edgec_conv_w4_fast_s8_t *p, const int8_t *input, int8_t *output, int8_t *scratch);
void edgec_conv_lut_fast_s8(const edgec_conv_w4_fast_s8_t *p, const int8_t *input, int8_t *output, int8_t *scratch);

/* Depthwise, depth multiplier 1: edgec_dwconv_fast_s8_t's fields, with the weights as words
 * [(out.c + 7) / 8][kh * kw]: tap t of channels 8b..8b+7, whose nibbles 0..7 hold channels
 * 0, 1, 4, 5, 2, 3, 6, 7 of the block (so that (word << 12) & 0xF000F000 is the pair of
 * channels (0, 2), << 8 (1, 3), << 4 (4, 6), << 0 (5, 7): the pairs SXTB16 splits four
 * inputs into). */
typedef struct {
    edgec_dwconv_s8_t conv; /* weights, out_mult, out_shift NULL; bias folded */
    const int8_t *padding;
    /* [c][3]: as edgec_gemm_s8_t's table, or for a channel whose scale is too large for it
     * (1/4 or more), (multiplier, max(shift, 0), -1 - max(-shift, 0)) */
    const int32_t *requant;
    int32_t plain_rows;
    const uint32_t *packed;
} edgec_dwconv_w4_fast_s8_t;
void edgec_dwconv_w4_fast_s8(const edgec_dwconv_w4_fast_s8_t *p, const int8_t *input, int8_t *output);
/* The same layer with its weights decoded into scratch first (int16 pairs: faster). */
#define EDGEC_W4_DW_SCRATCH_BYTES(taps, c) ((size_t)(taps) * ((size_t)(c) / 4u * 8u))
void edgec_dwconv_w4_wide_s8(const edgec_dwconv_w4_fast_s8_t *p, const int8_t *input, int8_t *output,
                             int8_t *scratch);

/* ---- the int8 kernels' streams decoded into scratch (fast_int4_stream.c) ---------------- */
/* Depthwise, depth multiplier 1: per block of four channels ten constant words (the int8
 * stream's four doubled biases, four multipliers, two shift words) and 2 * kh * kw bytes, one
 * per weight word of the stream (low nibble: the word's low half / 2, high nibble: high / 2). */
typedef struct {
    edgec_dwconv_fast_s8_t conv; /* stream NULL: decoded into scratch */
    const uint8_t *nibbles;
    const int32_t *constants;
} edgec_dwconv_w4_stream_s8_t;
#define EDGEC_W4_DW_STREAM_BYTES(taps, c) ((size_t)4u * (10u + 2u * (size_t)(taps)) * (((size_t)(c) + 3u) / 4u))
void edgec_dwconv_w4_stream_s8(const edgec_dwconv_w4_stream_s8_t *p, const int8_t *input, int8_t *output,
                               int8_t *scratch);

#ifdef __cplusplus
}
#endif

#endif /* EDGEC_KERNELS_INT4_H */
