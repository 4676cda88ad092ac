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

#include <stddef.h>
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

/* Element offsets, for the kernels: of (direction d, batch b) in a state-shaped tensor, of
 * (time t, batch b) in X, of (t, d, b) in Y; the time index of step i in direction d. */
static inline size_t edgec_rnn_state_at(const edgec_rnn_dims_t *s, int32_t d, int32_t b)
{
    return ((size_t)(s->layout ? b * s->directions + d : d * s->batch + b)) * (size_t)s->hidden;
}

static inline size_t edgec_rnn_x_at(const edgec_rnn_dims_t *s, int32_t t, int32_t b)
{
    return ((size_t)(s->layout ? b * s->steps + t : t * s->batch + b)) * (size_t)s->inputs;
}

static inline size_t edgec_rnn_y_at(const edgec_rnn_dims_t *s, int32_t t, int32_t d, int32_t b)
{
    const int32_t T = s->steps, D = s->directions, B = s->batch;
    return ((size_t)(s->layout ? (b * T + t) * D + d : (t * D + d) * B + b)) * (size_t)s->hidden;
}

static inline int32_t edgec_rnn_time(const edgec_rnn_dims_t *s, int32_t d, int32_t i)
{
    return (s->reverse || d == 1) ? s->steps - 1 - i : i;
}

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

/* ---- integer: TFLite's integer LSTM (int8, or 16x8) and a GRU of the same blocks -------
 * Gate pre-activations are int16 Q3.12: each product (input and recurrent) requantized by
 * its row's multiplier into int16 and the two added with saturation; sigmoid and tanh are
 * TFLite's int16 table kernels (the table in 1 / (3 * 4096) units: a Q3.12 value times 3),
 * Q0.15 out. See edgec/ops/integer/recurrent.py. */

/* out[o] = bias[o] + sum_k w[o][k] * (row[k] - input_zero_point), int32 (int8 rows). */
typedef struct {
    int32_t k, n, input_zero_point;
    const int8_t *weights; /* [n][k] (edgec_matrix_s8), pairs of rows (edgec_matrix_fast_s8) */
    const int32_t *bias;   /* int8 rows; the fast kernel: the input offset folded in */
    const int64_t *bias64; /* int16 rows (16x8), input zero point 0 */
} edgec_matrix_int_t;
typedef void (*edgec_matrix_s8_fn)(const edgec_matrix_int_t *m, const int8_t *row, int32_t *out);
void edgec_matrix_s8(const edgec_matrix_int_t *m, const int8_t *row, int32_t *out);
/* The same with the DSP/Helium matrix kernels (fast_matrix.c): weights in its
 * pair layout, input_zero_point 0 (the offset folded into the bias). */
void edgec_matrix_fast_s8(const edgec_matrix_int_t *m, const int8_t *row, int32_t *out);

/* TFLite Mul's requantization of an int32 product: MultiplyByQuantizedMultiplier; with
 * `fast` (a scale below 1/4, every one of the zoo's) the same by edgec_fp_mbqm_right's
 * (multiplier, round_hi, shift_hi). */
typedef struct {
    int32_t multiplier, shift;
    int32_t fast, round_hi, shift_hi;
} edgec_rescale_t;

/* What the integer LSTM and GRU share. Per direction the input product (W, with bias_x)
 * and the recurrent one (R, with bias_h; the GRU's z and r rows, all three under
 * linear_before_reset); per row of W and R their requantization into Q3.12. */
typedef struct {
    edgec_rnn_dims_t dims;
    int32_t hidden_zero_point;
    int32_t clip; /* the pre-activations' clamp in Q3.12, 0: none */
    edgec_matrix_int_t input_fc[2], recurrent_fc[2];
    edgec_matrix_s8_fn product; /* int8 rows; 16x8 runs its own loops */
    const int32_t *input_mult, *input_shift;         /* [G*H], or NULL with the table: */
    const int32_t *recurrent_mult, *recurrent_shift; /* [G*H] */
    /* the same as edgec_fp_mbqm_right's rows (multiplier, round_hi, shift_hi) [G*H][3],
     * where every row's scale is below 1/4 (int8), else NULL */
    const int32_t *input_rq, *recurrent_rq;
    const uint16_t *table; /* TFLite's sigmoid table (257 entries) */
} edgec_rnn_int_t;

typedef struct {
    edgec_rnn_int_t rnn;
    edgec_rescale_t forget_cell;   /* f * c -> c */
    edgec_rescale_t input_cell;    /* i * g -> c */
    edgec_rescale_t output_hidden; /* tanh(c) * o -> h (plus the zero point) */
    /* the cell state (its power-of-two scale) into the table's units: edgec_fp_table_input */
    int32_t cell_tanh_mult, cell_tanh_shift;
} edgec_lstm_int_t;

typedef struct {
    edgec_rnn_int_t rnn;
    int32_t linear_before_reset;
    edgec_matrix_int_t candidate_fc[2]; /* R_h on r * h (linear_before_reset 0) */
    edgec_rescale_t reset;              /* r * (R_h h) -> Q3.12, or r * (h - zp) -> h */
    edgec_rescale_t update;             /* z * (h - zp) -> h */
    edgec_rescale_t candidate;          /* (1 - z) * n -> h */
} edgec_gru_int_t;

/* state: h ([D][B][H] of the activation type), then the LSTM's c ([D][B][H] int16).
 * work: (8 + 4 * wide) * G * H + 2 * H bytes (wide: 16x8), plus the input product's k (int8
 * with the fast products: X's row padded to a multiple of 4). */
void edgec_lstm_s8(const edgec_lstm_int_t *p, const int8_t *x, const int8_t *h0,
                   const int16_t *c0, int8_t *y, int8_t *y_h, int16_t *y_c, void *state,
                   void *work);
void edgec_lstm_s16(const edgec_lstm_int_t *p, const int16_t *x, const int16_t *h0,
                    const int16_t *c0, int16_t *y, int16_t *y_h, int16_t *y_c, void *state,
                    void *work);
void edgec_gru_s8(const edgec_gru_int_t *p, const int8_t *x, const int8_t *h0, int8_t *y,
                  int8_t *y_h, void *state, void *work);
void edgec_gru_s16(const edgec_gru_int_t *p, const int16_t *x, const int16_t *h0, int16_t *y,
                   int16_t *y_h, void *state, void *work);
void edgec_lstm_reset_s8(const edgec_lstm_int_t *p, const int8_t *h0, const int16_t *c0,
                         void *state);
void edgec_lstm_reset_s16(const edgec_lstm_int_t *p, const int16_t *h0, const int16_t *c0,
                          void *state);
void edgec_gru_reset_s8(const edgec_gru_int_t *p, const int8_t *h0, void *state);
void edgec_gru_reset_s16(const edgec_gru_int_t *p, const int16_t *h0, void *state);

#ifdef __cplusplus
}
#endif

#endif /* EDGEC_KERNELS_RECURRENT_H */
