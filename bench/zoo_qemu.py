"""The QEMU part of bench/zoo.py: one export of every zoo model on the emulated mps2-an386.

``qemu_int8`` compiles the int8 build as the host path does (``--quantize int8``, the default
build for the board: its optimized DSP kernels) and runs SAMPLES of the zoo's inputs on QEMU
(``-icount``: exact instruction counts); it passes when every output equals edgec's integer
reference bit for bit (and the SNR vs float holds, as on the host). ``qemu_float`` runs the
float build the same way; it passes when every output is within the float tolerance of
onnxruntime. A model that does not fit the board's flash or RAM is recorded with its numbers
(``passed`` None), not as a failure.
"""

from __future__ import annotations

import json
from pathlib import Path

BOARD = "mps2-an386"
SAMPLES = 5


def run_qemu(model_path: Path, work: Path, path: str) -> dict:
    """One QEMU case: ``qemu_int8`` or ``qemu_float``."""
    from bench.zoo import run_float, run_int8

    run = run_int8 if path == "qemu_int8" else run_float
    entry = run(model_path, work, device="emulator", samples=SAMPLES)
    if entry.get("cause") == f"does not fit {BOARD}":
        entry.update(passed=None, fits=False, **compiled_sizes(work / "out"))
    return entry


def compiled_sizes(out: Path) -> dict:
    """Weight and arena bytes of a compiled folder (none when the compile did not finish)."""
    from edgec.artifact import Manifest

    if not (out / "manifest.json").is_file():
        return {}
    manifest = Manifest.load(out)
    return {"weight_bytes": manifest.weight_bytes, "arena_bytes": manifest.arena_bytes}


def emulator_figures(report: dict, out: Path) -> dict:
    """Instructions per inference (median, min, max) and per MAC, flash, arena and stack."""
    steps = json.loads((out / "memory.json").read_text())["steps"]
    macs = sum(int(s["macs"]) for s in steps)
    counts = report.get("instructions") or {}
    median = counts.get("median")
    memory = report.get("memory") or {}
    return {
        "board": BOARD,
        "macs": macs,
        "instructions": {k: counts.get(k) for k in ("median", "min", "max")},
        "instructions_per_mac": round(median / macs, 2) if median and macs else None,
        "flash_bytes": memory.get("flash_bytes"),
        "arena_bytes": memory.get("arena_bytes"),
        "stack_bytes": memory.get("stack_bytes"),
    }


def merge_qemu(results: dict, entry: dict, order: list[str]) -> None:
    """Replace this case's entry in ``results["qemu"]`` (other cases, host ones too, stay)."""
    part = results.setdefault("qemu", {"cases": []})
    key = (entry["model"], entry["export"], entry["path"])
    cases = [c for c in part["cases"] if (c["model"], c["export"], c["path"]) != key]
    rank = {name: i for i, name in enumerate(order)}
    cases.append(entry)
    cases.sort(key=lambda c: (rank.get(c["model"], len(order)), c["path"] != "qemu_int8"))
    part.update(board=BOARD, samples=SAMPLES, cases=cases)
