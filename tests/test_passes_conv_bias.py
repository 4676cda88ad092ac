"""FuseConvBias: a convolution whose bias comes as a separate per-channel Add (mnist-8's
form) gets it as its bias, with the same outputs; other Adds stay."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from edgec.interp import Interpreter
from edgec.ir import Graph, Value, to_onnx
from edgec.passes import fold
from edgec.passes.conv_bias import FuseConvBias

CHANNELS = 3


def conv_add(add_shape, with_bias=False, second_reader=False) -> Graph:
    """Conv (2 → 3 channels, 3x3) → Add of a constant of ``add_shape`` → Relu."""
    rng = np.random.default_rng(7)
    g = Graph("conv_add")
    x = g.add_value(Value("x", np.float32, (2, 2, 5, 6)))
    g.inputs.append(x)
    w = g.add_constant("w", rng.normal(size=(CHANNELS, 2, 3, 3)).astype(np.float32))
    inputs = [x, w]
    if with_bias:
        inputs.append(g.add_constant("b", rng.normal(size=(CHANNELS,)).astype(np.float32)))
    c = g.add_constant("c", rng.normal(size=add_shape).astype(np.float32))
    y, z, r = (g.new_value(n, np.float32, (2, CHANNELS, 3, 4)) for n in ("y", "z", "r"))
    g.add_node("Conv", inputs, [y])
    g.add_node("Add", [y, c], [z])
    g.add_node("Relu", [z], [r])
    g.outputs.append(r)
    if second_reader:
        g.outputs.append(y)
    return g


@pytest.mark.parametrize("shape", [(CHANNELS, 1, 1), (1, CHANNELS, 1, 1), (1,), ()])
@pytest.mark.parametrize("with_bias", [False, True])
def test_a_per_channel_add_becomes_the_bias_with_the_same_outputs(shape, with_bias):
    g = fold(conv_add(shape, with_bias))  # the Relu fused into the Add first
    x = np.random.default_rng(1).normal(size=(2, 2, 5, 6)).astype(np.float32)
    want = ort.InferenceSession(to_onnx(g).SerializeToString()).run(None, {"x": x})[0]
    assert FuseConvBias().run(g).changed
    g.validate()
    assert [n.op_type for n in g.nodes] == ["Conv"] and g.outputs[0].name == "r"
    conv = g.nodes[0]
    assert conv.fused is not None and conv.fused.op_type == "Relu"
    assert conv.inputs[2].shape == (CHANNELS,)
    got = ort.InferenceSession(to_onnx(g).SerializeToString()).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(Interpreter(g).run({"x": x})["r"], want, rtol=1e-5, atol=1e-5)
    assert not FuseConvBias().run(g).changed


def test_other_adds_stay():
    assert not FuseConvBias().run(fold(conv_add((1, CHANNELS, 3, 4)))).changed  # per pixel
    assert not FuseConvBias().run(fold(conv_add((2, 1, 1, 1)))).changed  # per image
    assert not FuseConvBias().run(fold(conv_add((CHANNELS, 1, 1), second_reader=True))).changed


def test_mnist8s_two_bias_adds_join_their_convolutions():
    from edgec.frontend.onnx_import import load_model
    from tests.conftest import shared_path

    graph = fold(load_model(shared_path("models", "mnist8", "model.onnx")))
    assert [n.op_type for n in graph.nodes].count("Add") == 2
    FuseConvBias().run(graph)
    assert "Add" not in [n.op_type for n in graph.nodes]
