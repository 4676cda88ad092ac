"""QuantizeLinear / DequantizeLinear: the float reference of affine quantization."""

from __future__ import annotations

import numpy as np

from edgec.errors import ModelError, ShapeError, node_error
from edgec.ir.dtypes import np_dtype
from edgec.ops.integer import elementwise as qew
from edgec.ops.integer.nodes import out_dtype as out_dtype_name
from edgec.ops.integer.nodes import scale_zp
from edgec.ops.registry import Attr, Op, normalize_axis, register


def param_shape(node, x_ndim: int, param: np.ndarray, axis: int) -> tuple[int, ...]:
    """Shape that broadcasts a per-tensor or per-axis parameter over the data."""
    if param.size == 1 and param.ndim <= 1:
        return ()
    if param.ndim != 1:
        raise node_error(ShapeError, node, "blocked quantization is not supported")
    axis = normalize_axis(node, axis, x_ndim)
    return tuple(param.size if i == axis else 1 for i in range(x_ndim))


def quantize(x: np.ndarray, scale, zero_point, dtype: np.dtype) -> np.ndarray:
    """``saturate(round_half_even(x / scale) + zero_point)`` computed in float32 like ONNX."""
    info = np.iinfo(dtype)
    q = np.rint(x.astype(np.float32) / scale.astype(np.float32)) + zero_point.astype(np.float64)
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale, zero_point) -> np.ndarray:
    diff = (q.astype(np.int64) - zero_point.astype(np.int64)).astype(np.float32)
    return diff * scale.astype(np.float32)


class QuantBase(Op):
    num_inputs = (2, 3)
    attributes = {"axis": Attr("int", 1), "block_size": Attr("int", 0, (0,))}

    def params(self, node, x: np.ndarray, scale: np.ndarray, zp: np.ndarray | None, dtype):
        shape = param_shape(node, x.ndim, scale, self.attr(node, "axis"))
        zp = np.zeros_like(scale, dtype=dtype) if zp is None else zp
        if zp.shape != scale.shape and not zp.size == scale.size == 1:  # () and (1,) alike
            raise node_error(ShapeError, node, f"zero point {zp.shape} != scale {scale.shape}")
        return scale.reshape(shape), zp.reshape(shape)


@register
class QuantizeLinear(QuantBase):
    op_type = "QuantizeLinear"
    # With an integer input (and quantized output) it requantizes, like TFLite's QUANTIZE.
    integer = "arith"
    attributes = {
        **QuantBase.attributes,
        "output_dtype": Attr("int", 0),
        "saturate": Attr("int", 1),
        "precision": Attr("int", 0),
    }

    def out_dtype(self, node, zp_dtype) -> np.dtype:
        code = self.attr(node, "output_dtype")
        dtype = np_dtype(code, node) if code else (zp_dtype or np.dtype(np.uint8))
        if not np.issubdtype(dtype, np.integer):
            raise node_error(ModelError, node, f"quantizing to {dtype} is not supported")
        return np.dtype(dtype)

    def infer(self, node, ins):
        zp = ins[2].dtype if len(ins) > 2 and ins[2] is not None else None
        return [(self.out_dtype(node, zp), ins[0].shape)]

    def run(self, node, inputs):
        x, scale = inputs[0], inputs[1]
        zp = inputs[2] if len(inputs) > 2 else None
        dtype = self.out_dtype(node, zp.dtype if zp is not None else None)
        s, z = self.params(node, x, scale, zp, dtype)
        return [quantize(x, s, z, dtype)]

    def integer_params(self, node):
        """float → int: None (ONNX rounding); int → int: TFLite QUANTIZE's rescale."""
        x, y = node.inputs[0], node.outputs[0]
        if np.issubdtype(np.dtype(x.dtype), np.floating):
            return None
        return qew.requantize_params(*scale_zp(x), *scale_zp(y), out_dtype_name(node))

    def run_integer(self, node, inputs, params, rounding):
        y = node.outputs[0]
        if params is None:
            return qew.quantize_linear(inputs[0], *scale_zp(y), out_dtype_name(node))
        return qew.requantize(inputs[0], params, rounding)


@register
class DequantizeLinear(QuantBase):
    op_type = "DequantizeLinear"
    attributes = {**QuantBase.attributes, "output_dtype": Attr("int", 0)}

    def infer(self, node, ins):
        return [(ins[1].dtype, ins[0].shape)]

    def run(self, node, inputs):
        q, scale = inputs[0], inputs[1]
        zp = inputs[2] if len(inputs) > 2 else None
        s, z = self.params(node, q, scale, zp, q.dtype)
        return [dequantize(q, s, z).astype(scale.dtype)]
