"""ResNet / MobileNet / EfficientNet-class ONNX models with random weights, for bench/tvm.py.

Built with onnx.helper as PyTorch's ONNX export writes them in eval mode: BatchNorm folded
into the convolutions, ReLU / ReLU6 (Clip) / SiLU (x * Sigmoid(x)), squeeze-and-excitation
as GlobalAveragePool → 1×1 convolutions → Sigmoid → Mul, a Gemm classifier. Weights are
He-scaled so that activations keep their range through the depth.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class Builder:
    def __init__(self, seed: int = 0):
        self.nodes: list = []
        self.weights: list = []
        self.rng = np.random.default_rng(seed)
        self.count = 0

    def name(self, base: str) -> str:
        self.count += 1
        return f"{base}{self.count}"

    def const(self, array: np.ndarray) -> str:
        name = self.name("w")
        self.weights.append(numpy_helper.from_array(array.astype(np.float32), name))
        return name

    def node(self, op: str, inputs: list[str], **attrs) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def conv(self, x: str, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1):
        fan_in = cin // groups * k * k
        w = self.rng.standard_normal((cout, cin // groups, k, k)) * np.sqrt(2.0 / fan_in)
        b = self.rng.uniform(-0.1, 0.1, cout)
        pads = [k // 2] * 4
        return self.node(
            "Conv",
            [x, self.const(w), self.const(b)],
            kernel_shape=[k, k],
            strides=[stride, stride],
            pads=pads,
            group=groups,
        )

    def act(self, x: str, kind: str) -> str:
        if kind == "relu":
            return self.node("Relu", [x])
        if kind == "relu6":
            return self.node("Clip", [x, self.const(np.array(0.0)), self.const(np.array(6.0))])
        return self.node("Mul", [x, self.node("Sigmoid", [x])])  # SiLU

    def head(self, x: str, channels: int, classes: int = 1000) -> str:
        pooled = self.node("Flatten", [self.node("GlobalAveragePool", [x])])
        w = self.rng.standard_normal((classes, channels)) / np.sqrt(channels)
        b = np.zeros(classes)
        return self.node("Gemm", [pooled, self.const(w), self.const(b)], transB=1)

    def model(self, out: str, size: int, name: str) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes,
            name,
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])],
            [helper.make_tensor_value_info(out, TensorProto.FLOAT, [1, 1000])],
            self.weights,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        return model


def resnet18(size: int = 224) -> onnx.ModelProto:
    b = Builder(18)
    x = b.node("Relu", [b.conv("input", 3, 64, 7, 2)])
    x = b.node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        for block in range(2):
            s = stride if block == 0 else 1
            y = b.node("Relu", [b.conv(x, cin, cout, 3, s)])
            y = b.conv(y, cout, cout, 3)
            shortcut = b.conv(x, cin, cout, 1, s) if (s != 1 or cin != cout) else x
            x = b.node("Relu", [b.node("Add", [y, shortcut])])
            cin = cout
    return b.model(b.head(x, 512), size, "resnet18")


def mobilenet_v2(size: int = 224, width: float = 1.0) -> onnx.ModelProto:
    b = Builder(2)

    def ch(c: int) -> int:
        return max(8, int(c * width + 4) // 8 * 8)

    x = b.act(b.conv("input", 3, ch(32), 3, 2), "relu6")
    cin = ch(32)
    for expand, cout, repeat, stride in (
        (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
        (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
    ):  # fmt: skip
        for i in range(repeat):
            s = stride if i == 0 else 1
            hidden = cin * expand
            y = b.act(b.conv(x, cin, hidden, 1), "relu6") if expand != 1 else x
            y = b.act(b.conv(y, hidden, hidden, 3, s, groups=hidden), "relu6")
            y = b.conv(y, hidden, ch(cout), 1)
            x = b.node("Add", [x, y]) if s == 1 and cin == ch(cout) else y
            cin = ch(cout)
    last = max(1280, ch(1280))
    x = b.act(b.conv(x, cin, last, 1), "relu6")
    return b.model(b.head(x, last), size, "mobilenet_v2")


def efficientnet_b0(size: int = 224) -> onnx.ModelProto:
    b = Builder(0)
    x = b.act(b.conv("input", 3, 32, 3, 2), "silu")
    cin = 32
    for expand, cout, repeat, stride, k in (
        (1, 16, 1, 1, 3), (6, 24, 2, 2, 3), (6, 40, 2, 2, 5), (6, 80, 3, 2, 3),
        (6, 112, 3, 1, 5), (6, 192, 4, 2, 5), (6, 320, 1, 1, 3),
    ):  # fmt: skip
        for i in range(repeat):
            s = stride if i == 0 else 1
            hidden = cin * expand
            y = b.act(b.conv(x, cin, hidden, 1), "silu") if expand != 1 else x
            y = b.act(b.conv(y, hidden, hidden, k, s, groups=hidden), "silu")
            squeezed = max(1, cin // 4)  # squeeze and excitation
            gate = b.node("GlobalAveragePool", [y])
            gate = b.act(b.conv(gate, hidden, squeezed, 1), "silu")
            gate = b.node("Sigmoid", [b.conv(gate, squeezed, hidden, 1)])
            y = b.conv(b.node("Mul", [y, gate]), hidden, cout, 1)
            x = b.node("Add", [x, y]) if s == 1 and cin == cout else y
            cin = cout
    x = b.act(b.conv(x, cin, 1280, 1), "silu")
    return b.model(b.head(x, 1280), size, "efficientnet_b0")


ZOO = {
    "resnet18_224": lambda: resnet18(224),
    "resnet18_64": lambda: resnet18(64),
    "mobilenet_v2_224": lambda: mobilenet_v2(224),
    "mobilenet_v2_035_96": lambda: mobilenet_v2(96, 0.35),
    "efficientnet_b0_224": lambda: efficientnet_b0(224),
}


def zoo_model(name: str, dest: Path) -> Path:
    model = ZOO[name]()
    onnx.checker.check_model(model)
    dest.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dest))
    return dest
