"""Hand-built float graphs with the channel couplings pruning must respect (shared by the
pruning and low-rank tests)."""

from __future__ import annotations

import numpy as np

from edgec.data import Dataset
from edgec.ir import FusedActivation, Graph, Value


class Builder:
    """A small graph under construction: seeded random weights, NCHW values."""

    def __init__(self, name: str, shape, seed: int = 7):
        self.g = Graph(name)
        self.rng = np.random.default_rng(seed)
        self.x = self.g.add_value(Value("x", np.float32, shape))
        self.g.inputs.append(self.x)
        self.count = 0

    def value(self, shape) -> Value:
        self.count += 1
        return Value(f"v{self.count}", np.float32, shape)

    def conv(self, x: Value, out: int, kernel=1, group=1, pad=0, relu=True, name=""):
        c, h, w = x.shape[1:]
        fan_in = (c // group) * kernel * kernel
        weight = self.rng.standard_normal((out, c // group, kernel, kernel)) / np.sqrt(fan_in)
        wv = self.g.add_constant(f"{name}_w", weight.astype(np.float32))
        bv = self.g.add_constant(f"{name}_b", 0.1 * self.rng.standard_normal(out).astype("f4"))
        size = (h + 2 * pad - kernel + 1, w + 2 * pad - kernel + 1)
        y = self.value((1, out, *size))
        attrs = {"group": group, "kernel_shape": [kernel, kernel], "pads": [pad] * 4}
        node = self.g.add_node("Conv", [x, wv, bv], [y], attrs, name=name)
        if relu:
            node.fused = FusedActivation("Relu")
        return y

    def op(self, op_type: str, inputs: list[Value], shape, attrs=None, name="") -> Value:
        y = self.value(shape)
        self.g.add_node(op_type, inputs, [y], attrs or {}, name=name or op_type.lower())
        return y

    def gemm(self, x: Value, out: int, name="fc") -> Value:
        k = x.shape[1]
        weight = self.rng.standard_normal((out, k)) / np.sqrt(k)
        wv = self.g.add_constant(f"{name}_w", weight.astype(np.float32))
        bv = self.g.add_constant(f"{name}_b", 0.1 * self.rng.standard_normal(out).astype("f4"))
        return self.op("Gemm", [x, wv, bv], (1, out), {"transB": 1}, name=name)

    def done(self, y: Value) -> Graph:
        self.g.outputs.append(y)
        self.g.validate()
        return self.g


def residual() -> Graph:
    """conv0 → (conv1 on conv0) + conv0 → conv2 → pool → flatten → fc: a residual group."""
    b = Builder("residual", (1, 3, 8, 8))
    a = b.conv(b.x, 8, 3, pad=1, name="conv0")
    c = b.conv(a, 8, 1, relu=False, name="conv1")
    s = b.op("Add", [a, c], (1, 8, 8, 8), name="add")
    r = b.op("Relu", [s], (1, 8, 8, 8), name="relu")
    d = b.conv(r, 6, 3, name="conv2")
    p = b.op("GlobalAveragePool", [d], (1, 6, 1, 1), name="pool")
    f = b.op("Flatten", [p], (1, 6), {"axis": 1}, name="flatten")
    return b.done(b.gemm(f, 4))


def depthwise() -> Graph:
    """conv0 → depthwise 3x3 → pointwise → fc: the KWS DS-CNN pattern."""
    b = Builder("depthwise", (1, 3, 6, 6))
    a = b.conv(b.x, 8, 3, pad=1, name="conv0")
    d = b.conv(a, 8, 3, group=8, pad=1, name="dw")
    p = b.conv(d, 6, 1, name="pw")
    g = b.op("GlobalAveragePool", [p], (1, 6, 1, 1), name="pool")
    f = b.op("Flatten", [g], (1, 6), {"axis": 1}, name="flatten")
    return b.done(b.gemm(f, 4))


def concat() -> Graph:
    """Two convs concatenated on the channel axis, read by a 1x1 conv."""
    b = Builder("concat", (1, 3, 6, 6))
    a = b.conv(b.x, 4, 3, pad=1, name="conv_a")
    c = b.conv(b.x, 6, 1, name="conv_b")
    cat = b.op("Concat", [a, c], (1, 10, 6, 6), {"axis": 1}, name="cat")
    m = b.conv(cat, 5, 1, name="mix")
    g = b.op("GlobalAveragePool", [m], (1, 5, 1, 1), name="pool")
    f = b.op("Flatten", [g], (1, 5), {"axis": 1}, name="flatten")
    return b.done(b.gemm(f, 3))


def flatten_gemm(reshape: bool = False) -> Graph:
    """A conv whose NCHW output is flattened into a Gemm: channel c is H*W features."""
    b = Builder("flatten_gemm", (1, 2, 5, 5))
    a = b.conv(b.x, 6, 3, name="conv")
    if reshape:
        shape = b.g.add_constant("shape", np.array([1, 54], np.int64))
        f = b.op("Reshape", [a, shape], (1, 54), name="reshape")
    else:
        f = b.op("Flatten", [a], (1, 54), {"axis": 1}, name="flatten")
    h = b.gemm(f, 7, name="fc1")
    return b.done(b.gemm(h, 3, name="fc2"))


def mlp_graph(rank: int = 6, in_dim: int = 48, hidden: int = 40):
    """x → fc1 (a weight of rank ``rank`` plus noise, Relu) → fc2 → y; and a 1x1 conv net."""
    b = Builder("mlp", (1, in_dim))
    rng = b.rng
    low = rng.standard_normal((hidden, rank)) @ rng.standard_normal((rank, in_dim)) / in_dim
    w = low + 1e-3 * rng.standard_normal((hidden, in_dim))
    h = b.op(
        "Gemm",
        [
            b.x,
            b.g.add_constant("w1", w.astype("f4")),
            b.g.add_constant("b1", np.ones(hidden, "f4")),
        ],
        (1, hidden),
        {"transB": 1},
        name="fc1",
    )
    next(n for n in b.g.nodes if n.name == "fc1").fused = FusedActivation("Relu")
    return b.done(b.gemm(h, 5, name="fc2"))


def samples(graph: Graph, count: int, seed: int = 3) -> Dataset:
    """Seeded random inputs for every graph input."""
    rng = np.random.default_rng(seed)
    inputs = {
        v.name: rng.standard_normal((count, *v.shape)).astype(np.float32) for v in graph.inputs
    }
    return Dataset(inputs, None, [f"s{i}" for i in range(count)])


def correlated_samples(graph: Graph, count: int, seed: int = 3, latent: int = 6) -> Dataset:
    """Inputs whose channels mix ``latent`` sources (plus a little noise): data on which a
    data-aware fit differs from a data-blind one. One fixed mixing for every seed."""
    mixing_rng, rng = np.random.default_rng(99), np.random.default_rng(seed)
    inputs = {}
    for v in graph.inputs:
        channels = v.shape[1]
        mixing = mixing_rng.standard_normal((channels, latent))
        z = rng.standard_normal((count, latent, *v.shape[2:]))
        x = np.einsum("cl,nl...->nc...", mixing, z)
        x += 0.05 * rng.standard_normal(x.shape)
        inputs[v.name] = x.reshape(count, *v.shape).astype(np.float32)
    return Dataset(inputs, None, [f"s{i}" for i in range(count)])
