"""Pooling and local normalization: MaxPool, AveragePool, global pools, LRN."""

from __future__ import annotations

import math

import numpy as np

from edgec.errors import ShapeError, node_error
from edgec.ops.integer import pooling as qpool
from edgec.ops.integer.nodes import fused_bounds, mean_axes, out_dtype, scale_zp
from edgec.ops.registry import Attr, Op, register
from edgec.ops.spatial import AUTO_PAD, Window, pad_spatial, resolve_window, windows


class Pool(Op):
    integer = "arith"
    keeps_input_quant = True  # TFLite's pooling kernels require it
    channelwise = True
    attributes = {
        "auto_pad": Attr("string", "NOTSET", AUTO_PAD),
        "ceil_mode": Attr("int", 0, (0, 1)),
        "dilations": Attr("ints", None),
        "kernel_shape": Attr("ints"),
        "pads": Attr("ints", None),
        "strides": Attr("ints", None),
    }

    def window(self, node, shape) -> Window:
        if shape is None or len(shape) < 3:
            raise node_error(
                ShapeError, node, f"pooling needs an N, C, spatial… input, got {shape}"
            )
        kernel = tuple(int(k) for k in self.attr(node, "kernel_shape"))
        if len(kernel) != len(shape) - 2:
            raise node_error(
                ShapeError, node, f"kernel_shape {kernel} does not match input {shape}"
            )
        return resolve_window(node, self, tuple(shape[2:]), kernel)

    def infer(self, node, ins):
        win = self.window(node, ins[0].shape)
        return [(ins[0].dtype, (*ins[0].shape[:2], *win.out))]

    def integer_params(self, node):
        x, y = node.inputs[0], node.outputs[0]
        kernel = tuple(self.attr(node, "kernel_shape"))
        win = resolve_window(node, self, tuple(x.shape[2:]), kernel)
        include_pad = bool(node.op_type == "AveragePool" and self.attr(node, "count_include_pad"))
        end = [p + e for p, e in zip(win.pads_end, win.extra_end)]
        if len(kernel) == 1:
            kernel, strides = (1, *kernel), (1, *win.strides)
            pads = (0, win.pads_begin[0], 0, end[0])
            overhang = (0, win.extra_end[0])
        else:
            strides, pads = win.strides, (win.pads_begin[0], win.pads_begin[1], end[0], end[1])
            overhang = win.extra_end
        return qpool.pool_params(
            *scale_zp(x),
            *scale_zp(y),
            kernel,
            strides=strides,
            pads=pads,
            dtype=out_dtype(node),
            activation=fused_bounds(node),
            count_include_pad=include_pad,
            overhang=overhang,
        )

    def run_integer(self, node, inputs, params, rounding):
        x = inputs[0]
        squeeze = x.ndim == 3
        x = x[:, :, None, :] if squeeze else x
        if node.op_type == "AveragePool":
            y = qpool.avg_pool(x, params, rounding)
        else:
            y = qpool.max_pool(x, params)
        return y[:, :, 0, :] if squeeze else y


def _reduce_windows(view: np.ndarray, nd: int, fn) -> np.ndarray:
    return fn(view, axis=tuple(range(view.ndim - nd, view.ndim)))


def _window_sums(view: np.ndarray, nd: int) -> np.ndarray:
    """Each window's sum, tap by tap in row-major order as the C kernels add them (so that a
    float average feeding a QuantizeLinear rounds exactly as theirs, ties included)."""
    total = np.zeros(view.shape[: view.ndim - nd], view.dtype)
    for tap in np.ndindex(*view.shape[view.ndim - nd :]):
        total = total + view[(..., *tap)]
    return total


@register
class MaxPool(Pool):
    """Max over the window; the optional Indices output gives each maximum's flat position."""

    op_type = "MaxPool"
    num_outputs = (1, 2)
    attributes = {**Pool.attributes, "storage_order": Attr("int", 0, (0, 1))}

    def infer(self, node, ins):
        (out,) = super().infer(node, ins)
        return [out, (np.dtype(np.int64), out[1])][: len(node.outputs)]

    def run(self, node, inputs):
        x = inputs[0]
        win = self.window(node, x.shape)
        nd = len(win.kernel)
        lowest = -np.inf if np.issubdtype(x.dtype, np.floating) else np.iinfo(x.dtype).min
        view = windows(pad_spatial(x, win, lowest), win)
        results = [_reduce_windows(view, nd, np.max).astype(x.dtype)]
        if len(node.outputs) > 1:
            results.append(self.indices(node, x.shape, view, win))
        return results

    def indices(self, node, shape, view: np.ndarray, win) -> np.ndarray:
        """Flat input index of each window's first maximum (pads excluded, as ONNX counts)."""
        nd = len(win.kernel)
        flat = view.reshape(*view.shape[: view.ndim - nd], -1)
        taps = np.unravel_index(np.argmax(flat, axis=-1), win.kernel)
        spatial = shape[2:]
        grid = np.indices(view.shape[: view.ndim - nd], sparse=True)
        coords = [
            grid[2 + d] * win.strides[d] - win.pads_begin[d] + taps[d] * win.dilations[d]
            for d in range(nd)
        ]
        # storage_order=1 counts the spatial dims column-major (the first one fastest).
        order = range(nd) if self.attr(node, "storage_order") == 0 else reversed(range(nd))
        index = grid[0] * shape[1] + grid[1]
        for d in order:
            index = index * spatial[d] + coords[d]
        return np.asarray(index, dtype=np.int64)


@register
class AveragePool(Pool):
    """Average over the window; ``count_include_pad`` counts declared pads, never ceil overhang."""

    op_type = "AveragePool"
    attributes = {**Pool.attributes, "count_include_pad": Attr("int", 0, (0, 1))}

    def run(self, node, inputs):
        x = inputs[0]
        win = self.window(node, x.shape)
        nd = len(win.kernel)
        sums = _window_sums(windows(pad_spatial(x, win, 0), win), nd)
        ones = np.ones((1, 1, *x.shape[2:]), dtype=x.dtype)
        if self.attr(node, "count_include_pad"):
            # Declared pads count as elements; the ceil-mode overhang beyond them does not.
            mask = pad_spatial(ones, win, 1, with_extra=False)
            overhang = [(0, 0), (0, 0), *((0, e) for e in win.extra_end)]
            mask = np.pad(mask, overhang, constant_values=0)
        else:
            mask = pad_spatial(ones, win, 0)
        counts = _reduce_windows(windows(mask, win), nd, np.sum)
        return [(sums / counts).astype(x.dtype)]


class GlobalPool(Op):
    channelwise = True
    fn = staticmethod(np.mean)

    def infer(self, node, ins):
        shape = ins[0].shape
        if shape is None or len(shape) < 3:
            raise node_error(ShapeError, node, f"needs an N, C, spatial… input, got {shape}")
        return [(ins[0].dtype, (*shape[:2], *([1] * (len(shape) - 2))))]

    def run(self, node, inputs):
        x = inputs[0]
        axes = tuple(range(2, x.ndim))
        return [self.fn(x, axis=axes, keepdims=True).astype(x.dtype)]


@register
class GlobalAveragePool(GlobalPool):
    op_type = "GlobalAveragePool"
    integer = "arith"
    fn = staticmethod(np.mean)

    def integer_params(self, node):
        return mean_integer_params(node)

    def run_integer(self, node, inputs, params, rounding):
        return qpool.mean(inputs[0], mean_axes(node), params, keepdims=True, rounding=rounding)


def mean_integer_params(node):
    """TFLite's MEAN (GlobalAveragePool, ReduceMean): the sum over the axes, rescaled."""
    x, y = node.inputs[0], node.outputs[0]
    count = int(np.prod([x.shape[a] for a in mean_axes(node)]))
    return qpool.mean_params(*scale_zp(x), *scale_zp(y), count, dtype=out_dtype(node))


@register
class GlobalMaxPool(GlobalPool):
    op_type = "GlobalMaxPool"
    fn = staticmethod(np.max)


@register
class LRN(Op):
    """Local response normalization across channels."""

    op_type = "LRN"
    attributes = {
        "alpha": Attr("float", 0.0001),
        "beta": Attr("float", 0.75),
        "bias": Attr("float", 1.0),
        "size": Attr("int"),
    }

    def run(self, node, inputs):
        x = inputs[0]
        size = self.attr(node, "size")
        alpha, beta, bias = (self.attr(node, k) for k in ("alpha", "beta", "bias"))
        before, after = math.floor((size - 1) / 2), math.ceil((size - 1) / 2)
        squares = np.pad(np.square(x), [(0, 0), (before, after)] + [(0, 0)] * (x.ndim - 2))
        window_sum = np.lib.stride_tricks.sliding_window_view(squares, size, axis=1).sum(axis=-1)
        return [(x / (bias + alpha / size * window_sum) ** beta).astype(x.dtype)]
