/*
 * edgec int8 kernels on compactly stored weights (compact_int.c), bit-exact with the dense
 * ones. The storage is a lossless encoding of the int8 weight matrix [n][k] the graph holds
 * (a fully connected layer's [out][in], a convolution's [out_c][kh][kw][in_c]); the compiler
 * picks it per layer, only where it takes fewer flash bytes than the dense matrix.
 *
 * - Sparse: per output channel, its non-zeros in column order, each with the step from the
 *   previous one's column (the first from column 0) as a uint8. A step over 255 columns is
 *   split by fillers: entries of value 0 and step 255, so the inner loop has no branch.
 * - Clustered: every weight is a 4-bit index into a table of at most 16 int8 values (one
 *   table for the layer, or one per output channel); each row starts on a byte, and each
 *   group of four weights w0..w3 takes two bytes, (w0, w2) and (w1, w3), low nibble first;
 *   the last k % 4 indices follow in plain order. Scratch memory, where given, holds the
 *   one-table layers' table expanded to the 256 code bytes (EDGEC_CLUSTER_PAIRS_BYTES).
 *
 * As in fast_int.c, bias[o] already holds input_offset * sum_k w[o][k] (folded at compile
 * time), so the products take the raw int8 inputs; the requantization is edgec_fp_mbqm,
 * as in the portable kernels.
 */
#ifndef EDGEC_KERNELS_COMPACT_H
#define EDGEC_KERNELS_COMPACT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The requantization shared by both formats; bias folded as above, never NULL. */
typedef struct {
    int32_t rows, k, n; /* rows: a fully connected layer's batch (0 for a convolution) */
    int32_t output_zero_point;
    int32_t act_min, act_max;
    const int32_t *bias;
    const int32_t *out_mult, *out_shift;
} edgec_compact_out_t;

typedef struct {
    edgec_compact_out_t out;
    const uint16_t *row_entries; /* [n]: entries (non-zeros and fillers) of each row */
    const uint8_t *steps;        /* [entries] */
    const int8_t *values;        /* [entries] */
} edgec_sparse_s8_t;

typedef struct {
    edgec_compact_out_t out;
    const uint8_t *codes; /* [n][(k + 1) / 2] */
    const int8_t *table;  /* [K] for the layer, or [n][table_stride] */
    int32_t table_size;   /* K */
    int32_t table_stride; /* 0: one table for the layer; else K, one per channel */
} edgec_clustered_s8_t;

#define EDGEC_CLUSTER_PAIRS_BYTES 1024
/* A convolution's two im2col rows, rounded up to a word (the expanded table follows). */
#define EDGEC_CLUSTER_IM2COL_BYTES(k) ((((size_t)(k) * 2u) + 3u) & ~(size_t)3u)

/* Convolution geometry (NHWC, groups 1) around a compact matrix; k = kh * kw * in_c. The
 * scratch holds two im2col rows (2 * k bytes; for a clustered layer rounded up to 4, then
 * the expanded table where it has one); a 1x1 convolution without padding reads its rows
 * in place (a clustered one takes the expanded table as scratch, or none: _lean). */
typedef struct {
    edgec_dims_t in, out;
    int32_t kh, kw, stride_h, stride_w, dil_h, dil_w;
    int32_t pad_top, pad_left;
    int32_t input_zero_point;
} edgec_compact_conv_t;

typedef struct {
    edgec_compact_conv_t conv;
    edgec_sparse_s8_t weights;
} edgec_conv_sparse_s8_t;

typedef struct {
    edgec_compact_conv_t conv;
    edgec_clustered_s8_t weights;
} edgec_conv_clustered_s8_t;

void edgec_fc_sparse_s8(const edgec_sparse_s8_t *p, const int8_t *input, int8_t *output);
void edgec_fc_clustered_s8(const edgec_clustered_s8_t *p, const int8_t *input, int8_t *output, int8_t *scratch);
void edgec_fc_clustered_lean_s8(const edgec_clustered_s8_t *p, const int8_t *input, int8_t *output);
void edgec_conv_sparse_s8(const edgec_conv_sparse_s8_t *p, const int8_t *input, int8_t *output, int8_t *scratch);
void edgec_conv_1x1_sparse_s8(const edgec_conv_sparse_s8_t *p, const int8_t *input, int8_t *output);
void edgec_conv_clustered_s8(const edgec_conv_clustered_s8_t *p, const int8_t *input, int8_t *output,
                             int8_t *scratch);
void edgec_conv_1x1_clustered_s8(const edgec_conv_clustered_s8_t *p, const int8_t *input, int8_t *output,
                                 int8_t *scratch);
void edgec_conv_1x1_clustered_lean_s8(const edgec_conv_clustered_s8_t *p, const int8_t *input, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* EDGEC_KERNELS_COMPACT_H */
