"""Write BENCHMARKS.md from the benchmark results (bench/results_*.json).

    python bench/ptq.py && python bench/memory.py && python bench/device.py
    python bench/kernels.py && python bench/kernels.py --float --onnx2c SRC
    python bench/cores.py && python bench/link.py && python bench/fuzz.py
    python bench/compress.py
    python bench/attention.py
    python bench/recurrent.py
    python bench/tvm.py
    python bench/zoo.py -j 2
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
from bench.report_compress import _signed, compress_ratio_section
from bench.report_float import _table as table
from bench.report_float import kernels_float_section
from bench.report_kernels import kernels_section
from bench.report_recurrent import recurrent_section
from bench.report_smallest import smallest_storage_table
from bench.report_tvm import tvm_section

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from report_tune import tune_section  # noqa: E402
from report_zoo_speed import zoo_speed_section  # noqa: E402
from zoo_report import zoo_section  # noqa: E402

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
            seconds = [r.get(k) for k in ("cpu_seconds", "seconds")]
            rows.append(
                [
                    setting,
                    pct(r.get("accuracy")),
                    pct(r.get("agreement")),
                    db(r.get("snr_db")),
                    " / ".join("–" if s is None else f"{s:.1f}" for s in seconds),
                ]
            )
        header = ["setting", "accuracy", "top-1 agreement with float", "output SNR vs float (dB)"]
        out += [
            f"### {title}",
            "",
            *table([*header, "quantization time, CPU / wall (s)"], rows),
            "",
        ]
    out += [
        "edgec's default int8 PTQ: percentile ranges; float inputs whose calibration samples "
        "lie on an int8 grid keep that grid (KWS's MFCCs, MNIST's pixels); the ranges of "
        "tensors a pooling op shares chosen by the error downstream; biases corrected for the "
        "mean weight-rounding error per im2col column (zero padding counted). The lever rows "
        "take one away or add one (empirical bias correction, GPTQ-style weight rounding, "
        "cross-layer equalization); the method rows keep the default levers.",
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
        "## Memory: edgec vs TensorFlow Lite Micro (issue 17: least RAM by default)",
        "",
        "Command: `python bench/memory.py`. edgec on mps2-an386, each `--memory` mode: the "
        "planned arena (every activation, the model's inputs and outputs inside it; the "
        "generated code has no other static RAM: `.data` is 0 and `.bss` equals the arena), "
        "the measured stack, instructions per inference (QEMU `-icount`) and bit-exact "
        "samples. Every mode writes layers in place over their input where their kernel runs "
        "no slower (memory.json `in_place`); `balanced` (the default) also runs the early "
        "layers tile by tile where that costs at most +10 % instructions (memory.json "
        "`tiles`); `min` the least RAM at any speed. TFLM: `print_allocations()` on the "
        "`.tflite` original (head = activations, tail = interpreter bookkeeping); the target "
        "is arena + stack <= 0.6x TFLM's whole arena.",
        "",
    ]
    rows = []
    for name, r in mem.items():
        tflm = r.get("tflm_arena") or {}
        modes = r.get("modes", {})

        def mode(key: str, modes=modes) -> str:
            m = modes.get(key)
            if m is None:
                return "–"
            tiles = "".join(f", {t['tiles']} tiles" for t in m["tiles"])
            return (
                f"{n(m['arena_bytes'])} + {n(m['stack_bytes'])}{tiles}; "
                f"{m['instructions_vs_fast']:.3f}x; {m['bit_exact']}/{m['samples']}"
            )

        budget = r.get("tflm_budget_bytes")
        rows.append(
            [
                name,
                f"{n(r['ram_bytes'])}"
                + (f" ({'≤' if r['within_tflm_budget'] else '>'} {n(budget)})" if budget else ""),
                mode("fast"),
                mode("balanced"),
                mode("min"),
                n(tflm.get("activations")),
                n(tflm.get("total")),
                n(r["weight_bytes"]),
                n(r["firmware"]["flash_bytes"]),
            ]
        )
    out += [
        *table(
            [
                "model",
                "default arena + stack (0.6x TFLM)",
                "`fast`: arena + stack; instructions vs fast; bit-exact",
                "`balanced` (default)",
                "`min`",
                "TFLM activations",
                "TFLM arena total",
                "edgec weights",
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


def _with_change(value, base) -> str:
    """``12,345 (−20.1 %)``; the base row itself shows the figure alone."""
    if value == base or not base:
        return n(value)
    return f"{n(value)} ({100 * (value / base - 1):+.1f} %)".replace("-", "−")


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
    out += compress_ratio_section(res)
    if res.get("storage"):
        out += compress_storage_section(res["storage"])
    return out


def compress_storage_section(res: list[dict]) -> list[str]:
    out = [
        "### Compact weight storage: magnitude pruning and clustering",
        "",
        "Command: `python bench/compress.py` (its storage table). Each model compiled twice for "
        "mps2-an386, weight storage `auto` (the default: sparse or 4-bit clustered where it "
        "saves at least 1/8 of a layer's bytes and the compact kernel is also the faster on "
        "the core; AD's clustered layers run faster dense, so they stay dense here: the "
        "clustered rows above use `--weight-storage small`) and `dense`; flash = firmware "
        "text + data, instructions = "
        "median of 3 inferences on QEMU. mnist-8: calibration and refit on 500 test images, "
        "accuracy of the host C build on the other 9,500 (bit-exact with the integer "
        "reference). AD: calibrate on windows 0–97, reconstruction error (mean squared "
        "window − output) on 98–195 against the unclustered int8 model. Clustered layers "
        "with one table expand it to 1 KB of scratch in the arena (two MACs per SMLAD).",
        "",
    ]
    rows = []
    for r in res:
        if "smallest" in r:
            continue  # smallest_storage_table
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
    smallest = [r for r in res if "smallest" in r]
    return [*out, "", *smallest_storage_table(smallest, n, table)]


def kept_section(name: str, previous: str, exc: Exception) -> list[str]:
    """The section of the previous BENCHMARKS.md that cites `python bench/<name>.py`, kept
    when bench/results_<name>.json predates its renderer (rerun the script to refresh it)."""
    note = f"(kept from the previous BENCHMARKS.md: bench/results_{name}.json predates its "
    note += f"renderer, {type(exc).__name__} {exc}; rerun bench/{name}.py)"
    print(note, file=sys.stderr)
    for block in ("\n" + previous).split("\n## ")[1:]:
        if f"`python bench/{name}.py`" in block:
            lines = ("## " + block).rstrip("\n").split("\n")
            kept = [line for line in lines if not line.startswith("(kept from the previous")]
            while kept and not kept[-1]:  # the blank line before the old note
                kept.pop()
            return [*kept, "", note, ""]
    return [note, ""]


def main() -> None:
    target = ROOT / "BENCHMARKS.md"
    previous = target.read_text() if target.is_file() else ""
    sections = [
        "# Benchmarks",
        "",
        f"Generated by `python bench/report.py` on {date.today()} ({platform.machine()}, "
        f"Python {platform.python_version()}, commit {_commit()}) from `bench/results_*.json`.",
        "",
    ]
    from bench.report_cores import cores_section

    for name, render in (
        ("ptq", ptq_section),
        ("memory", memory_section),
        ("device", device_section),
        ("cores", cores_section),
        ("kernels", kernels_section),
        ("kernels_float", kernels_float_section),
        ("attention", attention_section),
        ("recurrent", recurrent_section),
        ("link", link_section),
        ("fuzz", fuzz_section),
        ("compress", compress_section),
        ("tvm", tvm_section),
        ("zoo", zoo_section),
        ("zoo_speed", zoo_speed_section),
        ("tune", tune_section),
    ):
        data = load(name)
        if not data:
            sections += [f"(no bench/results_{name}.json yet)", ""]
            continue
        try:
            sections += render(data)
        except (KeyError, TypeError) as exc:  # a results file from an older script
            sections += kept_section(name, previous, exc)
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
