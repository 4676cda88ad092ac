"""Write BENCHMARKS.md from the benchmark results (bench/results_*.json).

    python bench/ptq.py && python bench/memory.py && python bench/device.py
    python bench/report.py

Every figure in BENCHMARKS.md comes from one of those JSON files; nothing is typed by hand.
"""

from __future__ import annotations

import json
import platform
import subprocess
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MACS = {"kws": 2_656_768, "ic_resnet8": 12_501_632, "vww": 7_489_664, "ad01": 264_192}


def load(name: str) -> dict | None:
    path = HERE / f"results_{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def pct(value) -> str:
    return "–" if value is None else f"{100 * value:.2f} %"


def db(value) -> str:
    return "–" if value is None else f"{value:.2f}"


def n(value) -> str:
    return "–" if value is None else f"{int(value):,}"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def ptq_section(ptq: dict) -> list[str]:
    out = [
        "## Post-training quantization (issue: fixed-point quantization)",
        "",
        "Command: `python bench/ptq.py` (edgec's integer graphs run in its integer reference "
        "executor, which the generated C matches bit for bit; onnxruntime's `quantize_static` "
        "with QDQ, per-channel int8, on the same calibration samples).",
        "",
    ]
    for name, title in (
        ("kws", "KWS DS-CNN float model: calibrate on kws01 samples 0–199, score on 200–999"),
        ("mnist8", "mnist-8: calibrate on 500 MNIST test images, score on the other 9,500"),
    ):
        rows = []
        for setting, r in ptq[name].items():
            rows.append(
                [setting, pct(r.get("accuracy")), pct(r.get("agreement")), db(r.get("snr_db"))]
            )
        out += [
            f"### {title}",
            "",
            *table(
                ["setting", "accuracy", "top-1 agreement with float", "output SNR vs float (dB)"],
                rows,
            ),
            "",
        ]
    rows = [
        [setting, db(r["snr_db"]), " ".join(v for v in (r.get("layers") or {}).values()) or "–"]
        for setting, r in ptq["ad_autoencoder"].items()
    ]
    out += [
        "### AD autoencoder: 196 windows of the AD sample, output SNR against the float model",
        "",
    ]
    out += [
        *table(["setting", "SNR (dB)", "precision of the 10 Gemm layers, in order (auto)"], rows),
        "",
    ]
    return out


def memory_section(mem: dict) -> list[str]:
    out = [
        "## Memory: edgec vs TensorFlow Lite Micro (issue: C backend)",
        "",
        "Command: `python bench/memory.py`. edgec: the planned arena (all activations; the "
        "generated code has no other static RAM: `.data` is 0 and `.bss` equals the arena), "
        "weight bytes in flash, and the generated library built with `arm-none-eabi-gcc "
        "-mcpu=cortex-m4 -mfloat-abi=hard -Os`. TFLM: `print_allocations()` on the `.tflite` "
        "original (head = activations, tail = interpreter bookkeeping).",
        "",
    ]
    rows = []
    for name, r in mem.items():
        tflm = r.get("tflm_arena") or {}
        lib = r["library"]
        rows.append(
            [
                name,
                n(r["arena_bytes"]),
                n(tflm.get("activations")),
                n(tflm.get("total")),
                n(r["weight_bytes"]),
                f"{lib['text']:,} / {lib['data']:,} / {lib['bss']:,}",
                n(r["firmware"]["flash_bytes"]),
            ]
        )
    out += [
        *table(
            [
                "model",
                "edgec arena",
                "TFLM activations",
                "TFLM arena total",
                "edgec weights",
                "library text / data / bss",
                "mps2-an386 firmware flash",
            ],
            rows,
        ),
        "",
    ]
    return out


def device_section(dev: dict) -> list[str]:
    kws = dev["kws_int8_mps2-an386"]
    run = kws["run"]
    ins = run["instructions"]
    out = [
        "## On the emulated boards (issue: on-device validation)",
        "",
        "Command: `python bench/device.py` (QEMU with `-icount shift=6`: exact instruction "
        "counts; portable C kernels, firmware built with `-Os`).",
        "",
        "### KWS int8 (`kws_ref_model_int8_qdq.onnx`) on mps2-an386, all of kws01",
        "",
    ]
    out += [
        *table(
            [
                "samples",
                "bit-exact vs host reference",
                "equal to TFLM's outputs",
                "accuracy",
                "instructions / inference (min / median / max)",
                "identical in two runs",
                "flash",
                "arena",
                "stack",
            ],
            [
                [
                    n(run["samples"]),
                    n(run["bit_exact"]),
                    n(run.get("tflm_bit_exact")),
                    pct(run["accuracy"]["device"]),
                    f"{n(ins['min'])} / {n(ins['median'])} / {n(ins['max'])}",
                    "yes" if kws["instructions_identical_in_two_runs"] else "no",
                    n(run["memory"]["flash_bytes"]),
                    n(run["memory"]["arena_bytes"]),
                    n(run["memory"]["stack_bytes"]),
                ]
            ],
        ),
        "",
    ]
    rows = []
    for target, r in dev["mnist8_ptq"].items():
        rows.append(
            [
                "mnist-8, quantized by edgec",
                target,
                n(r["samples"]),
                n(r["bit_exact"]),
                pct((r.get("accuracy") or {}).get("device")),
                n(r["instructions"]["median"]),
                "–",
            ]
        )
    for name, r in dev["int8_models_mps2-an386"].items():
        per_mac = f"{r['instructions']['median'] / MACS[name]:.1f}" if name in MACS else "–"
        rows.append(
            [
                name,
                "mps2-an386",
                n(r["samples"]),
                n(r["bit_exact"]),
                "–",
                n(r["instructions"]["median"]),
                per_mac,
            ]
        )
    out += ["### Other models (random int8 inputs for the shared int8 models)", ""]
    out += [
        *table(
            [
                "model",
                "board",
                "samples",
                "bit-exact",
                "accuracy",
                "instructions (median)",
                "instructions / MAC",
            ],
            rows,
        ),
        "",
    ]
    boards = [
        [name, n(r["flash_bytes"]), n(r["ram_bytes"])]
        for name, r in dev["real_boards_build"].items()
    ]
    out += ["### Real-board targets (build only; hello-world int8)", ""]
    out += [*table(["target", "flash", "RAM (incl. reserved stack)"], boards), ""]
    return out


def main() -> None:
    sections = [
        "# Benchmarks",
        "",
        f"Generated by `python bench/report.py` on {date.today()} ({platform.machine()}, "
        f"Python {platform.python_version()}, commit {_commit()}) from `bench/results_*.json`.",
        "",
    ]
    for name, render in (
        ("ptq", ptq_section),
        ("memory", memory_section),
        ("device", device_section),
    ):
        data = load(name)
        sections += render(data) if data else [f"(no bench/results_{name}.json yet)", ""]
    (ROOT / "BENCHMARKS.md").write_text("\n".join(sections))
    print("wrote BENCHMARKS.md")


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


if __name__ == "__main__":
    main()
