/*
 * edgec int8 kernels on entropy-coded weights (entropy_int.c; --weight-storage smallest),
 * bit-exact with the dense ones. The weight matrix [n][k] (a fully connected layer's
 * [out][in], a convolution's [out_c][kh][kw][in_c], a depthwise layer's [c][kh][kw]) is
 * one canonical Huffman code per layer over its int8 values: codes sorted by length, then
 * by value, at most EDGEC_HUFFMAN_MAX_BITS long; the stream holds rows 0..n-1 in order,
 * most significant bit first, without padding between rows, then 4 zero bytes (so that
 * the decoder's refill stays inside the array).
 *
 * Each call decodes the stream once, chunk_rows rows at a time, into the scratch memory
 * (after the decoder's lookup table, EDGEC_HUFFMAN_LOOKUP_BYTES: chunk_rows * k bytes, then
 * a convolution's im2col row of k bytes), and runs every input row or output pixel through
 * that chunk before decoding the next.
 *
 * The FC and groups-1 convolution kernels take the folded bias of the compact kernels
 * (edgec_kernels_compact.h); the depthwise kernel the plain bias (taps in the padding are
 * skipped, as in TFLite Micro's loops).
 */
#ifndef EDGEC_KERNELS_ENTROPY_H
#define EDGEC_KERNELS_ENTROPY_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EDGEC_HUFFMAN_MAX_BITS 16
/* The coded values: the weights (NONE), or each weight minus a guess wrapped to int8 (the
 * residual): ROW the weight above (row o - 1, same column; 0 in row 0), AVERAGE
 * floor((w[o][j - 1] + w[o][j - period]) / 2) within the row (0 before the row's start).
 * ROW keeps the previous chunk's last row in the scratch after the chunk (k bytes). */
#define EDGEC_PREDICT_NONE 0
#define EDGEC_PREDICT_ROW 1
#define EDGEC_PREDICT_AVERAGE 2
/* the decoder's lookup table of the codes up to 9 bits, at the start of the scratch */
#define EDGEC_HUFFMAN_LOOKUP_BITS 9
#define EDGEC_HUFFMAN_LOOKUP_BYTES (2u << EDGEC_HUFFMAN_LOOKUP_BITS)

typedef struct {
    const uint8_t *stream;   /* the codes, then 4 zero bytes */
    const uint16_t *counts;  /* [EDGEC_HUFFMAN_MAX_BITS + 1]: codes of each length (0 unused) */
    const int8_t *symbols;   /* the values in canonical order */
    int32_t chunk_rows;      /* rows decoded into the scratch at a time */
    int32_t predictor;       /* what was coded: EDGEC_PREDICT_* */
    int32_t period;          /* EDGEC_PREDICT_AVERAGE: the column of the second neighbour back */
} edgec_huffman_t;

/* As edgec_compact_out_t, with the shifts (at most 31 either way) as a byte each. */
typedef struct {
    int32_t rows, k, n; /* rows: a fully connected layer's batch (0 for a convolution) */
    int32_t output_zero_point;
    int32_t act_min, act_max;
    const int32_t *bias; /* folded as in the compact kernels; depthwise: the plain bias */
    const int32_t *out_mult;
    const int8_t *out_shift;
} edgec_huffman_out_t;

typedef struct {
    edgec_huffman_out_t out;
    edgec_huffman_t code;
} edgec_huffman_s8_t;

/* A convolution (groups 1) or a depthwise layer (depth_multiplier >= 1) on coded weights. */
typedef struct {
    edgec_compact_conv_t conv;
    int32_t depth_multiplier; /* depthwise; 0 for a groups-1 convolution */
    edgec_huffman_s8_t weights;
} edgec_conv_huffman_s8_t;

/* scratch (each): EDGEC_HUFFMAN_LOOKUP_BYTES (2-byte aligned), then as below */
/* chunk_rows * k bytes (then k for EDGEC_PREDICT_ROW) */
void edgec_fc_huffman_s8(const edgec_huffman_s8_t *p, const int8_t *input, int8_t *output, int8_t *scratch);
/* chunk_rows * k bytes (then k for EDGEC_PREDICT_ROW), then (unless 1x1 without padding) one
 * im2col row of k bytes */
void edgec_conv_huffman_s8(const edgec_conv_huffman_s8_t *p, const int8_t *input, int8_t *output, int8_t *scratch);
void edgec_conv_1x1_huffman_s8(const edgec_conv_huffman_s8_t *p, const int8_t *input, int8_t *output,
                               int8_t *scratch);
/* chunk_rows * kh * kw bytes (then kh * kw for EDGEC_PREDICT_ROW) */
void edgec_dwconv_huffman_s8(const edgec_conv_huffman_s8_t *p, const int8_t *input, int8_t *output,
                             int8_t *scratch);

#ifdef __cplusplus
}
#endif

#endif /* EDGEC_KERNELS_ENTROPY_H */
