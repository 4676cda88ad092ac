"""Elementwise arithmetic: binary ops with numpy broadcasting, variadic and unary math."""

from __future__ import annotations

import numpy as np

from edgec.errors import ModelError, node_error
from edgec.ir.dtypes import np_dtype
from edgec.ops.integer import elementwise as qew
from edgec.ops.integer.nodes import fused_bounds, out_dtype, scale_zp
from edgec.ops.registry import Attr, Op, TensorInfo, broadcast_shapes, register


class Binary(Op):
    num_inputs = (2, 2)
    fn = staticmethod(np.add)

    def infer(self, node, ins):
        a, b = ins
        if a.dtype != b.dtype:
            raise node_error(ModelError, node, f"input dtypes differ: {a.dtype} and {b.dtype}")
        return [(a.dtype, broadcast_shapes(node, [a.shape, b.shape]))]

    def run(self, node, inputs):
        a, b = inputs
        return [np.asarray(self.fn(a, b)).astype(a.dtype, copy=False)]


class QuantizedBinary(Binary):
    """A binary op with TFLite's integer kernel: ``q_params`` derives, ``q_kernel`` runs."""

    integer = "arith"
    q_params = staticmethod(qew.add_params)
    q_kernel = staticmethod(qew.add)

    def integer_params(self, node):
        a, b, y = node.inputs[0], node.inputs[1], node.outputs[0]
        return self.q_params(
            *scale_zp(a),
            *scale_zp(b),
            *scale_zp(y),
            dtype=out_dtype(node),
            activation=fused_bounds(node),
        )

    def run_integer(self, node, inputs, params, rounding):
        return self.q_kernel(inputs[0], inputs[1], params, rounding)


@register
class Add(QuantizedBinary):
    op_type = "Add"
    fn = staticmethod(np.add)


@register
class Sub(Binary):
    op_type = "Sub"
    fn = staticmethod(np.subtract)


@register
class Mul(QuantizedBinary):
    op_type = "Mul"
    fn = staticmethod(np.multiply)
    q_params = staticmethod(qew.mul_params)
    q_kernel = staticmethod(qew.mul)


def _divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if np.issubdtype(a.dtype, np.integer):
        # ONNX integer division truncates toward zero (C semantics), numpy floors.
        return np.trunc(np.true_divide(a, b)).astype(a.dtype)
    return np.true_divide(a, b)


@register
class Div(Binary):
    op_type = "Div"
    fn = staticmethod(_divide)


@register
class Pow(Binary):
    op_type = "Pow"

    def infer(self, node, ins):
        return [(ins[0].dtype, broadcast_shapes(node, [ins[0].shape, ins[1].shape]))]

    def run(self, node, inputs):
        a, b = inputs
        return [np.power(a, b.astype(a.dtype)).astype(a.dtype, copy=False)]


class Variadic(Op):
    num_inputs = (1, 2**31)
    fn = staticmethod(np.maximum)

    def infer(self, node, ins):
        return [(ins[0].dtype, broadcast_shapes(node, [i.shape for i in ins]))]

    def run(self, node, inputs):
        out = inputs[0]
        for other in inputs[1:]:
            out = self.fn(out, other)
        return [np.asarray(out, dtype=inputs[0].dtype)]


@register
class Max(Variadic):
    op_type = "Max"
    fn = staticmethod(np.maximum)


@register
class Min(Variadic):
    op_type = "Min"
    fn = staticmethod(np.minimum)


@register
class Sum(Variadic):
    op_type = "Sum"
    fn = staticmethod(np.add)


@register
class Mean(Variadic):
    op_type = "Mean"

    def run(self, node, inputs):
        total = Sum.fn(inputs[0], inputs[1]) if len(inputs) > 1 else inputs[0]
        for other in inputs[2:]:
            total = total + other
        return [np.asarray(total / len(inputs), dtype=inputs[0].dtype)]


class Unary(Op):
    channelwise = True
    fn = staticmethod(np.negative)

    def run(self, node, inputs):
        return [np.asarray(self.fn(inputs[0]), dtype=inputs[0].dtype)]


def _unary(op_type: str, fn) -> type[Op]:
    cls = type(op_type, (Unary,), {"op_type": op_type, "fn": staticmethod(fn)})
    return register(cls)


Neg = _unary("Neg", np.negative)
Abs = _unary("Abs", np.abs)
Exp = _unary("Exp", np.exp)
Log = _unary("Log", np.log)
Sqrt = _unary("Sqrt", np.sqrt)
Reciprocal = _unary("Reciprocal", np.reciprocal)
Floor = _unary("Floor", np.floor)
Ceil = _unary("Ceil", np.ceil)
Sign = _unary("Sign", np.sign)
Round = _unary("Round", np.round)  # numpy rounds half to even, as ONNX specifies


@register
class Cast(Op):
    op_type = "Cast"
    attributes = {"to": Attr("int"), "saturate": Attr("int", 1), "round_mode": Attr("string", "up")}

    def _dtype(self, node) -> np.dtype:
        return np_dtype(self.attr(node, "to"), node)

    def infer(self, node, ins: list[TensorInfo]):
        return [(self._dtype(node), ins[0].shape)]

    def run(self, node, inputs):
        return [inputs[0].astype(self._dtype(node))]
