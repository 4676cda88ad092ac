"""Random valid CNNs for differential testing (tests/test_differential.py, bench/fuzz.py).

``random_cnn(pick, seed)`` builds a float ONNX model with onnx.helper from a ``Picker``'s
choices (hypothesis draws in the tests, a seeded numpy generator in the fuzz script): an NCHW
input, then one to six stages chosen among convolutions (kernel 1–3, strides, dilations,
asymmetric pads), depthwise convolutions (multiplier 1 or 2), pools, activations, a
residual Add, a two-branch Concat and a channel-wise Mul, and optionally a head (global
average pool, flatten, fully connected, softmax). Shapes are tracked as the graph grows,
so every graph is valid; weights are scaled by fan-in so that activations stay of order one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class Picker:
    """The choices a graph is made of: from hypothesis (``draw``) or from a seed."""

    def __init__(self, draw=None, seed: int | None = None):
        self.draw = draw
        self.rng = np.random.default_rng(seed)

    def int(self, lo: int, hi: int) -> int:
        if self.draw is not None:
            from hypothesis import strategies as st

            return self.draw(st.integers(lo, hi))
        return int(self.rng.integers(lo, hi + 1))

    def choice(self, options):
        return options[self.int(0, len(options) - 1)]

    def bool(self) -> bool:
        return bool(self.int(0, 1))


STAGES = ("conv", "dwconv", "pool", "act", "residual", "concat", "scale")
ACTIVATIONS = ("Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "HardSwish")


@dataclass
class Builder:
    rng: np.random.Generator
    nodes: list = field(default_factory=list)
    inits: list = field(default_factory=list)
    count: int = 0

    def name(self, kind: str) -> str:
        self.count += 1
        return f"{kind}{self.count}"

    def const(self, array: np.ndarray, kind: str) -> str:
        name = self.name(kind)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], **attrs) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out + "_node", **attrs))
        return out


def _conv(pick: Picker, b: Builder, x: str, shape: list[int], depthwise: bool = False):
    _, c, h, w = shape
    if depthwise:
        out_c, group, k = c * pick.choice([1, 1, 2]), c, pick.choice([3, 5])
        k = k if min(h, w) >= k else 3
    else:
        out_c, group, k = pick.int(1, 12), 1, pick.int(1, 3)
    kh, kw = (k, k) if depthwise or pick.bool() else (k, pick.int(1, 3))
    dil = pick.choice([1, 1, 2]) if max(kh, kw) > 1 else 1
    stride = pick.choice([1, 1, 2])
    pads = [pick.int(0, dil * (d - 1)) for d in (kh, kw, kh, kw)]
    oh = (h + pads[0] + pads[2] - dil * (kh - 1) - 1) // stride + 1
    ow = (w + pads[1] + pads[3] - dil * (kw - 1) - 1) // stride + 1
    if oh < 1 or ow < 1:
        pads, dil, stride = [0, 0, 0, 0], 1, 1
        kh, kw = min(kh, h), min(kw, w)
        oh, ow = h - kh + 1, w - kw + 1
    fan_in = (c // group) * kh * kw
    weight = b.rng.normal(0, 1.0 / np.sqrt(fan_in), (out_c, c // group, kh, kw))
    inputs = [x, b.const(weight.astype(np.float32), "w")]
    if pick.int(0, 3):
        inputs.append(b.const(b.rng.normal(0, 0.2, out_c).astype(np.float32), "b"))
    y = b.node(
        "Conv",
        inputs,
        kernel_shape=[kh, kw],
        strides=[stride, stride],
        dilations=[dil, dil],
        pads=pads,
        group=group,
    )
    return y, [1, out_c, oh, ow]


def _activation(pick: Picker, b: Builder, x: str, shape: list[int]):
    op = pick.choice(ACTIVATIONS)
    if op == "Clip":
        lo = b.const(np.array(0.0, np.float32), "lo")
        hi = b.const(np.array(6.0, np.float32), "hi")
        return b.node("Clip", [x, lo, hi]), shape
    if op == "LeakyRelu":
        return b.node("LeakyRelu", [x], alpha=pick.choice([0.1, 0.2])), shape
    return b.node(op, [x]), shape


def _pool(pick: Picker, b: Builder, x: str, shape: list[int]):
    _, c, h, w = shape
    if min(h, w) < 2:
        return _activation(pick, b, x, shape)
    op = pick.choice(["MaxPool", "AveragePool"])
    k = pick.choice([2, 3]) if min(h, w) >= 3 else 2
    stride = pick.choice([1, 2])
    pad = pick.int(0, 1) if k == 3 else 0
    attrs = {"kernel_shape": [k, k], "strides": [stride, stride], "pads": [pad] * 4}
    if op == "AveragePool":
        attrs["count_include_pad"] = pick.int(0, 1)
    y = b.node(op, [x], **attrs)
    out = [(d + 2 * pad - k) // stride + 1 for d in (h, w)]
    return y, [1, c, *out]


def _residual(pick: Picker, b: Builder, x: str, shape: list[int]):
    """x + conv3x3(x) (same shape), optionally through an activation."""
    c = shape[1]
    weight = b.rng.normal(0, 1.0 / np.sqrt(9 * c), (c, c, 3, 3)).astype(np.float32)
    branch = b.node("Conv", [x, b.const(weight, "w")], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    if pick.bool():
        branch = b.node("Relu", [branch])
    return b.node("Add", [x, branch]), shape


def _concat(pick: Picker, b: Builder, x: str, shape: list[int]):
    """Concat(conv1x1(x), conv3x3(x)) along the channels."""
    c = shape[1]
    outs = []
    for k in (1, 3):
        oc = pick.int(1, 6)
        weight = b.rng.normal(0, 1.0 / np.sqrt(k * k * c), (oc, c, k, k)).astype(np.float32)
        pads = [k // 2] * 4
        outs.append((b.node("Conv", [x, b.const(weight, "w")], kernel_shape=[k, k], pads=pads), oc))
    y = b.node("Concat", [o for o, _ in outs], axis=1)
    return y, [1, sum(oc for _, oc in outs), shape[2], shape[3]]


def _scale(pick: Picker, b: Builder, x: str, shape: list[int]):
    """A per-channel Mul (or Add) by a constant, as batch-norm-like scale layers leave."""
    op = pick.choice(["Mul", "Add"])
    value = b.rng.uniform(0.5, 1.5, (1, shape[1], 1, 1)).astype(np.float32)
    return b.node(op, [x, b.const(value, "s")]), shape


def _head(pick: Picker, b: Builder, x: str, shape: list[int]):
    y = b.node("GlobalAveragePool", [x])
    y = b.node("Flatten", [y])
    n = pick.int(1, 10)
    weight = b.rng.normal(0, 1.0 / np.sqrt(shape[1]), (n, shape[1])).astype(np.float32)
    bias = b.rng.normal(0, 0.1, n).astype(np.float32)
    y = b.node("Gemm", [y, b.const(weight, "fc"), b.const(bias, "fcb")], transB=1)
    if pick.bool():
        y = b.node("Softmax", [y], axis=-1)
    return y, [1, n]


def random_cnn(pick: Picker, seed: int) -> onnx.ModelProto:
    """A random float CNN; ``seed`` also seeds its weights."""
    b = Builder(np.random.default_rng(seed))
    shape = [1, pick.int(1, 8), pick.int(3, 12), pick.int(3, 12)]
    x, current = "x", shape
    for _ in range(pick.int(1, 6)):
        stage = pick.choice(STAGES)
        build = {
            "conv": _conv,
            "dwconv": lambda p, bb, xx, s: _conv(p, bb, xx, s, depthwise=True),
            "pool": _pool,
            "act": _activation,
            "residual": _residual,
            "concat": _concat,
            "scale": _scale,
        }[stage]
        x, current = build(pick, b, x, current)
        if stage in ("conv", "dwconv") and pick.bool():
            x, current = _activation(pick, b, x, current)
    if pick.bool():
        x, current = _head(pick, b, x, current)
    graph = helper.make_graph(
        b.nodes,
        f"random_{seed}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, None)],
        b.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])  # HardSwish
    model.ir_version = 8
    return model
