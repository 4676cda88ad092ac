"""Compact weight storage: magnitude pruning (sparse) and clustering (4-bit), measured.

Run by ``python bench/compress.py`` (its ``storage`` table; ``--only storage`` for this
table alone).

- mnist-8: calibrate (and refit the pruned layers) on the first 500 MNIST test images,
  score on the other 9,500 with the generated C built for this computer (each output also
  checked bit for bit against the integer reference); at sparsities 0, 0.5, 0.7, 0.8,
  0.9 (per layer, refitted), plus 0.8 without the refit and 0.8 global.
- AD autoencoder (ad01_fp32.onnx): int8, then clustered to 16 and 8 values per layer and
  per output channel; calibrate on windows 0-97 of the AD sample, score on 98-195: mean
  reconstruction error (mean squared difference between a window and its reconstruction,
  the anomaly score) against the unclustered int8 model's.

- AD int8 with ``--weight-storage smallest`` (Huffman-coded weights where smallest) against
  the default build, and the same with 7-bit weights (``ad_smallest_rows``;
  ``python bench/compress.py --only smallest``).

Every other build is compiled twice: weight storage auto (sparse / clustered where it pays) and
dense; each firmware for mps2-an386 is built and run on QEMU (3 inferences) for flash and
instructions. Flash is the firmware's (text + data), weights the emitted weight arrays.
``run_storage_rows`` returns the rows (dicts).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import MODELS, ad_windows, mnist_data, snr_db
from edgec.compiler import CompileOptions, compile_model
from edgec.harness.validate import ValidateOptions, validate

MNIST_SPARSITIES = (0.0, 0.5, 0.7, 0.8, 0.9)
AD_CLUSTERS = (None, "16", "8", "16:channel", "8:channel")
DEVICE_SAMPLES = 3


def _device(out: Path, data: Path) -> dict:
    """Firmware flash and instructions per inference on the emulated Cortex-M4F."""
    report = validate(
        out, ValidateOptions(data=str(data), device="emulator", samples=DEVICE_SAMPLES)
    )
    return {
        "flash_bytes": report["memory"]["flash_bytes"],
        "instructions": report["instructions"]["median"],
        "device_bit_exact": f"{report['bit_exact']}/{report['samples']}",
    }


def _storage(result) -> list[dict]:
    return [
        {k: s[k] for k in ("node", "storage", "dense_bytes", "stored_bytes", "density")}
        for s in result.manifest.weight_storage
    ]


def _build_pair(model: Path, work: Path, name: str, options: dict, device_data: Path) -> dict:
    """The same graph compiled with compact (auto) and dense weight storage, both on QEMU."""
    row: dict = {}
    for storage in ("auto", "dense"):
        result = compile_model(
            model,
            work / f"{name}_{storage}",
            CompileOptions(weight_storage=storage, force=True, target="mps2-an386", **options),
        )
        measured = _device(result.out_dir, device_data)
        row[storage] = {
            "weight_bytes": result.weight_bytes,
            "arena_bytes": result.arena_bytes,
            **measured,
        }
        if storage == "auto":
            row["layers"] = _storage(result)
            row["out_dir"] = result.out_dir
            row["reports"] = result.reports
    return row


def mnist_rows(work: Path, quick: bool = False) -> list[dict]:
    x, y = mnist_data()
    calib, test = work / "mnist_calib.npz", work / "mnist_test.npz"
    np.savez(calib, x=x[:500], y=y[:500])
    score = slice(500, 1500) if quick else slice(500, None)
    np.savez(test, x=x[score], y=y[score])
    device_data = work / "mnist_device.npz"
    np.savez(device_data, x=x[500 : 500 + DEVICE_SAMPLES], y=y[500 : 500 + DEVICE_SAMPLES])
    model = MODELS / "mnist8" / "model.onnx"
    configs = [(f"magnitude:{s}", True) for s in MNIST_SPARSITIES]
    configs += [("magnitude:0.8", False), ("magnitude:0.8:global", True)]
    rows = []
    for spec, refit in configs:
        start = time.time()
        name = spec.replace(":", "_") + ("" if refit else "_norefit")
        options = dict(quantize="int8", calib=str(calib), prune=spec, prune_refit=refit)
        pair = _build_pair(model, work, name, options, device_data)
        checked = validate(pair["out_dir"], ValidateOptions(data=str(test), device="host"))
        pruning = pair["reports"].get("pruning", {})
        rows.append(
            {
                "model": "mnist8",
                "compression": f"prune {spec}" + ("" if refit else " (no refit)"),
                "sparsity": pruning.get("sparsity", 0.0),
                "refit": refit,
                "compact": pair["auto"],
                "dense": pair["dense"],
                "accuracy": checked["accuracy"]["device"],
                "accuracy_float": checked["accuracy"]["float"],
                "scored": checked["samples"],
                "host_bit_exact": checked["bit_exact"],
                "layers": pair["layers"],
                "seconds": round(time.time() - start, 1),
            }
        )
        print(_line(rows[-1]), flush=True)
    return rows


def _reconstruction_error(
    out_dir: Path, test: Path, windows: np.ndarray, sanitize: bool = False
) -> tuple[float, int, np.ndarray]:
    """Mean over windows of mean((window - reconstruction)²), from the host C build (with
    AddressSanitizer and UBSan if ``sanitize``); the bit-exact count; the reconstructions."""
    outputs = out_dir / "outputs.npy"
    checked = validate(
        out_dir,
        ValidateOptions(
            data=str(test), device="host", save_outputs=str(outputs), sanitize=sanitize
        ),
    )
    manifest = json.loads((out_dir / "manifest.json").read_text())
    spec = manifest["outputs"][0]
    q = np.load(outputs).astype(np.float64).reshape(windows.shape)
    recon = (q - spec.get("zero_point", 0)) * spec.get("scale", 1.0)
    error = np.mean((windows.astype(np.float64) - recon) ** 2, axis=(1, 2))
    return float(error.mean()), checked["bit_exact"], recon


def _ad_data(work: Path) -> tuple[np.ndarray, Path, Path, Path, Path]:
    """The AD windows; calibration (0-97), test (98-195) and QEMU files; the float model."""
    windows = ad_windows()
    calib, test = work / "ad_calib.npz", work / "ad_test.npz"
    np.savez(calib, x=windows[:98])
    np.savez(test, x=windows[98:])
    device_data = work / "ad_device.npz"
    np.savez(device_data, x=windows[98 : 98 + DEVICE_SAMPLES])
    return windows, calib, test, device_data, MODELS / "ad_autoencoder" / "ad01_fp32.onnx"


def ad_rows(work: Path) -> list[dict]:
    windows, calib, test, device_data, model = _ad_data(work)
    rows, base = [], None
    for cluster in AD_CLUSTERS:
        start = time.time()
        name = f"ad_{cluster or 'int8'}".replace(":", "_")
        options = dict(quantize="int8", calib=str(calib), cluster=cluster)
        pair = _build_pair(model, work, name, options, device_data)
        error, exact, _ = _reconstruction_error(pair["out_dir"], test, windows[98:])
        base = base if base is not None else error
        clustering = pair["reports"].get("clustering", {})
        rows.append(
            {
                "model": "ad01",
                "compression": f"cluster {cluster}" if cluster else "int8",
                "compact": pair["auto"],
                "dense": pair["dense"],
                "reconstruction_error": round(error, 5),
                "reconstruction_error_vs_int8_pct": round(100 * (error - base) / base, 2),
                "calibration_snr_db": clustering.get("calibration", {}).get("snr_db"),
                "scored": len(windows) - 98,
                "host_bit_exact": exact,
                "layers": pair["layers"],
                "seconds": round(time.time() - start, 1),
            }
        )
        print(_line(rows[-1]), flush=True)
    return rows


SMALLEST_BUILDS = {  # label → options over the default build's
    "int8, --weight-storage smallest": {"weight_storage": "smallest"},
    "int8, --weight-storage smallest --weight-bits 7": {
        "weight_storage": "smallest",
        "weight_bits": 7,
    },
}


def _float_reconstructions(model: Path, windows: np.ndarray) -> np.ndarray:
    """The float model's outputs in onnxruntime, shaped as ``windows``."""
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    outputs = [session.run(None, {name: w.reshape(1, -1)})[0] for w in windows]
    return np.stack(outputs).reshape(windows.shape)


def _ad_build(model: Path, out: Path, calib, test, windows, reference, device_data, **extra):
    """One AD build for mps2-an386: sizes, QEMU figures, host bit-exactness (sanitized) and
    the reconstruction error and output SNR against the float model's ``reference``
    outputs on windows 98-195."""
    options = CompileOptions(
        force=True, target="mps2-an386", quantize="int8", calib=str(calib), **extra
    )  # fmt: skip
    result = compile_model(model, out, options)
    error, exact, recon = _reconstruction_error(result.out_dir, test, windows, sanitize=True)
    keys = ("node", "storage", "dense_bytes", "stored_bytes", "decode_instructions")
    return {
        "weight_bytes": result.weight_bytes,
        "arena_bytes": result.arena_bytes,
        **_device(result.out_dir, device_data),
        "host_bit_exact": f"{exact}/{len(windows)}",
        "reconstruction_error": round(error, 4),
        "output_snr_db": round(snr_db(recon, reference), 2),
        "layers": [{k: s.get(k, 0) for k in keys} for s in result.manifest.weight_storage],
    }


def ad_smallest_rows(work: Path) -> list[dict]:
    """AD int8 with ``--weight-storage smallest`` (entropy-coded weights; lossless: the same
    weights as the default build), and with 7-bit weights (lossy: int8 codes in [-63, 63]),
    each against the default build, side by side: flash, instructions and bit-exactness on
    QEMU, host bit-exactness on windows 98-195 (sanitized), reconstruction error and output
    SNR against the float model, and the decode cost (estimated per layer, and measured:
    the instructions over the default build's)."""
    windows, calib, test, device_data, model = _ad_data(work)
    start = time.time()
    scored = windows[98:]
    data = (calib, test, scored, _float_reconstructions(model, scored), device_data)
    default = _ad_build(model, work / "ad_default", *data)
    rows = []
    for label, extra in SMALLEST_BUILDS.items():
        small = _ad_build(model, work / f"ad_{len(rows)}", *data, **extra)
        layers = small.pop("layers")
        row = {
            "model": "ad01",
            "compression": label,
            "smallest": small,
            "default": {k: v for k, v in default.items() if k != "layers"},
            "flash_ratio": round(small["flash_bytes"] / default["flash_bytes"], 4),
            "decode_instructions_estimate": sum(layer["decode_instructions"] for layer in layers),
            "extra_instructions_measured": small["instructions"] - default["instructions"],
            "layers": layers,
            "seconds": round(time.time() - start, 1),
        }
        print(
            f"ad01 {label}: flash {small['flash_bytes']:,} (default "
            f"{default['flash_bytes']:,}, {row['flash_ratio']:.3f}x), instructions "
            f"{small['instructions']:,.0f} (default {default['instructions']:,.0f}), SNR "
            f"{small['output_snr_db']} dB (default {default['output_snr_db']}), host "
            f"{small['host_bit_exact']}, QEMU {small['device_bit_exact']}",
            flush=True,
        )
        rows.append(row)
    return rows


def _line(row: dict) -> str:
    c, d = row["compact"], row["dense"]
    quality = (
        f"accuracy {row['accuracy']:.4f}"
        if "accuracy" in row
        else f"recon error {row['reconstruction_error_vs_int8_pct']:+.2f} %"
    )
    return (
        f"{row['model']:7} {row['compression']:28} flash {c['flash_bytes']:>8,} "
        f"(dense {d['flash_bytes']:>8,})  instr {c['instructions']:>10,} "
        f"(dense {d['instructions']:>10,})  {quality}"
    )


def run_storage_rows(work: Path | None = None, quick: bool = False) -> list[dict]:
    """Every mnist-8 and AD row (see the module docstring)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(work or tmp)
        return mnist_rows(folder, quick) + ad_rows(folder) + ad_smallest_rows(folder)
