/*
 * edgec integer LSTM and GRU: TFLite's integer LSTM (TFLM's lstm_eval, bit for bit) and a
 * GRU of the same blocks, for int8 activations or 16x8 (int16 activations, int64 biases).
 * The blocks, per step and batch entry: a gate product (p->product for int8 rows: plain
 * loops here, DSP/Helium in optimized builds) requantized per row into int16 Q3.12; a
 * saturating int16 add; TFLite's int16 sigmoid/tanh (sigmoid_int.c); TFLite Mul's
 * requantization of products of gates. edgec/ops/integer/recurrent.py is the reference.
 */
#include <string.h>

#include "edgec_fixedpoint.h"
#include "edgec_kernels.h"

void edgec_matrix_s8(const edgec_matrix_int_t *m, const int8_t *row, int32_t *out)
{
    int32_t o, i;
    for (o = 0; o < m->n; ++o) {
        const int8_t *w = m->weights + (size_t)o * m->k;
        int32_t acc = m->bias != NULL ? m->bias[o] : 0;
        for (i = 0; i < m->k; ++i) {
            acc += (int32_t)w[i] * ((int32_t)row[i] - m->input_zero_point);
        }
        out[o] = acc;
    }
}

static int32_t clamp16(int32_t v)
{
    return edgec_fp_clamp(v, -32768, 32767);
}

/* The scratch: the products' sums (int32, or int64 in 16x8), then two int16 gate arrays
 * (the input product's, then the pre-activations), then one hidden-state row. */
typedef struct {
    void *sums;
    int16_t *gx, *gates;
    void *row;
    int8_t *input_row; /* X's row padded with zeros to the input product's k (fast kernels) */
} work_t;

static work_t split_work(void *work, int32_t gate_rows, int32_t hidden, int wide)
{
    work_t w;
    w.sums = work;
    w.gx = (int16_t *)(void *)((uint8_t *)work + (wide ? 8u : 4u) * (size_t)gate_rows);
    w.gates = w.gx + gate_rows;
    w.row = w.gates + gate_rows;
    w.input_row = (int8_t *)w.row + 2 * (size_t)hidden;
    return w;
}

/* The input row as the input product reads it: padded to its k when that is longer. */
static const void *input_row(const edgec_rnn_int_t *p, int32_t d, const void *x, const work_t *w)
{
    const int32_t k = p->input_fc[d].k, inputs = p->dims.inputs;
    if (k == inputs) {
        return x;
    }
    memcpy(w->input_row, x, (size_t)inputs);
    memset(w->input_row + inputs, 0, (size_t)(k - inputs));
    return w->input_row;
}

/* The requantization of a product's rows: per row (mult, shift), or the faster table of
 * edgec_fp_mbqm_right (rq, or NULL), from row `first` on. */
typedef struct {
    const int32_t *mult, *shift, *rq;
} requant_t;

static requant_t rows_from(const int32_t *mult, const int32_t *shift, const int32_t *rq, int32_t first)
{
    requant_t r;
    r.mult = mult != NULL ? mult + first : NULL;
    r.shift = shift != NULL ? shift + first : NULL;
    r.rq = rq != NULL ? rq + 3 * first : NULL;
    return r;
}

/* out[o] = clamp16(requant(product of row o)). wide: int16 rows, int64 sums (16x8). */
static void product(const edgec_rnn_int_t *p, const edgec_matrix_int_t *m, const void *row,
                    requant_t q, void *sums, int wide, int16_t *out)
{
    const int32_t *mult = q.mult, *shift = q.shift;
    int32_t o, i;
    if (!wide) {
        int32_t *acc = (int32_t *)sums;
        p->product(m, (const int8_t *)row, acc);
        if (q.rq != NULL) {
            const int32_t *rq = q.rq;
            for (o = 0; o < m->n; ++o, rq += 3) {
                out[o] = (int16_t)clamp16(edgec_fp_mbqm_right(acc[o], rq[0], rq[1], rq[2]));
            }
            return;
        }
        for (o = 0; o < m->n; ++o) {
            out[o] = (int16_t)clamp16(edgec_fp_mbqm(acc[o], mult[o], shift[o]));
        }
        return;
    }
    for (o = 0; o < m->n; ++o) {
        const int8_t *w = m->weights + (size_t)o * m->k;
        const int16_t *x = (const int16_t *)row;
        int64_t acc = m->bias64 != NULL ? m->bias64[o] : 0;
        for (i = 0; i < m->k; ++i) {
            acc += (int64_t)w[i] * x[i];
        }
        out[o] = (int16_t)clamp16(edgec_fp_mbqm64(acc, mult[o], shift[o]));
    }
}

static requant_t input_rows(const edgec_rnn_int_t *r, int32_t first)
{
    return rows_from(r->input_mult, r->input_shift, r->input_rq, first);
}

static requant_t recurrent_rows(const edgec_rnn_int_t *r, int32_t first)
{
    return rows_from(r->recurrent_mult, r->recurrent_shift, r->recurrent_rq, first);
}

static int32_t hidden_at(const void *h, int32_t j, int wide)
{
    return wide ? ((const int16_t *)h)[j] : ((const int8_t *)h)[j];
}

static void set_hidden(void *h, int32_t j, int32_t v, int wide)
{
    if (wide) {
        ((int16_t *)h)[j] = (int16_t)edgec_fp_clamp(v, -32768, 32767);
    } else {
        ((int8_t *)h)[j] = (int8_t)edgec_fp_clamp(v, -128, 127);
    }
}

static int32_t rescale(const edgec_rescale_t *r, int32_t product)
{
    if (r->fast) {
        return edgec_fp_mbqm_right(product, r->multiplier, r->round_hi, r->shift_hi);
    }
    return edgec_fp_mbqm(product, r->multiplier, r->shift);
}

/* A gate's pre-activation: sat16(input product + recurrent product), then the clip. */
static int32_t pre_activation(const edgec_rnn_int_t *p, int32_t from_input, int32_t from_recurrent)
{
    const int32_t v = clamp16(from_input + from_recurrent);
    return p->clip > 0 ? edgec_fp_clamp(v, -p->clip, p->clip) : v;
}

/* TFLite's int16 sigmoid and tanh of a Q3.12 pre-activation (3x: the table's units). */
static int32_t gate_sigmoid(const edgec_rnn_int_t *p, int32_t pre)
{
    return edgec_fp_sigmoid16(3 * pre, p->table);
}

static int32_t gate_tanh(const edgec_rnn_int_t *p, int32_t pre)
{
    return edgec_fp_tanh16(3 * pre, p->table);
}

/* The state from the initial values (NULL: h at the zero point, c at 0). */
static void reset_state(const edgec_rnn_int_t *p, const void *h0, const int16_t *c0, void *state,
                        int wide, int cell)
{
    const size_t n = (size_t)p->dims.directions * p->dims.batch * p->dims.hidden;
    const size_t elem = wide ? 2u : 1u;
    size_t j;
    if (h0 != NULL) {
        memcpy(state, h0, n * elem);
    } else {
        for (j = 0; j < n; ++j) {
            set_hidden(state, (int32_t)j, p->hidden_zero_point, wide);
        }
    }
    if (cell) {
        int16_t *c = (int16_t *)(void *)((uint8_t *)state + n * elem);
        if (c0 != NULL) {
            memcpy(c, c0, n * sizeof(int16_t));
        } else {
            memset(c, 0, n * sizeof(int16_t));
        }
    }
}

static void copy_out(const edgec_rnn_dims_t *s, void *dst, const void *src, size_t elem)
{
    if (dst != NULL) {
        memcpy(dst, src, (size_t)s->directions * s->batch * s->hidden * elem);
    }
}

/* One LSTM step of batch entry (d, b): h (the activation type) and c (int16) in place.
 * Gate rows i, o, f, c; TFLM's order of the Muls and saturating adds. */
static void lstm_step(const edgec_lstm_int_t *p, int32_t d, const void *x, void *h, int16_t *c,
                      const work_t *w, int wide)
{
    const edgec_rnn_int_t *r = &p->rnn;
    const int32_t H = r->dims.hidden;
    const int16_t *const gx = w->gx, *const gh = w->gates;
    int32_t j;
    product(r, &r->input_fc[d], input_row(r, d, x, w), input_rows(r, 0), w->sums, wide, w->gx);
    product(r, &r->recurrent_fc[d], h, recurrent_rows(r, 0), w->sums, wide, w->gates);
    for (j = 0; j < H; ++j) {
        const int32_t i = gate_sigmoid(r, pre_activation(r, gx[j], gh[j]));
        const int32_t o = gate_sigmoid(r, pre_activation(r, gx[H + j], gh[H + j]));
        const int32_t f = gate_sigmoid(r, pre_activation(r, gx[2 * H + j], gh[2 * H + j]));
        const int32_t g = gate_tanh(r, pre_activation(r, gx[3 * H + j], gh[3 * H + j]));
        const int32_t kept = clamp16(rescale(&p->forget_cell, f * c[j]));
        const int32_t cell = clamp16(kept + clamp16(rescale(&p->input_cell, i * g)));
        const int32_t tanh_c =
            edgec_fp_tanh16(edgec_fp_table_input(cell, p->cell_tanh_mult, p->cell_tanh_shift), r->table);
        c[j] = (int16_t)cell;
        set_hidden(h, j, rescale(&p->output_hidden, tanh_c * o) + r->hidden_zero_point, wide);
    }
}

static void lstm_run(const edgec_lstm_int_t *p, const void *x, const void *h0, const int16_t *c0,
                     void *y, void *y_h, int16_t *y_c, void *state, void *work, int wide)
{
    const edgec_rnn_dims_t *s = &p->rnn.dims;
    const size_t elem = wide ? 2u : 1u, n = (size_t)s->directions * s->batch * s->hidden;
    int16_t *const cs = (int16_t *)(void *)((uint8_t *)state + n * elem);
    const work_t w = split_work(work, 4 * s->hidden, s->hidden, wide);
    int32_t d, i, b;
    if (!s->stateful) {
        reset_state(&p->rnn, h0, c0, state, wide, 1);
    }
    for (d = 0; d < s->directions; ++d) {
        for (i = 0; i < s->steps; ++i) {
            const int32_t t = edgec_rnn_time(s, d, i);
            for (b = 0; b < s->batch; ++b) {
                const size_t at = edgec_rnn_state_at(s, d, b);
                void *h = (uint8_t *)state + at * elem;
                lstm_step(p, d, (const uint8_t *)x + edgec_rnn_x_at(s, t, b) * elem, h, cs + at, &w,
                          wide);
                if (y != NULL) {
                    memcpy((uint8_t *)y + edgec_rnn_y_at(s, t, d, b) * elem, h, (size_t)s->hidden * elem);
                }
            }
        }
    }
    copy_out(s, y_h, state, elem);
    copy_out(s, y_c, cs, sizeof(int16_t));
}

/* One GRU step of batch entry (d, b): h in place. Gate rows z, r, h. */
static void gru_step(const edgec_gru_int_t *p, int32_t d, const void *x, void *h, const work_t *w,
                     int wide)
{
    const edgec_rnn_int_t *r = &p->rnn;
    const int32_t H = r->dims.hidden, zp = r->hidden_zero_point;
    int16_t *const gx = w->gx, *const gates = w->gates; /* z, r, then the candidate's */
    int32_t j;
    product(r, &r->input_fc[d], input_row(r, d, x, w), input_rows(r, 0), w->sums, wide, gx);
    product(r, &r->recurrent_fc[d], h, recurrent_rows(r, 0), w->sums, wide,
            gates); /* z, r (and h under linear_before_reset) */
    for (j = 0; j < 2 * H; ++j) {
        gates[j] = (int16_t)gate_sigmoid(r, pre_activation(r, gx[j], gates[j]));
    }
    if (!p->linear_before_reset) { /* the recurrent product of r * (h - zp), requantized */
        for (j = 0; j < H; ++j) {
            set_hidden(w->row, j, rescale(&p->reset, gates[H + j] * (hidden_at(h, j, wide) - zp)) + zp, wide);
        }
        product(r, &p->candidate_fc[d], w->row, recurrent_rows(r, 2 * H), w->sums, wide, gates + 2 * H);
    }
    for (j = 0; j < H; ++j) {
        const int32_t z = gates[j], recurrent = gates[2 * H + j];
        const int32_t from_h =
            p->linear_before_reset ? clamp16(rescale(&p->reset, gates[H + j] * recurrent)) : recurrent;
        const int32_t cand = gate_tanh(r, pre_activation(r, gx[2 * H + j], from_h));
        const int32_t kept = rescale(&p->update, z * (hidden_at(h, j, wide) - zp));
        set_hidden(h, j, zp + kept + rescale(&p->candidate, (32768 - z) * cand), wide);
    }
}

static void gru_run(const edgec_gru_int_t *p, const void *x, const void *h0, void *y, void *y_h,
                    void *state, void *work, int wide)
{
    const edgec_rnn_dims_t *s = &p->rnn.dims;
    const size_t elem = wide ? 2u : 1u;
    const work_t w = split_work(work, 3 * s->hidden, s->hidden, wide);
    int32_t d, i, b;
    if (!s->stateful) {
        reset_state(&p->rnn, h0, NULL, state, wide, 0);
    }
    for (d = 0; d < s->directions; ++d) {
        for (i = 0; i < s->steps; ++i) {
            const int32_t t = edgec_rnn_time(s, d, i);
            for (b = 0; b < s->batch; ++b) {
                void *h = (uint8_t *)state + edgec_rnn_state_at(s, d, b) * elem;
                gru_step(p, d, (const uint8_t *)x + edgec_rnn_x_at(s, t, b) * elem, h, &w, wide);
                if (y != NULL) {
                    memcpy((uint8_t *)y + edgec_rnn_y_at(s, t, d, b) * elem, h, (size_t)s->hidden * elem);
                }
            }
        }
    }
    copy_out(s, y_h, state, elem);
}

void edgec_lstm_s8(const edgec_lstm_int_t *p, const int8_t *x, const int8_t *h0, const int16_t *c0,
                   int8_t *y, int8_t *y_h, int16_t *y_c, void *state, void *work)
{
    lstm_run(p, x, h0, c0, y, y_h, y_c, state, work, 0);
}

void edgec_lstm_s16(const edgec_lstm_int_t *p, const int16_t *x, const int16_t *h0,
                    const int16_t *c0, int16_t *y, int16_t *y_h, int16_t *y_c, void *state,
                    void *work)
{
    lstm_run(p, x, h0, c0, y, y_h, y_c, state, work, 1);
}

void edgec_gru_s8(const edgec_gru_int_t *p, const int8_t *x, const int8_t *h0, int8_t *y,
                  int8_t *y_h, void *state, void *work)
{
    gru_run(p, x, h0, y, y_h, state, work, 0);
}

void edgec_gru_s16(const edgec_gru_int_t *p, const int16_t *x, const int16_t *h0, int16_t *y,
                   int16_t *y_h, void *state, void *work)
{
    gru_run(p, x, h0, y, y_h, state, work, 1);
}

void edgec_lstm_reset_s8(const edgec_lstm_int_t *p, const int8_t *h0, const int16_t *c0,
                         void *state)
{
    reset_state(&p->rnn, h0, c0, state, 0, 1);
}

void edgec_lstm_reset_s16(const edgec_lstm_int_t *p, const int16_t *h0, const int16_t *c0,
                          void *state)
{
    reset_state(&p->rnn, h0, c0, state, 1, 1);
}

void edgec_gru_reset_s8(const edgec_gru_int_t *p, const int8_t *h0, void *state)
{
    reset_state(&p->rnn, h0, NULL, state, 0, 0);
}

void edgec_gru_reset_s16(const edgec_gru_int_t *p, const int16_t *h0, void *state)
{
    reset_state(&p->rnn, h0, NULL, state, 1, 0);
}
