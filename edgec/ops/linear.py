"""Ops with multiply-accumulate: Conv, ConvTranspose, Gemm, MatMul."""

from __future__ import annotations

import math

import numpy as np

from edgec.errors import QuantizationError, ShapeError, node_error
from edgec.ops.integer import linear as qlinear
from edgec.ops.integer import matmul as qmatmul
from edgec.ops.integer.nodes import (
    conv_geometry,
    fc_layout,
    fused_bounds,
    out_dtype,
    scale_zp,
    weight_scales,
    wide_bias,
)
from edgec.ops.registry import Attr, Op, TensorInfo, broadcast_shapes, register
from edgec.ops.spatial import AUTO_PAD, pad_spatial, resolve_window, windows


def _wide(x: np.ndarray) -> np.ndarray:
    """Float inputs accumulate in float64: the reference must not depend on BLAS summation order."""
    return x.astype(np.float64) if np.issubdtype(x.dtype, np.floating) else x


class ConvLike(Op):
    weighted = True
    num_inputs = (2, 3)
    attributes = {
        "auto_pad": Attr("string", "NOTSET", AUTO_PAD),
        "dilations": Attr("ints", None),
        "group": Attr("int", 1),
        "kernel_shape": Attr("ints", None),
        "pads": Attr("ints", None),
        "strides": Attr("ints", None),
    }

    def _check_geometry(self, node, x: TensorInfo, w: TensorInfo, in_per_group_axis: int):
        if x.shape is None or w.shape is None:
            raise node_error(ShapeError, node, "input and weight shapes must be known")
        if len(x.shape) < 3 or len(w.shape) != len(x.shape):
            raise node_error(ShapeError, node, f"input {x.shape} and weight {w.shape} ranks differ")
        kernel = self.attr(node, "kernel_shape")
        if kernel and tuple(kernel) != tuple(w.shape[2:]):
            raise node_error(ShapeError, node, f"kernel_shape {kernel} != weight {w.shape[2:]}")
        group = self.attr(node, "group")
        if group < 1 or x.shape[1] % group:
            raise node_error(
                ShapeError, node, f"{x.shape[1]} channels not divisible by group {group}"
            )
        return group


@register
class Conv(ConvLike):
    op_type = "Conv"
    integer = "arith"

    def infer(self, node, ins):
        x, w = ins[0], ins[1]
        group = self._check_geometry(node, x, w, 1)
        if w.shape[1] * group != x.shape[1]:
            raise node_error(
                ShapeError,
                node,
                f"weight {w.shape} expects {w.shape[1] * group} input channels, got {x.shape[1]}",
            )
        if w.shape[0] % group:
            raise node_error(
                ShapeError, node, f"{w.shape[0]} filters not divisible by group {group}"
            )
        if len(ins) > 2 and ins[2] is not None and ins[2].shape != (w.shape[0],):
            raise node_error(ShapeError, node, f"bias shape {ins[2].shape} != ({w.shape[0]},)")
        win = resolve_window(node, self, x.shape[2:], w.shape[2:])
        return [(x.dtype, (x.shape[0], w.shape[0], *win.out))]

    def run(self, node, inputs):
        x, w = inputs[0], inputs[1]
        b = inputs[2] if len(inputs) > 2 else None
        return [conv_reference(node, self, x, w, b)]

    def macs(self, node):
        w, y = node.inputs[1], node.outputs[0]
        return int(np.prod(y.shape, dtype=np.int64)) * int(np.prod(w.shape[1:], dtype=np.int64))

    def integer_params(self, node):
        x, w, y = node.inputs[0], node.inputs[1], node.outputs[0]
        (s_in, z_in), (s_out, z_out) = scale_zp(x), scale_zp(y)
        return qlinear.conv_params(
            s_in,
            z_in,
            weight_scales(node, w, 0),
            s_out,
            z_out,
            dtype=out_dtype(node),
            group=node.attrs.get("group", 1),
            activation=fused_bounds(node),
            wide=wide_bias(node),
            **conv_geometry(node),
        )

    def run_integer(self, node, inputs, params, rounding):
        x, w = inputs[0], inputs[1]
        bias = inputs[2] if len(inputs) > 2 else None
        if x.ndim == 3:  # 1-d: a 2-d conv over H = 1
            y = qlinear.conv2d(x[:, :, None, :], w[:, :, None, :], bias, params, rounding)
            return y[:, :, 0, :]
        return qlinear.conv2d(x, w, bias, params, rounding)


def conv_reference(node, op: Op, x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """N-d grouped convolution by im2col and one batched matmul per group."""
    group = op.attr(node, "group")
    n, c = x.shape[:2]
    m = w.shape[0]
    cg, mg = c // group, m // group
    win = resolve_window(node, op, x.shape[2:], w.shape[2:])
    nd = len(win.kernel)
    cols = windows(pad_spatial(x, win, 0), win)  # (N, C, *out, *k)
    out_size, k_size = math.prod(win.out), math.prod(win.kernel)
    cols = cols.reshape(n, group, cg, *win.out, *win.kernel)
    order = (1, 0, *range(3, 3 + nd), 2, *range(3 + nd, 3 + 2 * nd))
    cols = cols.transpose(order).reshape(group, n * out_size, cg * k_size)
    wg = w.reshape(group, mg, cg * k_size).transpose(0, 2, 1)
    y = np.matmul(_wide(cols), _wide(wg))  # (G, N*O, Mg)
    y = y.reshape(group, n, out_size, mg).transpose(1, 0, 3, 2).reshape(n, m, *win.out)
    if b is not None:
        y = y + b.reshape(1, m, *([1] * nd))
    return y.astype(x.dtype, copy=False)


@register
class ConvTranspose(ConvLike):
    op_type = "ConvTranspose"
    integer = "arith"
    attributes = {
        **ConvLike.attributes,
        "output_padding": Attr("ints", None),
        "output_shape": Attr("ints", None),
    }

    def _geometry(self, node, x_shape, w_shape):
        """Strides, dilations, full (uncropped) size, crop at the start, output size per axis.

        As in onnxruntime, a SAME target larger than the full result yields the full result,
        and an ``output_shape`` up to a stride larger extends it with zeros (plus bias) at
        the end, like an implicit output_padding.
        """
        nd = len(x_shape) - 2
        spatial, kernel = x_shape[2:], w_shape[2:]

        def listed(name, fill):
            v = self.attr(node, name)
            return [int(i) for i in v] if v else [fill] * nd

        strides, dilations = listed("strides", 1), listed("dilations", 1)
        out_pad = listed("output_padding", 0)
        extent = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
        full = [s * (i - 1) + op + e for s, i, op, e in zip(strides, spatial, out_pad, extent)]
        output_shape = self.attr(node, "output_shape")
        auto_pad = self.attr(node, "auto_pad")
        if output_shape or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            if output_shape:
                target = list(output_shape)[-nd:]
            else:
                target = [i * s for i, s in zip(spatial, strides)]
            if output_shape and any(t >= f + s for f, t, s in zip(full, target, strides)):
                raise node_error(ShapeError, node, f"output_shape {target} larger than {full}")
            total = [max(0, f - t) for f, t in zip(full, target)]
            # ONNX: SAME_UPPER puts the odd pad at the end; SAME_LOWER and NOTSET at the start.
            if auto_pad == "SAME_UPPER":
                begin = [t // 2 for t in total]
            else:
                begin = [t - t // 2 for t in total]
            out = target if output_shape else [f - t for f, t in zip(full, total)]
        elif auto_pad == "VALID":
            begin, out = [0] * nd, full
        else:
            pads = listed("pads", 0) if self.attr(node, "pads") else [0] * (2 * nd)
            if len(pads) != 2 * nd or any(p < 0 for p in pads):
                raise node_error(ShapeError, node, f"pads {pads} invalid for {nd} spatial dims")
            begin = pads[:nd]
            out = [f - b - e for f, b, e in zip(full, begin, pads[nd:])]
        if any(o < 1 for o in out):
            raise node_error(ShapeError, node, f"output size {out} is empty")
        return strides, dilations, full, begin, out

    def infer(self, node, ins):
        x, w = ins[0], ins[1]
        group = self._check_geometry(node, x, w, 0)
        if w.shape[0] != x.shape[1]:
            raise node_error(
                ShapeError, node, f"weight {w.shape} does not match {x.shape[1]} channels"
            )
        if len(ins) > 2 and ins[2] is not None and ins[2].shape != (w.shape[1] * group,):
            raise node_error(
                ShapeError, node, f"bias shape {ins[2].shape} != ({w.shape[1] * group},)"
            )
        *_, out = self._geometry(node, x.shape, w.shape)
        return [(x.dtype, (x.shape[0], w.shape[1] * group, *out))]

    def run(self, node, inputs):
        x, w = inputs[0], inputs[1]
        b = inputs[2] if len(inputs) > 2 else None
        group = self.attr(node, "group")
        n, c = x.shape[:2]
        cg, mg = c // group, w.shape[1]
        nd = x.ndim - 2
        strides, dilations, full, begin, out = self._geometry(node, x.shape, w.shape)
        kernel = w.shape[2:]
        # Every input pixel times every kernel tap: (G, N, *spatial, Mg, *kernel).
        xs = x.reshape(n, group, cg, -1).transpose(1, 0, 3, 2)  # (G, N, I, Cg)
        wg = w.reshape(group, 1, cg, mg * math.prod(kernel))
        contrib = np.matmul(_wide(xs), _wide(wg)).reshape(group, n, *x.shape[2:], mg, *kernel)
        y = np.zeros((n, group, mg, *full), dtype=np.float64)
        spatial_axes = [slice(None)] * nd
        for k_index in np.ndindex(*kernel):
            part = contrib[(slice(None), slice(None), *spatial_axes, slice(None), *k_index)]
            part = np.moveaxis(part, -1, 2).transpose(1, 0, 2, *range(3, 3 + nd))
            target = tuple(
                slice(k * d, k * d + s * (i - 1) + 1, s)
                for k, d, s, i in zip(k_index, dilations, strides, x.shape[2:])
            )
            y[(slice(None), slice(None), slice(None), *target)] += part
        y = y.reshape(n, group * mg, *full)
        after = [max(0, b0 + o - f) for b0, o, f in zip(begin, out, full)]
        if any(after):
            y = np.pad(y, [(0, 0), (0, 0), *((0, a) for a in after)])
        crop = tuple(slice(b0, b0 + o) for b0, o in zip(begin, out))
        y = y[(slice(None), slice(None), *crop)]
        if b is not None:
            y = y + b.reshape(1, -1, *([1] * nd))
        return [y.astype(x.dtype)]

    def macs(self, node):
        x, w = node.inputs[0], node.inputs[1]
        return int(np.prod(x.shape, dtype=np.int64)) * int(np.prod(w.shape[1:], dtype=np.int64))

    @staticmethod
    def weight_axis(node) -> int | None:
        """The weight axis that indexes output channels: 1 for group 1, 0 for depthwise (one
        output channel per input channel), None (per-tensor scales only) for other groups."""
        w = node.inputs[1]
        group = node.attrs.get("group", 1)
        if group == 1:
            return 1
        return 0 if w.shape[1] == 1 and group == w.shape[0] else None

    def integer_params(self, node):
        x, w, y = node.inputs[0], node.inputs[1], node.outputs[0]
        if len(x.shape) not in (3, 4):
            raise node_error(QuantizationError, node, "integer ConvTranspose is 1-d or 2-d")
        axis = self.weight_axis(node)
        if w.quant is not None and w.quant.axis is not None and w.quant.axis != axis:
            raise node_error(
                QuantizationError, node, f"weights quantized along axis {w.quant.axis}, not {axis}"
            )
        scales = weight_scales(node, w, axis if axis is not None else 0)
        strides, dilations, _, begin, out = self._geometry(node, x.shape, w.shape)
        if len(x.shape) == 3:
            strides, dilations, begin, out = (1, *strides), (1, *dilations), (0, *begin), (1, *out)
        (s_in, z_in), (s_out, z_out) = scale_zp(x), scale_zp(y)
        return qlinear.conv_transpose_params(
            s_in,
            z_in,
            scales,
            s_out,
            z_out,
            strides=strides,
            dilations=dilations,
            begin=begin,
            out=out,
            dtype=out_dtype(node),
            group=self.attr(node, "group"),
            activation=fused_bounds(node),
            wide=wide_bias(node),
        )

    def run_integer(self, node, inputs, params, rounding):
        x, w = inputs[0], inputs[1]
        bias = inputs[2] if len(inputs) > 2 else None
        if x.ndim == 3:  # 1-d: a 2-d transposed conv over H = 1
            y = qlinear.conv_transpose2d(x[:, :, None], w[:, :, None], bias, params, rounding)
            return y[:, :, 0, :]
        return qlinear.conv_transpose2d(x, w, bias, params, rounding)


@register
class Gemm(Op):
    """``Y = alpha * op(A) @ op(B) + beta * C`` with ``C`` broadcast to (M, N)."""

    op_type = "Gemm"
    integer = "arith"
    weighted = True
    num_inputs = (2, 3)
    attributes = {
        "alpha": Attr("float", 1.0),
        "beta": Attr("float", 1.0),
        "transA": Attr("int", 0, (0, 1)),
        "transB": Attr("int", 0, (0, 1)),
    }

    def infer(self, node, ins):
        a, b = ins[0], ins[1]
        if len(a.shape) != 2 or len(b.shape) != 2:
            raise node_error(ShapeError, node, f"A {a.shape} and B {b.shape} must be 2-d")
        m, k = a.shape[::-1] if self.attr(node, "transA") else a.shape
        k2, n = b.shape[::-1] if self.attr(node, "transB") else b.shape
        if k != k2:
            raise node_error(ShapeError, node, f"inner dims differ: A {a.shape}, B {b.shape}")
        c = ins[2] if len(ins) > 2 else None
        if c is not None and broadcast_shapes(node, [(m, n), c.shape]) != (m, n):
            raise node_error(ShapeError, node, f"C {ins[2].shape} does not broadcast to {(m, n)}")
        return [(a.dtype, (m, n))]

    def run(self, node, inputs):
        a, b = inputs[0], inputs[1]
        c = inputs[2] if len(inputs) > 2 else None
        a = a.T if self.attr(node, "transA") else a
        b = b.T if self.attr(node, "transB") else b
        alpha, beta = self.attr(node, "alpha"), self.attr(node, "beta")
        y = np.matmul(_wide(a), _wide(b))
        if alpha != 1.0:
            y = y * np.asarray(alpha, y.dtype)
        if c is not None:
            y = y + (c if beta == 1.0 else c * np.asarray(beta, c.dtype))
        return [y.astype(inputs[0].dtype, copy=False)]

    def macs(self, node):
        m, n = node.outputs[0].shape
        a = node.inputs[0].shape
        k = a[0] if self.attr(node, "transA") else a[1]
        return m * n * k

    def integer_params(self, node):
        if (
            self.attr(node, "transA")
            or self.attr(node, "alpha") != 1.0
            or self.attr(node, "beta") != 1.0
        ):
            raise node_error(QuantizationError, node, "integer Gemm needs transA=0, alpha=beta=1")
        return _fc_integer_params(node)

    def run_integer(self, node, inputs, params, rounding):
        return _fc_run_integer(node, inputs, params, rounding)


@register
class MatMul(Op):
    """A fully connected layer when B is a constant matrix (TFLite FULLY_CONNECTED),
    else a product of two activations (BATCH_MATMUL, batch dims broadcast)."""

    op_type = "MatMul"
    integer = "arith"
    weighted = True
    num_inputs = (2, 2)

    def is_weighted(self, node):
        a, b = node.inputs[0], node.inputs[1]
        return b.is_const and b.shape is not None and len(b.shape) == 2 and not a.is_const

    def infer(self, node, ins):
        a, b = ins[0].shape, ins[1].shape
        if not a or not b:
            raise node_error(ShapeError, node, "MatMul of a scalar")
        a2 = (1, *a) if len(a) == 1 else a
        b2 = (*b, 1) if len(b) == 1 else b
        if a2[-1] != b2[-2]:
            raise node_error(ShapeError, node, f"inner dims differ: {a} @ {b}")
        batch = broadcast_shapes(node, [a2[:-2], b2[:-2]])
        out = (*batch, *((a2[-2],) if len(a) > 1 else ()), *((b2[-1],) if len(b) > 1 else ()))
        return [(ins[0].dtype, out)]

    def run(self, node, inputs):
        return [np.matmul(_wide(inputs[0]), _wide(inputs[1])).astype(inputs[0].dtype, copy=False)]

    def macs(self, node):
        a = node.inputs[0].shape
        return int(np.prod(node.outputs[0].shape, dtype=np.int64)) * a[-1]

    def integer_params(self, node):
        if self.is_weighted(node):
            return _fc_integer_params(node)
        a, b, y = node.inputs[0], node.inputs[1], node.outputs[0]
        return qmatmul.batch_matmul_params(
            *scale_zp(a), *scale_zp(b), *scale_zp(y), dtype=out_dtype(node)
        )

    def run_integer(self, node, inputs, params, rounding):
        if self.is_weighted(node):
            return _fc_run_integer(node, inputs, params, rounding)
        return qmatmul.batch_matmul(inputs[0], inputs[1], params, rounding)


def _fc_integer_params(node):
    """A fully connected layer (Gemm, or MatMul with constant B) as TFLite's FULLY_CONNECTED."""
    x, w, y = node.inputs[0], node.inputs[1], node.outputs[0]
    _, axis = fc_layout(node)
    (s_in, z_in), (s_out, z_out) = scale_zp(x), scale_zp(y)
    return qlinear.fully_connected_params(
        s_in,
        z_in,
        weight_scales(node, w, axis),
        s_out,
        z_out,
        dtype=out_dtype(node),
        activation=fused_bounds(node),
        wide=wide_bias(node),
    )


def _fc_run_integer(node, inputs, params, rounding):
    transpose, _ = fc_layout(node)
    w = inputs[1].T if transpose else inputs[1]
    bias = inputs[2] if len(inputs) > 2 and inputs[2] is not None else None
    if bias is not None:
        bias = np.broadcast_to(bias, (1, w.shape[0]))[0].astype(bias.dtype)
    return qlinear.fully_connected(inputs[0], np.ascontiguousarray(w), bias, params, rounding)
