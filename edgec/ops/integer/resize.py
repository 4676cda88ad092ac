"""Integer bilinear resize: TFLite's RESIZE_BILINEAR (ResizeBilinearInteger), NCHW.

Source coordinates are Q10 fixed point: for output index o, ``scaled = o * scale_10`` (plus
``scale_10 / 2 - 512`` with half-pixel centres), the low index ``max(scaled / 1024, 0)``
(C division), the high one ``min(ceil(scaled / 1024), n_in - 1)``, and the weights
``1024 - f`` and ``f`` with ``f = scaled - 1024 * low`` (negative left of the first pixel).
The output is the weighted sum of the four input values, divided by 2^20 rounding half away
from zero, in the input's quantization (TFLite requires equal input and output parameters).

ONNX's coordinate modes map to TFLite's flags: ``asymmetric`` (neither), ``align_corners``,
``half_pixel`` and ``pytorch_half_pixel`` (half-pixel centres). Where TFLite has no
equivalent, edgec extends it and says so: ``scale_10`` is TFLite's rounded size ratio
``in / out`` when the ONNX scale is that ratio, else ``round(1024 / scale)`` (ONNX scales
the coordinates by the given factor); ``pytorch_half_pixel`` maps an axis of output size 1
to source 0; a low index past the last pixel (only from a rounded ``scale_10``) is clamped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgec.errors import QuantizationError
from edgec.ops.integer import fixedpoint as fp
from edgec.ops.integer.common import as_int, check_dtype

ONE = 1 << 10  # Q10
COORDINATE_MODES = ("asymmetric", "align_corners", "half_pixel", "pytorch_half_pixel")


@dataclass(frozen=True)
class AxisTable:
    """Per output index along one axis: the low and high source indices and the Q10 weight
    of the high one (the low one weighs ONE - frac)."""

    low: np.ndarray
    high: np.ndarray
    frac: np.ndarray


def axis_table(mode: str, n_in: int, n_out: int, scale: float) -> AxisTable:
    """TFLite's ComputeInterpolationValuesInteger for one axis (``scale``: ONNX's factor)."""
    if mode not in COORDINATE_MODES:
        raise QuantizationError(f"integer bilinear resize has no {mode!r} coordinates")
    if mode == "align_corners" and n_out > 1:
        scale_10 = (ONE * (n_in - 1) + (n_out - 1) // 2) // (n_out - 1)
    elif np.float32(scale) == np.float32(n_out) / np.float32(n_in):
        scale_10 = (ONE * n_in + n_out // 2) // n_out
    else:
        scale_10 = int(np.floor(ONE / float(scale) + 0.5))
    o = np.arange(n_out, dtype=np.int64)
    if mode in ("half_pixel", "pytorch_half_pixel"):
        scaled = o * scale_10 + scale_10 // 2 - ONE // 2
        if mode == "pytorch_half_pixel" and n_out == 1:
            scaled = np.zeros_like(o)
    else:
        scaled = o * scale_10
    low = np.minimum(np.maximum(fp.trunc_div(scaled, ONE), 0), n_in - 1)
    high = np.minimum(fp.trunc_div(scaled + ONE - 1, ONE), n_in - 1)
    frac = scaled - ONE * low
    if np.abs(frac).max(initial=0) > 2 * ONE:  # the C kernel's int32 bound
        raise QuantizationError(f"resize scale {scale} is too far from the size ratio")
    return AxisTable(low, high, frac)


@dataclass(frozen=True)
class BilinearParams:
    dtype: np.dtype
    rows: AxisTable
    cols: AxisTable


def bilinear_params(
    mode: str, in_hw: tuple[int, int], out_hw: tuple[int, int], scales, dtype="int8"
) -> BilinearParams:
    """Tables for rows and columns (a 1-d resize has one input and one output row)."""
    dtype = check_dtype(dtype)
    rows = axis_table(mode, in_hw[0], out_hw[0], scales[0])
    cols = axis_table(mode, in_hw[1], out_hw[1], scales[1])
    return BilinearParams(dtype, rows, cols)


def resize_bilinear(x, params: BilinearParams) -> np.ndarray:
    """x [N, C, H, W] → [N, C, out H, out W]."""
    p = params
    x = as_int(x, p.dtype).astype(np.int64)
    r, c = p.rows, p.cols
    wy_hi, wy_lo = r.frac[:, None], (ONE - r.frac)[:, None]
    wx_hi, wx_lo = c.frac[None, :], (ONE - c.frac)[None, :]

    def at(rows, cols):
        return x[:, :, rows[:, None], cols[None, :]]

    total = (
        at(r.low, c.low) * wy_lo * wx_lo
        + at(r.high, c.low) * wy_hi * wx_lo
        + at(r.low, c.high) * wy_lo * wx_hi
        + at(r.high, c.high) * wy_hi * wx_hi
    )
    half = 1 << 19
    return fp.trunc_div(np.where(total > 0, total + half, total - half), 1 << 20).astype(p.dtype)
