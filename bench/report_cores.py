"""BENCHMARKS.md's section on the Cortex-M0, Cortex-M33 and RV32 boards
(bench/results_cores.json, and bench/results_tflm_cores.json when TFLM was built)."""

from __future__ import annotations

from bench.report import MACS, load, n, pct, table

CORES = {
    "microbit": "Cortex-M0, nRF51, 16 KB RAM",
    "mps2-an505": "Cortex-M33, DSP",
    "riscv32-virt": "RV32IMAC",
    "riscv32f-virt": "RV32IMAFC",
}


def cores_section(res: dict) -> list[str]:
    out = [
        "## Cortex-M0, Cortex-M33 and RV32 (issue: more cores)",
        "",
        "Command: `python bench/cores.py` (the default build, `--kernels auto`: the optimized "
        "kernels' DSP paths on the M33, their plain multiply-add paths on RV32 and the M0; "
        "the micro:bit's builds with `--kernel-scratch free`; QEMU `-icount`: exact "
        "instruction counts). RAM is the firmware image's: arena, reserved stack and the "
        "protocol's buffers (what the linker placed in RAM; the inputs and outputs live in "
        "the arena).",
        "",
        "### KWS int8 (`kws_ref_model_int8_qdq.onnx`) on kws01",
        "",
    ]
    rows = []
    for board, r in res["kws"].items():
        ins, mem = r["instructions"], r["memory"]
        rows.append(
            [
                f"{board} ({CORES.get(board, '')})",
                n(r["samples"]),
                n(r["bit_exact"]),
                n(r["tflm_equal"]),
                pct((r.get("accuracy") or {}).get("device")),
                f"{n(ins['min'])} / {n(ins['median'])} / {n(ins['max'])}",
                f"{ins['median'] / MACS['kws']:.2f}",
                n(mem["flash_bytes"]),
                f"{n(r['ram_bytes'])} = {n(mem['arena_bytes'])} arena + "
                f"{n(r['stack_reserved'])} stack + {n(r['firmware_ram_bytes'])} firmware",
                n(mem["stack_bytes"]),
            ]
        )
    out += table(
        [
            "board",
            "samples",
            "bit-exact vs host reference",
            "equal to TFLM's outputs",
            "accuracy",
            "instructions (min / median / max)",
            "per MAC",
            "flash",
            "RAM",
            "stack used",
        ],
        rows,
    )
    out += ["", *_tflm_rows(res), "", "### Every shared int8 model on each board", ""]
    rows = []
    for board, models in res["shared_int8"].items():
        for model, r in models.items():
            if not r["fits"]:
                why = r["why"].split(" (choose")[0]  # the compiler's hint does not apply here
                rows.append([model, board, "does not fit: " + why, "–", "–", "–", "–"])
                continue
            ins = r["instructions"]["median"]
            per_mac = f"{ins / MACS[model]:.2f}" if model in MACS else "–"
            mem = r["memory"]
            flash_arena = f"{n(mem['flash_bytes'])} / {n(mem['arena_bytes'])}"
            rows.append(
                [model, board, f"{n(r['bit_exact'])}/{n(r['samples'])}", n(ins), per_mac,
                 flash_arena, n(mem["stack_bytes"])]
            )  # fmt: skip
    out += table(
        [
            "model",
            "board",
            "bit-exact (random int8 inputs)",
            "instructions",
            "per MAC",
            "flash / arena",
            "stack",
        ],
        rows,
    )
    out += ["", "### Real RISC-V boards (build only)", ""]
    rows = [
        [board, model, n(r["flash_bytes"]), n(r["arena_bytes"]), n(r["ram_bytes"])]
        for board, models in res["real_boards_build"].items()
        for model, r in models.items()
    ]
    out += table(["board", "model", "flash", "arena", "RAM (incl. reserved stack)"], rows)
    return [*out, ""]


def _tflm_rows(res: dict) -> list[str]:
    """TFLM's reference kernels beside edgec's default build, where TFLM was built."""
    tflm = load("tflm_cores")
    if not tflm:
        return [
            "TensorFlow Lite Micro on these boards: not measured (`bench/tflm_cores.py` was "
            "not run; it builds TFLM from its public source, which needs a C++ standard "
            "library for the target)."
        ]
    out = [
        "TensorFlow Lite Micro's reference kernels on the same boards, "
        f"`python bench/tflm_cores.py` ({tflm.get('source', 'TFLM from source')}; its flash: "
        "the interpreter, the kernels KWS uses, the `.tflite` model and the start-up and "
        "UART code edgec's firmware uses too; its arena: what `AllocateTensors` took):",
        "",
    ]
    rows = []
    for board, t in tflm["boards"].items():
        mine = res["kws"].get(board)
        if not t.get("built"):
            rows.append([board, "not built: " + t["why"], "–", "–", "–", "–"])
            continue
        ins = t.get("instructions")
        ratio = (
            f"{ins / mine['instructions']['median']:.1f}×" if ins and mine else "–"
        )  # TFLM / edgec
        rows.append(
            [
                board,
                n(ins) if ins else "not run: " + t.get("why_not_run", "–"),
                ratio,
                n(t.get("flash_bytes")),
                n(t.get("arena_bytes")),
                f"{n(t.get('bit_exact'))}/{n(t.get('samples'))}" if ins else "–",
            ]
        )
    out += table(
        [
            "board",
            "TFLM reference kernels: KWS instructions",
            "TFLM / edgec",
            "TFLM flash",
            "TFLM arena",
            "equal to TFLM's host outputs",
        ],
        rows,
    )
    return out
