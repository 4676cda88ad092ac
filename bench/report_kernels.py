"""BENCHMARKS.md's kernel section (bench/results_kernels.json): portable vs optimized int8
kernels on every emulated board, where their instructions go, KWS against the references."""

from __future__ import annotations

from bench.report import n, table

# Reference figures for KWS on the same emulated Cortex-M4F (exact instruction counts),
# measured by the project (issue: performance) with ARM's CMSIS-NN built from source at -O2,
# the TFLM interpreter with those kernels, and onnx2c's float code. Quoted, not re-measured.
KWS_REFERENCES = [
    ("CMSIS-NN alone (int8)", 7_697_109, 55_118, "~17.1 KB (16,000 activations + 736 stack)"),
    ("TFLite Micro + CMSIS-NN (int8)", 7_701_531, 141_066, "~25.1 KB (22,820 arena + stack)"),
    ("TFLite Micro reference kernels (int8)", 43_100_000, None, "–"),
    ("onnx2c (float)", 25_000_000, 93_000, "64 KB"),
]
# The boards' optimized paths, for the text.
PATHS = {
    "mps2-an386": "Cortex-M4F: DSP (SXTB16, SMLAD/SMLABB in assembly, requantization with "
    "one SMLAL)",
    "mps3-an547": "Cortex-M55: Helium/MVE (VMLADAV dot products, vector requantization)",
    "mps2-an505": "Cortex-M33: the DSP paths of the M4",
    "riscv32-virt": "RV32IMAC: plain 32-bit multiply-adds, 2x2 blocks (fast_scalar.h)",
    "microbit": "Cortex-M0: Thumb-1 assembly for the 2x2 blocks, the depthwise taps and the "
    "requantization (no SMULL: the 64-bit product from 16x16 ones); every build "
    "`--kernel-scratch free`",
}


def kernels_section(res: dict) -> list[str]:
    out = [
        "## Portable vs optimized int8 kernels (issue: performance; issue: more cores)",
        "",
        "Command: `python bench/kernels.py` (the shared int8 models as converted by TFLite, "
        "5 seeded random inputs each, all bit-exact with edgec's integer reference; QEMU "
        "`-icount`: exact instruction counts, identical run to run; firmware glue `-Os`, "
        "model and kernels `-O2`). The optimized kernels' paths, chosen by the compiler's "
        "target macros:",
        "",
        *[f"- {board}: {text}" for board, text in PATHS.items()],
        "",
        "Both on dense weights; the last columns are the default build (`--kernels auto`, "
        "`--weight-storage auto`: sparse or 4-bit weights wherever they save flash, run by "
        "the compact kernels). RAM: the firmware image's (arena, reserved stack, protocol "
        "buffers). Compile: ONNX to C, the median of three runs (on the run's 2-core machine, "
        "which other jobs shared: a loaded machine inflates them).",
        "",
    ]
    rows = []
    for model, targets in res.items():
        for target, r in targets.items():
            if not r.get("fits", True):
                why = r["error"].split(" (choose")[0]  # the compiler's hint does not apply here
                rows.append([model, target, "does not fit: " + why, *["–"] * 10])
                continue
            p, o = r["portable"], r["optimized"]
            c = r.get("optimized_compact")
            rows.append(
                [
                    model,
                    target,
                    f"{n(p['instructions'])} ({p['per_mac']:.2f})",
                    f"{n(o['instructions'])} ({o['per_mac']:.2f})",
                    f"{r['speedup']:.2f}×",
                    f"{n(o['bit_exact'])}/{n(o['samples'])}",
                    f"{n(p['flash_bytes'])} / {n(o['flash_bytes'])}",
                    f"{n(p['arena_bytes'])} / {n(o['arena_bytes'])}",
                    n(o["stack_bytes"]),
                    n(c.get("ram_bytes")) if c else "–",
                    f"{o['compile_seconds']:.2f}",
                    f"{n(c['instructions'])} ({c['per_mac']:.2f})" if c else "–",
                    f"{n(c['flash_bytes'])}, {n(c['bit_exact'])}/{n(c['samples'])}" if c else "–",
                ]
            )
    out += table(
        [
            "model",
            "board",
            "portable: instructions (per MAC)",
            "optimized: instructions (per MAC)",
            "speed-up",
            "bit-exact",
            "flash portable / optimized",
            "arena portable / optimized",
            "stack",
            "RAM (default build)",
            "compile (s)",
            "default build: instructions (per MAC)",
            "default build: flash, bit-exact",
        ],
        rows,
    )
    out += ["", "### Where the instructions go (optimized, per kernel)", ""]
    rows = []
    for model, targets in res.items():
        for target, result in targets.items():
            r = result.get("optimized") if result.get("fits", True) else None
            # every model on the M4 and the M55, KWS on the other boards
            if not r or (model != "kws" and target not in ("mps2-an386", "mps3-an547")):
                continue
            for kernel, k in sorted(r["by_kernel"].items(), key=lambda kv: -kv[1]["instructions"]):
                per_mac = f"{k['instructions'] / k['macs']:.2f}" if k["macs"] else "–"
                rows.append(
                    [
                        model,
                        target,
                        kernel,
                        n(k["steps"]),
                        n(k["macs"]),
                        n(k["instructions"]),
                        per_mac,
                    ]
                )
    out += table(["model", "board", "kernel", "steps", "MACs", "instructions", "per MAC"], rows)
    kws = res.get("kws", {}).get("mps2-an386", {}).get("optimized")
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
                "edgec, optimized int8 kernels",
                n(kws["instructions"]),
                f"{kws['instructions'] / kws['macs']:.2f}",
                n(kws["flash_bytes"]),
                f"{n(kws['arena_bytes'])} arena + {n(kws['stack_bytes'])} stack",
            ]
        ]
        rows += [
            [name, n(ins), f"{ins / kws['macs']:.2f}", n(flash), ram]
            for name, ins, flash, ram in KWS_REFERENCES
        ]
        out += table(["KWS", "instructions", "per MAC", "flash (bytes)", "RAM"], rows)
    return [*out, ""]
