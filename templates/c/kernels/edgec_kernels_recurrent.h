/*
 * Recurrent kernels (LSTM, GRU): one call runs a whole sequence, every direction, every
 * batch entry. Included by edgec_kernels.h.
 *
 * Layouts are ONNX's: layout 0 X [T][B][I], Y [T][D][B][H], states [D][B][H]; layout 1
 * X [B][T][I], Y [B][T][D][H], states [B][D][H]. Weights per direction, rows in ONNX's gate
 * order (LSTM i, o, f, c; GRU z, r, h). The running state (h, then the LSTM's c) lives in
 * `state` (the state layout above): in a stateful build it persists across calls and only
 * the *_reset functions set it from the initial values; otherwise every call starts from
 * them. `work` is the kernels' scratch (see each kernel). Absent outputs and initial states
 * are NULL (a zero initial state).
 */
#ifndef EDGEC_KERNELS_RECURRENT_H
#define EDGEC_KERNELS_RECURRENT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Sizes and options shared by every recurrent kernel. */
typedef struct {
    int32_t steps, batch, inputs, hidden, directions;
    int32_t layout;   /* 0 or 1, as above */
    int32_t reverse;  /* one direction, walking the sequence from its end */
    int32_t stateful; /* the state persists across calls */
} edgec_rnn_dims_t;

/* ---- float ------------------------------------------------------------------------------ */

/* out[o] = bias[o] + sum_k row[k] * weights[o][k] for o < n. */
typedef struct {
    int32_t k, n;
    const float *weights; /* [n][k] (edgec_matrix_f32), blocks of 8 rows (edgec_matrix_fast_f32) */
    const float *bias;    /* [n] or NULL */
} edgec_matrix_f32_t;
typedef void (*edgec_matrix_f32_fn)(const edgec_matrix_f32_t *m, const float *row, float *out);
void edgec_matrix_f32(const edgec_matrix_f32_t *m, const float *row, float *out);
/* The same over weights packed as the fast float kernels' (edgec_kernels_f32_fast.h), with
 * their matrix blocks (fast_f32_gemm.c). */
void edgec_matrix_fast_f32(const edgec_matrix_f32_t *m, const float *row, float *out);

/* Per direction: input_fc = W with the biases that add outside the gates' products (LSTM:
 * Wb + Rb; GRU: Wb + Rb of z and r, and of h unless linear_before_reset), recurrent_fc = R
 * (GRU, linear_before_reset 1: with Rb_h on the h rows; 0: the z and r rows only), and
 * candidate_fc = R_h (GRU, linear_before_reset 0). clip > 0 clamps every pre-activation. */
typedef struct {
    edgec_rnn_dims_t dims;
    float clip;
    int32_t linear_before_reset;
    const float *peephole; /* LSTM [D][3H] (i, o, f), or NULL */
    edgec_matrix_f32_t input_fc[2], recurrent_fc[2], candidate_fc[2];
    edgec_matrix_f32_fn product;
} edgec_rnn_f32_t;

/* work: 2 * gates * H + 2 * H floats. */
void edgec_lstm_f32(const edgec_rnn_f32_t *p, const float *x, const float *h0, const float *c0,
                    float *y, float *y_h, float *y_c, void *state, void *work);
void edgec_gru_f32(const edgec_rnn_f32_t *p, const float *x, const float *h0, float *y, float *y_h,
                   void *state, void *work);
/* The state set to the initial values (stateful builds: model_reset). */
void edgec_lstm_reset_f32(const edgec_rnn_f32_t *p, const float *h0, const float *c0, void *state);
void edgec_gru_reset_f32(const edgec_rnn_f32_t *p, const float *h0, void *state);

#ifdef __cplusplus
}
#endif

#endif /* EDGEC_KERNELS_RECURRENT_H */
