"""The TVM backend against onnxruntime on the same machine, threads and inputs.

    python bench/tvm.py [--models kws,ic,...] [--devices host,emulator] [--threads 1,2]

Per model: the float models in ../shared, their int8 QDQ twins, ResNet / MobileNet /
EfficientNet-class models with random weights (bench/tvm_models.py) and the onnx wheel's light
model zoo (tests/tvm_cases.py). Each is compiled with ``--backend tvm`` (``host``, and
``aarch64-linux`` for ``--devices emulator``) and validated through ``edgec validate``
(float: against onnxruntime within rtol/atol; int8: bit for bit against edgec's integer
reference) at each thread count. Its latency (the library in TVM's VM) is set beside
onnxruntime's median ``session.run`` of the same ONNX file on the same inputs and thread
count, the two called in turn in one process (at several threads engine by engine, after a
pause: ``tvm_side_by_side.SETTLE_SECONDS``) so that both see the same load on a shared
machine; on the host, of ``HOST_PROCESSES`` such processes the one of median ratio is kept
(the runner's own median, which adds its process, is kept as ``runner_ms``); an int8 model
is also timed beside its float twin's build (when this run built it: ``vs_float``). Under
qemu-aarch64 (``--devices emulator`` for aarch64-linux, ``emulator-rpi5`` for the Cortex-A76
target with int8 dot products) the same side-by-side runs in the emulated aarch64 Python
against onnxruntime's aarch64 wheel (bench/tvm_qemu.py): emulated time on this computer, of
which the ratio counts, not a board's speed. Each entry keeps the 1-minute load average.
Results are merged into bench/results_tvm.json (one entry per model, device and thread
count).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# This file is called tvm.py: its own folder must not shadow the `tvm` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))
from bench.tvm_models import ZOO, zoo_model  # noqa: E402
from bench.tvm_qemu import side_by_side_emulated  # noqa: E402
from edgec.compiler import CompileOptions, compile_model  # noqa: E402
from edgec.errors import EdgecError  # noqa: E402
from edgec.harness.validate import FLOAT_ATOL, FLOAT_RTOL, ValidateOptions, validate  # noqa: E402
from edgec.targets import load_board  # noqa: E402
from tests.conftest import SHARED  # noqa: E402
from tests.tvm_cases import (  # noqa: E402
    SHARED_FLOAT_MODELS,
    light_inputs,
    light_model,
    light_names,
    shared_inputs,
)

# device → target; every device but the host is qemu-aarch64 emulating the target's core
TARGETS = {"host": "host", "emulator": "aarch64-linux", "emulator-rpi5": "rpi5"}
INT8_MODELS = {
    "kws_int8": ("kws_dscnn", "kws_ref_model_int8_qdq.onnx"),
    "ic_int8": ("ic_resnet8", "pretrainedResnet_quant_int8_qdq.onnx"),
    "vww_int8": ("vww_mobilenet", "vww_96_int8_qdq.onnx"),
    "ad_int8": ("ad_autoencoder", "ad01_int8_qdq.onnx"),
    "hello_world_int8": ("hello_world_sine", "hello_world_int8_qdq.onnx"),
}
FLOAT_TWIN = {"kws_int8": "kws", "ic_int8": "ic", "vww_int8": "vww", "ad_int8": "ad"}
DEFAULT_MODELS = [c.key for c in SHARED_FLOAT_MODELS] + list(INT8_MODELS) + list(ZOO)


def prepare(key: str, folder: Path, samples: int) -> tuple[Path, Path]:
    """The model file and its .npz of ``samples`` inputs."""
    import onnx

    data = folder / f"{key}.npz"
    shared = {c.key: c for c in SHARED_FLOAT_MODELS}
    if key in shared:
        model = SHARED.joinpath(*shared[key].path)
        np.savez(data, x=shared_inputs(key, samples))
    elif key in INT8_MODELS:
        model = SHARED.joinpath("models", *INT8_MODELS[key])
        dims = [
            d.dim_value or 1
            for d in onnx.load(str(model)).graph.input[0].type.tensor_type.shape.dim
        ]
        rng = np.random.default_rng(len(key))
        np.savez(data, x=rng.integers(-128, 128, (samples, *dims)).astype(np.int8))
    elif key in ZOO:
        model = zoo_model(key, folder / f"{key}.onnx")
        np.savez(data, **light_inputs(model, samples))
    else:
        model = light_model(key, folder / f"{key}.onnx")
        np.savez(data, **light_inputs(model, samples))
    return model, data


# Host rows time each engine pair in this many fresh processes and keep the one of median
# ratio: this computer has slow phases lasting seconds, in which a 2-thread run of both
# engines loses its second core's worth (IC at 2 threads: 0.21 ms for both in one process,
# 0.11 and 0.14 ms in the next), and a row should not be one such draw.
HOST_PROCESSES = 3


def side_by_side_ms(out: Path, model: Path, data: Path, threads: int, other=None) -> dict:
    """Median ms per inference of the built library (TVM's VM) and of onnxruntime on the
    same ONNX file, inputs and thread count (and of ``other``, a second build with its
    inputs: the float twin), calls interleaved so that all see the same load on a shared
    machine; the run of median ratio of ``HOST_PROCESSES``."""
    command = [sys.executable, str(HERE / "tvm_side_by_side.py"), str(out / "model.so")]
    command += [str(model), str(data), str(threads), "30", *map(str, other or ())]
    runs = []
    for _ in range(HOST_PROCESSES):
        done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=3600)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    runs.sort(key=lambda run: run["edgec_ms"] / run["onnxruntime_ms"])
    return runs[len(runs) // 2]


def timed(out, model, data, threads, device, folder, key) -> dict:
    """Latency beside onnxruntime (and, for an int8 model, beside its float twin's build
    when this run built it), with the load average over the measurement."""
    twin = FLOAT_TWIN.get(key)
    twin_out = folder / f"{twin}-{device}"
    other = (twin_out / "model.so", folder / f"{twin}.npz") if twin and twin_out.is_dir() else None
    if device == "host":
        times = side_by_side_ms(out, model, data, threads, other)
    else:
        cpu = load_board(TARGETS[device], "linux").emulator.cpu
        times = side_by_side_emulated(out / "model.so", model, data, threads, cpu, other=other)
    entry = {
        "latency_ms": round(times["edgec_ms"], 4),
        "onnxruntime_ms": round(times["onnxruntime_ms"], 4),
        "ratio": round(times["edgec_ms"] / times["onnxruntime_ms"], 3),
        "load_average": round(os.getloadavg()[0], 2),
    }
    if "other_ms" in times:
        entry.update(float_ms=round(times["other_ms"], 4))
        entry.update(vs_float=round(times["edgec_ms"] / times["other_ms"], 3))
    return entry


def run_one(key, device, model, data, folder, threads_list) -> list[dict]:
    out = folder / f"{key}-{device}"
    base: dict = {"model": key, "device": device, "target": TARGETS[device]}
    started = time.monotonic()
    try:
        result = compile_model(
            model, out, CompileOptions(backend="tvm", target=TARGETS[device], force=True)
        )
    except EdgecError as exc:
        return [{**base, "error": str(exc)}]
    base["compile_seconds"] = round(time.monotonic() - started, 1)
    base["numerics"] = result.manifest.numerics
    entries = []
    for threads in threads_list:
        entry = {**base, "threads": threads}
        try:
            report = validate(
                out,
                ValidateOptions(
                    data=str(data),
                    device="host" if device == "host" else "emulator",
                    progress=False,
                    threads=threads,
                ),
            )
        except EdgecError as exc:
            entries.append({**entry, "error": str(exc)})
            continue
        latency = report["nanoseconds"]["median"]
        entry.update(samples=report["samples"], runner_ms=round(latency / 1e6, 4))
        if report.get("bit_exact") is not None:
            entry["bit_exact"] = report["bit_exact"]
        else:
            entry["samples_within"] = report["vs_float_tolerance"]["samples_within"]
        if device != "host":
            entry["timing"] = report.get("timing")
        try:
            entry.update(timed(out, model, data, threads, device, folder, key))
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            entry["timing_error"] = str(exc)
        entries.append(entry)
    return entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--devices", default="host")
    parser.add_argument("--threads", default=f"1,{os.cpu_count()}")
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--out", default=str(Path(__file__).with_name("results_tvm.json")))
    args = parser.parse_args()
    if args.models == "all":
        args.models = ",".join(DEFAULT_MODELS + light_names())
    out_path = Path(args.out)
    import tvm

    threads_list = sorted({int(t) for t in args.threads.split(",")})
    with tempfile.TemporaryDirectory(prefix="edgec-bench-tvm-") as tmp:
        folder = Path(tmp)
        for key in args.models.split(","):
            model, data = prepare(key, folder, args.samples)
            for device in args.devices.split(","):
                entries = run_one(key, device, model, data, folder, threads_list)
                for entry in entries:
                    print(json.dumps(entry), flush=True)
                # Re-read first: another sweep (other models or devices) may have written.
                results = json.loads(out_path.read_text()) if out_path.is_file() else {}
                results.update(
                    tvm_version=tvm.__version__,
                    machine=f"{platform.machine()}, {os.cpu_count()} cores, "
                    f"Python {platform.python_version()}",
                    rtol=FLOAT_RTOL,
                    atol=FLOAT_ATOL,
                )
                done = {(e["model"], e["device"], e.get("threads")) for e in entries}
                runs = [
                    r
                    for r in results.get("runs", [])
                    if "threads" in r and (r["model"], r["device"], r.get("threads")) not in done
                ]
                results["runs"] = [*runs, *entries]
                out_path.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
