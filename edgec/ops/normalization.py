"""Inference-mode normalizations with per-channel statistics."""

from __future__ import annotations

import numpy as np

from edgec.errors import ModelError, ShapeError, node_error
from edgec.ops.registry import Attr, Op, register


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
