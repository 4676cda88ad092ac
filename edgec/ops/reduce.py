"""Reductions over axes given as an input (opset ≥ 18 form; older attributes are upgraded).

Float reductions accumulate in float64 so the reference does not depend on summation order.
"""

from __future__ import annotations

import numpy as np

from edgec.ops.integer import pooling as qpool
from edgec.ops.integer.nodes import mean_axes
from edgec.ops.pooling import mean_integer_params
from edgec.ops.registry import Attr, Op, normalize_axis, register


class Reduce(Op):
    num_inputs = (1, 2)
    const_inputs = (1,)
    attributes = {
        "keepdims": Attr("int", 1, (0, 1)),
        "noop_with_empty_axes": Attr("int", 0, (0, 1)),
    }
    fn = staticmethod(np.mean)

    def axes(self, node, rank: int, axes: np.ndarray | None) -> tuple[int, ...]:
        """Reduced axes; ``()`` (empty axes with noop set) reduces nothing.

        Over no axes a reduction still applies its elementwise part (ReduceLogSum gives
        ``log(x)``, ReduceSumSquare ``x**2``), as onnxruntime computes it.
        """
        if axes is None or axes.size == 0:
            return () if self.attr(node, "noop_with_empty_axes") else tuple(range(rank))
        return tuple(sorted({normalize_axis(node, int(a), rank) for a in axes.reshape(-1)}))

    def infer(self, node, ins):
        shape = ins[0].shape
        axes = self.axes(node, len(shape), self.const_data(node, ins, 1))
        keep = self.attr(node, "keepdims")
        out = tuple(1 if i in axes else d for i, d in enumerate(shape) if keep or i not in axes)
        return [(ins[0].dtype, out)]

    def run(self, node, inputs):
        x = inputs[0]
        axes = self.axes(node, x.ndim, inputs[1] if len(inputs) > 1 else None)
        wide = x.astype(np.float64) if np.issubdtype(x.dtype, np.floating) else x
        out = self.fn(wide, axis=axes, keepdims=bool(self.attr(node, "keepdims")))
        return [np.asarray(out, dtype=x.dtype)]


@register
class ReduceMean(Reduce):
    op_type = "ReduceMean"
    integer = "arith"
    fn = staticmethod(np.mean)

    def integer_params(self, node):
        return mean_integer_params(node)

    def run_integer(self, node, inputs, params, rounding):
        keep = bool(self.attr(node, "keepdims"))
        return qpool.mean(inputs[0], mean_axes(node), params, keepdims=keep, rounding=rounding)


@register
class ReduceSum(Reduce):
    op_type = "ReduceSum"
    fn = staticmethod(np.sum)


@register
class ReduceMax(Reduce):
    op_type = "ReduceMax"
    fn = staticmethod(np.max)


@register
class ReduceMin(Reduce):
    op_type = "ReduceMin"
    fn = staticmethod(np.min)


def _reducer(op_type: str, fn) -> type[Op]:
    return register(type(op_type, (Reduce,), {"op_type": op_type, "fn": staticmethod(fn)}))


def _log_sum_exp(x, axis, keepdims):
    peak = np.max(x, axis=axis, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0)
    total = np.log(np.sum(np.exp(x - peak), axis=axis, keepdims=True)) + peak
    return total if keepdims else np.squeeze(total, axis=axis)


ReduceProd = _reducer("ReduceProd", np.prod)
ReduceL1 = _reducer(
    "ReduceL1", lambda x, axis, keepdims: np.sum(np.abs(x), axis=axis, keepdims=keepdims)
)
ReduceL2 = _reducer(
    "ReduceL2",
    lambda x, axis, keepdims: np.sqrt(np.sum(np.square(x), axis=axis, keepdims=keepdims)),
)
ReduceSumSquare = _reducer(
    "ReduceSumSquare", lambda x, axis, keepdims: np.sum(np.square(x), axis=axis, keepdims=keepdims)
)
ReduceLogSum = _reducer(
    "ReduceLogSum", lambda x, axis, keepdims: np.log(np.sum(x, axis=axis, keepdims=keepdims))
)
ReduceLogSumExp = _reducer("ReduceLogSumExp", _log_sum_exp)


class ArgReduce(Op):
    """Index of the extreme value along ``axis`` (first, or last with ``select_last_index``).

    On quantized data it compares the raw integers, as TFLite's ARG_MAX / ARG_MIN do."""

    integer = "index"

    attributes = {
        "axis": Attr("int", 0),
        "keepdims": Attr("int", 1, (0, 1)),
        "select_last_index": Attr("int", 0, (0, 1)),
    }
    fn = staticmethod(np.argmax)

    def infer(self, node, ins):
        shape = ins[0].shape
        axis = normalize_axis(node, self.attr(node, "axis"), len(shape))
        keep = self.attr(node, "keepdims")
        out = tuple(1 if i == axis else d for i, d in enumerate(shape) if keep or i != axis)
        return [(np.dtype(np.int64), out)]

    def run(self, node, inputs):
        x = inputs[0]
        axis = normalize_axis(node, self.attr(node, "axis"), x.ndim)
        if self.attr(node, "select_last_index"):
            flipped = np.flip(x, axis=axis)
            index = x.shape[axis] - 1 - self.fn(flipped, axis=axis)
        else:
            index = self.fn(x, axis=axis)
        if self.attr(node, "keepdims"):
            index = np.expand_dims(index, axis)
        return [np.asarray(index, dtype=np.int64)]


@register
class ArgMax(ArgReduce):
    op_type = "ArgMax"
    fn = staticmethod(np.argmax)


@register
class ArgMin(ArgReduce):
    op_type = "ArgMin"
    fn = staticmethod(np.argmin)
