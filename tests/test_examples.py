"""The demo model (examples/digits) and the walk-throughs in examples/, run as a user runs them.

Every figure a walk-through prints is checked here against an independent reference: the
float model in onnxruntime, the ONNX file's own initializers, or shapes worked out by hand.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from tests.conftest import needs_tools

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DIGITS = EXAMPLES / "digits"
MODEL = DIGITS / "digits_cnn.onnx"

needs_emulator = needs_tools("qemu-system-arm", "arm-none-eabi-gcc")


def run_example(script: str, *args: str) -> str:
    """Run ``examples/<script>`` in a fresh interpreter; its stdout."""
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def held_out(count: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    archive = np.load(DIGITS / "test.npz")
    return archive["x"][:count], archive["y"][:count]


def float_logits(x: np.ndarray) -> np.ndarray:
    """The float model in onnxruntime: logits [N, 10]."""
    session = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(None, {"image": s[None]})[0] for s in x])


def initializers(path: Path) -> dict[str, np.ndarray]:
    return {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}


def snr_db(measured: np.ndarray, reference: np.ndarray) -> float:
    noise = np.sum((measured.astype(np.float64) - reference) ** 2)
    return float(10 * np.log10(np.sum(reference.astype(np.float64) ** 2) / noise))


# ---- the demo model ---------------------------------------------------------------------------
def test_train_script_reproduces_the_committed_files(tmp_path):
    spec = importlib.util.spec_from_file_location("digits_train", DIGITS / "train.py")
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    train.make_all(tmp_path, log=lambda _: None)
    new, committed = initializers(tmp_path / "digits_cnn.onnx"), initializers(MODEL)
    assert new.keys() == committed.keys()
    for name, weights in committed.items():
        np.testing.assert_allclose(new[name], weights, rtol=0, atol=1e-6, err_msg=name)
    for data in ("calib.npz", "test.npz"):
        fresh, kept = np.load(tmp_path / data), np.load(DIGITS / data)
        for key in ("x", "y"):
            np.testing.assert_array_equal(fresh[key], kept[key], err_msg=f"{data}:{key}")


def test_committed_model_scores_what_its_readme_says():
    model = onnx.load(str(MODEL))
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version >= 13
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 1, 8, 8]
    assert sum(w.size for w in initializers(MODEL).values()) == 1898  # stated in the README
    x, y = held_out()
    calib = np.load(DIGITS / "calib.npz")
    assert x.dtype == calib["x"].dtype == np.float32
    assert calib["x"].shape == (200, 1, 8, 8) and x.shape[1:] == (1, 8, 8)
    correct = int(np.sum(float_logits(x).argmax(axis=1) == y))
    stated = re.search(r"(\d+)/(\d+) test digits", (DIGITS / "README.md").read_text())
    assert stated, "examples/digits/README.md states the test accuracy as 'K/N test digits'"
    assert (correct, len(y)) == (int(stated[1]), int(stated[2]))
    assert correct / len(y) >= 0.95


# ---- walk-throughs ----------------------------------------------------------------------------
@needs_emulator
def test_01_compile_reports_the_memory_plan(tmp_path):
    stdout = run_example("01_compile.py", "--out", str(tmp_path / "out"))
    memory = json.loads((tmp_path / "out" / "memory.json").read_text())
    # Float weights are the ONNX initializers, 4 bytes each.
    assert memory["weight_bytes"] == 4 * sum(w.size for w in initializers(MODEL).values())
    # pool1 reads conv1's 8 channels of 8×8 while it writes 8 of 4×4: both live at once.
    assert memory["arena_bytes"] >= 4 * (8 * 8 * 8 + 8 * 4 * 4)
    # No two buffers alive at the same step share arena bytes; an alias (a view of another
    # buffer) keeps its root alive.
    roots = {t["buffer"]: t for t in memory["tensors"] if t["alias_of"] is None}
    spans = {name: [t["first_step"], t["last_step"]] for name, t in roots.items()}
    for t in memory["tensors"]:
        root = t
        while root["alias_of"] is not None:
            root = next(r for r in memory["tensors"] if r["buffer"] == root["alias_of"])
        span = spans[root["buffer"]]
        span[:] = [min(span[0], t["first_step"]), max(span[1], t["last_step"])]
    names = sorted(roots)
    for i, a in enumerate(names):
        start, size = roots[a]["offset"], roots[a]["bytes"]
        assert start >= 0 and start + size <= memory["arena_bytes"]
        for b in names[i + 1 :]:
            live = spans[a][0] <= spans[b][1] and spans[b][0] <= spans[a][1]
            other, other_size = roots[b]["offset"], roots[b]["bytes"]
            apart = start + size <= other or other + other_size <= start
            assert not live or apart, (a, b)
    assert [s["op"] for s in memory["steps"] if s["macs"]] == ["Conv", "Conv", "Gemm"]
    firmware = json.loads(
        (tmp_path / "out" / "firmware" / "mps2-an386" / "firmware.json").read_text()
    )
    assert memory["weight_bytes"] < firmware["flash_bytes"] <= firmware["flash_capacity"]
    assert f"arena   {memory['arena_bytes']:,} B" in stdout


@needs_emulator
def test_02_validate_matches_onnxruntime_on_the_emulated_board(tmp_path):
    samples = 20
    stdout = run_example(
        "02_validate.py", "--out", str(tmp_path / "out"), "--samples", str(samples)
    )
    report = json.loads((tmp_path / "out" / "validation" / "report.json").read_text())
    x, y = held_out(samples)
    expected = float_logits(x)
    device = np.load(tmp_path / "out" / "device_outputs.npy").reshape(samples, 10)
    np.testing.assert_allclose(device, expected, rtol=1e-4, atol=1e-4)
    assert report["samples"] == samples and report["bit_exact"] is None
    assert report["accuracy"]["device"] == pytest.approx(np.mean(device.argmax(1) == y))
    assert report["accuracy"]["float"] == pytest.approx(np.mean(expected.argmax(1) == y))
    counts = report["instructions"]
    assert 0 < counts["min"] <= counts["median"] <= counts["max"]
    assert 0 < report["memory"]["stack_bytes"] < 64 * 1024
    assert "memory.stack_bytes" in stdout


@needs_emulator
def test_03_quantize_is_bit_exact_and_keeps_the_accuracy(tmp_path):
    samples = 20
    run_example("03_quantize.py", "--out", str(tmp_path / "out"), "--samples", str(samples))
    out = tmp_path / "out"
    report = json.loads((out / "validation" / "report.json").read_text())
    assert report["bit_exact"] == samples
    quant = json.loads((out / "quantization.json").read_text())
    layers = {t["name"]: t["dtype"] for t in quant["tensors"]}
    assert all(layers.get(name) == "int8" for name in ("r1", "r2", "logits")), (
        layers
    )  # fused Conv+Relu outputs carry the Relu names
    # The int8 device outputs, dequantized, against the float model in onnxruntime.
    spec = json.loads((out / "manifest.json").read_text())["outputs"][0]
    device = np.load(out / "device_outputs.npy").reshape(samples, 10)
    assert device.dtype == np.int8
    dequantized = (device.astype(np.float64) - spec["zero_point"]) * spec["scale"]
    x, y = held_out(samples)
    expected = float_logits(x)
    assert snr_db(dequantized, expected) > 30
    assert np.mean(dequantized.argmax(1) == expected.argmax(1)) >= 0.95
    assert np.mean(dequantized.argmax(1) == y) >= np.mean(expected.argmax(1) == y) - 0.05


@needs_emulator
def test_04_python_api_runs_the_int8_flow(tmp_path):
    samples = 10
    stdout = run_example(
        "04_python_api.py", "--out", str(tmp_path / "out"), "--samples", str(samples)
    )
    assert f"{samples}/{samples} bit-exact" in stdout
    assert "the device's int8 logits are the same: True" in stdout
    x, y = held_out(1)
    predicted = re.search(r"predicted (\d+), label (\d+)", stdout)
    assert int(predicted[2]) == y[0]
    assert int(predicted[1]) == float_logits(x).argmax()
