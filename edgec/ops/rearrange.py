"""DepthToSpace and SpaceToDepth: pixels to channels and back (pure data movement).

DepthToSpace's DCR mode (the default, TFLite's DEPTH_TO_SPACE) reads output channel c of
sub-pixel (i, j) from input channel ``(i * b + j) * C' + c``; CRD mode from
``c * b * b + i * b + j``. SpaceToDepth is DCR's inverse.
"""

from __future__ import annotations

import numpy as np

from edgec.errors import ShapeError, node_error
from edgec.ops.registry import Attr, Op, register


class Rearrange(Op):
    integer = "move"
    attributes = {"blocksize": Attr("int")}

    def block(self, node, shape) -> int:
        b = self.attr(node, "blocksize")
        if shape is None or len(shape) != 4 or b < 1:
            raise node_error(ShapeError, node, "needs an N, C, H, W input and blocksize >= 1")
        return b


@register
class DepthToSpace(Rearrange):
    op_type = "DepthToSpace"
    attributes = {**Rearrange.attributes, "mode": Attr("string", "DCR", ("DCR", "CRD"))}

    def infer(self, node, ins):
        n, c, h, w = ins[0].shape
        b = self.block(node, ins[0].shape)
        if c % (b * b):
            raise node_error(ShapeError, node, f"{c} channels do not divide by {b}x{b}")
        return [(ins[0].dtype, (n, c // (b * b), h * b, w * b))]

    def run(self, node, inputs):
        x = inputs[0]
        n, c, h, w = x.shape
        b = self.block(node, x.shape)
        if self.attr(node, "mode") == "DCR":
            y = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
        else:
            y = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
        return [np.ascontiguousarray(y.reshape(n, c // (b * b), h * b, w * b))]


@register
class SpaceToDepth(Rearrange):
    op_type = "SpaceToDepth"

    def infer(self, node, ins):
        n, c, h, w = ins[0].shape
        b = self.block(node, ins[0].shape)
        if h % b or w % b:
            raise node_error(ShapeError, node, f"spatial size {h}x{w} does not divide by {b}")
        return [(ins[0].dtype, (n, c * b * b, h // b, w // b))]

    def run(self, node, inputs):
        x = inputs[0]
        n, c, h, w = x.shape
        b = self.block(node, x.shape)
        y = x.reshape(n, c, h // b, b, w // b, b).transpose(0, 3, 5, 1, 2, 4)
        return [np.ascontiguousarray(y.reshape(n, c * b * b, h // b, w // b))]
