"""The TVM backend on every float model: host build and aarch64 build under qemu-aarch64.

    python bench/tvm.py [--models kws,squeezenet,…] [--devices host,emulator] [--samples 10]

The float models in ../shared and the onnx wheel's ``light/`` model-zoo networks given real
random weights (tests/tvm_cases.py), each compiled with ``--backend tvm`` for ``host`` and
for ``aarch64-linux`` and validated through ``edgec validate`` (``--device host``, and
``--device emulator``: the runner under qemu-aarch64 over the Debian arm64 root of ``edgec
emulator setup aarch64``) against onnxruntime on ``--samples`` inputs, rtol 1e-4, atol
1e-5. Results go to bench/results_tvm.json after every run, merged with earlier runs (one
entry per model and device), so a long sweep can be done in parts.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# This file is called tvm.py: its own folder must not shadow the `tvm` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))
from edgec.compiler import CompileOptions, compile_model  # noqa: E402
from edgec.errors import EdgecError  # noqa: E402
from edgec.harness.validate import FLOAT_ATOL, FLOAT_RTOL, ValidateOptions, validate  # noqa: E402
from tests.conftest import SHARED  # noqa: E402
from tests.tvm_cases import (  # noqa: E402
    SHARED_FLOAT_MODELS,
    light_inputs,
    light_model,
    light_names,
    shared_inputs,
)

TARGETS = {"host": "host", "emulator": "aarch64-linux"}


def prepare(key: str, folder: Path, samples: int) -> tuple[Path, Path]:
    """The model file and its .npz of ``samples`` inputs."""
    data = folder / f"{key}.npz"
    shared = {c.key: c for c in SHARED_FLOAT_MODELS}
    if key in shared:
        model = SHARED.joinpath(*shared[key].path)
        np.savez(data, x=shared_inputs(key, samples))
    else:
        model = light_model(key, folder / f"{key}.onnx")
        np.savez(data, **light_inputs(model, samples))
    return model, data


def run_one(key: str, device: str, model: Path, data: Path, folder: Path) -> dict:
    out = folder / f"{key}-{device}"
    entry: dict = {"model": key, "device": device, "target": TARGETS[device]}
    started = time.monotonic()
    try:
        result = compile_model(
            model, out, CompileOptions(backend="tvm", target=TARGETS[device], force=True)
        )
        entry["compile_seconds"] = round(time.monotonic() - started, 1)
        entry["library_bytes"] = result.manifest.library_bytes
        started = time.monotonic()
        report = validate(out, ValidateOptions(data=str(data), device=device, progress=False))
    except EdgecError as exc:
        entry["error"] = str(exc)
        return entry
    within = report["vs_float_tolerance"]["samples_within"]
    entry.update(
        validate_seconds=round(time.monotonic() - started, 1),
        samples=report["samples"],
        samples_within=within,
        passed=within == report["samples"],
        max_abs_error=report.get("max_abs_error"),
        cosine=report.get("cosine"),
        latency_ms_median=round(report["nanoseconds"]["median"] / 1e6, 3),
        timing=report.get("timing"),
    )
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    everything = [c.key for c in SHARED_FLOAT_MODELS] + light_names()
    parser.add_argument("--models", default=",".join(everything))
    parser.add_argument("--devices", default="host,emulator")
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--out", default=str(Path(__file__).with_name("results_tvm.json")))
    args = parser.parse_args()
    out_path = Path(args.out)
    results = json.loads(out_path.read_text()) if out_path.is_file() else {"runs": []}
    import tvm

    results.update(
        tvm_version=tvm.__version__,
        machine=f"{platform.machine()}, {platform.python_version()}",
        rtol=FLOAT_RTOL,
        atol=FLOAT_ATOL,
    )
    with tempfile.TemporaryDirectory(prefix="edgec-bench-tvm-") as tmp:
        folder = Path(tmp)
        for key in args.models.split(","):
            model, data = prepare(key, folder, args.samples)
            for device in args.devices.split(","):
                entry = run_one(key, device, model, data, folder)
                print(json.dumps(entry), flush=True)
                # Re-read first: another sweep (other models or devices) may have written.
                if out_path.is_file():
                    results["runs"] = json.loads(out_path.read_text())["runs"]
                runs = [r for r in results["runs"] if (r["model"], r["device"]) != (key, device)]
                results["runs"] = [*runs, entry]
                out_path.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
