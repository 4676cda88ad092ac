/* edgec integer arg reductions: TFLite ARG_MAX / ARG_MIN compare the raw quantized values
 * (a positive scale keeps their order). */
#include "edgec_kernels.h"
#include "edgec_walk.h"

void edgec_arg_reduce_s8(const edgec_arg_reduce_t *p, const int8_t *input, int64_t *output)
{
    EDGEC_ARG_REDUCE_BODY(int8_t);
}

void edgec_arg_reduce_s16(const edgec_arg_reduce_t *p, const int16_t *input, int64_t *output)
{
    EDGEC_ARG_REDUCE_BODY(int16_t);
}
