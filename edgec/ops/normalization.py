"""Inference-mode normalizations with per-channel statistics."""

from __future__ import annotations

import numpy as np

from edgec.errors import ModelError, QuantizationError, ShapeError, node_error
from edgec.ir.graph import QuantParams
from edgec.ops.integer import layernorm as qln
from edgec.ops.integer.nodes import out_dtype, scale_zp
from edgec.ops.registry import Attr, Op, broadcast_shapes, normalize_axis, register


def channel_shape(x: np.ndarray) -> tuple[int, ...]:
    """Shape that broadcasts a per-channel vector over an N, C, … tensor."""
    return (1, x.shape[1], *([1] * (x.ndim - 2)))


@register
class BatchNormalization(Op):
    """``y = (x - mean) / sqrt(var + epsilon) * scale + bias`` over channel axis 1."""

    op_type = "BatchNormalization"
    num_inputs = (5, 5)
    num_outputs = (1, 1)
    attributes = {
        "epsilon": Attr("float", 1e-5),
        "momentum": Attr("float", 0.9),
        "training_mode": Attr("int", 0, (0,)),
    }

    def check(self, node):
        if node.attrs.get("training_mode", 0):
            raise node_error(
                ModelError, node, "training_mode=1 (batch statistics) is not an inference op"
            )
        super().check(node)

    def infer(self, node, ins):
        x = ins[0].shape
        if len(x) < 2:
            raise node_error(ShapeError, node, f"input {x} has no channel axis")
        for i in range(1, 5):
            if ins[i].shape != (x[1],):
                raise node_error(ShapeError, node, f"input {i} shape {ins[i].shape} != ({x[1]},)")
        return [(ins[0].dtype, x)]

    def run(self, node, inputs):
        x, scale, bias, mean, var = inputs
        multiplier, offset = fold_batchnorm(scale, bias, mean, var, self.attr(node, "epsilon"))
        shape = channel_shape(x)
        return [(x * multiplier.reshape(shape) + offset.reshape(shape)).astype(x.dtype)]


def fold_batchnorm(scale, bias, mean, var, epsilon: float) -> tuple[np.ndarray, np.ndarray]:
    """The per-channel affine map ``y = x * multiplier + offset`` of an inference BatchNorm."""
    multiplier = scale / np.sqrt(var + np.asarray(epsilon, var.dtype))
    return multiplier, bias - mean * multiplier


@register
class InstanceNormalization(Op):
    op_type = "InstanceNormalization"
    num_inputs = (3, 3)
    attributes = {"epsilon": Attr("float", 1e-5)}

    def run(self, node, inputs):
        x, scale, bias = inputs
        if x.ndim < 3:
            raise node_error(ModelError, node, "needs an N, C, spatial… input")
        axes = tuple(range(2, x.ndim))
        mean = x.mean(axis=axes, keepdims=True)
        var = x.var(axis=axes, keepdims=True)
        shape = channel_shape(x)
        eps = self.attr(node, "epsilon")
        y = (x - mean) / np.sqrt(var + eps) * scale.reshape(shape) + bias.reshape(shape)
        return [y.astype(x.dtype)]


@register
class LayerNormalization(Op):
    """Normalization over the axes from ``axis`` on, then ``* scale + bias`` (opset 17).

    The optional Mean and InvStdDev outputs are float32. Integer: edgec's own arithmetic
    (ops/integer/layernorm.py); its scale and bias are quantized by ``integer_operands``.
    """

    op_type = "LayerNormalization"
    num_inputs = (2, 3)
    num_outputs = (1, 3)
    integer = "arith"
    operand_inputs = (1, 2)
    attributes = {
        "axis": Attr("int", -1),
        "epsilon": Attr("float", 1e-5),
        "stash_type": Attr("int", 1),
    }

    def normalized_axis(self, node, rank: int) -> int:
        return normalize_axis(node, self.attr(node, "axis"), rank)

    def infer(self, node, ins):
        shape = ins[0].shape
        axis = self.normalized_axis(node, len(shape))
        normalized = tuple(shape[axis:])
        for i in (1, 2):
            info = ins[i] if i < len(ins) else None
            if info is not None and broadcast_shapes(node, [normalized, info.shape]) != normalized:
                raise node_error(
                    ShapeError, node, f"input {i} {info.shape} does not broadcast to {normalized}"
                )
        statistics = (*shape[:axis], *([1] * len(normalized)))
        outs = [(ins[0].dtype, shape)] + [(np.dtype(np.float32), statistics)] * 2
        return outs[: len(node.outputs)]

    def run(self, node, inputs):
        x = inputs[0]
        axes = tuple(range(self.normalized_axis(node, x.ndim), x.ndim))
        wide = x.astype(np.float64)
        mean = wide.mean(axis=axes, keepdims=True)
        centered = wide - mean
        inv_std = 1.0 / np.sqrt((centered * centered).mean(axis=axes, keepdims=True)
                                + self.attr(node, "epsilon"))  # fmt: skip
        y = centered * inv_std * inputs[1]
        if len(inputs) > 2 and inputs[2] is not None:
            y = y + inputs[2]
        results = [y.astype(x.dtype), mean.astype(np.float32), inv_std.astype(np.float32)]
        return results[: len(node.outputs)]

    def operand(self, node, index: int, data: np.ndarray | None) -> np.ndarray | None:
        """Scale or bias broadcast to the normalized shape, flattened (None when absent)."""
        if data is None:
            return None
        shape = node.inputs[0].shape
        return np.broadcast_to(data, shape[self.normalized_axis(node, len(shape)) :]).reshape(-1)

    def integer_params(self, node):
        x, gamma, y = node.inputs[0], node.inputs[1], node.outputs[0]
        beta = node.input(2)
        if len(node.outputs) > 1:
            raise node_error(QuantizationError, node, "integer LayerNorm has one output")
        s_g, z_g = scale_zp(gamma)
        if z_g != 0 or (beta is not None and scale_zp(beta)[1] != 0):
            raise node_error(QuantizationError, node, "scale and bias must be symmetric")
        size = int(np.prod(x.shape[self.normalized_axis(node, len(x.shape)) :]))
        return qln.layer_norm_params(
            *scale_zp(x),
            s_g,
            None if beta is None else scale_zp(beta)[0],
            *scale_zp(y),
            size,
            self.attr(node, "epsilon"),
            dtype=out_dtype(node),
        )

    def run_integer(self, node, inputs, params, rounding):
        beta = inputs[2] if len(inputs) > 2 else None
        gamma = self.operand(node, 1, inputs[1])
        return qln.layer_norm(inputs[0], gamma, self.operand(node, 2, beta), params)

    def integer_operands(self, node, dtype):
        """Scale: int16 symmetric per tensor; bias: int32 at the accumulator's scale
        s_g * 2**-F (fewer fraction bits when the bias would not fit in 30 bits)."""
        x = node.inputs[0].shape
        normalized = x[self.normalized_axis(node, len(x)) :]
        gamma = self.operand(node, 1, node.inputs[1].const).astype(np.float64)
        amax = float(np.abs(gamma).max())
        s_g = np.float32(amax / 32767 if amax > 0 else 1.0)
        gamma_q = np.clip(np.rint(gamma / s_g), -32767, 32767).astype(np.int16)
        operands = {1: (gamma_q.reshape(normalized), QuantParams(s_g, 0, np.int16))}
        beta = node.input(2)
        if beta is not None:
            b = self.operand(node, 2, beta.const).astype(np.float64)
            bits = qln.fraction_bits(s_g, scale_zp(node.outputs[0])[0])
            while bits > 0 and np.abs(b).max() / (float(s_g) * 2.0**-bits) >= 2**30:
                bits -= 1
            s_b = np.float32(float(s_g) * 2.0**-bits)
            beta_q = np.clip(np.rint(b / float(s_b)), -(2**31) + 1, 2**31 - 1).astype(np.int32)
            operands[2] = (beta_q.reshape(normalized), QuantParams(s_b, 0, np.int32))
        return operands
