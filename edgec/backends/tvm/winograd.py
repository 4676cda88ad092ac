"""Winograd F(2x2, 3x3) for float 3x3 stride-1 convolutions: 2.25x fewer multiplies.

Each 2x2 block of output pixels is computed from a 4x4 window of the input: the window is
transformed (``V = Bᵀ d B``: additions only), multiplied channel by channel with the
transformed weights (``U = G g Gᵀ``, computed in float64 at compile time) as 16 independent
matrix products over the input channels (``M[a, b] = V[a, b] · U[a, b]``, scheduled as
``kernels.py``'s register-tiled kernels), and transformed back (``Y = Aᵀ M A``: additions
only). F(2, 3)'s matrices hold only 0, ±1 and ±1/2, so its rounding error stays near the
direct convolution's (F(4, 3) would need 1/4, 1/6 and 1/24).

Layout: NHWC activations; ``V`` and ``M`` are ``[4, 4, N, rows, columns, channels]`` (a
row and column per 2x2 output tile: ``schedule.py`` can run a row of tiles from input to
output in one step), the weights ``[4, 4, OC / T, C, T]`` (``T`` output channels side by
side, as ``kernels.py`` packs them).
"""

from __future__ import annotations

import numpy as np

from edgec.backends.tvm.kernels import TILE_ATTR

WINOGRAD_ATTR = "edgec_winograd"  # on the matrix-product block: schedule.WinogradKernel's mark
# 2x2 output tiles below which the direct kernel is kept: each transformed weight is used
# once per tile, and the transformed weights are 16/9 as large as the direct ones, so a small
# map (ResNet-18's 4x4 and 2x2 at 64x64 input) streams weights instead of multiplying. From
# 16 tiles on (7x7 maps) Winograd is faster (ResNet-18 at 224 measured side by side).
MIN_TILES = 16

_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])


def eligible(kernel: tuple[int, int], strides, dilation, groups: int, pads, out_hw) -> bool:
    """Whether a convolution takes the Winograd kernel: 3x3, stride 1, no dilation or
    groups, "same" padding of 1, and a map of at least ``MIN_TILES`` 2x2 output tiles."""
    return (
        tuple(kernel) == (3, 3)
        and tuple(strides) == (1, 1)
        and tuple(dilation) == (1, 1)
        and groups == 1
        and tuple(pads) == (1, 1, 1, 1)
        and ((out_hw[0] + 1) // 2) * ((out_hw[1] + 1) // 2) >= MIN_TILES
    )


def transform_weights(w_oihw: np.ndarray, tile: int) -> np.ndarray:
    """OIHW 3x3 weights → ``U = G g Gᵀ`` packed ``[4, 4, OC/tile, C, tile]`` (float32)."""
    oc, c = w_oihw.shape[:2]
    u = np.einsum("ai,ocij,bj->abco", _G, w_oihw.astype(np.float64), _G)  # [4, 4, C, OC]
    blocks = u.reshape(4, 4, c, oc // tile, tile).transpose(0, 1, 3, 2, 4)
    return np.ascontiguousarray(blocks.astype(np.float32))


def _input_row(index, d):
    """Row ``index`` of Bᵀ applied to four values: d0 - d2, d1 + d2, d2 - d1, d1 - d3."""
    from tvm import tirx

    rows = [d[0] - d[2], d[1] + d[2], d[2] - d[1], d[1] - d[3]]
    chosen = rows[3]
    for row in (2, 1, 0):
        chosen = tirx.Select(index == row, rows[row], chosen)
    return chosen


def _output_row(index, m):
    """Row ``index`` of Aᵀ applied to four values: m0 + m1 + m2, m1 - m2 - m3."""
    from tvm import tirx

    return tirx.Select(index == 0, m[0] + m[1] + m[2], m[1] - m[2] - m[3])


def conv2d_nhwc(x, u, out_dtype: str):
    """The 3x3 "same" convolution of NHWC ``x`` with transformed weights ``u``."""
    from tvm import te

    from edgec.backends.tvm.kernels import pad_nhwc

    n, h, w, c = (int(d) for d in x.shape)
    _, _, blocks, _, tile = (int(d) for d in u.shape)
    rows, cols = (h + 1) // 2, (w + 1) // 2
    # One more row and column of zeros where the map is odd: every 4x4 window is in bounds.
    padded = pad_nhwc(x, (1, 1, 1 + 2 * rows - h, 1 + 2 * cols - w), 0.0)

    def transform_input(a, b, image, row, col, k):
        d = [[padded[image, 2 * row + i, 2 * col + j, k] for j in range(4)] for i in range(4)]
        return _input_row(b, [_input_row(a, [d[i][j] for i in range(4)]) for j in range(4)])

    v = te.compute((4, 4, n, rows, cols, c), transform_input, name="winograd_input")
    rc = te.reduce_axis((0, c), "rc")

    def product(a, b, image, row, col, o):
        return te.sum(v[a, b, image, row, col, rc] * u[a, b, o // tile, rc, o % tile], axis=[rc])

    attrs = {TILE_ATTR: tile, WINOGRAD_ATTR: 1}
    shape = (4, 4, n, rows, cols, blocks * tile)
    m = te.compute(shape, product, name="edgec_winograd", attrs=attrs)

    def transform_output(image, y, z, o):
        window = [[m[a, e, image, y // 2, z // 2, o] for e in range(4)] for a in range(4)]
        values = [_output_row(z % 2, row) for row in window]
        return _output_row(y % 2, values).astype(out_dtype)

    return te.compute((n, h, w, blocks * tile), transform_output, name="winograd_output")
