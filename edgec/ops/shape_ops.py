"""Ops that only move data: reshape family, transpose, shape queries, expand, tile."""

from __future__ import annotations

import numpy as np

from edgec.errors import ModelError, ShapeError, node_error
from edgec.ops.registry import Attr, Op, TensorInfo, normalize_axis, register


def reshape_target(
    node, in_shape: tuple[int, ...], spec: np.ndarray, allowzero: int
) -> tuple[int, ...]:
    """Resolve an ONNX Reshape spec (0 copies a dim unless allowzero, -1 infers one)."""
    spec = [int(d) for d in np.asarray(spec).reshape(-1)]
    out = []
    for i, d in enumerate(spec):
        if d == 0 and not allowzero:
            if i >= len(in_shape):
                raise node_error(ShapeError, node, f"shape {spec} copies dim {i} of {in_shape}")
            out.append(in_shape[i])
        else:
            out.append(d)
    total = int(np.prod(in_shape, dtype=np.int64))
    if out.count(-1) > 1 or any(d < -1 for d in out):
        raise node_error(ShapeError, node, f"invalid reshape target {spec}")
    if -1 in out:
        known = int(np.prod([d for d in out if d != -1], dtype=np.int64))
        if known == 0 or total % known:
            raise node_error(ShapeError, node, f"cannot reshape {in_shape} to {spec}")
        out[out.index(-1)] = total // known
    if int(np.prod(out, dtype=np.int64)) != total:
        raise node_error(
            ShapeError, node, f"cannot reshape {in_shape} ({total} elements) to {spec}"
        )
    return tuple(out)


class ShapeOnly(Op):
    """An op whose output is its input's data under a new shape: ``run`` is a reshape."""

    def target(self, node, ins: list[TensorInfo]) -> tuple[int, ...]:
        raise NotImplementedError

    def infer(self, node, ins):
        return [(ins[0].dtype, self.target(node, ins))]

    def run(self, node, inputs):
        infos = [TensorInfo(i.dtype, i.shape, i) if i is not None else None for i in inputs]
        return [inputs[0].reshape(self.target(node, infos))]


@register
class Reshape(ShapeOnly):
    op_type = "Reshape"
    integer = "move"
    num_inputs = (2, 2)
    const_inputs = (1,)
    attributes = {"allowzero": Attr("int", 0, (0, 1))}

    def target(self, node, ins):
        spec = self.const_data(node, ins, 1)
        return reshape_target(node, ins[0].shape, spec, self.attr(node, "allowzero"))


@register
class Flatten(ShapeOnly):
    op_type = "Flatten"
    integer = "move"
    attributes = {"axis": Attr("int", 1)}

    def target(self, node, ins):
        shape = ins[0].shape
        axis = self.attr(node, "axis")
        if not -len(shape) <= axis <= len(shape):
            raise node_error(ShapeError, node, f"axis {axis} out of range for {shape}")
        if axis < 0:
            axis += len(shape)
        return (
            int(np.prod(shape[:axis], dtype=np.int64)),
            int(np.prod(shape[axis:], dtype=np.int64)),
        )


@register
class Squeeze(ShapeOnly):
    op_type = "Squeeze"
    integer = "move"
    num_inputs = (1, 2)
    const_inputs = (1,)

    def target(self, node, ins):
        shape = ins[0].shape
        axes = self.const_data(node, ins, 1)
        if axes is None:
            return tuple(d for d in shape if d != 1)
        axes = {normalize_axis(node, int(a), len(shape)) for a in axes.reshape(-1)}
        if any(shape[a] != 1 for a in axes):
            raise node_error(ShapeError, node, f"cannot squeeze axes {sorted(axes)} of {shape}")
        return tuple(d for i, d in enumerate(shape) if i not in axes)


@register
class Unsqueeze(ShapeOnly):
    op_type = "Unsqueeze"
    integer = "move"
    num_inputs = (2, 2)
    const_inputs = (1,)

    def target(self, node, ins):
        shape = ins[0].shape
        axes = self.const_data(node, ins, 1).reshape(-1)
        rank = len(shape) + len(axes)
        axes = sorted(normalize_axis(node, int(a), rank) for a in axes)
        if len(set(axes)) != len(axes):
            raise node_error(ShapeError, node, f"repeated axes {axes}")
        out, rest = [], iter(shape)
        for i in range(rank):
            out.append(1 if i in axes else next(rest))
        return tuple(out)


@register
class Identity(ShapeOnly):
    op_type = "Identity"
    integer = "move"
    channelwise = True

    def target(self, node, ins):
        return ins[0].shape


@register
class Dropout(ShapeOnly):
    """Inference-mode dropout: the identity (``training_mode`` must be false)."""

    op_type = "Dropout"

    integer = "move"
    channelwise = True
    num_inputs = (1, 3)
    num_outputs = (1, 2)
    const_inputs = (2,)
    attributes = {"seed": Attr("int", 0)}

    def target(self, node, ins):
        mode = self.const_data(node, ins, 2) if len(ins) > 2 and ins[2] is not None else None
        if mode is not None and bool(np.asarray(mode).reshape(())):
            raise node_error(ModelError, node, "training_mode=true is not an inference op")
        return ins[0].shape

    def infer(self, node, ins):
        out = [(ins[0].dtype, self.target(node, ins))]
        if len(node.outputs) > 1:
            out.append((np.dtype(np.bool_), ins[0].shape))
        return out

    def run(self, node, inputs):
        x = inputs[0]
        out = [x]
        if len(node.outputs) > 1:
            out.append(np.ones(x.shape, dtype=np.bool_))
        return out


@register
class Transpose(Op):
    op_type = "Transpose"
    integer = "move"
    attributes = {"perm": Attr("ints", None)}

    def perm(self, node, rank: int) -> tuple[int, ...]:
        perm = self.attr(node, "perm")
        if perm is None:
            return tuple(reversed(range(rank)))
        if sorted(perm) != list(range(rank)):
            raise node_error(
                ShapeError, node, f"perm {list(perm)} is not a permutation of rank {rank}"
            )
        return tuple(int(p) for p in perm)

    def infer(self, node, ins):
        shape = ins[0].shape
        return [(ins[0].dtype, tuple(shape[p] for p in self.perm(node, len(shape))))]

    def run(self, node, inputs):
        x = inputs[0]
        return [np.asarray(np.transpose(x, self.perm(node, x.ndim)), order="C")]


@register
class Shape(Op):
    op_type = "Shape"
    attributes = {"start": Attr("int", 0), "end": Attr("int", None)}

    def _dims(self, node, shape):
        start, end = self.attr(node, "start"), self.attr(node, "end")
        return np.array(shape[slice(start, end)], dtype=np.int64)

    def infer(self, node, ins):
        return [(np.dtype(np.int64), self._dims(node, ins[0].shape).shape)]

    def propagate(self, node, ins):
        return [self._dims(node, ins[0].shape)]

    def run(self, node, inputs):
        return [self._dims(node, inputs[0].shape)]


@register
class Size(Op):
    op_type = "Size"

    def infer(self, node, ins):
        return [(np.dtype(np.int64), ())]

    def propagate(self, node, ins):
        return [np.array(int(np.prod(ins[0].shape, dtype=np.int64)), dtype=np.int64)]

    def run(self, node, inputs):
        return [np.array(inputs[0].size, dtype=np.int64)]


@register
class Expand(Op):
    op_type = "Expand"
    num_inputs = (2, 2)
    const_inputs = (1,)

    def infer(self, node, ins):
        target = tuple(int(d) for d in self.const_data(node, ins, 1).reshape(-1))
        try:
            shape = tuple(np.broadcast_shapes(ins[0].shape, target))
        except ValueError:
            raise node_error(
                ShapeError, node, f"cannot expand {ins[0].shape} to {target}"
            ) from None
        return [(ins[0].dtype, shape)]

    def run(self, node, inputs):
        x, target = inputs
        shape = np.broadcast_shapes(x.shape, tuple(int(d) for d in target.reshape(-1)))
        return [np.asarray(np.broadcast_to(x, shape), order="C")]


@register
class Tile(Op):
    op_type = "Tile"
    num_inputs = (2, 2)
    const_inputs = (1,)

    def infer(self, node, ins):
        repeats = self.const_data(node, ins, 1).reshape(-1)
        shape = ins[0].shape
        if len(repeats) != len(shape) or any(r < 0 for r in repeats):
            raise node_error(ShapeError, node, f"repeats {list(repeats)} invalid for {shape}")
        return [(ins[0].dtype, tuple(d * int(r) for d, r in zip(shape, repeats)))]

    def run(self, node, inputs):
        return [np.tile(inputs[0], [int(r) for r in inputs[1].reshape(-1)])]
