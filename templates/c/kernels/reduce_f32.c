/* edgec float32 reductions over any axes and the float arg reductions. */
#include <float.h>
#include <math.h>

#include "edgec_kernels.h"
#include "edgec_walk.h"

/* One output: the reduction of the n_red elements at base + the reduced offsets. */
static float reduce_one(const edgec_reduce_f32_t *p, const float *input, int32_t base, int32_t n_red)
{
    int32_t idx[EDGEC_MAX_RANK] = {0};
    int32_t r, off = base;
    float acc, peak = -FLT_MAX;
    switch (p->op) {
    case EDGEC_REDUCE_MAX: acc = -INFINITY; break;
    case EDGEC_REDUCE_MIN: acc = INFINITY; break;
    case EDGEC_REDUCE_PROD: acc = 1.0f; break;
    default: acc = 0.0f; break;
    }
    if (p->op == EDGEC_REDUCE_LOG_SUM_EXP) {
        /* the peak first, so exp never overflows (a separate walk) */
        for (r = 0; r < n_red; ++r) {
            peak = input[off] > peak ? input[off] : peak;
            off = edgec_walk_next(idx, p->red, p->red_stride, off);
        }
        off = base;
        if (!isfinite(peak)) {
            peak = 0.0f;
        }
    }
    for (r = 0; r < n_red; ++r) {
        const float v = input[off];
        switch (p->op) {
        case EDGEC_REDUCE_MAX: acc = v > acc ? v : acc; break;
        case EDGEC_REDUCE_MIN: acc = v < acc ? v : acc; break;
        case EDGEC_REDUCE_PROD: acc *= v; break;
        case EDGEC_REDUCE_L1: acc += fabsf(v); break;
        case EDGEC_REDUCE_L2:
        case EDGEC_REDUCE_SUM_SQUARE: acc += v * v; break;
        case EDGEC_REDUCE_LOG_SUM_EXP: acc += expf(v - peak); break;
        default: acc += v; break; /* mean, sum, log-sum */
        }
        off = edgec_walk_next(idx, p->red, p->red_stride, off);
    }
    switch (p->op) {
    case EDGEC_REDUCE_MEAN: return acc / (float)n_red;
    case EDGEC_REDUCE_L2: return sqrtf(acc);
    case EDGEC_REDUCE_LOG_SUM: return logf(acc);
    case EDGEC_REDUCE_LOG_SUM_EXP: return logf(acc) + peak;
    default: return acc;
    }
}

void edgec_reduce_f32(const edgec_reduce_f32_t *p, const float *input, float *output)
{
    int32_t idx[EDGEC_MAX_RANK] = {0};
    const int32_t n_out = edgec_walk_count(p->kept), n_red = edgec_walk_count(p->red);
    int32_t o, base = 0;
    for (o = 0; o < n_out; ++o) {
        output[o] = reduce_one(p, input, base, n_red);
        base = edgec_walk_next(idx, p->kept, p->kept_stride, base);
    }
}

void edgec_arg_reduce_f32(const edgec_arg_reduce_t *p, const float *input, int64_t *output)
{
    EDGEC_ARG_REDUCE_BODY(float);
}
