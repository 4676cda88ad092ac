"""Activation functions and softmax-like normalizations (float references)."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from edgec.errors import QuantizationError, node_error
from edgec.ops.elementwise import TableOp
from edgec.ops.integer import activations as qact
from edgec.ops.integer import elementwise as qew
from edgec.ops.integer import lut as qlut
from edgec.ops.integer import softmax as qsoftmax
from edgec.ops.integer.common import activation_range
from edgec.ops.integer.lookup import float_function_table
from edgec.ops.integer.nodes import out_dtype, scale_zp
from edgec.ops.integer.softmax_onnxruntime import (
    OnnxruntimeSoftmaxParams,
    onnxruntime_softmax,
    onnxruntime_softmax_params,
)
from edgec.ops.registry import Attr, Op, broadcast_shapes, normalize_axis, register


class Activation(Op):
    """A unary float function; ``apply`` is reused by fused activations."""

    channelwise = True
    # int8 under rounding "float": onnxruntime's table of its float function (lookup.py)
    float_table: ClassVar[bool] = False

    def apply(self, node, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def float_rounding_params(self, node):
        x, y = node.inputs[0], node.outputs[0]
        int8 = np.dtype(x.dtype) == np.dtype(y.dtype) == np.dtype(np.int8)
        if not (self.float_table and int8):
            return None
        attrs = {k: v for k, v in node.attrs.items() if k in self.attributes}
        return float_function_table(self.op_type, attrs, *scale_zp(x), *scale_zp(y))

    def run(self, node, inputs):
        x = inputs[0]
        return [np.asarray(self.apply(node, x), dtype=x.dtype)]


class TableActivation(TableOp, Activation):
    """An activation whose int8 kernel is a table of its float function."""

    def table_fn(self, node):
        return lambda x: self.apply(node, x)


class Clamp(Activation):
    """Relu and Clip: integer kernels that rescale when input and output quantization
    differ, then clamp."""

    integer = "arith"

    def bounds(self, node, inputs) -> tuple[float | None, float | None]:
        return 0.0, None

    def integer_params(self, node):
        x, y = node.inputs[0], node.outputs[0]
        lo, hi = self.bounds(
            node, [None, *(v.const if v is not None else None for v in node.inputs[1:])]
        )
        rescale = (
            None
            if scale_zp(x) == scale_zp(y)
            else qew.requantize_params(*scale_zp(x), *scale_zp(y), out_dtype(node))
        )
        return rescale, activation_range(out_dtype(node), *scale_zp(y), lo, hi)

    def run_integer(self, node, inputs, params, rounding):
        rescale, (lo, hi) = params
        x = inputs[0] if rescale is None else qew.requantize(inputs[0], rescale, rounding)
        return qact.clamp(x, lo, hi)


@register
class Relu(Clamp):
    op_type = "Relu"

    def apply(self, node, x):
        return np.maximum(x, np.zeros((), x.dtype))


@register
class Clip(Clamp):
    """Clip with optional ``min``/``max`` inputs (opset ≥ 11; older forms are upgraded)."""

    op_type = "Clip"
    num_inputs = (1, 3)
    const_inputs = (1, 2)

    def bounds(self, node, inputs) -> tuple[float | None, float | None]:
        lo = inputs[1] if len(inputs) > 1 else None
        hi = inputs[2] if len(inputs) > 2 else None
        return (
            None if lo is None else float(np.asarray(lo).reshape(())),
            None if hi is None else float(np.asarray(hi).reshape(())),
        )

    def run(self, node, inputs):
        x = inputs[0]
        lo, hi = self.bounds(node, inputs)
        out = x
        if lo is not None:
            out = np.maximum(out, np.asarray(lo, x.dtype))
        if hi is not None:
            out = np.minimum(out, np.asarray(hi, x.dtype))
        return [np.asarray(out, dtype=x.dtype)]


@register
class LeakyRelu(Activation):
    op_type = "LeakyRelu"
    integer = "arith"
    float_table = True
    attributes = {"alpha": Attr("float", 0.01)}

    def apply(self, node, x):
        alpha = np.asarray(self.attr(node, "alpha"), x.dtype)
        return np.where(x >= 0, x, x * alpha)

    def integer_params(self, node):
        s_in, z_in = scale_zp(node.inputs[0])
        alpha = float(self.attr(node, "alpha"))
        return qact.leaky_relu_params(
            s_in, z_in, alpha, *scale_zp(node.outputs[0]), dtype=out_dtype(node)
        )

    def run_integer(self, node, inputs, params, rounding):
        return qact.leaky_relu(inputs[0], params)


class SigmoidLike(Activation):
    """Sigmoid and Tanh: TFLite's integer kernels, whose output quantization is fixed."""

    integer = "arith"
    kind = "logistic"
    float_table = True

    def integer_params(self, node):
        return qact.sigmoid_like_params(
            self.kind, *scale_zp(node.inputs[0]), *scale_zp(node.outputs[0]), dtype=out_dtype(node)
        )

    def run_integer(self, node, inputs, params, rounding):
        kernel = qact.logistic if self.kind == "logistic" else qact.tanh
        return kernel(inputs[0], params)


@register
class Sigmoid(SigmoidLike):
    op_type = "Sigmoid"
    fixed_output = {"int8": (1 / 256, -128), "int16": (1 / 32768, 0)}

    def apply(self, node, x):
        # Split by sign so exp never overflows.
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


@register
class Tanh(SigmoidLike):
    op_type = "Tanh"
    kind = "tanh"
    fixed_output = {"int8": (1 / 128, 0), "int16": (1 / 32768, 0)}

    def apply(self, node, x):
        return np.tanh(x)


@register
class HardSigmoid(TableActivation):
    op_type = "HardSigmoid"
    attributes = {"alpha": Attr("float", 0.2), "beta": Attr("float", 0.5)}

    def apply(self, node, x):
        alpha = np.asarray(self.attr(node, "alpha"), x.dtype)
        beta = np.asarray(self.attr(node, "beta"), x.dtype)
        return np.clip(x * alpha + beta, 0, 1)


@register
class HardSwish(Activation):
    op_type = "HardSwish"
    integer = "arith"
    float_table = True
    int16 = False  # TFLite has an int8 kernel only

    def apply(self, node, x):
        return x * np.clip(x * np.asarray(1 / 6, x.dtype) + np.asarray(0.5, x.dtype), 0, 1)

    def integer_params(self, node):
        return qact.hard_swish_params(*scale_zp(node.inputs[0]), *scale_zp(node.outputs[0]))

    def run_integer(self, node, inputs, params, rounding):
        return qact.hard_swish(inputs[0], params)


@register
class Elu(TableActivation):
    op_type = "Elu"
    attributes = {"alpha": Attr("float", 1.0)}

    def apply(self, node, x):
        alpha = self.attr(node, "alpha")
        return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


@register
class Selu(Activation):
    op_type = "Selu"
    attributes = {
        "alpha": Attr("float", 1.67326319217681884765625),
        "gamma": Attr("float", 1.05070102214813232421875),
    }

    def apply(self, node, x):
        alpha, gamma = self.attr(node, "alpha"), self.attr(node, "gamma")
        return gamma * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


@register
class Softplus(Activation):
    op_type = "Softplus"

    def apply(self, node, x):
        return np.logaddexp(x, np.zeros((), x.dtype))


@register
class Softsign(Activation):
    op_type = "Softsign"

    def apply(self, node, x):
        return x / (1 + np.abs(x))


@register
class Shrink(Activation):
    op_type = "Shrink"
    attributes = {"bias": Attr("float", 0.0), "lambd": Attr("float", 0.5)}

    def apply(self, node, x):
        bias, lambd = self.attr(node, "bias"), self.attr(node, "lambd")
        return np.where(x < -lambd, x + bias, np.where(x > lambd, x - bias, 0))


@register
class Celu(Activation):
    op_type = "Celu"
    attributes = {"alpha": Attr("float", 1.0)}

    def apply(self, node, x):
        alpha = self.attr(node, "alpha")
        return np.maximum(x, 0) + np.minimum(0, alpha * np.expm1(np.minimum(x, 0) / alpha))


@register
class ThresholdedRelu(Activation):
    op_type = "ThresholdedRelu"
    attributes = {"alpha": Attr("float", 1.0)}

    def apply(self, node, x):
        return np.where(x > self.attr(node, "alpha"), x, 0)


@register
class Mish(Activation):
    op_type = "Mish"

    def apply(self, node, x):
        return x * np.tanh(np.logaddexp(x, np.zeros((), x.dtype)))


# numpy has no erf; math.erf per element is exact to double precision (and only a reference).
_ERF = np.frompyfunc(math.erf, 1, 1)


def erf(x: np.ndarray) -> np.ndarray:
    return _ERF(np.asarray(x, dtype=np.float64)).astype(np.float64)


@register
class Erf(TableActivation):
    op_type = "Erf"

    def apply(self, node, x):
        return erf(x)


@register
class Gelu(Activation):
    """GELU; integer int8 by TFLite's 256-entry table (TFLite has no int16 GELU)."""

    op_type = "Gelu"
    integer = "arith"
    int16 = False
    attributes = {"approximate": Attr("string", "none", ("none", "tanh"))}

    def integer_params(self, node):
        if out_dtype(node) != "int8":
            raise node_error(QuantizationError, node, "integer Gelu is int8 only (TFLite's table)")
        approximate = self.attr(node, "approximate") == "tanh"
        return qlut.lut_params(
            lambda v: qlut.gelu_f32(v, approximate),
            *scale_zp(node.inputs[0]),
            *scale_zp(node.outputs[0]),
        )

    def run_integer(self, node, inputs, params, rounding):
        return qlut.lookup(inputs[0], params)

    def apply(self, node, x):
        wide = x.astype(np.float64)
        if self.attr(node, "approximate") == "tanh":
            inner = math.sqrt(2 / math.pi) * (wide + 0.044715 * wide**3)
            return 0.5 * wide * (1 + np.tanh(inner))
        return 0.5 * wide * (1 + erf(wide / math.sqrt(2)))


@register
class PRelu(Op):
    op_type = "PRelu"
    num_inputs = (2, 2)

    def infer(self, node, ins):
        return [(ins[0].dtype, broadcast_shapes(node, [ins[0].shape, ins[1].shape]))]

    def run(self, node, inputs):
        x, slope = inputs
        return [np.where(x >= 0, x, x * slope).astype(x.dtype)]


class SoftmaxBase(Op):
    """Softmax over one axis (opset ≥ 13 semantics; older models are rewritten on import)."""

    attributes = {"axis": Attr("int", -1)}

    def run(self, node, inputs):
        x = inputs[0]
        axis = normalize_axis(node, self.attr(node, "axis"), x.ndim)
        shifted = x - np.max(x, axis=axis, keepdims=True)
        return [np.asarray(self.normalize(shifted, axis), dtype=x.dtype)]

    @staticmethod
    def normalize(shifted: np.ndarray, axis: int) -> np.ndarray:
        e = np.exp(shifted)
        return e / np.sum(e, axis=axis, keepdims=True)


@register
class Softmax(SoftmaxBase):
    op_type = "Softmax"
    integer = "arith"
    fixed_output = {
        "int8": qsoftmax.OUTPUT_QUANTIZATION[("int8", "int8")],
        "int16": qsoftmax.OUTPUT_QUANTIZATION[("int16", "int16")],
    }

    def integer_params(self, node):
        x, y = node.inputs[0], node.outputs[0]
        in_dtype, out_dtype_ = np.dtype(x.dtype).name, np.dtype(y.dtype).name
        want = qsoftmax.OUTPUT_QUANTIZATION.get((in_dtype, out_dtype_))
        s_out, z_out = scale_zp(y)
        if want is None or not np.isclose(s_out, want[0], rtol=1e-6) or z_out != want[1]:
            raise node_error(
                QuantizationError,
                node,
                f"integer Softmax output must be quantized as {want} (TFLite), "
                f"got ({s_out}, {z_out})",
            )
        return qsoftmax.softmax_params(scale_zp(x)[0], dtype=in_dtype, output_dtype=out_dtype_)

    def run_integer(self, node, inputs, params, rounding):
        axis = self.attr(node, "axis")
        if isinstance(params, OnnxruntimeSoftmaxParams):
            return onnxruntime_softmax(inputs[0], params, axis)
        return qsoftmax.softmax(inputs[0], params, axis=axis)

    def float_rounding_params(self, node):
        """int8 → int8: onnxruntime's QLinearSoftmax (any output quantization)."""
        x, y = node.inputs[0], node.outputs[0]
        if not np.dtype(x.dtype) == np.dtype(y.dtype) == np.dtype(np.int8):
            return None
        axis = normalize_axis(node, self.attr(node, "axis"), len(x.shape))
        return onnxruntime_softmax_params(scale_zp(x)[0], x.shape[axis], *scale_zp(y))


@register
class LogSoftmax(SoftmaxBase):
    op_type = "LogSoftmax"

    @staticmethod
    def normalize(shifted, axis):
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


# Activations a backend may fuse into the producing Conv/Gemm/MatMul as an output clamp.
FUSABLE_ACTIVATIONS = ("Relu", "Clip")
