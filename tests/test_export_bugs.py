"""Regression tests of the bugs real exports hit (issue 15, item 9), one or more per bug."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgec.analysis import analyze
from edgec.artifact import Manifest
from edgec.cli import main
from edgec.compiler import CompileOptions, compile_model
from edgec.data import Dataset
from edgec.errors import TargetError, UnsupportedOpError
from edgec.frontend import load_model
from edgec.harness.run import DeviceRun
from edgec.harness.validate import ValidateOptions, qdq_check, validate
from edgec.passes import fold
from edgec.quantize.calibrate import calibrate
from edgec.quantize.ptq import quantize_weights
from edgec.targets import load_target

ZOO = Path(__file__).resolve().parent / "zoo" / "models"


def save(nodes, inputs, outputs, inits, path: Path, opset: int = 13) -> Path:
    graph = helper.make_graph(nodes, path.stem, inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def tensor(name: str, dims) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)


def weights(rng, name: str, *shape: int, scale: float = 0.3) -> onnx.TensorProto:
    return numpy_helper.from_array((rng.normal(size=shape) * scale).astype(np.float32), name)


def per_timestep_linear(path: Path, rng, steps: int, features: int, hidden: int = 6) -> Path:
    """nn.Linear on [1, steps, features], as every exporter writes it: MatMul then Add."""
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["m"]),
        helper.make_node("Add", ["m", "b"], ["y"]),
    ]
    inits = [weights(rng, "w", features, hidden), weights(rng, "b", hidden)]
    return save(
        nodes, [tensor("x", [1, steps, features])], [tensor("y", [1, steps, hidden])], inits, path
    )


def write_samples(path: Path, rng, shape, count: int, offset: float = 0.0) -> Path:
    data = (rng.normal(size=(count, *shape)) + offset).astype(np.float32)
    np.savez(path, x=data)
    return path


# ---- int8 PTQ of MatMul over a 3-d input: bias correction's means along the features -------
def test_ptq_quantizes_matmul_over_3d_input(tmp_path, rng):
    model = per_timestep_linear(tmp_path / "linear.onnx", rng, steps=32, features=20)
    calib = write_samples(tmp_path / "calib.npz", rng, (1, 32, 20), 16, offset=0.5)
    result = compile_model(
        model, tmp_path / "out", CompileOptions(quantize="int8", calib=str(calib))
    )
    assert result.reports["quantization"]["precision"]  # MatMul and Add run in int8
    status = main(["validate", str(tmp_path / "out"), "--data", str(calib), "--device", "host"])
    assert status == 0


def test_calibration_keeps_feature_means_of_3d_tensors(rng):
    """With as many steps as features, axis 1 and the feature axis have equal sizes: only
    the values tell the means apart (the old code averaged over axis 1 without noticing)."""
    graph = fold(load_model(per_timestep_linear_graph(rng, steps=8, features=8)))
    samples = (rng.normal(size=(5, 1, 8, 8)) + np.arange(8)[None, None, None, :]).astype(np.float32)
    stats = calibrate(graph, dataset({"x": samples}), histogram=False)
    expected = samples.astype(np.float64).mean(axis=(0, 1, 2))  # per feature (last axis)
    np.testing.assert_allclose(stats["x"].extra["feature_mean"], expected, rtol=1e-12)
    np.testing.assert_allclose(
        stats["x"].extra["channel_mean"], samples.astype(np.float64).mean(axis=(0, 1, 3))
    )


def dataset(inputs: dict[str, np.ndarray]) -> Dataset:
    count = len(next(iter(inputs.values())))
    return Dataset(inputs, None, [f"sample{i}" for i in range(count)])


def per_timestep_linear_graph(rng, steps: int, features: int) -> onnx.ModelProto:
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"])]
    graph = helper.make_graph(
        nodes,
        "linear",
        [tensor("x", [1, steps, features])],
        [tensor("y", [1, steps, 3])],
        [weights(rng, "w", features, 3)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


# ---- validate of a model with dynamic spatial dims, compiled with --input-shape ------------
def test_validate_feeds_onnxruntime_the_compiled_shape(tmp_path, rng):
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["y"]),
    ]
    model = save(
        nodes,
        [tensor("x", [1, 3, "H", "W"])],
        [tensor("y", [1, 4, "H", "W"])],
        [weights(rng, "w", 4, 3, 3, 3)],
        tmp_path / "dynamic.onnx",
    )
    data = write_samples(tmp_path / "data.npz", rng, (1, 3, 8, 8), 3)
    out = tmp_path / "out"
    assert main(["compile", str(model), "-o", str(out), "--input-shape", "x=1,3,8,8"]) == 0
    report_dir = tmp_path / "report"
    args = ["--data", str(data), "--device", "host", "--report", str(report_dir)]
    assert main(["validate", str(out), *args]) == 0
    report = json.loads((report_dir / "report.json").read_text())
    assert report["vs_graph_tolerance"]["samples_within"] == 3
    assert report["max_abs_error"] < 1e-5  # against the source model at 8x8, not 1x1


# ---- the QDQ check of integer outputs: distances in LSB, not divided by the scale ----------
def test_qdq_check_counts_integer_outputs_in_lsb(tmp_path, rng):
    model = per_timestep_linear(tmp_path / "linear.onnx", rng, steps=4, features=5)
    calib = write_samples(tmp_path / "calib.npz", rng, (1, 4, 5), 8)
    out = tmp_path / "out"
    compile_model(model, out, CompileOptions(quantize="int8", calib=str(calib)))
    manifest = Manifest.load(out)
    (spec,) = manifest.inputs
    if spec.dtype == "int8":
        inputs = rng.integers(-128, 128, size=(3, *spec.shape)).astype(np.int8)
    else:  # the input quantized on the device (a float Reshape before its QuantizeLinear)
        inputs = rng.normal(size=(3, *spec.shape)).astype(np.float32)
    data = dataset({spec.name: inputs})
    session = ort.InferenceSession(str(out / "reference.onnx"), providers=["CPUExecutionProvider"])
    feed_name = session.get_inputs()[0].name
    truth = [session.run(None, {feed_name: x})[0] for x in inputs]
    assert truth[0].dtype == np.int8
    off_by_two = [np.clip(t.astype(np.int16) + 2, -128, 127).astype(np.int8) for t in truth]
    run = DeviceRun(outputs=[[o] for o in off_by_two])
    worst = qdq_check(out, manifest, data, run)["max_lsb_vs_qdq_onnxruntime"]
    assert worst == 2.0


# ---- CompileOptions given a Target object, and quantize=None -------------------------------
def test_compile_options_take_a_target_object_and_no_quantization(tmp_path, rng):
    model = per_timestep_linear(tmp_path / "linear.onnx", rng, steps=4, features=5)
    target = load_target("mps2-an386")
    result = compile_model(model, tmp_path / "a", CompileOptions(target=target, quantize=None))
    assert result.manifest.target == "mps2-an386"
    saved = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert saved["options"]["target"] == "mps2-an386"
    assert saved["options"]["quantize"] is None
    assert result.graph.outputs[0].dtype == np.float32  # None means no quantization
    data = write_samples(tmp_path / "data.npz", rng, (1, 4, 5), 2)
    report = validate(tmp_path / "a", ValidateOptions(data=str(data), device="host"))
    assert report["vs_graph_tolerance"]["samples_within"] == 2


# ---- the errors: an unknown op's dtype, and the fit of the weights -------------------------
def test_unknown_op_error_names_no_none_dtype(tmp_path):
    nodes = [  # the unknown op in the middle: nothing tells its output's dtype
        helper.make_node("Mystery", ["x"], ["a"], domain="example.ops"),
        helper.make_node("Relu", ["a"], ["y"]),
    ]
    graph = helper.make_graph(nodes, "g", [tensor("x", [1, 4])], [tensor("y", [1, 4])])
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("example.ops", 1)],
    )
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "m.onnx"))
    with pytest.raises(UnsupportedOpError) as error:
        compile_model(tmp_path / "m.onnx", tmp_path / "out", CompileOptions())
    assert "Mystery (an op edgec does not know)" in str(error.value)
    assert "None" not in str(error.value)


def big_gemm(path: Path, rng, features: int = 1024, outputs: int = 600) -> Path:
    nodes = [helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)]
    inits = [weights(rng, "w", outputs, features, scale=0.05)]
    return save(nodes, [tensor("x", [1, features])], [tensor("y", [1, outputs])], inits, path)


def test_weights_too_large_at_int8_are_refused_before_calibration(tmp_path, rng):
    model = big_gemm(tmp_path / "big.onnx", rng)  # 614,400 int8 weights > 512 KB of flash
    options = CompileOptions(
        target="mps3-an547", quantize="int8", calib=str(tmp_path / "no-such-data.npz")
    )
    with pytest.raises(TargetError, match="even at int8") as error:  # not a missing-data error
        compile_model(model, tmp_path / "out", options)
    assert "614,400 B" in str(error.value)


def test_an_int8_model_that_does_not_fit_is_not_told_to_quantize(tmp_path, rng):
    model = big_gemm(tmp_path / "big.onnx", rng)
    calib = write_samples(tmp_path / "calib.npz", rng, (1, 1024), 4)
    compile_model(model, tmp_path / "q", CompileOptions(quantize="int8", calib=str(calib)))
    with pytest.raises(TargetError, match="does not fit mps3-an547") as error:
        compile_model(
            tmp_path / "q" / "reference.onnx", tmp_path / "out", CompileOptions(target="mps3-an547")
        )
    assert "--quantize" not in str(error.value)


# ---- analyze counts one network's parameters the same from every exporter ------------------
@pytest.mark.parametrize(
    "name", ["mobilenet_v3_small", "efficientnet_b0", "regnet_tiny", "sensor_transformer"]
)
def test_parameter_count_is_the_same_for_every_export(name):
    counts = {
        kind: analyze(ZOO / f"{name}.{kind}.onnx").totals.params
        for kind in ("legacy13", "legacy17", "dynamo")
    }
    assert len(set(counts.values())) == 1, counts


def test_zero_bias_and_formula_scalars_are_not_parameters(tmp_path, rng):
    nodes = [
        helper.make_node("Conv", ["x", "w", "zero"], ["c"]),
        helper.make_node("Add", ["c", "eps"], ["d"]),
        helper.make_node("Pow", ["d", "two"], ["y"]),
    ]
    inits = [
        weights(rng, "w", 4, 3, 1, 1),
        numpy_helper.from_array(np.zeros(4, np.float32), "zero"),
        numpy_helper.from_array(np.array(1e-5, np.float32), "eps"),
        numpy_helper.from_array(np.array(2.0, np.float32), "two"),
    ]
    model = save(
        nodes, [tensor("x", [1, 3, 4, 4])], [tensor("y", [1, 4, 4, 4])], inits, tmp_path / "m.onnx"
    )
    assert analyze(model).totals.params == 12  # the 4x3 weights only


# ---- TVM validate of a folder given by a relative path -------------------------------------
def test_tvm_validate_with_a_relative_out_path(tmp_path, rng, monkeypatch):
    per_timestep_linear(tmp_path / "linear.onnx", rng, steps=4, features=5)
    write_samples(tmp_path / "data.npz", rng, (1, 4, 5), 2)
    monkeypatch.chdir(tmp_path)
    compile_args = ["compile", "linear.onnx", "-o", "out", "--backend", "tvm", "--target", "host"]
    assert main(compile_args) == 0
    assert main(["validate", "out", "--data", "data.npz", "--device", "host"]) == 0
    report = json.loads((tmp_path / "out" / "validation" / "report.json").read_text())
    assert report["vs_graph_tolerance"]["samples_within"] == 2


# ---- int8 PTQ of ConvTranspose: its weights [C_in, C_out, k, k] are scaled along axis 1 ----
@pytest.mark.parametrize("rounding", ["nearest", "optimized"])
def test_ptq_quantizes_conv_transpose_per_output_channel(tmp_path, rng, rounding):
    """The zoo's U-Net decoder crashed int8 PTQ: the weight rounding transposed the 4-d
    weights whole; the optimized rounding read them as a MatMul's."""
    w = rng.normal(size=(4, 3, 2, 2)) * np.array([0.1, 1.0, 10.0])[None, :, None, None]
    nodes = [
        helper.make_node("ConvTranspose", ["x", "w", "b"], ["c"], strides=[2, 2]),
        helper.make_node("Relu", ["c"], ["y"]),
    ]
    inits = [numpy_helper.from_array(w.astype(np.float32), "w"), weights(rng, "b", 3)]
    ports = [tensor("x", [1, 4, 5, 5])], [tensor("y", [1, 3, 10, 10])]
    model = save(nodes, *ports, inits, tmp_path / "convt.onnx")
    calib = write_samples(tmp_path / "calib.npz", rng, (1, 4, 5, 5), 16)
    out = tmp_path / "out"
    options = CompileOptions(quantize="int8", calib=str(calib), weight_rounding=rounding)
    result = compile_model(model, out, options)
    assert result.reports["quantization"]["precision"]
    report = validate(out, ValidateOptions(str(calib), progress=False))
    assert report["bit_exact"] == report["samples"] == 16
    assert report["snr_db"] >= 25


def test_conv_transpose_weight_scales_follow_output_channels(rng):
    w = rng.normal(size=(4, 3, 2, 2)) * np.array([0.1, 1.0, 10.0])[None, :, None, None]
    q, scales = quantize_weights(w, 1, per_channel=True)
    assert q.shape == w.shape and scales.shape == (3,)
    np.testing.assert_allclose(scales, np.abs(w).max(axis=(0, 2, 3)) / 127, rtol=1e-6)
    assert np.abs(q * scales[None, :, None, None] - w).max() <= scales.max() / 2 * (1 + 1e-6)
