"""Elementwise arithmetic: binary ops with numpy broadcasting, variadic and unary math, Where.

Integer forms (``edgec.ops.integer.unary``): TFLite's ADD, MUL, ABS, MAXIMUM / MINIMUM and
SELECT_V2 arithmetic, int8 tables for the other functions."""

from __future__ import annotations

import numpy as np

from edgec.errors import ModelError, QuantizationError, node_error
from edgec.ir.dtypes import np_dtype
from edgec.ops.integer import elementwise as qew
from edgec.ops.integer import unary as qun
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


class TableOp(Op):
    """An int8 op computed through a 256-entry table of its float function (TFLite's LUT
    kernels); ``table_fn(node)`` is the function of the real value."""

    integer = "arith"
    int16 = False

    def table_fn(self, node):
        raise NotImplementedError

    def integer_params(self, node):
        if out_dtype(node) != "int8":
            raise node_error(QuantizationError, node, "the table kernel is int8 only")
        return qun.lut_table(
            self.table_fn(node), *scale_zp(node.inputs[0]), *scale_zp(node.outputs[0])
        )

    def run_integer(self, node, inputs, params, rounding):
        return qun.lookup(inputs[0], params)


@register
class Pow(TableOp, Binary):
    """Pow; in int8 with a constant scalar exponent (a table)."""

    op_type = "Pow"
    const_inputs = (1,)  # the exponent: a setting of the integer kernel (a table)

    def infer(self, node, ins):
        return [(ins[0].dtype, broadcast_shapes(node, [ins[0].shape, ins[1].shape]))]

    def run(self, node, inputs):
        a, b = inputs
        return [np.power(a, b.astype(a.dtype)).astype(a.dtype, copy=False)]

    def integer_limits(self, node):
        exponent = node.inputs[1].const
        ok = exponent is not None and exponent.size == 1
        return None if ok else "the exponent is not a constant scalar"

    def table_fn(self, node):
        if self.integer_limits(node):
            raise node_error(
                QuantizationError, node, "integer Pow needs a constant scalar exponent"
            )
        value = float(node.inputs[1].const.reshape(-1)[0])
        return lambda x: np.power(x, value)


class Variadic(Op):
    num_inputs = (1, 2**31)
    integer = "arith"
    fn = staticmethod(np.maximum)

    def infer(self, node, ins):
        return [(ins[0].dtype, broadcast_shapes(node, [i.shape for i in ins]))]

    def run(self, node, inputs):
        out = inputs[0]
        for other in inputs[1:]:
            out = self.fn(out, other)
        return [np.asarray(out, dtype=inputs[0].dtype)]

    def integer_params(self, node):
        """Max / Min: each input's requantization to the output (None: equal parameters)."""
        y = scale_zp(node.outputs[0])
        return [qun.requant_to(scale_zp(v), y, out_dtype(node)) for v in node.inputs]

    def run_integer(self, node, inputs, params, rounding):
        return qun.extreme(inputs, params, node.op_type == "Min", out_dtype(node))


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

    def integer_params(self, node):
        inputs = [scale_zp(v) for v in node.inputs]
        output = scale_zp(node.outputs[0])
        return qun.add_n_params(inputs, output, out_dtype(node), mean=node.op_type == "Mean")

    def run_integer(self, node, inputs, params, rounding):
        return qun.add_n(inputs, params)


@register
class Mean(Sum):
    op_type = "Mean"

    def run(self, node, inputs):
        total = Sum.fn(inputs[0], inputs[1]) if len(inputs) > 1 else inputs[0]
        for other in inputs[2:]:
            total = total + other
        return [np.asarray(total / len(inputs), dtype=inputs[0].dtype)]


@register
class Where(Op):
    """Where(condition, X, Y); integer with a constant condition (TFLite SELECT_V2)."""

    op_type = "Where"
    integer = "arith"
    num_inputs = (3, 3)
    const_inputs = (0,)

    def infer(self, node, ins):
        c, x, y = ins
        return [(x.dtype, broadcast_shapes(node, [c.shape, x.shape, y.shape]))]

    def run(self, node, inputs):
        c, x, y = inputs
        return [np.where(np.asarray(c, bool), x, y).astype(x.dtype, copy=False)]

    def integer_limits(self, node):
        return None if node.inputs[0].is_const else "the condition is computed at run time"

    def integer_params(self, node):
        if self.integer_limits(node):
            raise node_error(QuantizationError, node, "integer Where needs a constant condition")
        out = scale_zp(node.outputs[0])
        return [qun.requant_to(scale_zp(v), out, out_dtype(node)) for v in node.inputs[1:]]

    def run_integer(self, node, inputs, params, rounding):
        return qun.where(inputs[0], inputs[1], inputs[2], params, out_dtype(node))


class Unary(Op):
    channelwise = True
    fn = staticmethod(np.negative)

    def run(self, node, inputs):
        return [np.asarray(self.fn(inputs[0]), dtype=inputs[0].dtype)]


class TableUnary(TableOp, Unary):
    def table_fn(self, node):
        return self.fn


def _unary(op_type: str, fn, base=Unary) -> type[Op]:
    cls = type(op_type, (base,), {"op_type": op_type, "fn": staticmethod(fn)})
    return register(cls)


@register
class Abs(Unary):
    """Abs; in integer TFLite's ABS."""

    op_type = "Abs"
    integer = "arith"
    fn = staticmethod(np.abs)

    def integer_params(self, node):
        x, y = scale_zp(node.inputs[0]), scale_zp(node.outputs[0])
        return qun.abs_params(*x, *y, dtype=out_dtype(node))

    def run_integer(self, node, inputs, params, rounding):
        return qun.abs_(inputs[0], params)


Neg = _unary("Neg", np.negative, TableUnary)
Exp = _unary("Exp", np.exp, TableUnary)
Log = _unary("Log", np.log, TableUnary)
Sqrt = _unary("Sqrt", np.sqrt, TableUnary)
Reciprocal = _unary("Reciprocal", np.reciprocal, TableUnary)
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
