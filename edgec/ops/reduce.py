"""Reductions over axes given as an input (opset ≥ 18 form; older attributes are upgraded)."""

from __future__ import annotations

import numpy as np

from edgec.ops.registry import Attr, Op, normalize_axis, register


class Reduce(Op):
    num_inputs = (1, 2)
    const_inputs = (1,)
    attributes = {"keepdims": Attr("int", 1, (0, 1)), "noop_with_empty_axes": Attr("int", 0, (0, 1))}
    fn = staticmethod(np.mean)

    def axes(self, node, rank: int, axes: np.ndarray | None) -> tuple[int, ...] | None:
        """Reduced axes; ``None`` means the op is the identity (empty axes with noop set)."""
        if axes is None or axes.size == 0:
            return None if self.attr(node, "noop_with_empty_axes") else tuple(range(rank))
        return tuple(sorted({normalize_axis(node, int(a), rank) for a in axes.reshape(-1)}))

    def infer(self, node, ins):
        shape = ins[0].shape
        axes = self.axes(node, len(shape), self.const_data(node, ins, 1))
        if axes is None:
            return [(ins[0].dtype, shape)]
        keep = self.attr(node, "keepdims")
        out = tuple(1 if i in axes else d for i, d in enumerate(shape) if keep or i not in axes)
        return [(ins[0].dtype, out)]

    def run(self, node, inputs):
        x = inputs[0]
        axes = self.axes(node, x.ndim, inputs[1] if len(inputs) > 1 else None)
        if axes is None:
            return [x]
        out = self.fn(x, axis=axes, keepdims=bool(self.attr(node, "keepdims")))
        return [np.asarray(out, dtype=x.dtype)]


@register
class ReduceMean(Reduce):
    op_type = "ReduceMean"
    fn = staticmethod(np.mean)


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
