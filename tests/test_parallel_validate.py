"""``validate --workers N``: the samples sharded over N emulators as Ray tasks give the report
one emulator gives (outputs, per-sample instruction counts, verdicts)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgec.compiler import CompileOptions, compile_model
from edgec.harness.parallel import merge_runs, shard_bounds
from edgec.harness.run import DeviceRun
from edgec.harness.validate import ValidateOptions, validate

DIGITS = Path(__file__).resolve().parent.parent / "examples" / "digits"
SAMPLES = 30


def test_shards_are_contiguous_cover_every_sample_and_are_never_empty():
    assert shard_bounds(10, 3) == [(0, 3), (3, 7), (7, 10)]
    assert shard_bounds(2, 5) == [(0, 1), (1, 2)]
    assert shard_bounds(7, 1) == [(0, 7)]


def test_a_failing_shard_keeps_what_came_before_it_and_names_the_global_sample():
    ok = DeviceRun(outputs=[[np.zeros(1)]] * 3, counts=[5, 6, 7], count_unit="instructions")
    failed = DeviceRun(outputs=[[np.ones(1)]], counts=[8], error="sample 1 (s4): link lost")
    later = DeviceRun(outputs=[[np.zeros(1)]] * 2, counts=[1, 2])
    merged = merge_runs([ok, failed, later], [0, 3, 5])
    assert merged.counts == [5, 6, 7, 8] and len(merged.outputs) == 4
    assert merged.error == "sample 4 (s4): link lost"


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    options = CompileOptions(quantize="int8", calib=str(DIGITS / "calib.npz"))
    work = tmp_path_factory.mktemp("parallel")
    return compile_model(DIGITS / "digits_cnn.onnx", work / "out", options).out_dir, work


def _validate(out: Path, work: Path, workers: int) -> tuple[dict, np.ndarray]:
    saved = work / f"outputs{workers}.npy"
    options = ValidateOptions(
        data=str(DIGITS / "test.npz"),
        device="emulator",
        samples=SAMPLES,
        report_dir=str(work / f"report{workers}"),
        save_outputs=str(saved),
        progress=False,
        workers=workers,
    )
    validate(out, options)
    report = json.loads((work / f"report{workers}" / "report.json").read_text())
    return report, np.load(saved)


def test_two_workers_give_the_report_of_one(digits):
    out, work = digits
    one, outputs_one = _validate(out, work, 1)
    two, outputs_two = _validate(out, work, 2)
    assert np.array_equal(outputs_one, outputs_two)
    assert one["instructions_per_sample"] == two["instructions_per_sample"]
    assert len(two["instructions_per_sample"]) == SAMPLES
    for key in ("bit_exact", "accuracy", "agreement", "samples", "instructions", "memory"):
        assert one[key] == two[key], key
    assert two["bit_exact"] == SAMPLES


@pytest.fixture(scope="module")
def ray_cluster():
    """A `ray start --head` cluster on this machine for the module's tests."""
    ray = Path(sys.executable).with_name("ray")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start = [str(ray), "start", "--head", f"--port={port}", "--num-cpus=2"]
    subprocess.run([*start, "--include-dashboard=false"], check=True, capture_output=True)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(ray), "stop"], capture_output=True)


def test_workers_on_a_ray_cluster_give_the_same_outputs(digits, ray_cluster):
    out, work = digits
    _, outputs_one = _validate(out, work, 1)
    saved = work / "outputs-cluster.npy"
    command = [
        sys.executable, "-m", "edgec", "validate", str(out), "--data", str(DIGITS / "test.npz"),
        "--device", "emulator", "--samples", str(SAMPLES), "--workers", "2", "--ray-address",
        ray_cluster, "--report", str(work / "report-cluster"), "--save-outputs", str(saved),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert np.array_equal(np.load(saved), outputs_one)
