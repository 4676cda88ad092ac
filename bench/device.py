"""On-device validation on the emulated boards (QEMU, exact instruction counts).

    python bench/device.py [--out bench/results_device.json] [--kws-samples 1000]

- KWS int8 (the TFLite-converted QDQ model) on mps2-an386, every sample of kws01, twice:
  bit-exact count against the host reference and against TFLite Micro's stored outputs,
  accuracy, and whether the per-inference instruction counts of the two runs are identical;
- mnist-8 quantized by edgec on mps2-an500 (Cortex-M7) and mps3-an547 (Cortex-M55);
- every int8 shared model on mps2-an386 with seeded random inputs;
- the real-board targets: their firmware builds (they cannot run here).
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
from bench.common import DATA, MODELS, mnist_data
from bench.memory import INT8
from edgec.compiler import CompileOptions, compile_model
from edgec.firmware import build_firmware
from edgec.harness.validate import ValidateOptions, validate
from edgec.targets import list_targets


def run(out: Path, data: str, samples: int | None, report: Path, **extra) -> dict:
    start = time.monotonic()
    result = validate(
        out,
        ValidateOptions(
            data=data, device="emulator", samples=samples, report_dir=str(report), **extra
        ),
    )
    keys = ("samples", "bit_exact", "accuracy", "agreement", "snr_db", "instructions", "memory")
    row = {k: result.get(k) for k in keys}
    row["seconds"] = round(time.monotonic() - start, 1)
    return row


def kws(work: Path, samples: int) -> dict:
    out = work / "kws"
    compile_model(
        MODELS / "kws_dscnn/kws_ref_model_int8_qdq.onnx",
        out,
        CompileOptions(prefix="kws", target="mps2-an386"),
    )
    runs = []
    for i in range(2):
        save = work / f"kws_outputs_{i}.npy"
        row = run(
            out, str(DATA / "kws01"), samples, work / f"kws_report_{i}", save_outputs=str(save)
        )
        counts = json.loads((work / f"kws_report_{i}" / "report.json").read_text())
        row["tflm_bit_exact"] = int(
            np.sum(
                np.all(
                    np.load(save).reshape(-1, 12)
                    == np.load(DATA / "kws01" / "tflm_int8_outputs.npy")[: len(np.load(save))],
                    axis=1,
                )
            )
        )
        runs.append((row, counts))
        print("kws run", i, row, flush=True)
    first, second = runs[0][1], runs[1][1]
    counts = first.get("instructions_per_sample")
    return {
        "run": runs[0][0],
        "instructions_identical_in_two_runs": bool(counts)
        and counts == second.get("instructions_per_sample"),
    }


def mnist(work: Path, samples: int) -> dict:
    images, labels = mnist_data()
    np.savez(work / "calib.npz", x=images[:500])
    np.savez(work / "test.npz", x=images[500 : 500 + samples], y=labels[500 : 500 + samples])
    rows = {}
    for target in ("mps2-an500", "mps3-an547"):
        out = work / f"mnist_{target}"
        compile_model(
            MODELS / "mnist8/model.onnx",
            out,
            CompileOptions(
                prefix="mnist", target=target, quantize="int8", calib=str(work / "calib.npz")
            ),
        )
        rows[target] = run(out, str(work / "test.npz"), None, work / f"mnist_{target}_report")
        print("mnist", target, rows[target], flush=True)
    return rows


def shared_int8(work: Path, samples: int) -> dict:
    rows = {}
    rng = np.random.default_rng(2026)
    for name, (onnx_path, _) in INT8.items():
        out = work / f"int8_{name}"
        result = compile_model(
            MODELS / onnx_path, out, CompileOptions(prefix=name, target="mps2-an386")
        )
        spec = result.manifest.inputs[0]
        x = rng.integers(-128, 128, size=(samples, *spec.shape), dtype=np.int8)
        np.savez(work / f"{name}.npz", x=x)
        rows[name] = run(out, str(work / f"{name}.npz"), None, work / f"int8_{name}_report")
        print(name, rows[name], flush=True)
    return rows


def real_boards(work: Path) -> dict:
    out = work / "hello_real"
    compile_model(MODELS / INT8["hello_world"][0], out, CompileOptions(prefix="hello"))
    rows = {}
    for target in list_targets("mcu"):
        if target.qemu is None:
            fw = build_firmware(out, target)
            rows[target.name] = {"flash_bytes": fw.flash_bytes, "ram_bytes": fw.ram_bytes}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(Path(__file__).with_name("results_device.json")))
    parser.add_argument("--kws-samples", type=int, default=1000)
    parser.add_argument("--mnist-samples", type=int, default=200)
    parser.add_argument("--random-samples", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        results = {
            "kws_int8_mps2-an386": kws(work, args.kws_samples),
            "mnist8_ptq": mnist(work, args.mnist_samples),
            "int8_models_mps2-an386": shared_int8(work, args.random_samples),
            "real_boards_build": real_boards(work),
        }
    Path(args.out).write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
