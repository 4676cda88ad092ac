"""Ops that select, join or create tensors: Concat, Split, Slice, Pad, Gather, constants."""

from __future__ import annotations

import numpy as np

from edgec.errors import ModelError, QuantizationError, ShapeError, node_error
from edgec.ops.integer import elementwise as qew
from edgec.ops.integer.nodes import out_dtype, scale_zp
from edgec.ops.registry import Attr, Op, TensorInfo, normalize_axis, register


@register
class Concat(Op):
    op_type = "Concat"
    integer = "arith"
    num_inputs = (1, 2**31)
    attributes = {"axis": Attr("int")}

    def infer(self, node, ins):
        first = ins[0].shape
        axis = normalize_axis(node, self.attr(node, "axis"), len(first))
        total = 0
        for info in ins:
            shape = info.shape
            if len(shape) != len(first) or any(
                a != b for i, (a, b) in enumerate(zip(shape, first)) if i != axis
            ):
                raise node_error(
                    ShapeError, node, f"cannot concatenate {first} and {shape} on axis {axis}"
                )
            total += shape[axis]
        return [(ins[0].dtype, (*first[:axis], total, *first[axis + 1 :]))]

    def run(self, node, inputs):
        return [np.concatenate(inputs, axis=self.attr(node, "axis"))]

    def integer_params(self, node):
        return None  # each input's rescale is derived by the kernel from its quantization

    def run_integer(self, node, inputs, params, rounding):
        scales = [scale_zp(v) for v in node.inputs]
        axis = self.attr(node, "axis")
        return qew.concat(inputs, scales, scale_zp(node.outputs[0]), axis, rounding)


@register
class Split(Op):
    op_type = "Split"
    integer = "move"
    num_inputs = (1, 2)
    num_outputs = (1, 2**31)
    const_inputs = (1,)
    attributes = {"axis": Attr("int", 0), "num_outputs": Attr("int", None)}

    def sizes(self, node, shape, split: np.ndarray | None) -> list[int]:
        axis = normalize_axis(node, self.attr(node, "axis"), len(shape))
        count = len(node.outputs)
        if split is not None:
            sizes = [int(s) for s in split.reshape(-1)]
        else:
            chunk = -(-shape[axis] // count)
            sizes = [min(chunk, shape[axis] - i * chunk) for i in range(count)]
        if len(sizes) != count or sum(sizes) != shape[axis] or min(sizes) < 0:
            raise node_error(ShapeError, node, f"split {sizes} does not divide dim {shape[axis]}")
        return sizes

    def infer(self, node, ins):
        shape = ins[0].shape
        axis = normalize_axis(node, self.attr(node, "axis"), len(shape))
        sizes = self.sizes(node, shape, self.const_data(node, ins, 1))
        return [(ins[0].dtype, (*shape[:axis], s, *shape[axis + 1 :])) for s in sizes]

    def run(self, node, inputs):
        x = inputs[0]
        split = inputs[1] if len(inputs) > 1 else None
        bounds = np.cumsum(self.sizes(node, x.shape, split))[:-1]
        return [np.asarray(p, order="C") for p in np.split(x, bounds, axis=self.attr(node, "axis"))]


_END_SENTINELS = (2**31 - 1, 2**63 - 1)


def onnx_slice(node, dim: int, start: int, end: int, step: int) -> slice:
    """ONNX's start/end clamping; an INT_MAX end means "to the end" in the step's direction.

    (That last rule is onnxruntime's reading of the spec's advice to pass INT_MAX.)
    """
    if step == 0:
        raise node_error(ShapeError, node, "slice step 0")
    if end in _END_SENTINELS and step < 0:
        end = -dim - 1
    start += dim if start < 0 else 0
    end += dim if end < 0 else 0
    if step > 0:
        start, end = min(max(start, 0), dim), min(max(end, 0), dim)
    else:
        start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
    if not range(start, end, step):
        return slice(0, 0, 1)
    # Only a negative step can end at -1 (before the first element): Python spells it None.
    return slice(start, end if end >= 0 else None, step)


@register
class Slice(Op):
    op_type = "Slice"
    integer = "move"
    num_inputs = (3, 5)
    const_inputs = (1, 2, 3, 4)

    def slices(self, node, shape, starts, ends, axes, steps) -> tuple[slice, ...]:
        rank = len(shape)
        starts, ends = starts.reshape(-1), ends.reshape(-1)
        axes = range(len(starts)) if axes is None else axes.reshape(-1)
        steps = [1] * len(starts) if steps is None else steps.reshape(-1)
        if not len(starts) == len(ends) == len(axes) == len(steps):
            raise node_error(ShapeError, node, "starts, ends, axes and steps differ in length")
        out = [slice(None)] * rank
        seen: set[int] = set()
        for start, end, axis, step in zip(starts, ends, axes, steps):
            axis = normalize_axis(node, int(axis), rank)
            if axis in seen:
                raise node_error(ShapeError, node, f"axis {axis} is sliced twice")
            seen.add(axis)
            out[axis] = onnx_slice(node, shape[axis], int(start), int(end), int(step))
        return tuple(out)

    def infer(self, node, ins):
        data = [self.const_data(node, ins, i) for i in range(1, 5)]
        shape = ins[0].shape
        probe = np.empty(shape, dtype=np.bool_)
        return [(ins[0].dtype, probe[self.slices(node, shape, *data)].shape)]

    def run(self, node, inputs):
        args = [*inputs[1:], *([None] * (5 - len(inputs)))]
        x = inputs[0]
        return [np.asarray(x[self.slices(node, x.shape, *args)], order="C")]


@register
class Pad(Op):
    """Pad with ``pads`` (and optional ``constant_value``, ``axes``) inputs."""

    op_type = "Pad"
    integer = "arith"
    keeps_input_quant = True
    num_inputs = (2, 4)
    const_inputs = (1, 2, 3)
    attributes = {"mode": Attr("string", "constant", ("constant", "reflect", "edge", "wrap"))}

    def widths(
        self, node, shape, pads: np.ndarray, axes: np.ndarray | None
    ) -> list[tuple[int, int]]:
        rank = len(shape)
        pads = [int(p) for p in pads.reshape(-1)]
        axes_list = (
            list(range(rank))
            if axes is None
            else [normalize_axis(node, int(a), rank) for a in axes.reshape(-1)]
        )
        if len(pads) != 2 * len(axes_list):
            raise node_error(ShapeError, node, f"{len(pads)} pads for {len(axes_list)} axes")
        widths = [(0, 0)] * rank
        for i, axis in enumerate(axes_list):
            widths[axis] = (pads[i], pads[i + len(axes_list)])
        if any(d + b + a < 0 for d, (b, a) in zip(shape, widths)):
            raise node_error(ShapeError, node, f"pads {pads} crop more than {shape}")
        return widths

    def infer(self, node, ins):
        widths = self.widths(
            node, ins[0].shape, self.const_data(node, ins, 1), self.const_data(node, ins, 3)
        )
        return [(ins[0].dtype, tuple(d + b + a for d, (b, a) in zip(ins[0].shape, widths)))]

    def run(self, node, inputs):
        x, pads = inputs[0], inputs[1]
        value = inputs[2] if len(inputs) > 2 and inputs[2] is not None else None
        axes = inputs[3] if len(inputs) > 3 else None
        widths = self.widths(node, x.shape, pads, axes)
        # Negative pads crop first; the rest pads what is left.
        x = x[tuple(slice(max(0, -b), d - max(0, -a)) for d, (b, a) in zip(x.shape, widths))]
        widths = [(max(0, b), max(0, a)) for b, a in widths]
        mode = self.attr(node, "mode")
        if mode == "constant":
            fill = 0 if value is None else np.asarray(value).reshape(-1)[0]
            return [np.pad(x, widths, mode="constant", constant_values=fill)]
        return [
            np.pad(x, widths, mode={"reflect": "reflect", "edge": "edge", "wrap": "wrap"}[mode])
        ]

    def integer_params(self, node):
        x, y = node.inputs[0], node.outputs[0]
        if scale_zp(x) != scale_zp(y):
            raise node_error(QuantizationError, node, "integer Pad keeps its input's quantization")
        axes = node.input(3).const if node.input(3) is not None else None
        widths = self.widths(node, x.shape, node.inputs[1].const, axes)
        value = node.input(2)
        constant = None
        if value is not None and value.const is not None:
            raw = value.const.reshape(-1)[0]
            if np.issubdtype(value.const.dtype, np.integer):
                constant = int(raw)
            else:
                scale, zero_point = scale_zp(x)
                quantized = qew.quantize_linear(
                    np.array([raw], np.float32), scale, zero_point, out_dtype(node)
                )
                constant = int(quantized[0])
        return widths, constant

    def run_integer(self, node, inputs, params, rounding):
        widths, constant = params
        if self.attr(node, "mode") != "constant":  # data movement: the float reference's
            return self.run(node, inputs)[0]
        return qew.pad(inputs[0], widths, scale_zp(node.inputs[0])[1], constant)


@register
class Gather(Op):
    op_type = "Gather"
    integer = "move"
    num_inputs = (2, 2)
    attributes = {"axis": Attr("int", 0)}

    def infer(self, node, ins):
        shape, idx = ins[0].shape, ins[1].shape
        axis = normalize_axis(node, self.attr(node, "axis"), len(shape))
        if ins[1].data is not None:
            bad = (ins[1].data >= shape[axis]) | (ins[1].data < -shape[axis])
            if np.any(bad):
                raise node_error(ShapeError, node, f"indices out of range for dim {shape[axis]}")
        return [(ins[0].dtype, (*shape[:axis], *idx, *shape[axis + 1 :]))]

    def run(self, node, inputs):
        x, idx = inputs
        return [np.take(x, idx.astype(np.int64), axis=self.attr(node, "axis"))]


@register
class Constant(Op):
    """A Constant node (the importer turns these into constant values directly)."""

    op_type = "Constant"
    num_inputs = (0, 0)
    attributes = {
        "value": Attr("tensor", None),
        "value_float": Attr("float", None),
        "value_floats": Attr("floats", None),
        "value_int": Attr("int", None),
        "value_ints": Attr("ints", None),
    }

    def value(self, node) -> np.ndarray:
        set_attrs = [k for k in node.attrs if node.attrs[k] is not None]
        if len(set_attrs) != 1:
            raise node_error(ModelError, node, "needs exactly one value attribute")
        key = set_attrs[0]
        dtype = {"value_float": np.float32, "value_floats": np.float32}.get(key, np.int64)
        raw = node.attrs[key]
        return raw if key == "value" else np.array(raw, dtype=dtype)

    def infer(self, node, ins):
        v = self.value(node)
        return [(v.dtype, v.shape)]

    def propagate(self, node, ins):
        return [self.value(node)]

    def run(self, node, inputs):
        return [self.value(node)]


@register
class ConstantOfShape(Op):
    op_type = "ConstantOfShape"
    const_inputs = (0,)
    attributes = {"value": Attr("tensor", None)}

    def fill(self, node) -> np.ndarray:
        value = self.attr(node, "value")
        return np.zeros(1, np.float32) if value is None else value.reshape(-1)[:1]

    def infer(self, node, ins: list[TensorInfo]):
        shape = tuple(int(d) for d in self.const_data(node, ins, 0).reshape(-1))
        if any(d < 0 for d in shape):
            raise node_error(ShapeError, node, f"negative dim in {shape}")
        return [(self.fill(node).dtype, shape)]

    def run(self, node, inputs):
        shape = tuple(int(d) for d in inputs[0].reshape(-1))
        return [np.full(shape, self.fill(node)[0], dtype=self.fill(node).dtype)]
