"""The zoo's sensor transformer (tests/zoo), each export, through edgec end to end.

Float: the generated C on this computer (sanitized) within rtol/atol 1e-4 of onnxruntime.
The float C backend has no ReduceMean over the token axis yet (the model's last mean before
its head), so the float check runs the exports cut at the token features, the output of the
last LayerNorm: every attention op is before it. int8 (PTQ on random inputs, the whole model):
bit-exact with the integer reference on the host and on the emulated Cortex-M4F and
Cortex-M55 boards, SNR >= 25 dB against onnxruntime; per-layer validation on the board
compares every step, the new ops included. Sample counts are small here; bench/attention.py
measures the full figures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnx.utils
import onnxruntime as ort
import pytest

from edgec.compiler import CompileOptions, compile_model, prepare_graph
from edgec.errors import ShapeError
from edgec.harness.validate import ValidateOptions, validate
from tests.conftest import needs_tools

ZOO = Path(__file__).parent / "zoo" / "models"
EXPORTS = ["legacy13", "legacy17", "dynamo"]
SHAPE = (1, 16, 12)


def model_path(export: str) -> Path:
    return ZOO / f"sensor_transformer.{export}.onnx"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    """Calibration and test samples: standard-normal inputs, as the zoo's models take."""
    folder = tmp_path_factory.mktemp("transformer_data")
    rng = np.random.default_rng(2026)
    paths = {}
    for name, count in (("calib", 48), ("test", 24)):
        paths[name] = folder / f"{name}.npz"
        np.savez(paths[name], input=rng.standard_normal((count, *SHAPE)).astype(np.float32))
    return paths


def token_features(export: str, folder: Path) -> Path:
    """The export cut before its last ReduceMean (the mean over tokens)."""
    source = model_path(export)
    model = onnx.load(str(source))
    mean = [n for n in model.graph.node if n.op_type == "ReduceMean"][-1]
    target = folder / f"{export}_tokens.onnx"
    onnx.utils.extract_model(str(source), str(target), ["input"], [mean.input[0]])
    return target


@pytest.mark.parametrize("export", EXPORTS)
def test_float_c_matches_onnxruntime(export, data, tmp_path):
    model = token_features(export, tmp_path)
    result = compile_model(model, tmp_path / "out", CompileOptions())
    calls = (tmp_path / "out" / "model.c").read_text()
    assert "edgec_layernorm_f32" in calls and "edgec_gelu_f32" in calls
    assert "edgec_matmul_fast_f32" in calls  # the default build for the M4F: fast float GEMM
    saved = tmp_path / "outputs.npy"
    options = ValidateOptions(
        data=str(data["test"]), device="host", sanitize=True, save_outputs=str(saved)
    )
    assert validate(result.out_dir, options)["samples"] == 24
    inputs = np.load(data["test"])["input"]
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    want = np.stack([session.run(None, {"input": x})[0] for x in inputs])
    np.testing.assert_allclose(np.load(saved).reshape(want.shape), want, rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def int8_folders(data, tmp_path_factory) -> dict[str, Path]:
    folders = {}
    for export in EXPORTS:
        options = CompileOptions(quantize="int8", calib=str(data["calib"]))
        out = tmp_path_factory.mktemp("int8") / export
        folders[export] = compile_model(model_path(export), out, options).out_dir
    return folders


@pytest.mark.parametrize("export", EXPORTS)
def test_int8_is_bit_exact_on_the_host(export, int8_folders, data):
    report = validate(
        int8_folders[export], ValidateOptions(data=str(data["test"]), device="host", sanitize=True)
    )
    assert report["bit_exact"] == report["samples"] == 24
    assert report["snr_db"] >= 25.0 and report["agreement"] >= 0.9


@needs_tools("qemu-system-arm", "arm-none-eabi-gcc")
@pytest.mark.parametrize("target", ["mps2-an386", "mps3-an547"])
def test_int8_is_bit_exact_on_the_emulated_boards(target, data, tmp_path):
    """The optimized kernels of each core (DSP on the M4F, Helium on the M55), every step
    compared on the board (per-layer) and the steps profiled."""
    options = CompileOptions(quantize="int8", calib=str(data["calib"]), target=target)
    result = compile_model(model_path("dynamo"), tmp_path / "out", options)
    kernels = (tmp_path / "out" / "model.c").read_text()
    assert "edgec_matmul_fast_s8" in kernels and "edgec_softmax_table_s8" in kernels
    validate_options = ValidateOptions(
        data=str(data["test"]), device="emulator", samples=2, per_layer=True, profile=True
    )
    report = validate(result.out_dir, validate_options)
    assert report["bit_exact"] == report["samples"] == 2
    layers = report["per_layer"]["layers"]
    assert report["first_divergent_layer"] is None
    compared = {e["op"] for e in layers if e["compared"]}
    assert {"LayerNormalization", "Gelu", "MatMul", "Softmax"} <= compared
    assert all(e["max_abs_error"] == 0 for e in layers if e["compared"])
    profiled = {row["op"] for row in report["profile"] if row["instructions"] > 0}
    assert {"LayerNormalization", "Gelu", "MatMul", "Softmax"} <= profiled


def test_a_dynamic_token_count_names_the_attention_and_the_fix(tmp_path):
    model = onnx.load(str(model_path("legacy17")))
    dim = model.graph.input[0].type.tensor_type.shape.dim[1]
    dim.ClearField("dim_value")
    dim.dim_param = "tokens"
    path = tmp_path / "dynamic.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ShapeError) as error:
        compile_model(path, tmp_path / "out", CompileOptions())
    message = str(error.value)
    assert "'tokens'" in message and "--input-shape input=1,N,12" in message
    assert "attention" in message and "'/blocks/blocks.0/attention/MatMul'" in message
    fixed = CompileOptions(input_shapes={"input": (1, 16, 12)})
    assert prepare_graph(path, fixed).inputs[0].shape == SHAPE
