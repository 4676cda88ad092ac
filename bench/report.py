"""Write BENCHMARKS.md from the benchmark results (bench/results_*.json).

    python bench/ptq.py && python bench/memory.py && python bench/device.py
    python bench/kernels.py && python bench/kernels.py --float --onnx2c SRC
    python bench/link.py && python bench/fuzz.py
    python bench/compress.py
    python bench/attention.py
    python bench/tvm.py
    python bench/report.py

Every figure in BENCHMARKS.md comes from one of those JSON files; nothing is typed by hand.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.report_attention import attention_section
from bench.report_float import kernels_float_section

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
        "-mcpu=cortex-m4 -mfloat-abi=hard -Os`. The smallest-RAM build, `--kernel-scratch "
        "free`: im2col scratch only where it does not grow the arena, and layers written over "
        "their own input at a lag that never overwrites unread input (memory.json `in_place`). "
        "TFLM: `print_allocations()` on the `.tflite` "
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
                f"{n(r.get('arena_bytes_free'))} ({r.get('in_place_layers', '–')})",
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
                "edgec arena, `--kernel-scratch free` (layers in place)",
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
        "counts; the default build: optimized int8 kernels on DSP cores, firmware glue `-Os`, "
        "model `-O2`).",
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


def link_section(res: dict) -> list[str]:
    out = [
        "## KWS over a damaged link (issue: reliability)",
        "",
        "Command: `python bench/link.py` (KWS int8 on mps2-an386 through a relay that damages "
        "the bytes both ways at seeded rates; outputs compared with a clean run's).",
        "",
    ]
    clean = res["clean"]
    rows = [["clean", n(clean["samples"]), "–", "–", "–", "–", n(clean["seconds"])]]
    for label, r in res.items():
        if label == "clean":
            continue
        damaged = sum(r["bytes_damaged"].values())
        rows.append(
            [
                label,
                n(r["samples"]),
                n(r["identical_to_clean"]),
                "yes" if r["instructions_identical"] else "no",
                n(damaged),
                r["error"] or "none",
                n(r["seconds"]),
            ]
        )
    out += table(
        [
            "link",
            "samples",
            "outputs identical to the clean run",
            "instruction counts identical",
            "bytes damaged",
            "error",
            "seconds",
        ],
        rows,
    )
    return [*out, ""]


def fuzz_section(res: dict) -> list[str]:
    out = [
        "## Differential fuzzing (issue: reliability)",
        "",
        "Command: `python bench/fuzz.py --graphs 5000` (random CNNs from `tests/graph_gen.py`; "
        "float C against onnxruntime, rtol/atol 1e-4; int8 C against edgec's integer "
        "reference, bit for bit; every build with AddressSanitizer and UBSan).",
        "",
    ]
    rows = [
        [path, n(r["graphs"]), n(r["declined"]), n(len(r["failing_seeds"])), n(r["seconds"])]
        for path, r in res.items()
    ]
    out += table(["path", "graphs", "declined", "failing", "seconds"], rows)
    return [*out, ""]


def _ms(value: float) -> str:
    return f"{value:.3f}" if value < 1 else f"{value:,.1f}"


def tvm_section(res: dict) -> list[str]:
    out = [
        "## TVM backend: host and qemu-aarch64 (issue: TVM backend for ARM Linux boards)",
        "",
        "Command: `python bench/tvm.py` (the float models in ../shared and the onnx wheel's "
        "`light/` networks with random weights; `--backend tvm` for `host` and for "
        "`aarch64-linux`, validated through `edgec validate` against onnxruntime, "
        f"rtol {res['rtol']:g}, atol {res['atol']:g}; TVM {res['tvm_version']}, untuned: "
        "relax's default CPU pipeline, no schedule search). Latency is wall-clock per "
        "inference; under qemu-aarch64 it is emulated time on this computer, not a board's.",
        "",
    ]
    rows = []
    for r in sorted(res["runs"], key=lambda r: (r["model"], r["device"])):
        device = "host" if r["device"] == "host" else "qemu-aarch64"
        if "error" in r:
            rows.append([r["model"], device, "–", "error: " + r["error"][:60], "–", "–", "–"])
            continue
        rows.append(
            [
                r["model"],
                device,
                f"{r['samples_within']}/{r['samples']}",
                f"{r['max_abs_error']:.2g}",
                _ms(r["latency_ms_median"]),
                n(r["library_bytes"]),
                f"{r['compile_seconds']:.0f} + {r['validate_seconds']:.0f}",
            ]
        )
    header = ["model", "device", "within tol.", "max abs err", "ms/inference", "library B"]
    out += table([*header, "compile + validate s"], rows)
    devices = {(r["model"], r["device"]) for r in res["runs"]}
    missing = sorted(m for m, d in devices if d == "host" and (m, "emulator") not in devices)
    if missing:
        out += ["", f"Not run under qemu-aarch64 (time): {', '.join(missing)}."]
    return [*out, ""]


# Reference figures for KWS on the same emulated Cortex-M4F (exact instruction counts),
# measured by the project (issue: performance) with ARM's CMSIS-NN built from source at -O2
# and the TFLM interpreter with those kernels. Quoted, not re-measured (onnx2c is measured:
# the float section, bench/kernels_float.py).
KWS_REFERENCES = [
    ("CMSIS-NN alone (int8)", 7_697_109, 55_118, "~17.1 KB (16,000 activations + 736 stack)"),
    ("TFLite Micro + CMSIS-NN (int8)", 7_701_531, 141_066, "~25.1 KB (22,820 arena + stack)"),
    ("TFLite Micro reference kernels (int8)", 43_100_000, None, "–"),
]


def kernels_section(res: dict) -> list[str]:
    out = [
        "## Portable vs optimized int8 kernels (issue: performance)",
        "",
        "Command: `python bench/kernels.py` (the shared int8 models as converted by TFLite, "
        "5 seeded random inputs each, all bit-exact with edgec's integer reference; QEMU "
        "`-icount`: exact instruction counts, identical run to run; firmware glue `-Os`, "
        "model and kernels `-O2`). On mps2-an386 (Cortex-M4F) the optimized kernels take "
        "their DSP paths (SXTB16 and SMLAD/SMLABB in assembly, weights reordered at compile "
        "time, requantization with one SMLAL); on mps3-an547 (Cortex-M55) their Helium (MVE) "
        "paths (VMLADAV dot products, vector requantization), chosen by the compiler's target "
        "macros. Both on dense weights; the last columns are the default build "
        "(`--weight-storage auto`: sparse or 4-bit weights wherever they save flash, run by "
        "the compact kernels). Compile: ONNX to C, the median of three runs.",
        "",
    ]
    rows = []
    for model, targets in res.items():
        for target, r in targets.items():
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
            "compile (s)",
            "default build: instructions (per MAC)",
            "default build: flash, bit-exact",
        ],
        rows,
    )
    out += ["", "### Where the instructions go (optimized, per kernel)", ""]
    rows = []
    for model, targets in res.items():
        for target in ("mps2-an386", "mps3-an547"):
            r = targets.get(target, {}).get("optimized")
            if not r:
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


def _with_change(value, base) -> str:
    """``12,345 (−20.1 %)``; the base row itself shows the figure alone."""
    if value == base or not base:
        return n(value)
    return f"{n(value)} ({100 * (value / base - 1):+.1f} %)".replace("-", "−")


def _signed(value: float) -> str:
    return f"{value:+.2f}".replace("-", "−")


def compress_section(res: dict) -> list[str]:
    out = [
        "## Compression: pruning, low-rank, clustering (issue: compression)",
        "",
        "Command: `python bench/compress.py`. Every setting is compressed on the float model "
        "(channels removed or layers factored, then re-fitted by least squares against the "
        "original model on the calibration samples), quantized to int8 and compiled for "
        "mps2-an386. Savings are against the first row. Bit-exact: the host build on every "
        "scored sample, and the emulated board on the first 50 (QEMU).",
        "",
    ]
    kws = res.get("kws")
    if kws:
        base = next(iter(kws.values()))
        rows = []
        for name, r in kws.items():
            budget = r.get("budget")
            note = ""
            if budget:
                ratios = ", ".join(f"{r:g}" for r in budget["ratios"].values())
                note = (
                    f"ratios {ratios} on {len(budget['ratios'])} of 5 groups; held-out "
                    f"loss {budget['measured_loss']:.1f} pts; {budget['seconds']:.0f} s"
                )
            rows.append(
                [
                    name,
                    _with_change(r["macs"], base["macs"]),
                    _with_change(r["weight_bytes"], base["weight_bytes"]),
                    _with_change(r["firmware_flash_bytes"], base["firmware_flash_bytes"]),
                    _with_change(r["arena_bytes"], base["arena_bytes"]),
                    pct(r["accuracy"]),
                    _signed(100 * (r["accuracy"] - base["accuracy"])),
                    f"{r['host_bit_exact'][0]}/{r['host_bit_exact'][1]}, "
                    f"{r['device_bit_exact'][0]}/{r['device_bit_exact'][1]}",
                    n(r.get("instructions_median")),
                    note or "–",
                ]
            )
        out += [
            "### KWS DS-CNN: prune and calibrate on kws01 samples 0–199, score on 200–999 (int8)",
            "",
            *table(
                [
                    "setting",
                    "MACs",
                    "weights (flash)",
                    "firmware flash",
                    "arena",
                    "accuracy",
                    "points vs unpruned",
                    "bit-exact host, board",
                    "instructions (median)",
                    "budget search (agreement points)",
                ],
                rows,
            ),
            "",
        ]
    ad = res.get("ad01")
    if ad:
        base = next(iter(ad.values()))
        rows = [
            [
                name,
                n(r["params"]),
                _with_change(r["weight_bytes"], base["weight_bytes"]),
                _with_change(r["firmware_flash_bytes"], base["firmware_flash_bytes"]),
                f"{r['reconstruction_mse']:.3f}",
                _signed(100 * (r["reconstruction_mse"] / base["reconstruction_mse"] - 1)) + " %",
                f"{r['host_bit_exact'][0]}/{r['host_bit_exact'][1]}, "
                f"{r['device_bit_exact'][0]}/{r['device_bit_exact'][1]}",
            ]
            for name, r in ad.items()
        ]
        out += [
            "### AD autoencoder: calibrate on windows 0–95 of the AD sample, score on 100–195",
            "",
            *table(
                [
                    "setting",
                    "parameters",
                    "weights (flash)",
                    "firmware flash",
                    "mean reconstruction error",
                    "vs int8",
                    "bit-exact host, board",
                ],
                rows,
            ),
            "",
        ]
    if res.get("storage"):
        out += compress_storage_section(res["storage"])
    return out


def compress_storage_section(res: list[dict]) -> list[str]:
    out = [
        "### Compact weight storage: magnitude pruning and clustering",
        "",
        "Command: `python bench/compress.py` (its storage table). Each model compiled twice for "
        "mps2-an386, weight storage `auto` (sparse or 4-bit clustered where it saves at least "
        "1/8 of a layer's bytes) and `dense`; flash = firmware text + data, instructions = "
        "median of 3 inferences on QEMU. mnist-8: calibration and refit on 500 test images, "
        "accuracy of the host C build on the other 9,500 (bit-exact with the integer "
        "reference). AD: calibrate on windows 0–97, reconstruction error (mean squared "
        "window − output) on 98–195 against the unclustered int8 model. Clustered layers "
        "with one table expand it to 1 KB of scratch in the arena (two MACs per SMLAD).",
        "",
    ]
    rows = []
    for r in res:
        c, d = r["compact"], r["dense"]
        if "accuracy" in r:
            quality = f"{pct(r['accuracy'])} ({r['host_bit_exact']}/{r['scored']} bit-exact)"
        else:
            quality = f"{r['reconstruction_error_vs_int8_pct']:+.2f} % recon. error"
        kinds = sorted({layer["storage"] for layer in r["layers"]})
        rows.append(
            [
                r["model"],
                r["compression"],
                "/".join(kinds),
                f"{n(c['weight_bytes'])} ({n(d['weight_bytes'])})",
                f"{n(c['flash_bytes'])} ({n(d['flash_bytes'])})",
                f"{n(c['instructions'])} ({n(d['instructions'])})",
                f"{n(c['arena_bytes'])} ({n(d['arena_bytes'])})",
                quality,
            ]
        )
    header = ["model", "compression", "storage", "weights B (dense)", "flash B (dense)"]
    out += table([*header, "instructions (dense)", "arena B (dense)", "quality"], rows)
    return [*out, ""]


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
        ("kernels", kernels_section),
        ("kernels_float", kernels_float_section),
        ("attention", attention_section),
        ("link", link_section),
        ("fuzz", fuzz_section),
        ("compress", compress_section),
        ("tvm", tvm_section),
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
