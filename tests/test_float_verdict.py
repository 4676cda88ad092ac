"""A verdict for float builds (issue 15, item 8): ``validate`` on a float C build passes or
fails against a stated tolerance of onnxruntime on the compiled graph (``reference.onnx``),
and exits non-zero, saying why, when it fails."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgec.cli import main
from edgec.cli_build import parse_tolerance
from edgec.cli_common import UsageError
from edgec.harness.validate import within_tolerance


def float_model(path: Path, rng) -> Path:
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["y"]),
    ]
    inits = [
        numpy_helper.from_array((rng.normal(size=(6, 3, 3, 3)) * 0.3).astype(np.float32), "w"),
        numpy_helper.from_array((rng.normal(size=6) * 0.1).astype(np.float32), "b"),
    ]
    graph = helper.make_graph(
        nodes,
        "float",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6, 1, 1])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.fixture
def compiled(tmp_path, rng):
    model = float_model(tmp_path / "model.onnx", rng)
    np.savez(tmp_path / "data.npz", x=rng.normal(size=(4, 1, 3, 8, 8)).astype(np.float32))
    assert main(["compile", str(model), "-o", str(tmp_path / "out")]) == 0
    return tmp_path


def run_validate(folder: Path, *extra: str) -> tuple[int, dict]:
    args = ["validate", str(folder / "out"), "--data", str(folder / "data.npz"), "--device"]
    status = main([*args, "host", "--report", str(folder / "report"), *extra])
    return status, json.loads((folder / "report" / "report.json").read_text())


def test_float_build_passes_within_the_default_tolerance(compiled):
    status, report = run_validate(compiled)
    assert status == 0
    assert report["bit_exact"] is None
    assert report["vs_graph_tolerance"] == {"rtol": 1e-4, "atol": 1e-5, "samples_within": 4}


def test_float_build_that_drifts_fails_with_a_reason(compiled, capsys):
    """The compiled graph changed behind the build's back (its bias moved by 1e-3): the C
    outputs no longer match onnxruntime on it, and validate says so and exits 1."""
    reference = compiled / "out" / "reference.onnx"
    model = onnx.load(str(reference))
    for init in model.graph.initializer:
        if init.name == "b":
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) + 1e-3, "b"))
    onnx.save(model, str(reference))
    status, report = run_validate(compiled)
    assert status == 1
    assert report["vs_graph_tolerance"]["samples_within"] == 0
    assert "4 of 4 samples differ from the compiled graph" in capsys.readouterr().err
    # a stated, looser tolerance accepts the drift
    status, report = run_validate(compiled, "--tolerance", "0,2e-3")
    assert status == 0
    assert report["vs_graph_tolerance"] == {"rtol": 0.0, "atol": 2e-3, "samples_within": 4}


def test_tolerance_syntax():
    assert parse_tolerance("1e-3") == (1e-3, 1e-5)
    assert parse_tolerance("1e-3,1e-6") == (1e-3, 1e-6)
    assert parse_tolerance(None) is None
    for bad in ("x", "1,2,3", "-1", "nan"):
        with pytest.raises(UsageError):
            parse_tolerance(bad)


def test_tolerance_scales_with_the_port_peak():
    """atol + rtol * max|want| per port: float32 rounding of large sums may move a logit near
    zero by more than 1e-5 (kept), a real fault does not hide behind the peak (refused), a
    NaN fails unless expected there, and the shapes must agree."""
    want = np.array([50.0, -20.0, 1e-3, 0.0])
    rounding = want + np.array([4e-5, -3e-5, 5e-5, -5e-5])
    assert within_tolerance(rounding, want, 1e-4, 1e-5)  # bound 1e-5 + 5e-3
    assert not np.allclose(rounding, want, rtol=1e-4, atol=1e-5)  # elementwise would refuse
    assert not within_tolerance(want + np.array([0, 0, 6e-3, 0]), want, 1e-4, 1e-5)
    assert within_tolerance(want + np.array([0, 0, 4e-3, 0]), want, 1e-4, 1e-5)
    assert not within_tolerance(np.array([50.0, -20.0, np.nan, 0.0]), want, 1e-4, 1e-5)
    assert within_tolerance(np.array([np.nan, 1.0]), np.array([np.nan, 1.0]), 1e-4, 1e-5)
    assert not within_tolerance(want[:3], want, 1e-4, 1e-5)
    assert within_tolerance(np.zeros(3) + 9e-6, np.zeros(3), 1e-4, 1e-5)  # atol alone
    assert not within_tolerance(np.zeros(3) + 2e-5, np.zeros(3), 1e-4, 1e-5)
