/*
 * edgec odometer over strided dims (private to the kernel sources): the reductions walk
 * their kept and reduced dims, given as EDGEC_MAX_RANK sizes with element strides.
 */
#ifndef EDGEC_WALK_H
#define EDGEC_WALK_H

#include <stdint.h>

#include "edgec_kernels.h"

/* Advance the multi-index idx over shape by one step; returns the new element offset. */
static inline int32_t edgec_walk_next(int32_t *idx, const int32_t *shape, const int32_t *stride,
                                      int32_t offset)
{
    int32_t d;
    for (d = EDGEC_MAX_RANK - 1; d >= 0; --d) {
        if (++idx[d] < shape[d]) {
            return offset + stride[d];
        }
        offset -= stride[d] * (shape[d] - 1);
        idx[d] = 0;
    }
    return offset;
}

static inline int32_t edgec_walk_count(const int32_t *shape)
{
    int32_t d, n = 1;
    for (d = 0; d < EDGEC_MAX_RANK; ++d) {
        n *= shape[d];
    }
    return n;
}

/* The arg reduction of one element type T: raw values compared, the first (or last) extreme. */
#define EDGEC_ARG_REDUCE_BODY(T)                                                                  \
    do {                                                                                          \
        int32_t kidx[EDGEC_MAX_RANK] = {0}, ridx[EDGEC_MAX_RANK] = {0};                           \
        const int32_t n_out = edgec_walk_count(p->kept), n_red = edgec_walk_count(p->red);        \
        int32_t o, r, base = 0;                                                                   \
        for (o = 0; o < n_out; ++o) {                                                             \
            int32_t off = base, best_at = 0;                                                      \
            T best = input[base];                                                                 \
            for (r = 1; r < n_red; ++r) {                                                         \
                T v;                                                                              \
                off = edgec_walk_next(ridx, p->red, p->red_stride, off);                          \
                v = input[off];                                                                   \
                if (p->is_min ? (v < best || (p->select_last && v == best))                       \
                              : (v > best || (p->select_last && v == best))) {                    \
                    best = v;                                                                     \
                    best_at = r;                                                                  \
                }                                                                                 \
            }                                                                                     \
            edgec_walk_next(ridx, p->red, p->red_stride, off); /* back to all zeros */            \
            output[o] = (int64_t)best_at;                                                         \
            base = edgec_walk_next(kidx, p->kept, p->kept_stride, base);                          \
        }                                                                                         \
    } while (0)

#endif /* EDGEC_WALK_H */
