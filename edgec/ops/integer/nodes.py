"""What the integer kernels need from a quantized IR node: scales and zero points, the fused
activation, weight scales, window geometry. Shared by the ops' ``integer_params``."""

from __future__ import annotations

import numpy as np

from edgec.errors import QuantizationError, node_error
from edgec.ir.graph import Node, Value
from edgec.ops.registry import get_op
from edgec.ops.spatial import resolve_window


def scale_zp(value: Value) -> tuple[float, int]:
    q = value.quant
    if q is None:
        raise QuantizationError(f"value {value.name!r} has no quantization parameters")
    if q.axis is not None:
        raise QuantizationError(f"value {value.name!r} is quantized per channel, not per tensor")
    return float(q.scale), int(q.zero_point)


def fused_bounds(node: Node) -> tuple[float | None, float | None]:
    if node.fused is None:
        return None, None
    if node.fused.op_type == "Relu":
        return 0.0, None
    return node.fused.attrs.get("min"), node.fused.attrs.get("max")


def weight_scales(node: Node, w: Value, out_axis: int) -> np.ndarray:
    q = w.quant
    if q is None:
        raise node_error(QuantizationError, node, "weights have no quantization parameters")
    scales = np.atleast_1d(q.scale).astype(np.float32)
    if scales.size > 1 and q.axis != out_axis:
        raise node_error(
            QuantizationError, node, f"weights quantized along axis {q.axis}, not the output axis"
        )
    if np.any(np.asarray(q.zero_point) != 0):
        raise node_error(QuantizationError, node, "weights must be symmetric (zero point 0)")
    return scales


def out_dtype(node: Node) -> str:
    """The name of the node's (first) output dtype: "int8" or "int16"."""
    return np.dtype(node.outputs[0].dtype).name


def wide_bias(node: Node) -> bool | None:
    """Whether the bias is int64 (16x8 mode); None without a bias."""
    bias = node.input(2)
    return None if bias is None else bool(bias.dtype == np.int64)


def conv_geometry(node: Node) -> dict:
    """Strides, dilations and pads of a 1-d or 2-d convolution as 2-d values."""
    x, w = node.inputs[0], node.inputs[1]
    win = resolve_window(node, get_op("Conv"), tuple(x.shape[2:]), tuple(w.shape[2:]))
    if len(win.kernel) == 1:
        return {
            "strides": (1, *win.strides),
            "dilations": (1, *win.dilations),
            "pads": (0, win.pads_begin[0], 0, win.pads_end[0]),
        }
    return {
        "strides": win.strides,
        "dilations": win.dilations,
        "pads": (win.pads_begin[0], win.pads_begin[1], win.pads_end[0], win.pads_end[1]),
    }


def fc_layout(node: Node) -> tuple[bool, int]:
    """(weights need transposing to [out, in], axis of the output channels in B)."""
    if node.op_type == "MatMul":
        return True, 1
    trans_b = bool(get_op("Gemm").attr(node, "transB"))
    return (not trans_b), (0 if trans_b else 1)


def mean_axes(node: Node) -> tuple[int, ...]:
    """The axes a GlobalAveragePool or ReduceMean averages over."""
    rank = len(node.inputs[0].shape)
    if node.op_type == "GlobalAveragePool":
        return tuple(range(2, rank))
    axes = get_op("ReduceMean").axes(
        node, rank, node.input(1).const if node.input(1) is not None else None
    )
    return tuple(axes) if axes else tuple(range(rank))
