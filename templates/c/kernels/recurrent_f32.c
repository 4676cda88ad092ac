/*
 * edgec float LSTM and GRU (ONNX semantics, default activations). Per step and batch entry
 * two matrix products by p->product (plain loops here, the packed fast kernel in optimized
 * builds): gx = input_fc(x_t), gh = recurrent_fc(h); then the gates elementwise.
 */
#include <math.h>
#include <string.h>

#include "edgec_kernels.h"

static float sigmoid_f32(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

static float clipped(float x, float clip)
{
    return clip > 0.0f ? (x < -clip ? -clip : (x > clip ? clip : x)) : x;
}

void edgec_matrix_f32(const edgec_matrix_f32_t *m, const float *row, float *out)
{
    int32_t o, i;
    for (o = 0; o < m->n; ++o) {
        const float *w = m->weights + (size_t)o * m->k;
        float acc = m->bias != NULL ? m->bias[o] : 0.0f;
        for (i = 0; i < m->k; ++i) {
            acc += w[i] * row[i];
        }
        out[o] = acc;
    }
}

/* Every state entry from `init` (state-shaped, or NULL: zeros). */
static void set_state(const edgec_rnn_dims_t *s, float *state, const float *init)
{
    const size_t n = (size_t)s->directions * s->batch * s->hidden;
    if (init != NULL) {
        memcpy(state, init, n * sizeof(float));
    } else {
        memset(state, 0, n * sizeof(float));
    }
}

static void copy_state(const edgec_rnn_dims_t *s, float *dst, const float *state)
{
    if (dst != NULL) {
        memcpy(dst, state, (size_t)s->directions * s->batch * s->hidden * sizeof(float));
    }
}

void edgec_lstm_reset_f32(const edgec_rnn_f32_t *p, const float *h0, const float *c0, void *state)
{
    const size_t n = (size_t)p->dims.directions * p->dims.batch * p->dims.hidden;
    set_state(&p->dims, (float *)state, h0);
    set_state(&p->dims, (float *)state + n, c0);
}

void edgec_lstm_f32(const edgec_rnn_f32_t *p, const float *x, const float *h0, const float *c0,
                    float *y, float *y_h, float *y_c, void *state, void *work)
{
    const edgec_rnn_dims_t *s = &p->dims;
    const int32_t H = s->hidden;
    const size_t n = (size_t)s->directions * s->batch * H;
    float *const hs = (float *)state, *const cs = hs + n;
    float *const gx = (float *)work, *const gh = gx + 4 * H;
    int32_t d, i, b, j;
    if (!s->stateful) {
        edgec_lstm_reset_f32(p, h0, c0, state);
    }
    for (d = 0; d < s->directions; ++d) {
        const float *peep = p->peephole != NULL ? p->peephole + (size_t)d * 3 * H : NULL;
        for (i = 0; i < s->steps; ++i) {
            const int32_t t = edgec_rnn_time(s, d, i);
            for (b = 0; b < s->batch; ++b) {
                float *h = hs + edgec_rnn_state_at(s, d, b), *c = cs + edgec_rnn_state_at(s, d, b);
                p->product(&p->input_fc[d], x + edgec_rnn_x_at(s, t, b), gx);
                p->product(&p->recurrent_fc[d], h, gh);
                for (j = 0; j < H; ++j) { /* gate rows: i, o, f, c */
                    float gi = gx[j] + gh[j], go = gx[H + j] + gh[H + j];
                    float gf = gx[2 * H + j] + gh[2 * H + j], gc = gx[3 * H + j] + gh[3 * H + j];
                    if (peep != NULL) {
                        gi += peep[j] * c[j];
                        gf += peep[2 * H + j] * c[j];
                    }
                    gi = sigmoid_f32(clipped(gi, p->clip));
                    gf = sigmoid_f32(clipped(gf, p->clip));
                    gc = tanhf(clipped(gc, p->clip));
                    c[j] = gf * c[j] + gi * gc;
                    if (peep != NULL) {
                        go += peep[H + j] * c[j];
                    }
                    h[j] = sigmoid_f32(clipped(go, p->clip)) * tanhf(c[j]);
                }
                if (y != NULL) {
                    memcpy(y + edgec_rnn_y_at(s, t, d, b), h, (size_t)H * sizeof(float));
                }
            }
        }
    }
    copy_state(s, y_h, hs);
    copy_state(s, y_c, cs);
}

void edgec_gru_reset_f32(const edgec_rnn_f32_t *p, const float *h0, void *state)
{
    set_state(&p->dims, (float *)state, h0);
}

void edgec_gru_f32(const edgec_rnn_f32_t *p, const float *x, const float *h0, float *y, float *y_h,
                   void *state, void *work)
{
    const edgec_rnn_dims_t *s = &p->dims;
    const int32_t H = s->hidden;
    float *const hs = (float *)state;
    float *const gx = (float *)work, *const gh = gx + 3 * H, *const rh = gh + 3 * H;
    float *const rc = rh + H; /* (r * h) R_h, linear_before_reset 0 */
    int32_t d, i, b, j;
    if (!s->stateful) {
        edgec_gru_reset_f32(p, h0, state);
    }
    for (d = 0; d < s->directions; ++d) {
        for (i = 0; i < s->steps; ++i) {
            const int32_t t = edgec_rnn_time(s, d, i);
            for (b = 0; b < s->batch; ++b) {
                float *h = hs + edgec_rnn_state_at(s, d, b);
                p->product(&p->input_fc[d], x + edgec_rnn_x_at(s, t, b), gx);
                p->product(&p->recurrent_fc[d], h, gh); /* 3H rows, or z and r only */
                for (j = 0; j < 2 * H; ++j) {            /* z, then r */
                    gx[j] = sigmoid_f32(clipped(gx[j] + gh[j], p->clip));
                }
                if (!p->linear_before_reset) {
                    for (j = 0; j < H; ++j) {
                        rh[j] = gx[H + j] * h[j];
                    }
                    p->product(&p->candidate_fc[d], rh, rc);
                }
                for (j = 0; j < H; ++j) {
                    const float r = gx[H + j], z = gx[j];
                    const float pre = gx[2 * H + j] + (p->linear_before_reset ? r * gh[2 * H + j] : rc[j]);
                    const float cand = tanhf(clipped(pre, p->clip));
                    h[j] = (1.0f - z) * cand + z * h[j];
                }
                if (y != NULL) {
                    memcpy(y + edgec_rnn_y_at(s, t, d, b), h, (size_t)H * sizeof(float));
                }
            }
        }
    }
    copy_state(s, y_h, hs);
}
