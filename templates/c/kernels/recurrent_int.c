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
} work_t;

static work_t split_work(void *work, int32_t gate_rows, int wide)
{
    work_t w;
    w.sums = work;
    w.gx = (int16_t *)(void *)((uint8_t *)work + (wide ? 8u : 4u) * (size_t)gate_rows);
    w.gates = w.gx + gate_rows;
    w.row = w.gates + gate_rows;
    return w;
}

/* out[o] = clamp16(requant(product of row o)) for rows [first, first + m->n) of the
 * requantization arrays. wide: int16 rows and int64 sums (16x8). */
static void product(const edgec_rnn_int_t *p, const edgec_matrix_int_t *m, const void *row,
                    const int32_t *mult, const int32_t *shift, void *sums, int wide, int16_t *out)
{
    int32_t o, i;
    if (!wide) {
        int32_t *acc = (int32_t *)sums;
        p->product(m, (const int8_t *)row, acc);
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
    return edgec_fp_mbqm(product, r->multiplier, r->shift);
}

/* gates[n] = sat16(gx[n] + requant(recurrent product)[n]) for n < count, then the clip. */
static void add_gates(const edgec_rnn_int_t *p, int16_t *gates, const int16_t *gx, int32_t count)
{
    int32_t n;
    for (n = 0; n < count; ++n) {
        int32_t v = clamp16((int32_t)gx[n] + gates[n]);
        if (p->clip > 0) {
            v = edgec_fp_clamp(v, -p->clip, p->clip);
        }
        gates[n] = (int16_t)v;
    }
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

/* One LSTM step of batch entry (d, b): h (the activation type) and c (int16) in place. */
static void lstm_step(const edgec_lstm_int_t *p, int32_t d, const void *x, void *h, int16_t *c,
                      const work_t *w, int wide)
{
    const edgec_rnn_int_t *r = &p->rnn;
    const int32_t H = r->dims.hidden;
    int16_t *const gi = w->gates, *const go = gi + H, *const gf = go + H, *const gc = gf + H;
    int16_t *const tanh_c = w->gx;
    int32_t j;
    product(r, &r->input_fc[d], x, r->input_mult, r->input_shift, w->sums, wide, w->gx);
    product(r, &r->recurrent_fc[d], h, r->recurrent_mult, r->recurrent_shift, w->sums, wide,
            w->gates);
    add_gates(r, w->gates, w->gx, 4 * H);
    edgec_logistic_s16(&r->gate_sigmoid, gi, gi); /* i, o, f */
    edgec_tanh_s16(&r->gate_tanh, gc, gc);
    for (j = 0; j < H; ++j) {
        const int32_t kept = clamp16(rescale(&p->forget_cell, (int32_t)gf[j] * c[j]));
        const int32_t added = clamp16(rescale(&p->input_cell, (int32_t)gi[j] * gc[j]));
        c[j] = (int16_t)clamp16(kept + added);
    }
    edgec_tanh_s16(&p->cell_tanh, c, tanh_c);
    for (j = 0; j < H; ++j) {
        const int32_t v = rescale(&p->output_hidden, (int32_t)tanh_c[j] * go[j]);
        set_hidden(h, j, v + r->hidden_zero_point, wide);
    }
}

static void lstm_run(const edgec_lstm_int_t *p, const void *x, const void *h0, const int16_t *c0,
                     void *y, void *y_h, int16_t *y_c, void *state, void *work, int wide)
{
    const edgec_rnn_dims_t *s = &p->rnn.dims;
    const size_t elem = wide ? 2u : 1u, n = (size_t)s->directions * s->batch * s->hidden;
    int16_t *const cs = (int16_t *)(void *)((uint8_t *)state + n * elem);
    const work_t w = split_work(work, 4 * s->hidden, wide);
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

/* One GRU step of batch entry (d, b): h in place. */
static void gru_step(const edgec_gru_int_t *p, int32_t d, const void *x, void *h, const work_t *w,
                     int wide)
{
    const edgec_rnn_int_t *r = &p->rnn;
    const int32_t H = r->dims.hidden, zp = r->hidden_zero_point;
    int16_t *const z = w->gates, *const reset = z + H, *const cand = reset + H;
    int32_t j;
    product(r, &r->input_fc[d], x, r->input_mult, r->input_shift, w->sums, wide, w->gx);
    product(r, &r->recurrent_fc[d], h, r->recurrent_mult, r->recurrent_shift, w->sums, wide,
            w->gates); /* z, r (and h under linear_before_reset) */
    add_gates(r, w->gates, w->gx, 2 * H);
    edgec_logistic_s16(&r->gate_sigmoid, z, z); /* z, r */
    if (p->linear_before_reset) {
        for (j = 0; j < H; ++j) {
            cand[j] = (int16_t)clamp16(rescale(&p->reset, (int32_t)reset[j] * cand[j]));
        }
    } else {
        for (j = 0; j < H; ++j) {
            set_hidden(w->row, j, rescale(&p->reset, reset[j] * (hidden_at(h, j, wide) - zp)) + zp, wide);
        }
        product(r, &p->candidate_fc[d], w->row, r->recurrent_mult + 2 * H, r->recurrent_shift + 2 * H,
                w->sums, wide, cand);
    }
    add_gates(r, cand, w->gx + 2 * H, H);
    edgec_tanh_s16(&r->gate_tanh, cand, cand);
    for (j = 0; j < H; ++j) {
        const int32_t kept = rescale(&p->update, z[j] * (hidden_at(h, j, wide) - zp));
        const int32_t added = rescale(&p->candidate, (32768 - z[j]) * cand[j]);
        set_hidden(h, j, zp + kept + added, wide);
    }
}

static void gru_run(const edgec_gru_int_t *p, const void *x, const void *h0, void *y, void *y_h,
                    void *state, void *work, int wide)
{
    const edgec_rnn_dims_t *s = &p->rnn.dims;
    const size_t elem = wide ? 2u : 1u;
    const work_t w = split_work(work, 3 * s->hidden, wide);
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
