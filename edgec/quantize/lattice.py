"""Inputs already on an int8 grid: float calibration data whose values are ``k * step``
for at most 256 consecutive integers ``k`` (0 among them), spanning at least half of them
— features an int8 front end produced, or 8-bit pixels — quantized with that grid, so the
model's input loses nothing. (A coarser grid, such as 0/1 data, is left to the observers:
other values would lose more on it than on the range's own.)

Found from the calibration samples alone; a value outside the observed span is clipped as
with any range."""

from __future__ import annotations

import numpy as np

LEVELS = 256
TOLERANCE = 1e-3  # of a step: float32 rounding of k * step


def input_grid(values: np.ndarray) -> tuple[float, int] | None:
    """(scale, zero point) of the int8 grid holding every value of ``values``, or None."""
    distinct = np.unique(np.asarray(values, np.float64))
    if len(distinct) < 2 or len(distinct) > LEVELS or not np.all(np.isfinite(distinct)):
        return None
    gaps = np.diff(distinct)
    first = float(gaps.min())
    if first <= 0:
        return None
    steps = np.rint((distinct - distinct[0]) / first)
    # the step from every value (least squares), not from the one smallest gap
    step = float(np.sum(steps * (distinct - distinct[0])) / np.sum(steps * steps))
    k = distinct / step
    if np.max(np.abs(k - np.rint(k))) > TOLERANCE:
        return None
    lo, hi = int(np.rint(k[0])), int(np.rint(k[-1]))
    lo, hi = min(lo, 0), max(hi, 0)
    spare = LEVELS - 1 - (hi - lo)
    if spare < 0 or hi - lo < LEVELS // 2:
        return None  # off the grid, or a grid much coarser than the range's own
    lo -= spare // 2  # the unused levels on both sides: room for values not yet seen
    zero_point = -128 - lo
    scale = float(np.float32(step))
    # exact in float32 too: the kernels quantize with the float32 scale
    if np.max(np.abs(distinct / scale - np.rint(distinct / scale))) > TOLERANCE:
        return None
    return scale, zero_point


def grid_inputs(inputs: dict[str, np.ndarray], float_names: list[str]) -> dict[str, tuple]:
    """(scale, zero point) per float input among ``float_names`` whose calibration samples
    ``inputs[name]`` lie on an int8 grid."""
    found = {}
    for name in float_names:
        values = inputs.get(name)
        if values is not None and np.issubdtype(values.dtype, np.floating):
            grid = input_grid(values)
            if grid is not None:
                found[name] = grid
    return found
