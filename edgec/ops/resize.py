"""Resize in nearest-neighbour mode (the mode integer backends can run exactly)."""

from __future__ import annotations

import math

import numpy as np

from edgec.errors import ShapeError, node_error
from edgec.ops.registry import Attr, Op, normalize_axis, register

_COORDINATES = {
    "half_pixel": lambda o, scale, n_in, n_out: (o + 0.5) / scale - 0.5,
    "pytorch_half_pixel": lambda o, scale, n_in, n_out: (o + 0.5) / scale - 0.5 if n_out > 1 else 0 * o,
    "asymmetric": lambda o, scale, n_in, n_out: o / scale,
    "tf_half_pixel_for_nn": lambda o, scale, n_in, n_out: (o + 0.5) / scale,
    "align_corners": lambda o, scale, n_in, n_out: o * (n_in - 1) / (n_out - 1) if n_out > 1 else 0 * o,
}
_ROUNDING = {
    "round_prefer_floor": lambda x: np.ceil(x - 0.5),
    "round_prefer_ceil": lambda x: np.floor(x + 0.5),
    "floor": np.floor,
    "ceil": np.ceil,
}


@register
class Resize(Op):
    op_type = "Resize"
    num_inputs = (1, 4)
    const_inputs = (1, 2, 3)
    attributes = {
        "antialias": Attr("int", 0, (0,)),
        "axes": Attr("ints", None),
        "coordinate_transformation_mode": Attr("string", "half_pixel", tuple(_COORDINATES)),
        "cubic_coeff_a": Attr("float", -0.75),
        "exclude_outside": Attr("int", 0, (0,)),
        "extrapolation_value": Attr("float", 0.0),
        "keep_aspect_ratio_policy": Attr("string", "stretch", ("stretch",)),
        "mode": Attr("string", "nearest", ("nearest",)),
        "nearest_mode": Attr("string", "round_prefer_floor", tuple(_ROUNDING)),
    }

    def plan(self, node, shape, scales, sizes) -> tuple[tuple[int, ...], list[float]]:
        """Output shape and per-axis scale factors."""
        rank = len(shape)
        axes = self.attr(node, "axes")
        axes = list(range(rank)) if axes is None else [normalize_axis(node, a, rank) for a in axes]
        out, factor = list(shape), [1.0] * rank
        if sizes is not None and sizes.size:
            for axis, size in zip(axes, sizes.reshape(-1)):
                out[axis], factor[axis] = int(size), int(size) / shape[axis]
        elif scales is not None and scales.size:
            for axis, scale in zip(axes, scales.reshape(-1)):
                if scale <= 0:
                    raise node_error(ShapeError, node, f"scale {scale} must be positive")
                out[axis], factor[axis] = int(math.floor(shape[axis] * float(scale))), float(scale)
        else:
            raise node_error(ShapeError, node, "needs scales or sizes")
        return tuple(out), factor

    def infer(self, node, ins):
        scales = self.const_data(node, ins, 2) if len(ins) > 2 else None
        sizes = self.const_data(node, ins, 3) if len(ins) > 3 else None
        return [(ins[0].dtype, self.plan(node, ins[0].shape, scales, sizes)[0])]

    def source_indices(self, node, n_in: int, n_out: int, scale: float) -> np.ndarray:
        """For each output index along one axis, the input index it copies."""
        coordinate = _COORDINATES[self.attr(node, "coordinate_transformation_mode")]
        x = coordinate(np.arange(n_out, dtype=np.float64), scale, n_in, n_out)
        idx = _ROUNDING[self.attr(node, "nearest_mode")](x)
        return np.clip(idx, 0, n_in - 1).astype(np.int64)

    def run(self, node, inputs):
        x = inputs[0]
        scales = inputs[2] if len(inputs) > 2 else None
        sizes = inputs[3] if len(inputs) > 3 else None
        out, factor = self.plan(node, x.shape, scales, sizes)
        y = x
        for axis, (n_in, n_out) in enumerate(zip(x.shape, out)):
            if n_in != n_out or factor[axis] != 1.0:
                y = np.take(y, self.source_indices(node, n_in, n_out, factor[axis]), axis=axis)
        return [np.ascontiguousarray(y)]
