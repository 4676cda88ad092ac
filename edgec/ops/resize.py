"""Resize in nearest-neighbour and linear (bilinear) mode.

Which input pixels an output pixel reads is decided by a source coordinate, so the
arithmetic follows onnxruntime's float32 formulas step by step: a tie such as ``1.5 / 0.6``
lands on a different pixel in float64. Linear mode interpolates one resized axis after the
other between the two pixels around the coordinate (clamped to the axis), with
onnxruntime's float32 weights. On integer data (a quantized graph) nearest copies values
and linear is TFLite's RESIZE_BILINEAR (``edgec.ops.integer.resize``), in the input's
quantization.
"""

from __future__ import annotations

import numpy as np

from edgec.errors import QuantizationError, ShapeError, node_error
from edgec.ops.integer import resize as qresize
from edgec.ops.integer.nodes import out_dtype, scale_zp
from edgec.ops.registry import Attr, Op, normalize_axis, register

F32 = np.float32


def _half_pixel_symmetric(o, scale, n_in, n_out):
    """half_pixel, re-centred for the fraction of an output pixel the integer size dropped."""
    output_width = scale * F32(n_in)
    offset = F32(n_in) / F32(2) * (F32(1) - F32(n_out) / output_width)
    # onnxruntime sums this one in double before rounding to float.
    total = offset.astype(np.float64) + (o.astype(np.float64) + 0.5) / float(scale) - 0.5
    return total.astype(F32)


# Source coordinate of output indices ``o`` (float32 array) along an axis of ``n_in`` pixels.
_COORDINATES = {
    "half_pixel": lambda o, scale, n_in, n_out: (o + F32(0.5)) / scale - F32(0.5),
    "pytorch_half_pixel": lambda o, scale, n_in, n_out: (
        (o + F32(0.5)) / scale - F32(0.5) if n_out > 1 else np.zeros_like(o)
    ),
    "asymmetric": lambda o, scale, n_in, n_out: o / scale,
    "tf_half_pixel_for_nn": lambda o, scale, n_in, n_out: (o + F32(0.5)) / scale,
    "align_corners": lambda o, scale, n_in, n_out: (
        o * F32(n_in - 1) / F32(n_out - 1) if n_out > 1 else np.zeros_like(o)
    ),
    "half_pixel_symmetric": _half_pixel_symmetric,
}


def _round_half_down(x: np.ndarray) -> np.ndarray:
    low = np.floor(x)
    return low + (x - low > 0.5)


def _round_half_up(x: np.ndarray) -> np.ndarray:
    low = np.floor(x)
    return low + (x - low >= 0.5)


_ROUNDING = {
    "round_prefer_floor": _round_half_down,
    "round_prefer_ceil": _round_half_up,
    "floor": np.floor,
    "ceil": np.ceil,
}


@register
class Resize(Op):
    op_type = "Resize"
    integer = "arith"
    keeps_input_quant = True  # TFLite's resize kernels copy or interpolate raw values
    num_inputs = (1, 4)
    const_inputs = (1, 2, 3)
    attributes = {
        "antialias": Attr("int", 0, (0,)),
        "axes": Attr("ints", None),
        "coordinate_transformation_mode": Attr("string", "half_pixel", tuple(_COORDINATES)),
        "cubic_coeff_a": Attr("float", -0.75),
        "exclude_outside": Attr("int", 0, (0,)),
        "extrapolation_value": Attr("float", 0.0),
        "keep_aspect_ratio_policy": Attr(
            "string", "stretch", ("stretch", "not_larger", "not_smaller")
        ),
        "mode": Attr("string", "nearest", ("nearest", "linear")),
        "nearest_mode": Attr("string", "round_prefer_floor", tuple(_ROUNDING)),
    }

    def plan(self, node, shape, scales, sizes) -> tuple[tuple[int, ...], list[np.float32]]:
        """Output shape and per-axis (float32) scale factors."""
        rank = len(shape)
        axes = self.attr(node, "axes")
        axes = list(range(rank)) if axes is None else [normalize_axis(node, a, rank) for a in axes]
        out, factor = list(shape), [F32(1)] * rank
        if sizes is not None and sizes.size:
            sizes = [int(v) for v in sizes.reshape(-1)]
            if len(sizes) != len(axes) or min(sizes) < 1:
                raise node_error(ShapeError, node, f"sizes {sizes} invalid for axes {axes}")
            policy = self.attr(node, "keep_aspect_ratio_policy")
            ratios = [F32(size) / F32(shape[axis]) for axis, size in zip(axes, sizes)]
            if policy != "stretch":
                # One scale for every resized axis: the largest that fits, or smallest that covers.
                common = min(ratios) if policy == "not_larger" else max(ratios)
                sizes = [int(np.floor(common * F32(shape[axis]) + F32(0.5))) for axis in axes]
                ratios = [common] * len(axes)
            for axis, size, ratio in zip(axes, sizes, ratios):
                out[axis], factor[axis] = size, ratio
        elif scales is not None and scales.size:
            scales = scales.reshape(-1).astype(F32)
            if len(scales) != len(axes):
                raise node_error(ShapeError, node, f"{len(scales)} scales for axes {axes}")
            for axis, scale in zip(axes, scales):
                if not scale > 0:
                    raise node_error(ShapeError, node, f"scale {scale} must be positive")
                out[axis], factor[axis] = int(scale * F32(shape[axis])), scale
            if min(out) < 1:
                raise node_error(
                    ShapeError, node, f"scales {list(scales)} give an empty output {out}"
                )
        else:
            raise node_error(ShapeError, node, "needs scales or sizes")
        return tuple(out), factor

    def infer(self, node, ins):
        scales = self.const_data(node, ins, 2) if len(ins) > 2 else None
        sizes = self.const_data(node, ins, 3) if len(ins) > 3 else None
        return [(ins[0].dtype, self.plan(node, ins[0].shape, scales, sizes)[0])]

    def source_indices(self, node, n_in: int, n_out: int, scale: np.float32) -> np.ndarray:
        """For each output index along one axis, the input index it copies."""
        coordinate = _COORDINATES[self.attr(node, "coordinate_transformation_mode")]
        x = coordinate(np.arange(n_out, dtype=F32), F32(scale), n_in, n_out).astype(F32)
        idx = _ROUNDING[self.attr(node, "nearest_mode")](x)
        return np.clip(idx, 0, n_in - 1).astype(np.int64)

    def linear_weights(self, node, n_in: int, n_out: int, scale: np.float32):
        """Per output index along one axis: the low and high source indices and their
        weights, as onnxruntime computes them in float32."""
        coordinate = _COORDINATES[self.attr(node, "coordinate_transformation_mode")]
        x = coordinate(np.arange(n_out, dtype=F32), F32(scale), n_in, n_out).astype(F32)
        x = np.clip(x, F32(0), F32(n_in - 1))
        low = np.minimum(x.astype(np.int64), n_in - 1)
        high = np.minimum(low + 1, n_in - 1)
        w_low, w_high = np.abs(x - high.astype(F32)), np.abs(x - low.astype(F32))
        same = low == high
        return low, high, np.where(same, F32(0.5), w_low), np.where(same, F32(0.5), w_high)

    def resized_axes(self, node, shape, scales, sizes) -> list[tuple[int, int, np.float32]]:
        """(axis, output size, scale) of every axis the node changes."""
        out, factor = self.plan(node, shape, scales, sizes)
        return [
            (axis, n_out, factor[axis])
            for axis, (n_in, n_out) in enumerate(zip(shape, out))
            if n_in != n_out or factor[axis] != 1
        ]

    def run(self, node, inputs):
        x = inputs[0]
        scales = inputs[2] if len(inputs) > 2 else None
        sizes = inputs[3] if len(inputs) > 3 else None
        linear = self.attr(node, "mode") == "linear"
        y = x.astype(np.float64) if linear else x
        for axis, n_out, scale in self.resized_axes(node, x.shape, scales, sizes):
            n_in = x.shape[axis]
            if linear:
                low, high, w_low, w_high = self.linear_weights(node, n_in, n_out, scale)
                shape = [1] * x.ndim
                shape[axis] = -1
                y = np.take(y, low, axis=axis) * w_low.reshape(shape) + np.take(
                    y, high, axis=axis
                ) * w_high.reshape(shape)
            else:
                y = np.take(y, self.source_indices(node, n_in, n_out, scale), axis=axis)
        return [np.asarray(y, order="C").astype(x.dtype, copy=False)]

    def integer_params(self, node):
        x, y = node.inputs[0], node.outputs[0]
        if scale_zp(x) != scale_zp(y):
            raise node_error(
                QuantizationError, node, "integer Resize keeps its input's quantization"
            )
        if self.attr(node, "mode") == "nearest":
            return None
        scales = node.input(2).const if node.input(2) is not None else None
        sizes = node.input(3).const if node.input(3) is not None else None
        rank = len(x.shape)
        resized = self.resized_axes(node, x.shape, scales, sizes)
        if rank not in (3, 4) or any(axis < 2 for axis, _, _ in resized):
            raise node_error(
                QuantizationError, node, "integer bilinear Resize resizes the H, W (or L) axes"
            )
        factors = {axis: (n, s) for axis, n, s in resized}
        spatial = [(x.shape[a], *factors.get(a, (x.shape[a], F32(1)))) for a in range(2, rank)]
        if rank == 3:
            spatial = [(1, 1, F32(1)), *spatial]
        (h, oh, sh), (w, ow, sw) = spatial
        mode = self.attr(node, "coordinate_transformation_mode")
        try:
            return qresize.bilinear_params(mode, (h, w), (oh, ow), (sh, sw), out_dtype(node))
        except QuantizationError as exc:
            raise node_error(QuantizationError, node, str(exc)) from None

    def run_integer(self, node, inputs, params, rounding):
        x = inputs[0]
        if params is None:  # nearest: the copy of the float reference
            return self.run(node, [x, *inputs[1:]])[0]
        if x.ndim == 3:
            return qresize.resize_bilinear(x[:, :, None], params)[:, :, 0]
        return qresize.resize_bilinear(x, params)
