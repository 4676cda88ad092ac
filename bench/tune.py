"""`edgec tune` on the KWS float model, and `validate --workers` against one worker.

    python bench/tune.py [--parts cluster,local,workers] [--max-candidates 12]

- cluster: `ray start --head` on this machine, then `edgec tune` of the KWS float model for
  mps2-an386 with --flash 40000 --ram 12000 given --ray-address (calibration: kws01 samples
  0–199; validation: 200–399), then `ray stop`; the best build is validated again and plain
  int8 (the same calibration) beside it.
- local: the same tune on a local Ray started in-process (its own output folder).
- workers: the int8 KWS QDQ model on all 1000 kws01 samples, `validate --workers 1` and
  `--workers 2` on mps2-an386: the reports compared field by field, both wall times.
Results in bench/results_tune.json (merged per part); `python bench/report.py` writes them.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import DATA, MODELS, kws_data, kws_float
from edgec.compiler import CompileOptions, compile_model
from edgec.harness.validate import ValidateOptions, validate
from edgec.tune import TuneOptions, tune

RESULTS = Path(__file__).with_name("results_tune.json")
KWS_FLOAT = MODELS / "kws_dscnn" / "kws_ref_model_float32.onnx"
KWS_INT8 = MODELS / "kws_dscnn" / "kws_ref_model_int8_qdq.onnx"
FLASH, RAM = 40_000, 12_000
RAY_PORT = 6391


def kws_sets(folder: Path) -> tuple[Path, Path]:
    """calib.npz (samples 0–199) and data.npz (200–399 with labels), float inputs."""
    calib, data = folder / "calib.npz", folder / "data.npz"
    if not (calib.is_file() and data.is_file()):  # kept: the candidates' cache keys on them
        x, labels, _ = kws_data()
        np.savez(calib, x=kws_float(x[:200]))
        np.savez(data, x=kws_float(x[200:400]), y=labels[200:400])
    return calib, data


def run_tune(work: Path, calib: Path, data: Path, address: str | None, limit: int) -> dict:
    started = time.monotonic()
    options = TuneOptions(
        calib=str(calib),
        data=str(data),
        target="mps2-an386",
        flash=FLASH,
        ram=RAM,
        max_candidates=limit,
        subset=50,
        keep=4,
        ray_address=address,
        progress=False,
    )
    out = work / ("tune-cluster" if address else "tune-local")
    result = tune(KWS_FLOAT, out, options)
    seconds = time.monotonic() - started
    again = validate(out / "best", ValidateOptions(data=str(data), device="emulator"))
    summary = json.loads((out / "tune.json").read_text())
    return {
        "ray_address": address,
        "seconds": round(seconds, 1),
        "validated_candidates": validated(summary["candidates"]),
        "candidates": summary["candidates"],
        "best": result.best.to_json(),
        "best_revalidated": {
            "bit_exact": again["bit_exact"],
            "samples": again["samples"],
            "accuracy": again["accuracy"]["device"],
            "flash_bytes": again["memory"]["flash_bytes"],
            "ram_bytes": again["memory"]["arena_bytes"] + (again["memory"]["stack_bytes"] or 0),
        },
    }


def validated(rows: list[dict]) -> int:
    """Distinct candidates validated without error (a candidate has a row per stage)."""
    return len({c["key"] for c in rows if c["error"] is None and c["samples"]})


def plain_int8(work: Path, calib: Path, data: Path) -> dict:
    options = CompileOptions(quantize="int8", calib=str(calib), target="mps2-an386")
    options.force = True
    out = compile_model(KWS_FLOAT, work / "plain-int8", options).out_dir
    report = validate(out, ValidateOptions(data=str(data), device="emulator", progress=False))
    memory = report["memory"]
    return {
        "accuracy": report["accuracy"]["device"],
        "bit_exact": report["bit_exact"],
        "flash_bytes": memory["flash_bytes"],
        "ram_bytes": memory["arena_bytes"] + (memory["stack_bytes"] or 0),
    }


def ray_cluster(command: str) -> None:
    ray = Path(sys.executable).with_name("ray")
    args = [str(ray), command]
    if command == "start":
        args += ["--head", f"--port={RAY_PORT}", "--num-cpus=2", "--include-dashboard=false"]
    subprocess.run(args, check=True, capture_output=True, text=True, timeout=300)


def workers_part(work: Path) -> dict:
    options = CompileOptions(target="mps2-an386", force=True)
    out = compile_model(KWS_INT8, work / "kws-int8", options).out_dir
    reports, seconds = {}, {}
    for workers in (1, 2):
        options = ValidateOptions(
            data=str(DATA / "kws01"),
            device="emulator",
            input_dtype="int8",
            report_dir=str(work / f"workers{workers}"),
            progress=False,
            workers=workers,
        )
        started = time.monotonic()
        validate(out, options)
        seconds[workers] = round(time.monotonic() - started, 1)
        reports[workers] = json.loads((work / f"workers{workers}" / "report.json").read_text())
    differing = [
        key
        for key in sorted(set(reports[1]) | set(reports[2]))
        if key != "wall_seconds" and reports[1].get(key) != reports[2].get(key)
    ]
    return {
        "samples": reports[2]["samples"],
        "bit_exact": reports[2]["bit_exact"],
        "seconds": seconds,
        "identical_except_wall_time": not differing,
        "differing_fields": differing,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="cluster,local,workers")
    parser.add_argument("--max-candidates", type=int, default=12)
    parser.add_argument(
        "--work",
        default=str(Path(__file__).resolve().parent.parent / "build" / "bench-tune"),
        help="working folder, kept: the candidates' cache makes a rerun resume",
    )
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    results["machine"] = f"{platform.machine()}, Python {platform.python_version()}"
    command = " ".join(["python bench/tune.py", *sys.argv[1:]])
    results["commands"] = [c for c in results.get("commands", []) if c != command] + [command]
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    calib, data = kws_sets(work)
    parts = args.parts.split(",")
    if "cluster" in parts or "local" in parts:
        results["plain_int8"] = plain_int8(work, calib, data)
    if "cluster" in parts:
        ray_cluster("start")
        try:
            address = f"127.0.0.1:{RAY_PORT}"
            results["cluster"] = run_tune(work, calib, data, address, args.max_candidates)
        finally:
            ray_cluster("stop")
    if "local" in parts:
        results["local"] = run_tune(work, calib, data, None, args.max_candidates)
    if "workers" in parts:
        results["workers"] = workers_part(work)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "candidates"}, indent=1)[:3000])


if __name__ == "__main__":
    main()
