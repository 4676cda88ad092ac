/* edgec data-movement kernels: byte copies, independent of the element type. */
#include <string.h>

#include "edgec_kernels.h"

/* count elements, `stride` elements apart in the input, to consecutive output elements. A
 * memcpy of a constant size compiles to a plain load and store (any alignment); a variable
 * size would be a library call per element. */
#define GATHER(size)                                                                \
    for (i = 0; i < count; ++i) {                                                   \
        memcpy(out + (size_t)i * (size), in + (size_t)i * stride * (size), (size)); \
    }

static uint8_t *gather(uint8_t *out, const uint8_t *in, int32_t count, int32_t stride, int32_t elem)
{
    int32_t i;
    switch (elem) {
    case 1:
        for (i = 0; i < count; ++i) {
            out[i] = in[(size_t)i * stride];
        }
        break;
    case 2:
        GATHER(2)
        break;
    case 4:
        GATHER(4)
        break;
    default:
        GATHER((size_t)elem)
        break;
    }
    return out + (size_t)count * elem;
}

void edgec_permute(const edgec_permute_t *p, const void *input, void *output)
{
    const uint8_t *in = (const uint8_t *)input;
    uint8_t *out = (uint8_t *)output;
    const int32_t elem = p->elem_size;
    int32_t in_stride[EDGEC_MAX_RANK];
    int32_t out_shape[EDGEC_MAX_RANK];
    int32_t stride[EDGEC_MAX_RANK]; /* input stride walked by each output axis */
    int32_t k;
    int32_t step = 1;
    for (k = EDGEC_MAX_RANK - 1; k >= 0; --k) {
        in_stride[k] = p->in_stride[EDGEC_MAX_RANK - 1] != 0 ? p->in_stride[k] : step;
        step *= p->in_shape[k];
    }
    for (k = 0; k < EDGEC_MAX_RANK; ++k) {
        out_shape[k] = p->in_shape[p->perm[k]];
        stride[k] = in_stride[p->perm[k]];
    }
    if (elem == 1 && out_shape[5] < 8 && out_shape[4] > out_shape[5]) {
        /* A few bytes per innermost row (NCHW -> NHWC with 3 channels): a call per row would
         * cost more than its copies, so each output row of the last two axes is filled
         * column by column, the long axis innermost. */
        int32_t i0, i1, i2, i3, i4, i5;
        const int32_t rows = out_shape[4], cols = out_shape[5];
        for (i0 = 0; i0 < out_shape[0]; ++i0)
            for (i1 = 0; i1 < out_shape[1]; ++i1)
                for (i2 = 0; i2 < out_shape[2]; ++i2)
                    for (i3 = 0; i3 < out_shape[3]; ++i3, out += (size_t)rows * cols) {
                        const uint8_t *src = in + i0 * stride[0] + i1 * stride[1] + i2 * stride[2] + i3 * stride[3];
                        for (i5 = 0; i5 < cols; ++i5) {
                            const uint8_t *s = src + (size_t)i5 * stride[5];
                            uint8_t *d = out + i5;
                            for (i4 = 0; i4 < rows; ++i4) {
                                d[(size_t)i4 * cols] = s[(size_t)i4 * stride[4]];
                            }
                        }
                    }
        return;
    }
    {
        int32_t i0, i1, i2, i3, i4;
        for (i0 = 0; i0 < out_shape[0]; ++i0)
            for (i1 = 0; i1 < out_shape[1]; ++i1)
                for (i2 = 0; i2 < out_shape[2]; ++i2)
                    for (i3 = 0; i3 < out_shape[3]; ++i3)
                        for (i4 = 0; i4 < out_shape[4]; ++i4) {
                            const int32_t base = i0 * stride[0] + i1 * stride[1] + i2 * stride[2] +
                                                 i3 * stride[3] + i4 * stride[4];
                            out = gather(out, in + (size_t)base * elem, out_shape[5], stride[5], elem);
                        }
    }
}

void edgec_concat(const edgec_concat_t *p, const void *const *inputs, void *output)
{
    uint8_t *out = (uint8_t *)output;
    int32_t o, i;
    for (o = 0; o < p->outer; ++o) {
        for (i = 0; i < p->n_inputs; ++i) {
            const int32_t bytes = p->inner_bytes[i];
            memcpy(out, (const uint8_t *)inputs[i] + (size_t)o * bytes, (size_t)bytes);
            out += bytes;
        }
    }
}

/* The input index an out-of-range index i reads in reflect, edge or wrap mode (n >= 1). */
static int32_t edgec_pad_source(int32_t mode, int32_t i, int32_t n)
{
    if (mode == EDGEC_PAD_EDGE) {
        return i < 0 ? 0 : n - 1;
    }
    if (mode == EDGEC_PAD_WRAP) {
        return ((i % n) + n) % n;
    }
    if (n == 1) {
        return 0;
    }
    while (i < 0 || i >= n) { /* reflect (about the end pixels) until inside */
        i = i < 0 ? -i : 2 * (n - 1) - i;
    }
    return i;
}

void edgec_pad(const edgec_pad_t *p, const void *input, void *output)
{
    const uint8_t *in = (const uint8_t *)input;
    uint8_t *out = (uint8_t *)output;
    const int32_t elem = p->elem_size;
    int32_t out_shape[EDGEC_MAX_RANK];
    int32_t idx[EDGEC_MAX_RANK] = {0, 0, 0, 0, 0, 0};
    int32_t k, total = 1;
    for (k = 0; k < EDGEC_MAX_RANK; ++k) {
        out_shape[k] = p->before[k] + p->in_shape[k] + p->after[k];
        total *= out_shape[k];
    }
    while (total-- > 0) {
        int32_t inside = 1, offset = 0;
        for (k = 0; k < EDGEC_MAX_RANK; ++k) {
            const int32_t n = p->in_shape[k];
            int32_t i = idx[k] - p->before[k];
            if ((i < 0 || i >= n) && p->mode != EDGEC_PAD_CONSTANT) {
                i = edgec_pad_source(p->mode, i, n);
            }
            if (i < 0 || i >= n) {
                inside = 0;
            }
            offset = offset * n + i;
        }
        memcpy(out, inside ? in + (size_t)offset * elem : (const uint8_t *)p->fill, (size_t)elem);
        out += elem;
        for (k = EDGEC_MAX_RANK - 1; k >= 0; --k) {
            if (++idx[k] < out_shape[k]) {
                break;
            }
            idx[k] = 0;
        }
    }
}

void edgec_slice(const edgec_slice_t *p, const void *input, void *output)
{
    const uint8_t *in = (const uint8_t *)input;
    uint8_t *out = (uint8_t *)output;
    const int32_t elem = p->elem_size;
    int32_t in_stride[EDGEC_MAX_RANK];
    int32_t idx[EDGEC_MAX_RANK] = {0, 0, 0, 0, 0, 0};
    int32_t k, outer, total = 1, step = 1;
    size_t run = 1, base = 0;
    for (k = EDGEC_MAX_RANK - 1; k >= 0; --k) {
        in_stride[k] = step;
        step *= p->in_shape[k];
    }
    /* One copy per run: the innermost axes taken whole, and the axis above them when its
     * step is 1 (a Split along an outer axis is one copy). Axes [0, outer) are walked. */
    for (outer = EDGEC_MAX_RANK; outer > 0; --outer) {
        const int32_t a = outer - 1;
        if (p->step[a] != 1) {
            break;
        }
        run *= (size_t)p->out_shape[a];
        base += (size_t)p->start[a] * (size_t)in_stride[a];
        if (p->out_shape[a] != p->in_shape[a]) {
            --outer;
            break;
        }
    }
    for (k = 0; k < outer; ++k) {
        total *= p->out_shape[k];
    }
    while (total-- > 0) {
        size_t offset = base;
        for (k = 0; k < outer; ++k) {
            offset += (size_t)(p->start[k] + idx[k] * p->step[k]) * (size_t)in_stride[k];
        }
        memcpy(out, in + offset * (size_t)elem, run * (size_t)elem);
        out += run * (size_t)elem;
        for (k = outer - 1; k >= 0; --k) {
            if (++idx[k] < p->out_shape[k]) {
                break;
            }
            idx[k] = 0;
        }
    }
}

void edgec_gather(const edgec_gather_t *p, const void *input, void *output)
{
    const uint8_t *in = (const uint8_t *)input;
    uint8_t *out = (uint8_t *)output;
    const size_t row = (size_t)p->inner * (size_t)p->elem_size;
    int32_t o, i;
    for (o = 0; o < p->outer; ++o) {
        for (i = 0; i < p->count; ++i) {
            memcpy(out, in + ((size_t)o * p->axis_size + (size_t)p->indices[i]) * row, row);
            out += row;
        }
    }
}

void edgec_resize_nearest(const edgec_resize_nearest_t *p, const void *input, void *output)
{
    const uint8_t *in = (const uint8_t *)input;
    uint8_t *out = (uint8_t *)output;
    const size_t pixel = (size_t)p->channels * (size_t)p->elem_size;
    int32_t b, y, x;
    for (b = 0; b < p->batch; ++b) {
        for (y = 0; y < p->out_h; ++y) {
            const uint8_t *row = in + ((size_t)b * p->in_h + (size_t)p->h_index[y]) * p->in_w * pixel;
            for (x = 0; x < p->out_w; ++x) {
                memcpy(out, row + (size_t)p->w_index[x] * pixel, pixel);
                out += pixel;
            }
        }
    }
}
