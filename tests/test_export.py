"""IR → ONNX export: onnxruntime gives the same answers on the export as on the original.

Every model goes import → ``to_onnx`` (opset 21, IR version 10, passing the full ONNX
checker) → onnxruntime, compared with onnxruntime on the original file: exactly for int8
models, within rtol 1e-5 for float ones (the export may reorder nothing that matters).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import shared_path
from onnx import helper
from onnx_cases import (
    LIGHT_MODELS,
    SHARED_FLOAT_MODELS,
    SHARED_INT8_MODELS,
    arange_feeds,
    assert_close,
    case_data,
    conformance_cases,
    light_model,
    make_model,
    random_feeds,
    run_ort,
)
from test_conformance import UNSUPPORTED

from edgec.frontend import load_model
from edgec.interp import Interpreter
from edgec.ir import save_onnx, to_onnx
from edgec.ir.graph import FusedActivation

SUPPORTED_CASES = [c for c in conformance_cases() if c.name not in UNSUPPORTED]


def exported(graph) -> onnx.ModelProto:
    model = to_onnx(graph)
    assert model.ir_version == 10
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 21)]
    onnx.checker.check_model(model, full_check=True)
    return model


def check_round_trip(source: Path, feeds, rtol: float, atol: float, what: str) -> None:
    graph = load_model(source)
    expected = run_ort(source, feeds)
    got = run_ort(exported(graph), feeds)
    assert len(got) == len(expected)
    for value, a, e in zip(graph.outputs, got, expected):
        assert_close(a, e, rtol, atol, f"{what} {value.name}")


@pytest.mark.parametrize("relative", SHARED_FLOAT_MODELS)
def test_shared_float_model_round_trip(relative, rng):
    path = shared_path("models", *relative.split("/"))
    feeds = random_feeds(load_model(path), rng)
    check_round_trip(path, feeds, 1e-5, 1e-6, relative)


@pytest.mark.parametrize("relative", SHARED_INT8_MODELS)
def test_shared_int8_model_round_trip_is_exact(relative, rng):
    path = shared_path("models", *relative.split("/"))
    graph = load_model(path)
    for _ in range(2):
        check_round_trip(path, random_feeds(graph, rng), 0, 0, relative)


@pytest.mark.parametrize("name", LIGHT_MODELS)
def test_light_model_round_trip(name):
    path, _ = light_model(name)
    check_round_trip(path, arange_feeds(load_model(path)), 1e-5, 1e-6, name)


@pytest.mark.parametrize(
    "case", SUPPORTED_CASES, ids=[f"{c.parent.name}/{c.name}" for c in SUPPORTED_CASES]
)
def test_backend_case_round_trip(case):
    feeds, expected = case_data(case)
    graph = load_model(case / "model.onnx")
    got = run_ort(exported(graph), feeds)
    for value, a, e in zip(graph.outputs, got, expected):
        assert_close(a, e, 1e-4, 1e-5, f"{case.name} {value.name}")


def test_export_keeps_names_metadata_and_shapes(tmp_path, rng):
    x = rng.standard_normal((1, 2, 5, 5)).astype(np.float32)
    w = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1])]
    nodes.append(helper.make_node("Relu", ["c"], ["y"], name="relu"))
    model = make_model(nodes, {"x": x}, ["y"], {"w": w})
    model.doc_string = "input scale 0.5"
    model.metadata_props.add(key="author", value="tests")
    graph = load_model(model)
    path = tmp_path / "out.onnx"
    save_onnx(graph, path)
    back = onnx.load(path)
    assert back.doc_string == "input scale 0.5"
    assert {p.key: p.value for p in back.metadata_props} == {"author": "tests"}
    assert [n.name for n in back.graph.node] == ["conv", "relu"]
    shapes = {
        vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
        for vi in back.graph.value_info
    }
    assert shapes == {"c": [1, 4, 5, 5]}
    assert [d.dim_value for d in back.graph.output[0].type.tensor_type.shape.dim] == [1, 4, 5, 5]


@pytest.mark.parametrize(
    "fused",
    [
        FusedActivation("Relu"),
        FusedActivation("Clip", {"min": 0.0, "max": 6.0}),
        FusedActivation("Clip", {"max": 0.5}),
        FusedActivation("LeakyRelu", {"alpha": 0.1}),
    ],
    ids=["relu", "relu6", "clip-max", "leaky"],
)
def test_fused_activation_is_exported_as_its_own_node(fused, rng):
    """A fused activation runs in the executor and comes back as the op it was."""
    x = rng.standard_normal((2, 6)).astype(np.float32)
    w = rng.standard_normal((6, 3)).astype(np.float32)
    model = make_model(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], {"x": x}, ["y"], {"w": w}
    )
    graph = load_model(model)
    graph.nodes[0].fused = fused
    plain = x @ w
    lo, hi = fused.attrs.get("min", -np.inf), fused.attrs.get("max", np.inf)
    expected = {
        "Relu": np.maximum(plain, 0),
        "Clip": np.clip(plain, lo, hi),
        "LeakyRelu": np.where(plain >= 0, plain, 0.1 * plain),
    }[fused.op_type].astype(np.float32)
    assert_close(Interpreter(graph).run({"x": x})["y"], expected, 1e-5, 1e-6, "executor")
    out = exported(graph)
    assert [n.op_type for n in out.graph.node if n.op_type != "Constant"] == [
        "MatMul",
        fused.op_type,
    ]
    assert out.graph.node[-1].output == ["y"]
    assert_close(run_ort(out, {"x": x})[0], expected, 1e-5, 1e-6, "exported")


def test_legacy_equal_split_exports_num_outputs(rng):
    """An opset-11 Split with neither ``split`` nor ``num_outputs`` must gain num_outputs."""
    x = rng.standard_normal((2, 6)).astype(np.float32)
    node = helper.make_node("Split", ["x"], ["a", "b", "c"], axis=1, name="thirds")
    model = make_model([node], {"x": x}, ["a", "b", "c"], opset=11)
    graph = load_model(model)
    out = exported(graph)
    for got, want in zip(run_ort(out, {"x": x}), np.split(x, 3, axis=1)):
        assert_close(got, want, 0, 0, "split")
