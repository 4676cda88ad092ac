"""Tensor-expression definitions of the convolutions and fully connected layers edgec schedules.

Activations are NHWC; weights are packed at compile time (numpy) so that the innermost loop
of every kernel reads them contiguously: ``[OC / T, KH, KW, C, T]`` for a convolution (``T``
output channels, one register tile, side by side), ``[KH, KW, C]`` for a depthwise one,
``[N / T, K, T]`` for a fully connected layer. int8 kernels multiply into an int32
accumulator (widening multiplies).

The main block of each kernel is named ``edgec_*`` and carries its tile size as a block
annotation; ``schedule.py`` reads it.
"""

from __future__ import annotations

import numpy as np

TILE_ATTR = "edgec_tile"


def channel_tile(channels: int, lanes: int, widest: int = 2) -> int:
    """Output channels per register tile: up to ``widest`` vectors, dividing ``channels``."""
    for vectors in range(widest, 0, -1):
        if channels % (vectors * lanes) == 0:
            return vectors * lanes
    if channels <= widest * lanes:
        return channels  # one ragged tile (LLVM splits the odd vector)
    divisors = [d for d in range(lanes, widest * lanes + 1) if channels % d == 0]
    return max(divisors) if divisors else lanes


# ---- weight packing (numpy, at compile time) ------------------------------------------------


def pack_conv_weights(w_ohwi: np.ndarray, tile: int) -> np.ndarray:
    """OHWI weights → ``[OC/tile, KH, KW, C, tile]``."""
    oc, kh, kw, c = w_ohwi.shape
    blocks = w_ohwi.reshape(oc // tile, tile, kh, kw, c)
    return np.ascontiguousarray(blocks.transpose(0, 2, 3, 4, 1))


def pack_depthwise_weights(w_ohwi: np.ndarray) -> np.ndarray:
    """Depthwise OHWI weights ``[C, KH, KW, 1]`` → ``[KH, KW, C]``."""
    return np.ascontiguousarray(w_ohwi[..., 0].transpose(1, 2, 0))


def pack_dense_weights(w_nk: np.ndarray, tile: int) -> np.ndarray:
    """``[N, K]`` weights → ``[N/tile, K, tile]``."""
    n, k = w_nk.shape
    blocks = w_nk.reshape(n // tile, tile, k)
    return np.ascontiguousarray(blocks.transpose(0, 2, 1))


# ---- tensor expressions -------------------------------------------------------------------


def pad_nhwc(x, pads, value, dtype=None, channels_after: int = 0):
    """``x`` padded by (top, left, bottom, right) with ``value`` (and by ``channels_after``
    channels at the end); cast to ``dtype`` if given."""
    from tvm import te, tirx

    top, left, bottom, right = (int(p) for p in pads)
    n, h, w, c = (int(d) for d in x.shape)
    dtype = dtype or x.dtype

    def convert(v):
        return v if _dtype(v) == dtype else _cast(v, dtype)

    if not any((top, left, bottom, right, channels_after)) and dtype == x.dtype:
        return x

    def body(b, i, j, k):
        inside = tirx.all(i >= top, i < h + top, j >= left, j < w + left, k < c)
        return tirx.if_then_else(
            inside, convert(x[b, i - top, j - left, tirx.min(k, c - 1)]), tirx.const(value, dtype)
        )

    shape = (n, h + top + bottom, w + left + right, c + channels_after)
    return te.compute(shape, body, name="pad")


def _dtype(expr) -> str:
    from edgec.backends.tvm.fixedpoint_te import dtype_of

    return dtype_of(expr)


def widening_product(a, b, out_dtype: str):
    """``a * b`` in ``out_dtype``; int8 operands multiply in int16 (exact: |a * b| <= 2**14)
    before widening, which vectorizes as 16-bit multiplies."""
    from tvm import tirx

    if out_dtype == _dtype(a):
        return a * b
    if _dtype(a) in ("int8", "uint8") and out_dtype == "int32":
        product = tirx.Cast("int16", a) * tirx.Cast("int16", b)
        return tirx.Cast("int32", product)
    return tirx.Cast(out_dtype, a) * tirx.Cast(out_dtype, b)


def _cast(value, dtype: str):
    from tvm import tirx

    from edgec.backends.tvm.fixedpoint_te import as_expr

    return tirx.Cast(dtype, as_expr(value))


def conv2d_nhwc(data, wp, strides, dilation, groups: int, out_dtype: str):
    """Convolution of padded NHWC ``data`` with packed weights ``wp`` (see the module doc)."""
    from tvm import te

    n, h, w, _ = (int(d) for d in data.shape)
    blocks, kh, kw, in_per_group, tile = (int(d) for d in wp.shape)
    oc = blocks * tile
    sh, sw = strides
    dh, dw = dilation
    oh = (h - dh * (kh - 1) - 1) // sh + 1
    ow = (w - dw * (kw - 1) - 1) // sw + 1
    out_per_group = oc // groups
    ry = te.reduce_axis((0, kh), "ry")
    rx = te.reduce_axis((0, kw), "rx")
    rc = te.reduce_axis((0, in_per_group), "rc")

    def channel(o):
        return rc if groups == 1 else (o // out_per_group) * in_per_group + rc

    def body(b, i, j, o):
        x = data[b, i * sh + ry * dh, j * sw + rx * dw, channel(o)]
        k = wp[o // tile, ry, rx, rc, o % tile]
        return te.sum(widening_product(x, k, out_dtype), axis=[ry, rx, rc])

    return te.compute((n, oh, ow, oc), body, name="edgec_conv", attrs={TILE_ATTR: tile})


def depthwise_nhwc(data, wp, strides, dilation, out_dtype: str, tile: int):
    """Depthwise convolution of padded NHWC ``data`` with ``[KH, KW, C]`` weights."""
    from tvm import te

    n, h, w, c = (int(d) for d in data.shape)
    kh, kw, _ = (int(d) for d in wp.shape)
    sh, sw = strides
    dh, dw = dilation
    oh = (h - dh * (kh - 1) - 1) // sh + 1
    ow = (w - dw * (kw - 1) - 1) // sw + 1
    ry = te.reduce_axis((0, kh), "ry")
    rx = te.reduce_axis((0, kw), "rx")

    def body(b, i, j, k):
        x = data[b, i * sh + ry * dh, j * sw + rx * dw, k]
        return te.sum(widening_product(x, wp[ry, rx, k], out_dtype), axis=[ry, rx])

    return te.compute((n, oh, ow, c), body, name="edgec_dwconv", attrs={TILE_ATTR: tile})


def dense(x, wp, out_dtype: str):
    """``x [M, K]`` times packed weights: ``[M, N]`` in ``out_dtype``."""
    from tvm import te

    m = int(x.shape[0])
    blocks, k, tile = (int(d) for d in wp.shape)
    rk = te.reduce_axis((0, k), "rk")

    def body(i, j):
        return te.sum(widening_product(x[i, rk], wp[j // tile, rk, j % tile], out_dtype), axis=[rk])

    return te.compute((m, blocks * tile), body, name="edgec_dense", attrs={TILE_ATTR: tile})
