"""Differential fuzzing of the compiler at scale: random CNNs through every C path.

    python bench/fuzz.py [--graphs 5000] [--per-build 50] [--seed 1] [--out bench/results_fuzz.json]
    python bench/fuzz.py --target riscv32-virt --paths int8-optimized --graphs 500

The checks of tests/test_differential.py on many more graphs: float C (portable and
optimized kernels) against onnxruntime (rtol 1e-4, atol 1e-4), int8 C with the portable and
the optimized kernels against edgec's integer reference (bit for bit), all built with
AddressSanitizer and UBSan. Graphs the int8 backend declines are counted; every failing
batch is re-run graph by graph and the seeds of the failing graphs are written out
(rebuild one with ``tests.graph_gen.random_cnn``). With ``--target BOARD`` the int8 paths
run on that emulated board instead (QEMU, many graphs per firmware image:
tests/device_cases.py), as the suite does for RV32 and the Cortex-M0.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.device_cases import run_cases_on_device
from tests.graph_gen import Picker, random_cnn
from tests.test_differential import PATHS, build_cases, check_cases


def check(path: str, seeds: list[int], work: Path, target: str | None) -> tuple[int, list[int]]:
    """Run one batch (on the host, or on the emulated ``target``); (declined, failing seeds)."""
    models = [(random_cnn(Picker(seed=seed), seed), seed) for seed in seeds]
    cases, declined = build_cases(path, models, work)
    try:
        if target is None:
            check_cases(path, cases, work)
        else:
            run_cases_on_device(cases, work, target, kernels=path.split("-")[1])
        return declined, []
    except AssertionError:
        if len(seeds) == 1:
            return declined, seeds
        failing: list[int] = []
        for seed in seeds:  # find the culprits one graph at a time
            with tempfile.TemporaryDirectory() as tmp:
                failing += check(path, [seed], Path(tmp), target)[1]
        return declined, failing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--graphs", type=int, default=5000, help="graphs per path")
    parser.add_argument("--per-build", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=str(Path(__file__).with_name("results_fuzz.json")))
    parser.add_argument("--paths", nargs="*", default=list(PATHS), choices=PATHS)
    parser.add_argument("--target", help="an emulated board for the int8 paths (QEMU)")
    args = parser.parse_args()
    if args.target and any(path.startswith("float") for path in args.paths):
        parser.error("--target runs the int8 paths: give --paths int8-optimized int8-portable")
    rng = np.random.default_rng(args.seed)
    results = {}
    for path in args.paths:
        start, declined, failing = time.monotonic(), 0, []
        for first in range(0, args.graphs, args.per_build):
            count = min(args.per_build, args.graphs - first)
            seeds = [int(s) for s in rng.integers(0, 2**32, count)]
            with tempfile.TemporaryDirectory() as tmp:
                d, f = check(path, seeds, Path(tmp), args.target)
            declined, failing = declined + d, failing + f
            print(f"{path}: {first + len(seeds)} graphs, {declined} declined, "
                  f"{len(failing)} failing", flush=True)  # fmt: skip
        results[f"{path}@{args.target}" if args.target else path] = {
            "graphs": args.graphs,
            "declined": declined,
            "failing_seeds": failing,
            "seconds": round(time.monotonic() - start, 1),
        }
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")  # after every path
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
