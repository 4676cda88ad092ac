"""LayerNormalization's float reference, and the passes that make written-out LayerNorm,
GELU and scaled attention scores single ops, against onnxruntime.

Each written-out form is a small ONNX model in the spelling of one exporter; after ``fold``
it must be one LayerNormalization / Gelu node (nothing of the pattern left) whose outputs
equal onnxruntime's on the original model (rtol/atol 1e-5). A pattern whose intermediate
value is read elsewhere must stay as it is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import helper
from onnx_cases import make_model, run_ort, single_node

from edgec.frontend import load_model
from edgec.interp import Interpreter
from edgec.passes import fold

ZOO = Path(__file__).parent / "zoo" / "models"
RNG = np.random.default_rng(17)
X = RNG.standard_normal((2, 5, 12)).astype(np.float32)
GAMMA = RNG.uniform(0.5, 1.5, 12).astype(np.float32)
BETA = RNG.normal(0, 0.2, 12).astype(np.float32)


def folded_matches_ort(model, feeds) -> list[str]:
    """Fold the model, compare with onnxruntime on the original; the folded op types."""
    graph = fold(load_model(model))
    results = Interpreter(graph).run(feeds)
    for value, want in zip(graph.outputs, run_ort(model, feeds)):
        np.testing.assert_allclose(results[value.name], want, rtol=1e-5, atol=1e-5)
    return [n.op_type for n in graph.nodes]


@pytest.mark.parametrize("axis", [-1, -2, 1])
@pytest.mark.parametrize("with_bias", [True, False])
def test_layernormalization_matches_onnxruntime(axis, with_bias):
    normalized = X.shape[axis % 3 :]
    inputs = {
        "x": X,
        "scale": RNG.uniform(0.5, 1.5, normalized).astype(np.float32),
        "bias": RNG.normal(0, 0.3, normalized).astype(np.float32) if with_bias else None,
    }
    model, feeds = single_node(
        "LayerNormalization", inputs, {"axis": axis, "epsilon": 1e-3}, 3, ("scale", "bias")
    )
    graph = load_model(model)
    results = Interpreter(graph).run(feeds)
    for value, want in zip(graph.outputs, run_ort(model, feeds)):
        assert value.shape == want.shape
        np.testing.assert_allclose(results[value.name], want, rtol=1e-5, atol=1e-6)


def layernorm_model(square="Pow", divide="Div", affine=True, twice=False, extra_use=False):
    """torch's legacy spelling (Pow, Div), Mul(d, d), Mul by Reciprocal, tf2onnx's centered
    value computed twice; ``extra_use``: the variance is also a graph output."""
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["mean"], axes=[-1]),
        helper.make_node("Sub", ["x", "mean"], ["d"]),
        helper.make_node("Sub", ["x", "mean"], ["d2"]) if twice else None,
        helper.make_node("Pow", ["d2" if twice else "d", "two"], ["sq"])
        if square == "Pow"
        else helper.make_node("Mul", ["d", "d"], ["sq"]),
        helper.make_node("ReduceMean", ["sq"], ["var"], axes=[-1]),
        helper.make_node("Add", ["var", "eps"], ["ve"]),
        helper.make_node("Sqrt", ["ve"], ["std"]),
    ]
    if divide == "Div":
        nodes.append(helper.make_node("Div", ["d", "std"], ["n"]))
    else:
        nodes.append(helper.make_node("Reciprocal", ["std"], ["inv"]))
        nodes.append(helper.make_node("Mul", ["d", "inv"], ["n"]))
    out = "n"
    if affine:
        nodes.append(helper.make_node("Mul", ["n", "gamma"], ["g"]))
        nodes.append(helper.make_node("Add", ["g", "beta"], ["y"]))
        out = "y"
    inits = {"two": np.array(2.0, np.float32), "eps": np.array(1e-5, np.float32)}
    inits.update(gamma=GAMMA, beta=BETA)
    outputs = [out, "var"] if extra_use else [out]
    return make_model([n for n in nodes if n is not None], {"x": X}, outputs, inits, opset=13)


@pytest.mark.parametrize(
    "spelling",
    [
        {},
        {"square": "Mul"},
        {"divide": "Reciprocal"},
        {"affine": False},
        {"twice": True},
    ],
)
def test_written_out_layernorm_becomes_one_node(spelling):
    ops = folded_matches_ort(layernorm_model(**spelling), {"x": X})
    assert ops == ["LayerNormalization"]


def test_layernorm_whose_variance_is_read_elsewhere_stays():
    ops = folded_matches_ort(layernorm_model(extra_use=True), {"x": X})
    assert "LayerNormalization" not in ops and "Sqrt" in ops


def gelu_model(form: str) -> tuple:
    """GELU as exporters write it: ``x`` enters through a MatMul so it has other readers."""
    w = RNG.standard_normal((12, 12)).astype(np.float32)
    mm = [helper.make_node("MatMul", ["x", "w"], ["h"])]
    c = {
        "sqrt2": np.array(1.4142135381698608, np.float32),
        "inv_sqrt2": np.array(0.7071067690849304, np.float32),
        "one": np.array(1.0, np.float32),
        "half": np.array(0.5, np.float32),
        "three": np.array(3.0, np.float32),
        "cubic": np.array(0.044715, np.float32),
        "k": np.array(0.7978845834732056, np.float32),
        "w": w,
    }
    nodes = {
        # torch legacy: x * 0.5 order after the product
        "erf": [
            helper.make_node("Div", ["h", "sqrt2"], ["u"]),
            helper.make_node("Erf", ["u"], ["e"]),
            helper.make_node("Add", ["e", "one"], ["t"]),
            helper.make_node("Mul", ["h", "t"], ["p"]),
            helper.make_node("Mul", ["p", "half"], ["y"]),
        ],
        # 0.5 * x first, erf of x * (1 / sqrt 2)
        "erf_half_first": [
            helper.make_node("Mul", ["half", "h"], ["hh"]),
            helper.make_node("Mul", ["h", "inv_sqrt2"], ["u"]),
            helper.make_node("Erf", ["u"], ["e"]),
            helper.make_node("Add", ["one", "e"], ["t"]),
            helper.make_node("Mul", ["hh", "t"], ["y"]),
        ],
        "tanh_pow": [
            helper.make_node("Pow", ["h", "three"], ["h3"]),
            helper.make_node("Mul", ["cubic", "h3"], ["c3"]),
            helper.make_node("Add", ["h", "c3"], ["s"]),
            helper.make_node("Mul", ["k", "s"], ["u"]),
            helper.make_node("Tanh", ["u"], ["e"]),
            helper.make_node("Add", ["e", "one"], ["t"]),
            helper.make_node("Mul", ["half", "h"], ["hh"]),
            helper.make_node("Mul", ["hh", "t"], ["y"]),
        ],
        "tanh_products": [
            helper.make_node("Mul", ["h", "h"], ["h2"]),
            helper.make_node("Mul", ["h2", "h"], ["h3"]),
            helper.make_node("Mul", ["h3", "cubic"], ["c3"]),
            helper.make_node("Add", ["c3", "h"], ["s"]),
            helper.make_node("Mul", ["s", "k"], ["u"]),
            helper.make_node("Tanh", ["u"], ["e"]),
            helper.make_node("Add", ["e", "one"], ["t"]),
            helper.make_node("Mul", ["t", "h"], ["p"]),
            helper.make_node("Mul", ["p", "half"], ["y"]),
        ],
    }[form]
    return make_model(mm + nodes, {"x": X}, ["y"], c, opset=13)


@pytest.mark.parametrize("form", ["erf", "erf_half_first", "tanh_pow", "tanh_products"])
def test_written_out_gelu_becomes_one_node(form):
    graph = fold(load_model(gelu_model(form)))
    ops = folded_matches_ort(gelu_model(form), {"x": X})
    assert ops == ["MatMul", "Gelu"]
    gelu = graph.nodes[-1]
    assert gelu.attrs["approximate"] == ("tanh" if form.startswith("tanh") else "none")


def test_a_plain_tanh_is_not_gelu():
    model = make_model([helper.make_node("Tanh", ["x"], ["y"])], {"x": X}, ["y"], opset=13)
    assert folded_matches_ort(model, {"x": X}) == ["Tanh"]


def test_division_by_a_constant_becomes_a_product():
    nodes = [helper.make_node("Div", ["x", "c"], ["y"])]
    model = make_model(nodes, {"x": X}, ["y"], {"c": np.array(2.8284271, np.float32)}, opset=13)
    assert folded_matches_ort(model, {"x": X}) == ["Mul"]


@pytest.mark.parametrize("export", ["legacy13", "legacy17", "dynamo"])
def test_transformer_exports_fold_to_the_same_ops(export):
    """Every export: 5 LayerNorms, 2 Gelus, 4 products of activations, scores scaled by a
    Mul; nothing left of the written-out forms."""
    graph = fold(load_model(ZOO / f"sensor_transformer.{export}.onnx"))
    ops = [n.op_type for n in graph.nodes]
    assert ops.count("LayerNormalization") == 5 and ops.count("Gelu") == 2
    assert ops.count("MatMul") == 4 and ops.count("Softmax") == 2
    assert not {"Erf", "Pow", "Sqrt", "Div", "Sub"} & set(ops)
    assert ops.count("ReduceMean") == 1  # the mean over tokens before the head
