"""BENCHMARKS.md's float-kernel section, from bench/results_kernels_float.json."""

from __future__ import annotations

BOARDS = {
    "mps2-an386": "Cortex-M4F",
    "mps2-an500": "Cortex-M7",
    "mps3-an547": "Cortex-M55",
    "mps2-an505": "Cortex-M33",
}


def _n(value) -> str:
    return "–" if value is None else f"{int(value):,}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def _cell(row: dict | None, macs: int | None) -> list[str]:
    """instructions (per MAC), flash, arena, max |error|; or the reason it was skipped."""
    if not row:
        return ["–"] * 4
    if "skipped" in row:
        return ["does not fit", "–", "–", "–"]
    per_mac = f" ({row['instructions'] / macs:.2f})" if macs else ""
    exact = f"{row['max_abs_error']:.1e} ({row['samples_within_1e-4']}/{row['samples']})"
    return [
        f"{_n(row['instructions'])}{per_mac}",
        _n(row["flash_bytes"]),
        _n(row["arena_bytes"]),
        exact,
    ]


def kernels_float_section(res: dict) -> list[str]:
    out = [
        "## Float kernels against onnx2c (issue: performance)",
        "",
        "Command: `python bench/kernels.py --float --samples 2 --onnx2c SRC` (SRC: an onnx2c "
        "checkout with its submodules; the script builds onnx2c from it with protoc and g++, "
        "generates its C for each model and runs it in edgec's own firmware harness — same "
        "start-up, UART protocol, compiler flags and QEMU `-icount` counter — on the same "
        "inputs; nothing of onnx2c is in this repository). edgec: `--kernels portable` "
        "(plain C loops) and the default build (the optimized float kernels: convolution as a "
        "2-pixel x 8-channel register-blocked matrix product, VLDM/VFMA assembly on the "
        "M4F/M7, Helium on the M55; depthwise by blocks of 8 channels; weights packed at "
        "compile time). Instructions per inference (per MAC); flash of the whole firmware; "
        "arena (onnx2c: .data + .bss of its model code); the outputs' largest |error| against "
        "onnxruntime and the samples within rtol/atol 1e-4. A board without the target "
        f"file is not measured; boards: {', '.join(f'{b} ({c})' for b, c in BOARDS.items())}.",
        "",
    ]
    rows = []
    for model, targets in res.items():
        for target, r in targets.items():
            builds = ("portable", "default", "onnx2c")
            if not any("instructions" in r.get(v, {}) for v in builds):  # too big for the board
                reason = next((v["skipped"] for v in r.values() if "skipped" in v), "–")
                rows.append([model, target, "all", reason.split(":", 1)[-1].split("(")[0].strip(),
                             "", "", ""])  # fmt: skip
                continue
            macs = (r.get("default") or {}).get("macs") or (r.get("portable") or {}).get("macs")
            for variant in ("portable", "default", "onnx2c"):
                if variant not in r:
                    continue
                rows.append([model, target, variant, *_cell(r[variant], macs)])
            ratio = r.get("vs_onnx2c")
            rows.append(
                [
                    model,
                    target,
                    "**default / onnx2c**",
                    f"**{ratio:.3f}**" if ratio is not None else "–",
                    "",
                    "",
                    f"speed-up over portable {r['speedup']:.2f}x" if "speedup" in r else "",
                ]
            )
    out += _table(
        ["model", "board", "build", "instructions (per MAC)", "flash (B)", "arena (B)",
         "max \\|error\\| vs onnxruntime (within 1e-4)"],
        rows,
    )  # fmt: skip
    out += ["", "Instructions by kernel, default build:", ""]
    rows = []
    for model, targets in res.items():
        for target, r in targets.items():
            d = r.get("default") or {}
            for kernel, k in sorted(
                d.get("by_kernel", {}).items(), key=lambda kv: -kv[1]["instructions"]
            ):
                per_mac = f"{k['instructions'] / k['macs']:.2f}" if k["macs"] else "–"
                rows.append(
                    [model, target, kernel, _n(k["steps"]), _n(k["macs"]),
                     _n(k["instructions"]), per_mac]
                )  # fmt: skip
    out += _table(["model", "board", "kernel", "steps", "MACs", "instructions", "per MAC"], rows)
    return [*out, ""]
