"""Conformance of the reference executor against independent expected outputs.

* every case of the ONNX backend test data shipped in the onnx wheel (pytorch-converted,
  pytorch-operator, simple): the stored outputs of test_data_set_0, or, for the cases edgec
  declines, the typed error and the reason listed in ``UNSUPPORTED``;
* every third-party model in ../shared/models against onnxruntime on seeded random inputs;
* the ``light/`` models of the onnx wheel against their stored outputs.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import shared_path
from onnx_cases import (
    CONFORMANCE_SUITES,
    LIGHT_MODELS,
    SHARED_FLOAT_MODELS,
    SHARED_INT8_MODELS,
    arange_feeds,
    assert_close,
    case_data,
    conformance_cases,
    light_model,
    node_case_model,
    node_cases,
    random_feeds,
    read_tensor,
    run_ort,
)

from edgec.errors import EdgecError, ModelError, ShapeError, UnsupportedOpError
from edgec.frontend import load_model
from edgec.interp import Interpreter
from edgec.ops import get_op

CASES = conformance_cases()
EXPECTED_CASE_COUNT = 140

_GRADIENT = (UnsupportedOpError, "Gradient", "training op Gradient")
_SEQUENCE = (UnsupportedOpError, "Sequence", "sequence ops (tensor lists)")
_STRING = (ModelError, "STRING", "string tensors")
_EXPAND = (ShapeError, "'shape'", "Expand with a runtime shape input: data-dependent output shape")
# Case name → (error edgec must raise while loading, text the message must hold, why).
UNSUPPORTED: dict[str, tuple[type[Exception], str, str]] = {
    "test_gradient_of_add": _GRADIENT,
    "test_gradient_of_add_and_mul": _GRADIENT,
    **{f"test_sequence_model{i}": _SEQUENCE for i in range(1, 9)},
    **{f"test_expand_shape_model{i}": _EXPAND for i in range(1, 5)},
    **{
        f"test_strnorm_model_{suffix}": _STRING
        for suffix in (
            "monday_casesensintive_lower",
            "monday_casesensintive_nochangecase",
            "monday_casesensintive_upper",
            "monday_empty_output",
            "monday_insensintive_upper_twodim",
            "nostopwords_nochangecase",
        )
    },
}


def _load_and_prepare(case: Path):
    graph = load_model(case / "model.onnx")
    graph.validate()  # the importer leaves every IR invariant in place
    return graph, Interpreter(graph)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.name}" for c in CASES])
def test_backend_case(case: Path, record_property):
    """Supported cases reproduce the stored outputs; the others fail with the listed error."""
    if case.name in UNSUPPORTED:
        error, fragment, reason = UNSUPPORTED[case.name]
        record_property("conformance", f"unsupported: {reason}")
        with pytest.raises(EdgecError) as info:
            _load_and_prepare(case)
        assert type(info.value) is error, f"{type(info.value).__name__}: {info.value}"
        message = str(info.value)
        assert fragment in message and "\n" not in message, message
        if error is UnsupportedOpError:  # one error listing every missing op type
            model = onnx.load(str(case / "model.onnx"))
            missing = {
                f"{n.domain}.{n.op_type}" if n.domain else n.op_type
                for n in model.graph.node
                if get_op(n.op_type, n.domain) is None
            }
            assert set(info.value.ops) == missing, message
        return
    record_property("conformance", "supported")
    feeds, expected = case_data(case)
    graph, interpreter = _load_and_prepare(case)
    results = interpreter.run(feeds)
    assert len(graph.outputs) == len(expected)
    for value, want in zip(graph.outputs, expected):
        assert_close(results[value.name], want, 1e-4, 1e-5, f"{case.name} output {value.name}")


def test_conformance_table_is_current():
    """The case list and the unsupported table match the onnx wheel (140 cases, 20 declined)."""
    names = {c.name for c in CASES}
    assert len(CASES) == EXPECTED_CASE_COUNT, sorted(names)
    assert set(UNSUPPORTED) <= names, sorted(set(UNSUPPORTED) - names)
    assert {c.parent.name for c in CASES} == set(CONFORMANCE_SUITES)
    assert len(CASES) - len(UNSUPPORTED) == 120


# ---- third-party models against onnxruntime --------------------------------------------------
@pytest.mark.parametrize("relative", SHARED_FLOAT_MODELS)
def test_shared_float_model_matches_onnxruntime(relative: str, rng):
    path = shared_path("models", *relative.split("/"))
    graph = load_model(path)
    graph.validate()
    feeds = random_feeds(graph, rng)
    ours = Interpreter(graph).run(feeds)
    theirs = run_ort(path, feeds)
    for value, want in zip(graph.outputs, theirs):
        assert_close(ours[value.name], want, 1e-4, 1e-5, f"{relative} {value.name}")


@pytest.mark.parametrize("relative", SHARED_INT8_MODELS)
def test_shared_int8_model_matches_onnxruntime_exactly(relative: str, rng):
    path = shared_path("models", *relative.split("/"))
    graph = load_model(path)
    assert any(v.dtype == np.int8 for v in graph.inputs)
    for _ in range(3):  # a few inputs: exactness on one sample proves little about rounding
        feeds = random_feeds(graph, rng)
        ours = Interpreter(graph).run(feeds)
        theirs = run_ort(path, feeds)
        for value, want in zip(graph.outputs, theirs):
            assert want.dtype == np.int8
            assert_close(ours[value.name], want, 0, 0, f"{relative} {value.name}")


def test_mnist8_stored_test_data():
    """mnist-8 (an opset-8 CNTK export) reproduces the model zoo's three stored outputs."""
    folder = shared_path("models", "mnist8")
    graph = load_model(folder / "model.onnx")
    interpreter = Interpreter(graph)
    for index in range(3):
        data = folder / f"test_data_set_{index}"
        feeds = {graph.inputs[0].name: read_tensor(data / "input_0.pb")}
        expected = read_tensor(data / "output_0.pb")
        out = interpreter.run(feeds)[graph.outputs[0].name]
        assert_close(out, expected, 1e-4, 1e-3, f"mnist8 set {index}")
        assert int(np.argmax(out)) == int(np.argmax(expected))


@pytest.mark.parametrize("name", LIGHT_MODELS)
def test_light_model_matches_stored_output(name: str):
    """The light model zoo copies, on onnx's arange inputs, at the tolerance onnx declares."""
    path, expected = light_model(name)
    graph = load_model(path)
    feeds = arange_feeds(graph)
    out = Interpreter(graph).run(feeds)[graph.outputs[0].name]
    assert_close(out, expected, 1e-3, 1e-7, f"light_{name}")


# ---- onnx's generated node cases, for every op edgec registers -------------------------------
def _registered(op_type: str) -> bool:
    return get_op(op_type) is not None


NODE_CASES = node_cases(_registered)
# An edgec error on a node case is fine only for these documented gaps: (message pattern,
# error type, reason). Anything else (a crash, a wrong number, another error) fails.
NODE_DECLINED: list[tuple[str, type[Exception], str]] = [
    (
        r"element type (BFLOAT16|FLOAT8\w*|U?INT[24]|FLOAT4E2M1)\b",
        ModelError,
        "narrow element types",
    ),
    (r"must be a compile-time constant", ShapeError, "shape parameters computed at run time"),
    (
        r"'mode'='cubic'|'antialias'|tf_crop_and_resize|'exclude_outside'",
        ModelError,
        "Resize modes other than nearest and linear",
    ),
    (r"training_mode", ModelError, "training-mode ops"),
    (r"'block_size'", ModelError, "blocked quantization"),
    (r"dims must be positive", ShapeError, "zero-size tensors"),
    (r"is not a tensor", ModelError, "optional and sequence values"),
    (r"quantizing to int4 is not supported", ModelError, "int4 activations (weights only)"),
    # onnx's SpaceToDepth example carries DepthToSpace's 'mode', which its schema lacks
    (r"SpaceToDepth .*unknown attribute 'mode'", ModelError, "attributes outside the schema"),
]


# Cases where onnx's reference and onnxruntime disagree and edgec follows onnxruntime (the
# runtime its users validate against): case name → why. Compared with onnxruntime instead.
FOLLOWS_ONNXRUNTIME = {
    "test_resize_downsample_scales_linear_align_corners": (
        "align_corners with a scale that does not give an integer length: onnxruntime divides "
        "by the output length - 1, onnx's reference by input length * scale - 1"
    ),
}


def _slots(op_type: str) -> tuple[int, ...]:
    op = get_op(op_type)
    return op.const_inputs if op is not None else ()


@pytest.mark.parametrize("case", NODE_CASES, ids=[c.name for c in NODE_CASES])
def test_node_case(case, record_property):
    """Every generated case of a registered op matches onnx's expected outputs or is a known gap."""
    model, feeds, expected = node_case_model(case, _slots)
    try:
        graph = load_model(model, input_shapes={k: v.shape for k, v in feeds.items()})
        results = Interpreter(graph).run(feeds)
    except EdgecError as error:
        message = str(error)
        reasons = [r for p, e, r in NODE_DECLINED if re.search(p, message) and type(error) is e]
        assert reasons, f"{type(error).__name__}: {message}"
        record_property("node_conformance", f"declined: {reasons[0]}")
        return
    record_property("node_conformance", "passed")
    if case.name in FOLLOWS_ONNXRUNTIME:
        expected = run_ort(model, feeds)
    assert len(graph.outputs) == len(expected)
    for value, want in zip(graph.outputs, expected):
        # onnx's own tolerance for these cases: some expected values are rounded by hand.
        assert_close(results[value.name], want, 1e-3, 1e-5, f"{case.name} {value.name}")
