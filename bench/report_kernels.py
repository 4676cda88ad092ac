"""BENCHMARKS.md's int8-kernel section, from bench/results_kernels.json (bench/kernels.py)."""

from __future__ import annotations

from bench.report_float import BOARDS as FLOAT_BOARDS
from bench.report_float import _n, _table

BOARDS = {**FLOAT_BOARDS, "riscv32-virt": "RV32IMAC", "microbit": "Cortex-M0"}

# The goals of the performance issue, instructions per MAC in the default build.
GOALS = {"mps2-an386": 1.5, "mps3-an547": 0.8}
FLAGS = {
    "default": "default",
    "portable": "--kernels portable --weight-storage dense",
    "portable_auto": "--kernels portable",
    "dense": "--weight-storage dense",
    "small": "--weight-storage small",
}

# Reference figures for KWS on the same emulated Cortex-M4F (exact instruction counts),
# measured by the project (issue: performance) with ARM's CMSIS-NN built from source at -O2
# and the TFLM interpreter with those kernels. Quoted, not re-measured.
KWS_REFERENCES = [
    ("CMSIS-NN alone (int8)", 7_697_109, 55_118, "~17.1 KB (16,000 activations + 736 stack)"),
    ("TFLite Micro + CMSIS-NN (int8)", 7_701_531, 141_066, "~25.1 KB (22,820 arena + stack)"),
    ("TFLite Micro reference kernels (int8)", 43_100_000, None, "–"),
]


def _per_mac(row: dict) -> str:
    return f"{_n(row['instructions'])} ({row['per_mac']:.2f})"


def _exact(row: dict) -> str:
    return f"{row['bit_exact']}/{row['samples']}"


def _fits(r: dict) -> bool:
    return r.get("fits", True)


def _too_big(model: str, target: str, r: dict, columns: int) -> list[str]:
    """A board the model does not fit: one row with the reason."""
    why = r["error"].split(" (choose")[0]  # the compiler's hint does not apply here
    return [model, target, "does not fit: " + why.replace("|", "\\|"), *["–"] * (columns - 3)]


def summary_rows(res: dict) -> list[list[str]]:
    rows = []
    for model, targets in res.items():
        for target, r in targets.items():
            if not _fits(r):
                rows.append(_too_big(model, target, r, 11))
                continue
            d, p = r["default"], r["portable"]
            goal = GOALS.get(target)
            verdict = "–" if goal is None else ("yes" if d["per_mac"] <= goal else "**no**")
            rows.append(
                [
                    model,
                    f"{target} ({BOARDS.get(target, '?')})",
                    _per_mac(d),
                    _per_mac(p),
                    f"{r['speedup']:.2f}×",
                    f"≤ {goal} {verdict}" if goal else "–",
                    f"{_exact(d)}, {_exact(p)}",
                    f"{_n(d['flash_bytes'])} / {_n(p['flash_bytes'])}",
                    f"{_n(d['arena_bytes'])} + {_n(d['stack_bytes'])}",
                    _n(d.get("ram_bytes")),
                    f"{d['compile_seconds']:.2f}",
                ]
            )
    return rows


def flag_rows(res: dict) -> list[list[str]]:
    rows = []
    for model, targets in res.items():
        for target, r in targets.items():
            if not _fits(r):
                continue
            cells = [
                f"{_n(r[v]['instructions'])}, {_n(r[v]['flash_bytes'])} B" if v in r else "–"
                for v in FLAGS
            ]
            rows.append([model, target, *cells, "yes" if r["default_fastest"] else "**no**"])
    return rows


def kernel_rows(res: dict) -> list[list[str]]:
    rows = []
    for model, targets in res.items():
        for target, r in targets.items():
            if not _fits(r):
                continue
            by_kernel = r["default"]["by_kernel"].items()
            for kernel, k in sorted(by_kernel, key=lambda kv: -kv[1]["instructions"]):
                per_mac = f"{k['instructions'] / k['macs']:.2f}" if k["macs"] else "–"
                rows.append(
                    [model, target, kernel, _n(k["steps"]), _n(k["macs"]),
                     _n(k["instructions"]), per_mac]
                )  # fmt: skip
    return rows


def kernels_section(res: dict) -> list[str]:
    out = [
        "## int8 kernels on the emulated boards (issue: performance)",
        "",
        "Command: `python bench/kernels.py` (the shared int8 models as converted by TFLite, 5 "
        "seeded random inputs each, every build bit-exact with edgec's integer reference; QEMU "
        "`-icount`: exact instruction counts, identical run to run; firmware glue `-Os`, model "
        "and kernels `-O2`). The default build (no flags) runs the target core's optimized "
        "kernels: on the Cortex-M4F, M7 and M33 the DSP ones (fast_*.c: SMLAD on int16 pairs, "
        "the doubled-sum requantization ASR/SMMLAR/ASR/ADD/SSAT, two-row GEMM, four-channel "
        "one-row FC and two-taps-per-SMLAD depthwise in assembly), on the Cortex-M55 the Helium "
        "ones (mve_*.c: VMLADAVA over 16 k for four channels and two rows, 16-channel "
        "depthwise with VMULLB/VMULLT), on RV32 and the Cortex-M0 plain 32-bit multiply-adds "
        "over the DSP kernels' record streams (fast_scalar.h: 2x2 blocks of rows and channels, "
        "on the M0 Thumb-1 assembly for the inner loops and the requantization, whose 64-bit "
        "product is composed from 16x16 ones as the M0 has no long multiply); weights are "
        "stored sparse or 4-bit only where the target's compact kernel runs the layer faster "
        "(backends/c/kernel_cost.py). The micro:bit's builds are `--kernel-scratch free` (16 "
        "KB of RAM). RAM default: arena + measured stack; firmware RAM: what the linker "
        "placed in RAM (arena, reserved stack, protocol buffers). Compile: ONNX to C, the "
        "median of three runs.",
        "",
    ]
    header = ["model", "board", "default: instructions (per MAC)"]
    header += ["portable: instructions (per MAC)", "speed-up", "goal met", "bit-exact"]
    header += ["flash default / portable", "RAM default", "firmware RAM", "compile (s)"]
    out += _table(header, summary_rows(res))
    out += [
        "",
        "### The default build against every kernel and storage flag",
        "",
        "Instructions and flash of each build on each board; the last column says whether the "
        "default build is the fastest of them (the storage policy never trades speed for flash "
        "unless the fastest layout does not fit).",
        "",
    ]
    header = ["model", "board", *(f"`{f}`" for f in FLAGS.values()), "default fastest"]
    out += _table(header, flag_rows(res))
    out += ["", "### Where the instructions go (default build, per kernel)", ""]
    header = ["model", "board", "kernel", "steps", "MACs", "instructions", "per MAC"]
    out += _table(header, kernel_rows(res))
    kws = res.get("kws", {}).get("mps2-an386", {}).get("default")
    if kws:
        out += [
            "",
            "### KWS on mps2-an386 against the reference figures",
            "",
            "The other rows are the project's measurements on the same emulated board "
            "(quoted from the performance issue, not re-run by this script).",
            "",
        ]
        rows = [
            [
                "edgec, default build",
                _n(kws["instructions"]),
                f"{kws['per_mac']:.2f}",
                _n(kws["flash_bytes"]),
                f"{_n(kws['arena_bytes'])} arena + {_n(kws['stack_bytes'])} stack",
            ]
        ]
        rows += [
            [name, _n(ins), f"{ins / kws['macs']:.2f}", _n(flash), ram]
            for name, ins, flash, ram in KWS_REFERENCES
        ]
        out += _table(["KWS", "instructions", "per MAC", "flash (bytes)", "RAM"], rows)
    return [*out, ""]
