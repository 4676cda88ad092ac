"""Float models: portable vs default (optimized) float kernels, with onnx2c beside them.

    python bench/kernels.py --float [--onnx2c SRC] [--out bench/results_kernels_float.json]

For each float shared model (KWS, IC, VWW, AD) and each emulated FPU board — mps2-an386
(Cortex-M4F), mps2-an500 (Cortex-M7), mps3-an547 (Cortex-M55, Helium) and mps2-an505
(Cortex-M33) when edgec has that target — compile with ``--kernels portable`` and with the
default options (``auto``: the optimized float kernels on these cores), build the firmware
with the target's flags and record instructions (QEMU ``-icount``), per MAC, flash, arena,
stack, the steps' instructions summed by kernel, and the outputs' largest deviation from
onnxruntime (every sample within rtol/atol 1e-4). With ``--onnx2c SRC`` onnx2c is built from
that checkout and its C for the same model is measured in the same run, in the same firmware
harness, on the same inputs (bench/onnx2c_peer.py). A model too big for a board is recorded
with the reason.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

from bench.common import MODELS
from bench.kernels import defined_targets, sum_by_kernel
from edgec.compiler import CompileOptions, compile_model
from edgec.errors import TargetError
from edgec.harness.validate import ValidateOptions, validate

FLOAT_MODELS = {
    "kws": "kws_dscnn/kws_ref_model_float32.onnx",
    "ic": "ic_resnet8/pretrainedResnet.onnx",
    "vww": "vww_mobilenet/vww_96_float.onnx",
    "ad": "ad_autoencoder/ad01_fp32.onnx",
}
FLOAT_TARGETS = ("mps2-an386", "mps2-an500", "mps3-an547", "mps2-an505")
VARIANTS = {"portable": "portable", "default": "auto"}
TOLERANCE = 1e-4  # rtol and atol against onnxruntime


def available_targets() -> list[str]:
    """The boards of FLOAT_TARGETS that this edgec knows."""
    return defined_targets(FLOAT_TARGETS)


def inputs_for(model: str, samples: int) -> np.ndarray:
    from tests.tvm_cases import shared_inputs

    return shared_inputs(model, samples)


def deviation(model_path: Path, x: np.ndarray, outputs: np.ndarray) -> dict:
    """Largest |error| against onnxruntime and how many samples are within 1e-4."""
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    worst, within = 0.0, 0
    for sample, got in zip(x, outputs):
        ref = np.concatenate([r.reshape(-1) for r in session.run(None, {name: sample})])
        got = np.asarray(got, np.float32).reshape(-1)
        worst = max(worst, float(np.abs(got - ref).max()))
        within += bool(np.allclose(got, ref, rtol=TOLERANCE, atol=TOLERANCE))
    return {"max_abs_error": worst, "samples_within_1e-4": within}


def measure_edgec(model_path: Path, target: str, kernels: str, data: Path, work: Path) -> dict:
    out = work / f"{model_path.stem}_{target}_{kernels}"
    result = compile_model(model_path, out, CompileOptions(target=target, kernels=kernels))
    options = ValidateOptions(data=str(data), device="emulator", profile=True)
    options.save_outputs = str(work / "outputs.npy")
    report = validate(out, options)
    steps = report["profile"]
    macs = sum(s["macs"] for s in steps)
    by_kernel = sum_by_kernel(steps)
    x = np.load(data)["x"]
    return {
        "kernels": result.manifest.kernels,
        "samples": report["samples"],
        "instructions": int(report["instructions"]["median"]),
        "instructions_identical": report["instructions"]["min"] == report["instructions"]["max"],
        "macs": macs,
        "per_mac": round(report["instructions"]["median"] / macs, 3),
        "flash_bytes": report["memory"]["flash_bytes"],
        "arena_bytes": report["memory"]["arena_bytes"],
        "stack_bytes": report["memory"]["stack_bytes"],
        **deviation(model_path, x, np.load(work / "outputs.npy")),
        "by_kernel": dict(by_kernel),
    }


def measure_onnx2c(model_path: Path, target: str, onnx2c: Path, data: Path, work: Path) -> dict:
    from bench.onnx2c_peer import measure_peer

    row = measure_peer(model_path, onnx2c, work, target, data, outputs=work / "outputs.npy")
    x = np.load(data)["x"]
    return {**row, **deviation(model_path, x, np.load(work / "outputs.npy"))}


def run_float(models: list[str], samples: int, onnx2c_source: str | None) -> dict:
    """{model: {target: {variant: row}}} for the float models on the FPU boards."""
    onnx2c = None
    if onnx2c_source:
        from bench.onnx2c_peer import build_onnx2c

        onnx2c = build_onnx2c(onnx2c_source)
    results: dict = {}
    targets = available_targets()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for model in models:
            model_path = MODELS / FLOAT_MODELS[model]
            data = work / f"{model}.npz"
            np.savez(data, x=inputs_for(model, samples))
            for target in targets:
                rows = results.setdefault(model, {}).setdefault(target, {})
                variants = [*VARIANTS, *(["onnx2c"] if onnx2c is not None else [])]
                for variant in variants:
                    try:
                        if variant == "onnx2c":
                            row = measure_onnx2c(model_path, target, onnx2c, data, work)
                        else:
                            kernels = VARIANTS[variant]
                            row = measure_edgec(model_path, target, kernels, data, work)
                    except TargetError as error:  # too big for this board
                        row = {"skipped": str(error)}
                    rows[variant] = row
                    _print(model, target, variant, row)
                _ratios(rows)
    return results


def _ratios(rows: dict) -> None:
    ok = {k: r for k, r in rows.items() if "instructions" in r}
    if "portable" in ok and "default" in ok:
        rows["speedup"] = round(ok["portable"]["instructions"] / ok["default"]["instructions"], 2)
    if "onnx2c" in ok and "default" in ok:
        rows["vs_onnx2c"] = round(ok["default"]["instructions"] / ok["onnx2c"]["instructions"], 3)


def _print(model: str, target: str, variant: str, row: dict) -> None:
    if "skipped" in row:
        print(f"{model:5s} {target:11s} {variant:9s} skipped: {row['skipped'][:90]}", flush=True)
        return
    print(
        f"{model:5s} {target:11s} {variant:9s} {row['instructions']:>12,} instr  "
        f"flash {row['flash_bytes']:,}  arena {row['arena_bytes']:,}  "
        f"max|err| {row['max_abs_error']:.2g} ({row['samples_within_1e-4']}/{row['samples']})",
        flush=True,
    )
