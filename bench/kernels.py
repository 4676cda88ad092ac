"""Portable vs optimized int8 kernels, side by side, on the emulated boards (exact counts).

    python bench/kernels.py [--out bench/results_kernels.json] [--samples 5] [--targets …]

For every int8 shared model (the TFLite conversions, as QDQ ONNX) and for each emulated
board: mps2-an386 (Cortex-M4F: the DSP paths), mps3-an547 (Cortex-M55: the Helium/MVE
paths), mps2-an505 (Cortex-M33: the DSP paths), riscv32-virt (RV32IMAC: the plain
multiply-add paths) and microbit (Cortex-M0, 16 KB: the Thumb-1 paths; every build with
``--kernel-scratch free``, the smallest RAM): compile with ``--kernels portable`` and
``--kernels optimized`` (dense weights: the kernels compared), and the default build
(``--kernels auto``, ``--weight-storage auto``: sparse or clustered weights wherever they
save flash), build the firmware with the target's flags (glue -Os, model -O2), and record

- instructions per inference (QEMU ``-icount``: exact, the same in every run) and per MAC,
  over ``--samples`` seeded random inputs, all bit-exact with edgec's integer reference
  (which is bit-exact with TensorFlow Lite Micro);
- the instructions of every schedule step (``validate --profile``), summed by kernel;
- flash (code + weights), the arena, the measured stack, the firmware's whole RAM (arena,
  reserved stack, protocol buffers), and the compile time (ONNX to C, the median of three
  compiles).

A model that does not fit a board (flash or RAM) is recorded as such, with the numbers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import MODELS
from bench.memory import INT8
from edgec.compiler import CompileOptions, compile_model
from edgec.errors import TargetError
from edgec.firmware import build_firmware
from edgec.harness.validate import ValidateOptions, validate

# board -> compile options of every build on it
TARGETS = {
    "mps2-an386": {},
    "mps3-an547": {},
    "mps2-an505": {},
    "riscv32-virt": {},
    "microbit": {"kernel_scratch": "free"},
}
MODELS_MEASURED = ("kws", "ic_resnet8", "vww", "ad01")


# (kernels, weight storage) per column: the kernel comparison on dense weights, then the
# default build (compact weights wherever they save flash: VWW's mostly-zero layers go sparse)
VARIANTS = {
    "portable": ("portable", "dense"),
    "optimized": ("optimized", "dense"),
    "optimized_compact": ("auto", "auto"),
}


def measure(model: str, target: str, kernels: str, storage: str, work: Path, samples: int) -> dict:
    out = work / f"{model}_{target}_{kernels}_{storage}"
    compile_runs = []
    options = CompileOptions(
        target=target, kernels=kernels, weight_storage=storage, force=True, **TARGETS[target]
    )
    try:
        for _ in range(3):
            start = time.monotonic()
            result = compile_model(MODELS / INT8[model][0], out, options)
            compile_runs.append(time.monotonic() - start)
        build = build_firmware(out, target)
    except TargetError as exc:  # the model does not fit the board
        return {"fits": False, "error": str(exc)}
    spec = result.manifest["inputs"][0]
    rng = np.random.default_rng(2026)
    x = rng.integers(-128, 128, size=(samples, *spec["shape"]), dtype=np.int8)
    np.savez(work / f"{model}.npz", x=x)
    options = ValidateOptions(data=str(work / f"{model}.npz"), device="emulator", profile=True)
    report = validate(out, options)
    steps = report["profile"]
    macs = sum(s["macs"] for s in steps)
    by_kernel: dict[str, dict] = defaultdict(lambda: {"steps": 0, "macs": 0, "instructions": 0})
    for s in steps:
        row = by_kernel[s["kernel"]]
        row["steps"] += 1
        row["macs"] += s["macs"]
        row["instructions"] += s["instructions"]
    instructions = report["instructions"]
    return {
        "fits": True,
        "kernels": result.manifest["kernels"],
        "ram_bytes": build.ram_bytes,
        "samples": report["samples"],
        "bit_exact": report["bit_exact"],
        "instructions": int(instructions["median"]),
        "instructions_identical": instructions["min"] == instructions["max"],
        "macs": macs,
        "per_mac": round(instructions["median"] / macs, 3),
        "flash_bytes": report["memory"]["flash_bytes"],
        "arena_bytes": report["memory"]["arena_bytes"],
        "stack_bytes": report["memory"]["stack_bytes"],
        "compile_seconds": round(statistics.median(compile_runs), 3),
        "compile_seconds_runs": [round(t, 3) for t in compile_runs],
        "by_kernel": dict(by_kernel),
        "steps": [
            {k: s[k] for k in ("step", "op", "kernel", "macs", "instructions")} for s in steps
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(Path(__file__).with_name("results_kernels.json")))
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--models", nargs="*", default=list(MODELS_MEASURED))
    parser.add_argument("--targets", nargs="*", default=list(TARGETS), choices=list(TARGETS))
    args = parser.parse_args()
    path = Path(args.out)
    results: dict = json.loads(path.read_text()) if path.is_file() else {}
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            for target in args.targets:
                rows = {}
                for variant, (kernels, storage) in VARIANTS.items():
                    row = measure(model, target, kernels, storage, Path(tmp), args.samples)
                    rows[variant] = row
                    if not row["fits"]:
                        print(f"{model:11s} {target:13s} does not fit: {row['error']}", flush=True)
                        break
                    print(
                        f"{model:11s} {target:13s} {variant:17s} "
                        f"{row['instructions']:>12,} instr  {row['per_mac']:6.2f}/MAC  "
                        f"bit-exact {row['bit_exact']}/{row['samples']}  "
                        f"flash {row['flash_bytes']:,}  arena {row['arena_bytes']:,}",
                        flush=True,
                    )
                if all(r["fits"] for r in rows.values()) and len(rows) == len(VARIANTS):
                    rows["speedup"] = round(
                        rows["portable"]["instructions"] / rows["optimized"]["instructions"], 2
                    )
                    rows["compile_seconds_max"] = max(rows[v]["compile_seconds"] for v in VARIANTS)
                    rows["fits"] = True
                else:
                    rows = {
                        "fits": False,
                        "error": next(r["error"] for r in rows.values() if not r["fits"]),
                    }
                results.setdefault(model, {})[target] = rows
                path.write_text(json.dumps(results, indent=2) + "\n")  # after every board
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
