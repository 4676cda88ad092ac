"""In-place ("overlapped") placement: a layer's output may share memory with its input.

A kernel that walks its output forward only ever needs input bytes at or after some point
that also moves forward. If the input sits ``lag`` bytes above the output, each write lands
below every input byte still to be read, so the two buffers can overlap and the pair costs
``max(out, in + lag)`` bytes instead of ``out + in``.

The lag comes from the kernel's access order, modelled as events (one per output pixel of
the portable kernels, which write that pixel while reading its taps, in order): every byte
written by event ``t`` must lie below every byte read by events ``t`` and later, so

    lag = max over t of (highest write end up to t) - (lowest read start from t on).

Only kernels whose order is modelled here may be planned this way; the optimized kernels
use the output's unwritten tail as working memory, so an overlapped node runs the portable
kernel (see emit_linear.CONV_VARIANTS).
"""

from __future__ import annotations

import numpy as np


def lag_bytes(write_end: np.ndarray, read_start: np.ndarray) -> int:
    """Smallest input-minus-output offset for events in order (byte offsets per buffer)."""
    done = np.maximum.accumulate(write_end)
    pending = np.minimum.accumulate(read_start[::-1])[::-1]
    return max(int((done - pending).max(initial=0)), 0)


def conv_lag(in_dims, out_dims, geometry: dict, itemsize: int = 1, pixels: int = 1) -> int:
    """Lag of edgec_conv_s8 / edgec_conv_1x1_s8 / edgec_dwconv_s8 (channels-last [n,h,w,c]:
    output pixel by pixel, each pixel written while its taps are read); ``pixels`` 2: of
    edgec_conv_1x1_fast_inplace_s8, which does so two pixels at a time."""
    n, in_h, in_w, in_c = in_dims
    _, out_h, out_w, out_c = out_dims
    b, oy, ox = np.meshgrid(np.arange(n), np.arange(out_h), np.arange(out_w), indexing="ij")
    b, oy, ox = b.ravel(), oy.ravel(), ox.ravel()
    # the first tap's row and column, clamped into the image: a lower bound of what the
    # pixel reads (a lower bound only makes the lag larger, never unsafe)
    y0 = np.clip(oy * geometry["stride_h"] - geometry["pad_top"], 0, in_h - 1)
    x0 = np.clip(ox * geometry["stride_w"] - geometry["pad_left"], 0, in_w - 1)
    read_start = ((b * in_h + y0) * in_w + x0) * in_c * itemsize
    pixel = (b * out_h + oy) * out_w + ox
    write_end = (pixel + 1) * out_c * itemsize
    # a group of pixels is one event: its lowest read, its highest write
    groups = np.arange(0, pixel.size, pixels)
    read_start = np.minimum.reduceat(read_start, groups)
    write_end = np.maximum.reduceat(write_end, groups)
    return lag_bytes(write_end.astype(np.int64), read_start.astype(np.int64))


def permute_lag(fields: dict) -> int:
    """Lag of edgec_permute (move.c) for its ``edgec_permute_t`` fields: output rows in
    order, each gathered from input elements at or after the row's base element."""
    in_shape, perm, elem = fields["in_shape"], fields["perm"], fields["elem_size"]
    in_stride = np.cumprod([1, *in_shape[::-1]])[:-1][::-1]
    out_shape = [in_shape[k] for k in perm]
    stride = [int(in_stride[k]) for k in perm]
    # the kernel's two loops: short rows (few bytes, NCHW -> NHWC) fill a block of the two
    # innermost axes at a time; otherwise one innermost row at a time
    outer = 4 if elem == 1 and out_shape[5] < 8 and out_shape[4] > out_shape[5] else 5
    index = np.indices(out_shape[:outer]).reshape(outer, -1)
    base = (np.array(stride[:outer])[:, None] * index).sum(axis=0)
    per_event = int(np.prod(out_shape[outer:]))
    write_end = (np.arange(base.size, dtype=np.int64) + 1) * per_event * elem
    return lag_bytes(write_end, base.astype(np.int64) * elem)
