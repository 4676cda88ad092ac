/* edgec integer kernels (int8, 16x8): TFLite Micro semantics. Included by edgec_kernels.h. */
#ifndef EDGEC_KERNELS_INT_H
#define EDGEC_KERNELS_INT_H

#endif /* EDGEC_KERNELS_INT_H */
