"""LSTM and GRU on emulated boards (QEMU): the Cortex-M4F (mps2-an386: DSP assembly for the
int8 gate products, VFP assembly for the float ones), the Cortex-M55 (mps3-an547: Helium)
and, for the integer nodes, RV32 (riscv32-virt: the plain multiply-add paths), each against its
reference; and a stateful KWS LSTM fed frame by frame."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from recurrent_cases import multi_model, ort_outputs

from edgec.compiler import CompileOptions, compile_model
from edgec.data import Dataset
from edgec.harness.device import run_on_device
from edgec.harness.validate import ValidateOptions, validate
from edgec.interp import Interpreter, quantized_feeds
from tests.conftest import needs_tools

pytestmark = needs_tools("qemu-system-arm", "arm-none-eabi-gcc")
BOARDS = ("mps2-an386", "mps3-an547")
RV32 = pytest.param(
    "riscv32-virt", marks=needs_tools("qemu-system-riscv32", "riscv64-unknown-elf-gcc")
)
NODES = [
    {"op": "LSTM", "initial": "const"},
    {"op": "LSTM", "direction": "bidirectional", "clip": 1.2, "initial": "input"},
    {"op": "GRU", "linear_before_reset": 1, "initial": "input"},
    {"op": "GRU", "direction": "reverse"},
]
SAMPLES = 3
EMULATOR = ValidateOptions(data="", device="emulator", progress=False)


def dataset(samples: list[dict]) -> Dataset:
    names = list(samples[0])
    inputs = {n: np.stack([s[n] for s in samples]) for n in names}
    return Dataset(inputs, None, [f"sample {i}" for i in range(len(samples))])


@pytest.mark.parametrize("board", [*BOARDS, RV32])
def test_integer_recurrent_nodes_bit_exact_on_the_board(tmp_path, board):
    rng = np.random.default_rng(5)
    model, feeds = multi_model(rng, NODES, hidden=8, inputs=12)  # k = 12: the DSP/MVE paths
    onnx.save(model, tmp_path / "model.onnx")

    def draw(n: int) -> dict:
        return {k: rng.standard_normal((n, *v.shape)).astype(np.float32) for k, v in feeds.items()}

    np.savez(tmp_path / "calib.npz", **draw(16))
    options = CompileOptions(target=board, quantize="int8", calib=str(tmp_path / "calib.npz"))
    result = compile_model(tmp_path / "model.onnx", tmp_path / "out", options)
    assert result.manifest.kernels == "optimized"
    graph = result.graph
    test = draw(SAMPLES)
    samples = [quantized_feeds(graph, {k: v[i] for k, v in test.items()}) for i in range(SAMPLES)]
    run = run_on_device(result.out_dir, result.manifest, dataset(samples), EMULATOR)
    assert run.error is None and len(run.outputs) == SAMPLES
    reference = Interpreter(graph)
    for sample, outs in zip(samples, run.outputs):
        want = reference.run(sample)
        for spec, got in zip(result.manifest.outputs, outs):
            np.testing.assert_array_equal(got, want[spec.name], err_msg=spec.name)


@pytest.mark.parametrize("board", BOARDS)
def test_float_recurrent_nodes_on_the_board(tmp_path, board):
    rng = np.random.default_rng(6)
    model, feeds = multi_model(rng, NODES, hidden=8, inputs=12)
    onnx.save(model, tmp_path / "model.onnx")
    result = compile_model(tmp_path / "model.onnx", tmp_path / "out", CompileOptions(target=board))
    samples = [{k: rng.standard_normal(v.shape).astype(np.float32) for k, v in feeds.items()}]
    run = run_on_device(result.out_dir, result.manifest, dataset(samples), EMULATOR)
    assert run.error is None
    for spec, got, want in zip(
        result.manifest.outputs, run.outputs[0], ort_outputs(model, samples[0])
    ):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, err_msg=spec.name)


def test_stateful_kws_lstm_frame_by_frame_equals_the_whole_sequence(tmp_path):
    """Quantized on whole 49-frame sequences, run one frame per call on the Cortex-M4F: the
    last frame's output is the whole-sequence model's, bit for bit."""
    rng = np.random.default_rng(7)
    model = "tests/zoo/models/kws_lstm.legacy17.onnx"
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal((32, 1, 49, 10)).astype(np.float32))
    np.savez(tmp_path / "test.npz", x=rng.standard_normal((SAMPLES, 1, 49, 10)).astype(np.float32))
    common = {"quantize": "int8", "calib": str(tmp_path / "calib.npz")}
    whole = compile_model(model, tmp_path / "whole", CompileOptions(**common))
    stream = compile_model(
        model, tmp_path / "stream", CompileOptions(stateful=True, stream_steps=1, **common)
    )
    assert stream.manifest.stream == {"input": "input", "time_axis": 1, "steps": 1, "sequence": 49}
    assert stream.manifest.inputs[0].shape == (1, 1, 10)
    data, saved = str(tmp_path / "test.npz"), tmp_path / "outputs.npy"
    options = ValidateOptions(data=data, device="emulator", progress=False, save_outputs=str(saved))
    report = validate(stream.out_dir, options)
    assert report["samples"] == SAMPLES and report["bit_exact"] == SAMPLES  # vs call by call
    reference = Interpreter(whole.graph)
    for x, got in zip(np.load(data)["x"], np.load(saved)):
        want = reference.run(quantized_feeds(whole.graph, {"input": x}))["output"]
        np.testing.assert_array_equal(got, want)
