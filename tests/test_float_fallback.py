"""Float fallback (issue 15, item 6): an integer layer the C backend has no integer kernel for
runs in float between DequantizeLinear and QuantizeLinear instead of refusing the model,
reported in the compile summary and quantization.json; ``--no-float-fallback`` refuses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgec.cli import main
from edgec.compiler import CompileOptions, compile_model
from edgec.errors import EdgecError
from edgec.quantize.qdq import load_reference_graph


def abs_model(path: Path, rng) -> Path:
    """Conv, Abs, Conv: under --rounding float the Abs has no integer kernel (its C kernel
    requantizes in TFLM's fixed point only), a float one."""
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["a"], pads=[1, 1, 1, 1]),
        helper.make_node("Abs", ["a"], ["b"]),
        helper.make_node("Conv", ["b", "w2"], ["y"]),
    ]
    inits = [
        numpy_helper.from_array((rng.normal(size=(4, 3, 3, 3)) * 0.3).astype(np.float32), "w1"),
        numpy_helper.from_array((rng.normal(size=(4, 4, 1, 1)) * 0.3).astype(np.float32), "w2"),
    ]
    graph = helper.make_graph(
        nodes,
        "abs",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.fixture
def model_and_data(tmp_path, rng):
    model = abs_model(tmp_path / "model.onnx", rng)
    np.savez(tmp_path / "calib.npz", x=rng.normal(size=(16, 1, 3, 6, 6)).astype(np.float32))
    return model, tmp_path / "calib.npz"


def test_layer_without_integer_kernel_runs_in_float(model_and_data, tmp_path, capsys):
    model, calib = model_and_data
    out = tmp_path / "out"
    args = ["compile", str(model), "-o", str(out), "--quantize", "int8", "--calib", str(calib)]
    assert main([*args, "--rounding", "float"]) == 0
    printed = capsys.readouterr().out
    assert "float fallback: 1 layer kept in float" in printed
    assert "rounds as TFLM only" in printed
    report = json.loads((out / "quantization.json").read_text())
    (row,) = report["float_fallback"]
    assert row["op"] == "Abs" and "--rounding float" in row["reason"]
    # the convolutions stay int8; Abs reads and writes floats between DQ and Q
    graph = load_reference_graph(out / "reference.onnx")
    ops = {n.op_type: n for n in graph.nodes}
    assert ops["Conv"].outputs[0].dtype == np.int8
    kept = ops["Abs"]
    assert kept.inputs[0].dtype == kept.outputs[0].dtype == np.float32
    assert kept.inputs[0].producer.op_type == "DequantizeLinear"
    assert kept.outputs[0].users[0].op_type == "QuantizeLinear"
    kernels = [s["kernel"] for s in json.loads((out / "memory.json").read_text())["steps"]]
    assert "edgec_dequantize_s8_f32" in kernels and "edgec_quantize_f32_s8" in kernels
    # bit-exact with the reference on the host
    report_dir = tmp_path / "report"
    args = ["validate", str(out), "--data", str(calib), "--device", "host"]
    assert main([*args, "--report", str(report_dir)]) == 0
    validation = json.loads((report_dir / "report.json").read_text())
    assert validation["bit_exact"] == validation["samples"] == 16


def test_no_float_fallback_refuses_as_before(model_and_data, tmp_path):
    model, calib = model_and_data
    options = CompileOptions(
        quantize="int8", calib=str(calib), float_fallback=False, rounding="float"
    )
    with pytest.raises(EdgecError, match=r"Abs"):
        compile_model(model, tmp_path / "out", options)
    assert not (tmp_path / "out").exists()


def test_prequantized_model_falls_back_too(tmp_path, rng):
    """A QOperator model whose average pool changes the quantization (onnxruntime's
    quantizer does that; TFLite's pools keep it): under TFLM rounding the pool runs in
    float, its neighbours in int8."""
    from tests.test_onnxruntime_models import ort_quantize

    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"]),
        helper.make_node(
            "AveragePool", ["c"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]
        ),
    ]
    weights = numpy_helper.from_array((rng.normal(size=(4, 4, 1, 1)) * 0.3).astype(np.float32), "w")
    graph = helper.make_graph(
        nodes,
        "qop",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 4, 4])],
        [weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "float.onnx"))
    samples = rng.normal(size=(16, 1, 4, 8, 8)).astype(np.float32)
    quantized = ort_quantize(
        tmp_path / "float.onnx", tmp_path / "q.onnx", samples, "qoperator", False
    )
    result = compile_model(quantized, tmp_path / "out", CompileOptions())
    (row,) = result.reports["quantization"]["float_fallback"]
    assert row["op"] == "AveragePool" and "quantized differently" in row["reason"]
    np.savez(tmp_path / "data.npz", x=samples[:6])
    args = ["validate", str(tmp_path / "out"), "--data", str(tmp_path / "data.npz")]
    assert main([*args, "--device", "host"]) == 0
