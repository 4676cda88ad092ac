"""Compression (issue: pruning, low-rank, clustering): what each setting saves and costs.

    python bench/compress.py [--out bench/results_compress.json] [--device-samples 50]
                             [--only kws|ad|storage|smallest]

KWS DS-CNN float model: each setting (a dict of compile options) is compressed and
quantized to int8 on kws01 samples 0-199 and compiled for mps2-an386; accuracy is scored on
samples 200-999 by the host build of the generated C (checked bit for bit against the
integer reference executor), and the first ``--device-samples`` of them run on the emulated
board (bit-exact count). AD autoencoder: each setting is calibrated on windows 0-95 of the
AD sample and scored on windows 100-195 (no shared slices): mean squared reconstruction
error of the int8 model (its int8 output dequantized) against the float input, relative
to the uncompressed int8 model's. Flash is the model's weight bytes and the whole
firmware's flash; MACs and parameters come from ``compression.json`` (or ``edgec analyze``
for the unpruned model).
New settings are rows of ``KWS_SETTINGS`` / ``AD_SETTINGS``; the rows of ``KWS_RATIOS`` /
``AD_RATIOS`` also get ``vs``: firmware flash, instructions and accuracy points against
another row of the same run (issue 18: 4-bit weights against int8, clustered storage
against the same model stored dense). The compact weight storage
rows (mnist-8 magnitude pruning, AD clustering; dense against compact storage, with
instructions on QEMU) come from bench/compress_storage.py under the key ``storage``.
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
from bench.common import DATA, KWS_SCALE, KWS_ZERO_POINT, MODELS, ad_windows, kws_data
from bench.compress_storage import ad_smallest_rows, run_storage_rows
from edgec.analysis import analyze
from edgec.compiler import CompileOptions, compile_model
from edgec.firmware import build_firmware
from edgec.harness.validate import ValidateOptions, validate

KWS_MODEL = MODELS / "kws_dscnn" / "kws_ref_model_float32.onnx"
AD_MODEL = MODELS / "ad_autoencoder" / "ad01_fp32.onnx"
KWS_SETTINGS = {
    "int8 (unpruned)": {},
    "channels:0.125": {"prune": "channels:0.125"},
    "channels:0.25": {"prune": "channels:0.25"},
    "budget 2 points": {"prune_budget": 2.0},
    "budget 3 points": {"prune_budget": 3.0},
    "budget 4 points": {"prune_budget": 4.0},
    "budget 3 points + cluster 16": {"prune_budget": 3.0, "cluster": "16"},
    "budget 3 points + cluster 16, stored clustered": {
        "prune_budget": 3.0,
        "cluster": "16",
        "weight_storage": "small",
    },
    "magnitude:0.5": {"prune": "magnitude:0.5"},
    "4-bit weights": {"weight_bits": 4},
    "4-bit weights + budget 3 points": {"weight_bits": 4, "prune_budget": 3.0},
}
# issue 18's ratios: (row, the row it is measured against)
KWS_RATIOS = {
    "4-bit weights": "int8 (unpruned)",
    "4-bit weights + budget 3 points": "int8 (unpruned)",
    "budget 3 points + cluster 16, stored clustered": "budget 3 points + cluster 16",
}
AD_SETTINGS = {
    "int8 (uncompressed)": {},
    "lowrank energy:0.99": {"lowrank": "energy:0.99"},
    "lowrank energy:0.95": {"lowrank": "energy:0.95"},
    "lowrank rank:64": {"lowrank": "rank:64"},
    "lowrank rank:48": {"lowrank": "rank:48"},
    "lowrank rank:32": {"lowrank": "rank:32"},
    "lowrank rank:16": {"lowrank": "rank:16"},
    "cluster 16": {"cluster": "16"},
    "lowrank energy:0.99 + cluster 16": {"lowrank": "energy:0.99", "cluster": "16"},
    "lowrank energy:0.995 + cluster 16": {"lowrank": "energy:0.995", "cluster": "16"},
    "lowrank rank:64 + cluster 16": {"lowrank": "rank:64", "cluster": "16"},
    "cluster 16, stored clustered": {"cluster": "16", "weight_storage": "small"},
}
AD_RATIOS = {"cluster 16, stored clustered": "cluster 16"}


def add_ratios(rows: dict, pairs: dict) -> None:
    """Each row of ``pairs`` gets ``vs`` (its reference row): flash, instructions, points."""
    for name, ref in pairs.items():
        r, b = rows.get(name), rows.get(ref)
        if r is None or b is None:
            continue
        vs = {"row": ref, "flash": round(r["firmware_flash_bytes"] / b["firmware_flash_bytes"], 3)}
        if r.get("instructions_median") and b.get("instructions_median"):
            vs["instructions"] = round(r["instructions_median"] / b["instructions_median"], 3)
        if "accuracy" in r:
            vs["accuracy_points"] = round(100 * (r["accuracy"] - b["accuracy"]), 3)
        r["vs"] = vs


def figures(result, model: Path) -> dict:
    """MACs and parameters after compression, flash (weights, firmware) and arena."""
    report = result.reports.get("compression")
    if report and report.get("passes"):
        totals = {k: v[1] for k, v in report["totals"].items()}
        budget = next((p["budget"] for p in report["passes"] if "budget" in p), None)
        seconds = sum(p["seconds"] for p in report["passes"])
    else:
        t = analyze(model).totals
        totals, budget, seconds = {"params": t.params, "macs": t.macs}, None, 0.0
    fw = build_firmware(result.out_dir, "mps2-an386")
    row = {
        "macs": totals["macs"],
        "params": totals["params"],
        "weight_bytes": result.weight_bytes,
        "firmware_flash_bytes": fw.flash_bytes,
        "arena_bytes": result.arena_bytes,
        "compress_seconds": round(seconds, 1),
    }
    if budget:
        row["budget"] = {
            k: budget[k] for k in ("ratios", "predicted_loss", "measured_loss", "seconds")
        }
    return row


def kws(work: Path, device_samples: int) -> dict:
    x, labels, _ = kws_data()
    np.savez(work / "kws_test.npz", x=x[200:], y=labels[200:])
    np.savez(
        work / "kws_device.npz", x=x[200 : 200 + device_samples], y=labels[200:][:device_samples]
    )
    rows = {}
    for name, extra in KWS_SETTINGS.items():
        start = time.monotonic()
        options = CompileOptions(
            target="mps2-an386",
            quantize="int8",
            calib=str(DATA / "kws01"),
            calib_samples=200,
            calib_dtype="int8",
            data_scale=KWS_SCALE,
            data_zero_point=KWS_ZERO_POINT,
            force=True,
            **extra,
        )
        result = compile_model(KWS_MODEL, work / "kws", options)
        row = {"options": extra, **figures(result, KWS_MODEL)}
        host = validate(
            result.out_dir,
            ValidateOptions(data=str(work / "kws_test.npz"), device="host", progress=False),
        )
        row["accuracy"] = host["accuracy"]["device"]
        row["host_bit_exact"] = [host["bit_exact"], host["samples"]]
        dev = validate(
            result.out_dir,
            ValidateOptions(data=str(work / "kws_device.npz"), device="emulator", progress=False),
        )
        row["device_bit_exact"] = [dev["bit_exact"], dev["samples"]]
        row["instructions_median"] = (dev.get("instructions") or {}).get("median")
        row["seconds"] = round(time.monotonic() - start, 1)
        rows[name] = row
        print(name, row, flush=True)
    add_ratios(rows, KWS_RATIOS)
    return rows


def ad(work: Path, device_samples: int) -> dict:
    windows = ad_windows()
    np.savez(work / "ad_calib.npz", x=windows[:96])
    np.savez(work / "ad_test.npz", x=windows[100:])
    np.savez(work / "ad_device.npz", x=windows[100 : 100 + device_samples])
    rows = {}
    for name, extra in AD_SETTINGS.items():
        start = time.monotonic()
        options = CompileOptions(
            target="mps2-an386",
            quantize="int8",
            calib=str(work / "ad_calib.npz"),
            force=True,
            **extra,
        )
        result = compile_model(AD_MODEL, work / "ad", options)
        row = {"options": extra, **figures(result, AD_MODEL)}
        saved = work / "ad_outputs.npy"
        host = validate(
            result.out_dir,
            ValidateOptions(
                data=str(work / "ad_test.npz"),
                device="host",
                save_outputs=str(saved),
                progress=False,
            ),
        )
        spec = result.manifest.outputs[0]
        raw = np.load(saved).reshape(len(windows) - 100, -1).astype(np.float64)
        out = (raw - spec.zero_point) * spec.scale
        row["reconstruction_mse"] = float(np.mean((out - windows[100:, 0]) ** 2))
        row["host_bit_exact"] = [host["bit_exact"], host["samples"]]
        dev = validate(
            result.out_dir,
            ValidateOptions(data=str(work / "ad_device.npz"), device="emulator", progress=False),
        )
        row["device_bit_exact"] = [dev["bit_exact"], dev["samples"]]
        row["instructions_median"] = (dev.get("instructions") or {}).get("median")
        row["seconds"] = round(time.monotonic() - start, 1)
        rows[name] = row
        print(name, row, flush=True)
    add_ratios(rows, AD_RATIOS)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(Path(__file__).with_name("results_compress.json")))
    parser.add_argument("--device-samples", type=int, default=50)
    parser.add_argument(
        "--only",
        choices=["kws", "ad", "storage", "smallest"],
        help="run one table (smallest: only the storage table's AD smallest row)",
    )
    args = parser.parse_args()
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.is_file() else {}
    with tempfile.TemporaryDirectory() as tmp:
        tables = (
            ("kws", lambda work: kws(work, args.device_samples)),
            ("ad01", lambda work: ad(work, args.device_samples)),
            ("storage", lambda work: run_storage_rows(work)),
        )
        if args.only == "smallest":
            rows = [r for r in results.get("storage", []) if "smallest" not in r]
            results["storage"] = [*rows, *ad_smallest_rows(Path(tmp))]
            out.write_text(json.dumps(results, indent=2) + "\n")
            return
        for name, bench in tables:
            if args.only and not name.startswith(args.only):
                continue
            results[name] = bench(Path(tmp))
            out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
