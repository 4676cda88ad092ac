"""Shared steps of the TVM tests: compile and validate through the CLI, read the report, and
check the device's saved outputs against onnxruntime independently of edgec's own metrics."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from edgec.cli import main

RTOL, ATOL = 1e-4, 1e-5  # the TVM backend's bound against onnxruntime (float models)


def compile_tvm(model: Path, out: Path, target: str) -> None:
    status = main(["compile", str(model), "-o", str(out), "--backend", "tvm", "--target", target])
    assert status == 0, f"compile {model.name} for {target} failed"


DIGITS = Path(__file__).resolve().parent.parent / "examples" / "digits"


def compile_digits_quantized(out: Path, quantize: str) -> int:
    """The digits CNN quantized by edgec (``int8`` or ``int16x8``) for TVM on the host."""
    model, calib = DIGITS / "digits_cnn.onnx", DIGITS / "calib.npz"
    args = ["compile", str(model), "-o", str(out), "--backend", "tvm", "--target", "host"]
    return main([*args, "--quantize", quantize, "--calib", str(calib)])


def validate_cli(out: Path, data: Path, device: str | None, *extra: str) -> tuple[int, dict, Path]:
    """``edgec validate``; returns (exit status, report.json, saved outputs file)."""
    saved = out / "device_outputs.npy"
    args = ["validate", str(out), "--data", str(data), "--save-outputs", str(saved), *extra]
    if device is not None:
        args += ["--device", device]
    status = main(args)
    report_path = out / "validation" / "report.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    return status, report, saved


def onnxruntime_outputs(model: Path, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """The first output of ``model`` in onnxruntime for each sample (batch dim = samples)."""
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    count = len(next(iter(inputs.values())))
    rows = []
    for i in range(count):
        feeds = {}
        for meta in session.get_inputs():
            shape = [d if isinstance(d, int) else 1 for d in meta.shape]
            feeds[meta.name] = inputs[meta.name][i].reshape(shape)
        rows.append(session.run(None, feeds)[0])
    return np.stack(rows)


def check_float_validation(status: int, report: dict, saved: Path, expected: np.ndarray) -> None:
    """A float model passed on the device: edgec's verdict and an independent comparison."""
    samples = len(expected)
    assert status == 0, report.get("error")
    assert report["samples"] == samples >= 10
    assert report["bit_exact"] is None  # float: judged within tolerance, not bit for bit
    bound = {"rtol": RTOL, "atol": ATOL, "samples_within": samples}
    assert report["vs_float_tolerance"] == bound  # the source model in onnxruntime
    assert report["vs_graph_tolerance"] == bound  # the graph TVM was given, in onnxruntime
    assert len(report["nanoseconds_per_sample"]) == samples
    assert all(ns > 0 for ns in report["nanoseconds_per_sample"])
    device = np.load(saved)
    np.testing.assert_allclose(
        device.reshape(expected.shape), expected, rtol=RTOL, atol=ATOL, strict=True
    )


def aarch64_root():
    """The prepared qemu-aarch64 root; fails in CI (where `make test` sets it up), else skips."""
    from edgec.errors import EdgecError
    from edgec.harness.linux_root import find_root

    try:
        return find_root("aarch64")
    except EdgecError as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))
