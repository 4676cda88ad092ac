"""Integer references of the registry's ops: quantized IR nodes → TFLite Micro kernels.

A node is *integer* when it is an ``integer == "arith"`` op and its output carries
``QuantParams``. Its inputs are then integer arrays (int8 or int16) whose ``Value.quant``
give scale and zero point; weights are int8 per output channel; biases are int32 (int64 in
16×8 mode). ``params(node)`` derives the kernel parameters from those (exactly as TFLM's
Prepare does; the C backend emits the same numbers) and ``run`` applies the kernel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edgec.errors import QuantizationError, UnsupportedOpError, node_error
from edgec.ir.graph import Node, Value
from edgec.ops.registry import get_op
from edgec.ops.spatial import resolve_window
from edgec.quantize.kernels import activations as act
from edgec.quantize.kernels import elementwise as ew
from edgec.quantize.kernels import linear, pooling, softmax
from edgec.quantize.kernels.common import activation_range


def is_integer_node(node: Node) -> bool:
    op = get_op(node.op_type, node.domain)
    return (
        op is not None
        and op.integer == "arith"
        and bool(node.outputs)
        and node.outputs[0].quant is not None
    )


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


def _dtype(node: Node) -> str:
    return np.dtype(node.outputs[0].dtype).name


# ---- per-op parameter derivation and kernels ----------------------------------------------------
def conv_geometry(node: Node) -> dict:
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


def _conv_params(node: Node):
    x, w, y = node.inputs[0], node.inputs[1], node.outputs[0]
    (s_in, z_in), (s_out, z_out) = scale_zp(x), scale_zp(y)
    return linear.conv_params(
        s_in,
        z_in,
        weight_scales(node, w, 0),
        s_out,
        z_out,
        dtype=_dtype(node),
        group=node.attrs.get("group", 1),
        activation=fused_bounds(node),
        wide=_wide(node),
        **conv_geometry(node),
    )


def _wide(node: Node) -> bool | None:
    bias = node.input(2)
    return None if bias is None else bool(bias.dtype == np.int64)


def _conv(node: Node, ins, p, rounding):
    x, w = ins[0], ins[1]
    if x.ndim == 3:  # 1-d: a 2-d conv over H = 1
        y = linear.conv2d(
            x[:, :, None, :], w[:, :, None, :], ins[2] if len(ins) > 2 else None, p, rounding
        )
        return y[:, :, 0, :]
    return linear.conv2d(x, w, ins[2] if len(ins) > 2 else None, p, rounding)


def fc_layout(node: Node) -> tuple[bool, int]:
    """(weights need transposing to [out, in], axis of the output channels in B)."""
    if node.op_type == "MatMul":
        return True, 1
    trans_b = bool(get_op("Gemm").attr(node, "transB"))
    return (not trans_b), (0 if trans_b else 1)


def _fc_params(node: Node):
    x, w, y = node.inputs[0], node.inputs[1], node.outputs[0]
    if node.op_type == "Gemm":
        op = get_op("Gemm")
        if op.attr(node, "transA") or op.attr(node, "alpha") != 1.0 or op.attr(node, "beta") != 1.0:
            raise node_error(QuantizationError, node, "integer Gemm needs transA=0, alpha=beta=1")
    _, axis = fc_layout(node)
    (s_in, z_in), (s_out, z_out) = scale_zp(x), scale_zp(y)
    return linear.fully_connected_params(
        s_in,
        z_in,
        weight_scales(node, w, axis),
        s_out,
        z_out,
        dtype=_dtype(node),
        activation=fused_bounds(node),
        wide=_wide(node),
    )


def _fc(node: Node, ins, p, rounding):
    transpose, _ = fc_layout(node)
    w = ins[1].T if transpose else ins[1]
    bias = ins[2] if len(ins) > 2 and ins[2] is not None else None
    if bias is not None:
        bias = np.broadcast_to(bias, (1, w.shape[0]))[0].astype(bias.dtype)
    return linear.fully_connected(ins[0], np.ascontiguousarray(w), bias, p, rounding)


def _binary_params(node: Node):
    a, b, y = node.inputs[0], node.inputs[1], node.outputs[0]
    make = ew.add_params if node.op_type == "Add" else ew.mul_params
    return make(
        *scale_zp(a), *scale_zp(b), *scale_zp(y), dtype=_dtype(node), activation=fused_bounds(node)
    )


def _binary(node: Node, ins, p, rounding):
    kernel = ew.add if node.op_type == "Add" else ew.mul
    return kernel(ins[0], ins[1], p, rounding)


def _pool_params(node: Node):
    x, y = node.inputs[0], node.outputs[0]
    op = get_op(node.op_type)
    kernel = tuple(op.attr(node, "kernel_shape"))
    win = resolve_window(node, op, tuple(x.shape[2:]), kernel)
    include_pad = bool(node.op_type == "AveragePool" and op.attr(node, "count_include_pad"))
    if include_pad and any(win.extra_end):
        raise node_error(QuantizationError, node, "count_include_pad with ceil_mode overhang")
    end = [p + e for p, e in zip(win.pads_end, win.extra_end)]
    if len(kernel) == 1:
        kernel, strides, pads = (1, *kernel), (1, *win.strides), (0, win.pads_begin[0], 0, end[0])
    else:
        strides, pads = win.strides, (win.pads_begin[0], win.pads_begin[1], end[0], end[1])
    return pooling.pool_params(
        *scale_zp(x),
        *scale_zp(y),
        kernel,
        strides=strides,
        pads=pads,
        dtype=_dtype(node),
        activation=fused_bounds(node),
        count_include_pad=include_pad,
    )


def _pool(node: Node, ins, p, rounding):
    x = ins[0]
    squeeze = x.ndim == 3
    x = x[:, :, None, :] if squeeze else x
    y = (
        pooling.avg_pool(x, p, rounding)
        if node.op_type == "AveragePool"
        else pooling.max_pool(x, p)
    )
    return y[:, :, 0, :] if squeeze else y


def _mean_axes(node: Node) -> tuple[int, ...]:
    rank = len(node.inputs[0].shape)
    if node.op_type == "GlobalAveragePool":
        return tuple(range(2, rank))
    axes = get_op("ReduceMean").axes(
        node, rank, node.input(1).const if node.input(1) is not None else None
    )
    return tuple(axes) if axes else tuple(range(rank))


def _mean_params(node: Node):
    x, y = node.inputs[0], node.outputs[0]
    count = int(np.prod([x.shape[a] for a in _mean_axes(node)]))
    return pooling.mean_params(*scale_zp(x), *scale_zp(y), count, dtype=_dtype(node))


def _mean(node: Node, ins, p, rounding):
    keep = node.op_type == "GlobalAveragePool" or bool(get_op("ReduceMean").attr(node, "keepdims"))
    return pooling.mean(ins[0], _mean_axes(node), p, keepdims=keep)


def _softmax_params(node: Node):
    x, y = node.inputs[0], node.outputs[0]
    in_dtype, out_dtype = np.dtype(x.dtype).name, np.dtype(y.dtype).name
    want = softmax.OUTPUT_QUANTIZATION.get((in_dtype, out_dtype))
    s_out, z_out = scale_zp(y)
    if want is None or not np.isclose(s_out, want[0], rtol=1e-6) or z_out != want[1]:
        raise node_error(
            QuantizationError,
            node,
            f"integer Softmax output must be quantized as {want} (TFLite), got ({s_out}, {z_out})",
        )
    return softmax.softmax_params(scale_zp(x)[0], dtype=in_dtype, output_dtype=out_dtype)


def _softmax(node: Node, ins, p, rounding):
    return softmax.softmax(ins[0], p, axis=get_op("Softmax").attr(node, "axis"))


def _sigmoid_like_params(node: Node):
    kind = "logistic" if node.op_type == "Sigmoid" else "tanh"
    return act.sigmoid_like_params(
        kind, *scale_zp(node.inputs[0]), *scale_zp(node.outputs[0]), dtype=_dtype(node)
    )


def _leaky_params(node: Node):
    alpha = float(get_op("LeakyRelu").attr(node, "alpha"))
    return act.leaky_relu_params(
        scale_zp(node.inputs[0])[0],
        scale_zp(node.inputs[0])[1],
        alpha,
        *scale_zp(node.outputs[0]),
        dtype=_dtype(node),
    )


def _clamp_params(node: Node):
    """Relu/Clip: a rescale when input and output quantization differ, then the clamp."""
    x, y = node.inputs[0], node.outputs[0]
    if node.op_type == "Relu":
        lo, hi = 0.0, None
    else:
        lo, hi = get_op("Clip").bounds(
            node, [None, *(v.const if v is not None else None for v in node.inputs[1:])]
        )
    rescale = (
        None
        if scale_zp(x) == scale_zp(y)
        else ew.requantize_params(*scale_zp(x), *scale_zp(y), _dtype(node))
    )
    return rescale, activation_range(_dtype(node), *scale_zp(y), lo, hi)


def _clamp(node: Node, ins, p, rounding):
    rescale, (lo, hi) = p
    x = ins[0] if rescale is None else ew.requantize(ins[0], rescale, rounding)
    return act.clamp(x, lo, hi)


def _concat(node: Node, ins, p, rounding):
    params = [scale_zp(v) for v in node.inputs]
    return ew.concat(
        ins, params, scale_zp(node.outputs[0]), get_op("Concat").attr(node, "axis"), rounding
    )


def _pad_params(node: Node):
    x, y = node.inputs[0], node.outputs[0]
    if scale_zp(x) != scale_zp(y):
        raise node_error(QuantizationError, node, "integer Pad keeps its input's quantization")
    op = get_op("Pad")
    if op.attr(node, "mode") != "constant":
        raise node_error(QuantizationError, node, "integer Pad supports constant mode only")
    axes = node.input(3).const if node.input(3) is not None else None
    widths = op.widths(node, x.shape, node.inputs[1].const, axes)
    value = node.input(2)
    constant = None
    if value is not None and value.const is not None:
        raw = value.const.reshape(-1)[0]
        constant = (
            int(raw)
            if np.issubdtype(value.const.dtype, np.integer)
            else int(ew.quantize_linear(np.array([raw], np.float32), *scale_zp(x), _dtype(node))[0])
        )
    return widths, constant


def _pad(node: Node, ins, p, rounding):
    widths, constant = p
    return ew.pad(ins[0], widths, scale_zp(node.inputs[0])[1], constant)


def _quantize_params(node: Node):
    """QuantizeLinear: float → int (ONNX rounding) or int → int (TFLite QUANTIZE)."""
    x, y = node.inputs[0], node.outputs[0]
    if np.issubdtype(np.dtype(x.dtype), np.floating):
        return None
    return ew.requantize_params(*scale_zp(x), *scale_zp(y), _dtype(node))


def _quantize(node: Node, ins, p, rounding):
    if p is None:
        return ew.quantize_linear(ins[0], *scale_zp(node.outputs[0]), _dtype(node))
    return ew.requantize(ins[0], p, rounding)


@dataclass(frozen=True)
class IntegerKernel:
    params: Callable[[Node], object]
    run: Callable[[Node, list, object, str], np.ndarray]


def _plain(kernel: Callable) -> Callable:
    return lambda node, ins, p, rounding: kernel(ins[0], p)


INTEGER_KERNELS: dict[str, IntegerKernel] = {
    "Conv": IntegerKernel(_conv_params, _conv),
    "Gemm": IntegerKernel(_fc_params, _fc),
    "MatMul": IntegerKernel(_fc_params, _fc),
    "Add": IntegerKernel(_binary_params, _binary),
    "Mul": IntegerKernel(_binary_params, _binary),
    "AveragePool": IntegerKernel(_pool_params, _pool),
    "MaxPool": IntegerKernel(_pool_params, _pool),
    "GlobalAveragePool": IntegerKernel(_mean_params, _mean),
    "ReduceMean": IntegerKernel(_mean_params, _mean),
    "Softmax": IntegerKernel(_softmax_params, _softmax),
    "Sigmoid": IntegerKernel(_sigmoid_like_params, _plain(act.logistic)),
    "Tanh": IntegerKernel(_sigmoid_like_params, _plain(act.tanh)),
    "HardSwish": IntegerKernel(
        lambda n: act.hard_swish_params(*scale_zp(n.inputs[0]), *scale_zp(n.outputs[0])),
        _plain(act.hard_swish),
    ),
    "LeakyRelu": IntegerKernel(_leaky_params, _plain(act.leaky_relu)),
    "Relu": IntegerKernel(_clamp_params, _clamp),
    "Clip": IntegerKernel(_clamp_params, _clamp),
    "Concat": IntegerKernel(lambda n: None, _concat),
    "Pad": IntegerKernel(_pad_params, _pad),
    "QuantizeLinear": IntegerKernel(_quantize_params, _quantize),
}


def integer_params(node: Node):
    """The kernel parameters of an integer node (raises a typed error naming the node)."""
    kernel = INTEGER_KERNELS.get(node.op_type)
    if kernel is None:
        raise UnsupportedOpError({node.op_type: [node.name]}, "integer execution")
    try:
        return kernel.params(node)
    except (ValueError, QuantizationError) as exc:
        if isinstance(exc, QuantizationError) and str(exc).startswith(node.op_type):
            raise
        raise node_error(QuantizationError, node, str(exc)) from None


def run_integer(node: Node, inputs: list, params, rounding: str = "tflm") -> list[np.ndarray]:
    out = INTEGER_KERNELS[node.op_type].run(node, inputs, params, rounding)
    return [np.asarray(out).astype(node.outputs[0].dtype)]
