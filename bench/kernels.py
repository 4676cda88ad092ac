"""The int8 kernels on the emulated boards, side by side (exact instruction counts).

    python bench/kernels.py [--out bench/results_kernels.json] [--samples 5] [--models ...]
                            [--boards ...]
    python bench/kernels.py --float [--onnx2c SRC]   (float models: bench/kernels_float.py)

For every int8 shared model (the TFLite conversions, as QDQ ONNX) and every board with a
target file among mps2-an386 (Cortex-M4F), mps2-an500 (Cortex-M7), mps3-an547 (Cortex-M55),
mps2-an505 (Cortex-M33), riscv32-virt (RV32IMAC) and microbit (Cortex-M0, 16 KB: every build
with ``--kernel-scratch free``, the smallest RAM): compile the default build (no flags: the
target core's optimized kernels, weight storage by the core's kernel costs) and the builds of
every non-default kernel and storage flag (``--kernels portable`` with dense and with default
storage, ``--weight-storage dense``, ``--weight-storage small``), build the firmware with the
target's flags (glue -Os, model -O2), and record

- instructions per inference (QEMU ``-icount``: exact, the same in every run) and per MAC,
  over ``--samples`` seeded random inputs, all bit-exact with edgec's integer reference
  (which is bit-exact with TensorFlow Lite Micro);
- the instructions of every schedule step (``validate --profile``), summed by kernel;
- flash (code + weights), the arena, the measured stack, the firmware's whole RAM (arena,
  reserved stack, protocol buffers) and the compile time (ONNX to C, the median of three
  compiles, default build);
- whether the default build is the fastest of them all on that board.

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

BOARDS = ("mps2-an386", "mps2-an500", "mps3-an547", "mps2-an505", "riscv32-virt", "microbit")
# compile options of every build on a board (the micro:bit's 16 KB: the smallest arena)
BOARD_OPTIONS = {"microbit": {"kernel_scratch": "free"}}
MODELS_MEASURED = ("kws", "ic_resnet8", "vww", "ad01")
FLOAT_RESULTS = str(Path(__file__).with_name("results_kernels_float.json"))

# (kernels, weight storage) per build; "default" is what the compiler does without flags
VARIANTS = {
    "default": ("auto", "auto"),
    "portable": ("portable", "dense"),
    "portable_auto": ("portable", "auto"),
    "dense": ("auto", "dense"),
    "small": ("auto", "small"),
}


def defined_targets(names) -> list[str]:
    """The boards of ``names`` whose target file this edgec has."""
    from edgec.targets import load_target

    found = []
    for name in names:
        try:
            load_target(name)
            found.append(name)
        except TargetError:
            print(f"target {name} is not defined in targets/: skipped", flush=True)
    return found


def sum_by_kernel(steps: list[dict]) -> dict[str, dict]:
    """The profile's steps summed by kernel: steps, MACs, instructions."""
    by_kernel: dict[str, dict] = defaultdict(lambda: {"steps": 0, "macs": 0, "instructions": 0})
    for s in steps:
        row = by_kernel[s["kernel"]]
        row["steps"] += 1
        row["macs"] += s["macs"]
        row["instructions"] += s["instructions"]
    return by_kernel


def measure(
    model: str, target: str, kernels: str, storage: str, work: Path, samples: int, compiles: int
) -> dict:
    out = work / f"{model}_{target}_{kernels}_{storage}"
    compile_runs = []
    options = CompileOptions(
        target=target,
        kernels=kernels,
        weight_storage=storage,
        force=True,
        **BOARD_OPTIONS.get(target, {}),
    )
    try:
        for _ in range(compiles):
            start = time.monotonic()
            result = compile_model(MODELS / INT8[model][0], out, options)
            compile_runs.append(time.monotonic() - start)
        build = build_firmware(out, target)
    except TargetError as exc:  # the model does not fit the board
        return {"fits": False, "error": str(exc)}
    spec = result.manifest.inputs[0]
    rng = np.random.default_rng(2026)
    x = rng.integers(-128, 128, size=(samples, *spec.shape), dtype=np.int8)
    np.savez(work / f"{model}.npz", x=x)
    options = ValidateOptions(data=str(work / f"{model}.npz"), device="emulator", profile=True)
    report = validate(out, options)
    steps = report["profile"]
    macs = sum(s["macs"] for s in steps)
    by_kernel = sum_by_kernel(steps)
    instructions = report["instructions"]
    storages = [r["storage"] for r in result.manifest.weight_storage or []]
    return {
        "fits": True,
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
        "weight_bytes": result.manifest.weight_bytes,
        "kernels": result.manifest.kernels,
        "compact_layers": sum(1 for s in storages if s != "dense"),
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
    parser.add_argument("--models", nargs="*", default=None)
    parser.add_argument("--boards", nargs="*", default=None, help="default: every board of BOARDS")
    parser.add_argument("--float", action="store_true", help="the float models (kernels_float.py)")
    parser.add_argument("--onnx2c", metavar="SRC", help="with --float: an onnx2c checkout to build")
    args = parser.parse_args()
    if args.float:
        from bench.kernels_float import FLOAT_MODELS, run_float

        out = args.out if args.out != parser.get_default("out") else FLOAT_RESULTS
        results = run_float(args.models or list(FLOAT_MODELS), args.samples, args.onnx2c)
        Path(out).write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {out}")
        return
    args.models = args.models or list(MODELS_MEASURED)
    path = Path(args.out)
    results: dict = json.loads(path.read_text()) if path.is_file() else {}
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            for target in args.boards or defined_targets(BOARDS):
                rows = {}
                for variant, (kernels, storage) in VARIANTS.items():
                    compiles = 3 if variant == "default" else 1
                    row = measure(
                        model, target, kernels, storage, Path(tmp), args.samples, compiles
                    )
                    if not row["fits"]:
                        print(f"{model:11s} {target:12s} {variant:14s} does not fit: "
                              f"{row['error']}", flush=True)  # fmt: skip
                        if variant == "default":
                            break
                        continue
                    rows[variant] = row
                    print(
                        f"{model:11s} {target:12s} {variant:14s} "
                        f"{row['instructions']:>12,} instr  {row['per_mac']:6.2f}/MAC  "
                        f"bit-exact {row['bit_exact']}/{row['samples']}  "
                        f"flash {row['flash_bytes']:,}  arena {row['arena_bytes']:,}",
                        flush=True,
                    )
                if "default" not in rows:
                    rows = {"fits": False, "error": row["error"]}
                else:
                    others = [r["instructions"] for v, r in rows.items() if v != "default"]
                    if "portable" in rows:
                        rows["speedup"] = round(
                            rows["portable"]["instructions"] / rows["default"]["instructions"], 2
                        )
                    rows["default_fastest"] = rows["default"]["instructions"] <= min(others)
                results.setdefault(model, {})[target] = rows
                path.write_text(json.dumps(results, indent=2) + "\n")  # after every board
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
