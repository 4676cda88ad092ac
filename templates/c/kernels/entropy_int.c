/*
 * int8 fully connected, convolution and depthwise kernels on canonical-Huffman-coded
 * weights (format in edgec_kernels_entropy.h). Bit-exact with the dense kernels: the same
 * int32 sums of the same products, requantized by edgec_requant.
 *
 * The decoder is table-driven. At the start of a call it fills a lookup table in the
 * scratch (EDGEC_HUFFMAN_LOOKUP_BYTES): for each value of the window's first
 * EDGEC_HUFFMAN_LOOKUP_BITS bits, the code's length and symbol where the code is that short
 * (on AD, 94 % of the weights), else 0. A longer code's length is the shortest whose
 * left-justified limit ((first code + count) << (32 - L)) exceeds the 32-bit window, and
 * its symbol one load at base[L] + code.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "edgec_dsp.h"
#include "edgec_fixedpoint.h"
#include "edgec_im2col.h"
#include "edgec_kernels.h"

#define LOOKUP_BITS EDGEC_HUFFMAN_LOOKUP_BITS

typedef struct {
    const uint8_t *next; /* the next stream byte to load */
    uint32_t window;     /* the next bits, most significant first */
    int32_t have;        /* valid bits in the window */
    int32_t slow, longest; /* the first length past the lookup table; the longest */
    const uint16_t *lookup; /* [1 << LOOKUP_BITS]: length << 8 | symbol byte, or 0 */
    uint32_t limit[EDGEC_HUFFMAN_MAX_BITS + 1];
    int32_t base[EDGEC_HUFFMAN_MAX_BITS + 1]; /* symbol index of code c of length L: base[L] + c */
    const int8_t *symbols;
} huffman_reader;

/* lookup: the scratch's first EDGEC_HUFFMAN_LOOKUP_BYTES (2-byte aligned) */
static void reader_init(huffman_reader *r, const edgec_huffman_t *h, uint16_t *lookup)
{
    uint32_t first = 0;
    int32_t seen = 0, length, shortest = 0;
    r->next = h->stream;
    r->window = 0;
    r->have = 0;
    r->symbols = h->symbols;
    r->longest = 1;
    r->lookup = lookup;
    memset(lookup, 0, EDGEC_HUFFMAN_LOOKUP_BYTES);
    for (length = 1; length <= EDGEC_HUFFMAN_MAX_BITS; ++length) {
        const uint32_t count = h->counts[length];
        if (count != 0) {
            shortest = shortest != 0 ? shortest : length;
            r->longest = length;
        }
        if (length <= LOOKUP_BITS) { /* every window that starts with one of these codes */
            const uint32_t span = 1u << (LOOKUP_BITS - length);
            uint32_t c, i;
            for (c = 0; c < count; ++c) {
                const uint16_t entry =
                    (uint16_t)((uint32_t)length << 8 | (uint8_t)h->symbols[seen + (int32_t)c]);
                for (i = 0; i < span; ++i) {
                    lookup[((first + c) << (LOOKUP_BITS - length)) + i] = entry;
                }
            }
        }
        r->base[length] = seen - (int32_t)first;
        /* below the longest length the codes never fill 2^L: the limit fits 32 bits */
        r->limit[length] = (first + count) < (1u << length) ? (first + count) << (32 - length) : 0xFFFFFFFFu;
        seen += (int32_t)count;
        first = (first + count) << 1;
    }
    r->slow = shortest > LOOKUP_BITS ? shortest : LOOKUP_BITS + 1;
    while (r->have <= 24) {
        r->window |= (uint32_t)*r->next++ << (24 - r->have);
        r->have += 8;
    }
}

/* count values into dst */
static void decode(huffman_reader *r, int8_t *dst, int32_t count)
{
    const uint8_t *next = r->next;
    const uint16_t *lookup = r->lookup;
    uint32_t window = r->window;
    int32_t have = r->have, i;
    for (i = 0; i < count; ++i) {
        const uint32_t entry = lookup[window >> (32 - LOOKUP_BITS)];
        int32_t length = (int32_t)(entry >> 8);
        if (length != 0) {
            dst[i] = (int8_t)(uint8_t)entry;
        } else {
            length = r->slow;
            while (length < r->longest && window >= r->limit[length]) {
                ++length;
            }
            dst[i] = r->symbols[r->base[length] + (int32_t)(window >> (32 - length))];
        }
        window <<= length;
        have -= length;
        if (have <= 16) { /* two bytes: the window holds 17 to 32 bits, any code fits */
            window |= ((uint32_t)next[0] << 8 | next[1]) << (16 - have);
            next += 2;
            have += 16;
        }
    }
    r->next = next;
    r->window = window;
    r->have = have;
}

/* v modulo 256 as an int8 (without an implementation-defined conversion) */
static inline int8_t wrap8(int32_t v)
{
    const int32_t u = v & 255;
    return (int8_t)(u - ((u & 128) << 1));
}

/* The weights of a decoded chunk from their residuals (edgec_kernels_entropy.h). `above`:
 * the previous chunk's last row (EDGEC_PREDICT_ROW; NULL for the first chunk), rewritten
 * with this chunk's last row. */
static void unpredict(const edgec_huffman_t *h, int8_t *w, int32_t rows, int32_t k, int8_t *above, int32_t first)
{
    int32_t o, j;
    if (h->predictor == EDGEC_PREDICT_ROW) {
        for (o = 0; o < rows; ++o) {
            int8_t *x = w + (size_t)o * k;
            const int8_t *up = o > 0 ? x - k : (first ? NULL : above);
            if (up != NULL) {
                for (j = 0; j < k; ++j) {
                    x[j] = wrap8((int32_t)x[j] + up[j]);
                }
            }
        }
        memcpy(above, w + (size_t)(rows - 1) * k, (size_t)k);
    } else if (h->predictor == EDGEC_PREDICT_AVERAGE) {
        const int32_t period = h->period;
        for (o = 0; o < rows; ++o) {
            int8_t *x = w + (size_t)o * k;
            for (j = 0; j < k; ++j) {
                const int32_t left = j >= 1 ? x[j - 1] : 0, back = j >= period ? x[j - period] : 0;
                x[j] = wrap8((int32_t)x[j] + (((left + back + 256) >> 1) - 128));
            }
        }
    }
}

/* The chunk's decoded weights: after the lookup table; `above` after them */
static inline int8_t *above_row(const edgec_huffman_t *h, int8_t *w, int32_t k)
{
    return w + (size_t)h->chunk_rows * k;
}

static inline size_t above_bytes(const edgec_huffman_t *h, int32_t k)
{
    return h->predictor == EDGEC_PREDICT_ROW ? (size_t)k : 0u;
}

static inline int8_t requant(const edgec_huffman_out_t *q, int32_t acc, int32_t o)
{
    const int32_t v = edgec_requant(acc, q->out_mult[o], q->out_shift[o]) + q->output_zero_point;
    return (int8_t)edgec_fp_clamp(v, q->act_min, q->act_max);
}

/* sum_j w[j] * x[j], four at a time with SMLAD where the core has it */
static inline int32_t dot(const int8_t *w, const int8_t *x, int32_t k, int32_t acc)
{
    int32_t j;
    for (j = 0; j + 4 <= k; j += 4) {
        const int32_t wv = load4(w + j), xv = load4(x + j);
        acc = SMLAD(SXTB16(wv), SXTB16(xv), acc);
        acc = SMLAD(SXTB16_ROR8(wv), SXTB16_ROR8(xv), acc);
    }
    for (; j < k; ++j) {
        acc += (int32_t)w[j] * x[j];
    }
    return acc;
}

/* The outputs of channels o0..o0+rows-1 (decoded in w) for one input row x. */
static void chunk_outputs(const edgec_huffman_out_t *q, const int8_t *w, int32_t o0, int32_t rows, const int8_t *x,
                          int8_t *out)
{
    int32_t j;
    for (j = 0; j < rows; ++j) {
        const int32_t o = o0 + j;
        out[o] = requant(q, dot(w + (size_t)j * q->k, x, q->k, q->bias[o]), o);
    }
}

void edgec_fc_huffman_s8(const edgec_huffman_s8_t *p, const int8_t *input, int8_t *output, int8_t *scratch)
{
    const edgec_huffman_out_t *q = &p->out;
    huffman_reader reader;
    int32_t o0, r;
    int8_t *w = scratch + EDGEC_HUFFMAN_LOOKUP_BYTES;
    reader_init(&reader, &p->code, (uint16_t *)(void *)scratch);
    for (o0 = 0; o0 < q->n; o0 += p->code.chunk_rows) {
        const int32_t rows = q->n - o0 < p->code.chunk_rows ? q->n - o0 : p->code.chunk_rows;
        decode(&reader, w, rows * q->k);
        unpredict(&p->code, w, rows, q->k, above_row(&p->code, w, q->k), o0 == 0);
        for (r = 0; r < q->rows; ++r) {
            chunk_outputs(q, w, o0, rows, input + (size_t)r * q->k, output + (size_t)r * q->n);
        }
    }
}

/* scratch: the lookup table, then the decoded chunk */
static void conv_chunks(const edgec_conv_huffman_s8_t *p, const int8_t *input, int8_t *output, int8_t *scratch,
                        int8_t *im2col)
{
    const edgec_compact_conv_t *c = &p->conv;
    const edgec_huffman_out_t *q = &p->weights.out;
    const int32_t chunk = p->weights.code.chunk_rows;
    const int32_t pixels = c->out.n * c->out.h * c->out.w;
    huffman_reader reader;
    int32_t o0, px;
    int8_t *w = scratch + EDGEC_HUFFMAN_LOOKUP_BYTES;
    reader_init(&reader, &p->weights.code, (uint16_t *)(void *)scratch);
    for (o0 = 0; o0 < q->n; o0 += chunk) {
        const int32_t rows = q->n - o0 < chunk ? q->n - o0 : chunk;
        decode(&reader, w, rows * q->k);
        unpredict(&p->weights.code, w, rows, q->k, above_row(&p->weights.code, w, q->k), o0 == 0);
        for (px = 0; px < pixels; ++px) {
            const int8_t *x = edgec_pixel_row(c, input, px, im2col);
            chunk_outputs(q, w, o0, rows, x, output + (size_t)px * q->n);
        }
    }
}

void edgec_conv_huffman_s8(const edgec_conv_huffman_s8_t *p, const int8_t *input, int8_t *output, int8_t *scratch)
{
    const edgec_huffman_t *h = &p->weights.code;
    const size_t chunk = (size_t)h->chunk_rows * (size_t)p->weights.out.k + above_bytes(h, p->weights.out.k);
    conv_chunks(p, input, output, scratch, scratch + EDGEC_HUFFMAN_LOOKUP_BYTES + chunk);
}

void edgec_conv_1x1_huffman_s8(const edgec_conv_huffman_s8_t *p, const int8_t *input, int8_t *output,
                               int8_t *scratch)
{
    conv_chunks(p, input, output, scratch, NULL);
}

/* out channel o reads in channel o / depth_multiplier; its taps are row o of the matrix */
void edgec_dwconv_huffman_s8(const edgec_conv_huffman_s8_t *p, const int8_t *input, int8_t *output,
                             int8_t *scratch)
{
    const edgec_compact_conv_t *c = &p->conv;
    const edgec_huffman_out_t *q = &p->weights.out;
    const int32_t chunk = p->weights.code.chunk_rows, taps = c->kh * c->kw;
    int8_t *weights = scratch + EDGEC_HUFFMAN_LOOKUP_BYTES;
    huffman_reader reader;
    int32_t o0, b, oy, ox, j, ky, kx;
    reader_init(&reader, &p->weights.code, (uint16_t *)(void *)scratch);
    for (o0 = 0; o0 < q->n; o0 += chunk) {
        const int32_t rows = q->n - o0 < chunk ? q->n - o0 : chunk;
        decode(&reader, weights, rows * taps);
        unpredict(&p->weights.code, weights, rows, taps, above_row(&p->weights.code, weights, taps), o0 == 0);
        for (b = 0; b < c->out.n; ++b) {
            for (oy = 0; oy < c->out.h; ++oy) {
                for (ox = 0; ox < c->out.w; ++ox) {
                    const int32_t y0 = oy * c->stride_h - c->pad_top, x0 = ox * c->stride_w - c->pad_left;
                    int8_t *out = output + (((size_t)b * c->out.h + oy) * c->out.w + ox) * q->n;
                    for (j = 0; j < rows; ++j) {
                        const int32_t o = o0 + j, channel = o / p->depth_multiplier;
                        const int8_t *w = weights + (size_t)j * taps;
                        int32_t acc = 0;
                        for (ky = 0; ky < c->kh; ++ky) {
                            const int32_t iy = y0 + ky * c->dil_h;
                            if (iy < 0 || iy >= c->in.h) {
                                continue;
                            }
                            for (kx = 0; kx < c->kw; ++kx) {
                                const int32_t ix = x0 + kx * c->dil_w;
                                if (ix >= 0 && ix < c->in.w) {
                                    const int8_t x =
                                        input[(((size_t)b * c->in.h + iy) * c->in.w + ix) * c->in.c + channel];
                                    acc += ((int32_t)x - c->input_zero_point) * w[ky * c->kw + kx];
                                }
                            }
                        }
                        out[o] = requant(q, acc + q->bias[o], o);
                    }
                }
            }
        }
    }
}
