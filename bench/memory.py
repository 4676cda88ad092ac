"""RAM and flash of edgec's generated C, side by side with TensorFlow Lite Micro's arena.

    python bench/memory.py [--out bench/results_memory.json]

For every int8 model in ../shared/models (and the float KWS / mnist-8 quantized by edgec),
each ``--memory`` mode (fast, balanced = the default, min) on mps2-an386: the planned arena
(inputs and outputs inside it), the measured stack, instructions per inference (QEMU
``-icount``) against ``fast``, bit-exactness on seeded random inputs, the layers in place
and the tiled stage; for the default build its weight bytes, the text/data/bss of the
generated library built with arm-none-eabi-gcc for Cortex-M4F (-Os), the RAM and flash of
the whole firmware; and TFLite Micro's arena for the ``.tflite`` original, read from
``print_allocations()`` (head = activations, tail = persistent data), with the issue's
target: arena + stack <= 0.6x TFLM's whole arena.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import KWS_SCALE, KWS_ZERO_POINT, MODELS, kws_data, mnist_data
from edgec.compiler import CompileOptions, compile_model
from edgec.firmware import build_firmware
from edgec.harness.validate import ValidateOptions, validate

M4 = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-Os", "-std=c99"]
INT8 = {
    "kws": ("kws_dscnn/kws_ref_model_int8_qdq.onnx", "kws_dscnn/kws_ref_model.tflite"),
    "ic_resnet8": (
        "ic_resnet8/pretrainedResnet_quant_int8_qdq.onnx",
        "ic_resnet8/pretrainedResnet_quant.tflite",
    ),
    "vww": ("vww_mobilenet/vww_96_int8_qdq.onnx", "vww_mobilenet/vww_96_int8.tflite"),
    "ad01": ("ad_autoencoder/ad01_int8_qdq.onnx", "ad_autoencoder/ad01_int8.tflite"),
    "hello_world": (
        "hello_world_sine/hello_world_int8_qdq.onnx",
        "hello_world_sine/hello_world_int8.tflite",
    ),
}


def tflm_arena(tflite: Path) -> dict:
    """TFLM's arena totals, parsed from what print_allocations() writes to stdout."""
    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_file(str(tflite))
    with tempfile.TemporaryFile(mode="w+b") as capture:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = [os.dup(1), os.dup(2)]
        os.dup2(capture.fileno(), 1)
        os.dup2(capture.fileno(), 2)
        try:
            interpreter.print_allocations()
        finally:
            for fd, copy in zip((1, 2), saved):
                os.dup2(copy, fd)
                os.close(copy)
        capture.seek(0)
        text = capture.read().decode(errors="replace")
    found = {
        k: int(v) for k, v in re.findall(r"Arena allocation (total|head|tail) (\d+) bytes", text)
    }
    return {"total": found["total"], "activations": found["head"], "persistent": found["tail"]}


def library_sizes(folder: Path) -> dict:
    """text/data/bss of the generated sources compiled for Cortex-M4F."""
    with tempfile.TemporaryDirectory() as tmp:
        objects = []
        for source in sorted(folder.glob("*.c")):
            obj = Path(tmp) / (source.stem + ".o")
            subprocess.run(
                ["arm-none-eabi-gcc", *M4, f"-I{folder}", "-c", str(source), "-o", str(obj)],
                check=True,
            )
            objects.append(str(obj))
        out = subprocess.run(
            ["arm-none-eabi-size", "-t", *objects], check=True, capture_output=True, text=True
        )
    text, data, bss = (int(v) for v in out.stdout.strip().splitlines()[-1].split()[:3])
    return {"text": text, "data": data, "bss": bss}


MODES = ("fast", "balanced", "min")
SAMPLES = 3
TFLM_SHARE = 0.6  # issue 17: arena + stack within 0.6x TFLM's whole arena


def run_mode(name: str, model: Path, options: CompileOptions, work: Path) -> dict:
    """One ``--memory`` mode on mps2-an386: arena, measured stack, instructions per
    inference (QEMU -icount) and bit-exactness against edgec's integer reference."""
    out = work / f"{name}_{options.memory}"
    result = compile_model(model, out, replace(options, force=True))
    plan = json.loads((out / "memory.json").read_text())
    rng = np.random.default_rng(2026)
    inputs = {}
    for spec in result.manifest.inputs:
        dtype = np.dtype(spec.dtype)
        if dtype.kind == "f":
            inputs[spec.name] = rng.uniform(-1, 1, (SAMPLES, *spec.shape)).astype(dtype)
        else:
            info = np.iinfo(dtype)
            inputs[spec.name] = rng.integers(info.min, info.max + 1, (SAMPLES, *spec.shape))
            inputs[spec.name] = inputs[spec.name].astype(dtype)
    np.savez(work / f"{name}_{options.memory}.npz", **inputs)
    data = str(work / f"{name}_{options.memory}.npz")
    report = validate(out, ValidateOptions(data=data, device="emulator"))
    return {
        "arena_bytes": result.arena_bytes,
        "stack_bytes": report["memory"]["stack_bytes"],
        "instructions": int(report["instructions"]["median"]),
        "samples": report["samples"],
        "bit_exact": report["bit_exact"],
        "in_place_layers": len(plan["in_place"]),
        "tiles": [{"nodes": t["nodes"], "tiles": t["tiles"]} for t in plan["tiles"]],
        "result": result,
    }


def measure(name: str, model: Path, options: CompileOptions, work: Path) -> dict:
    modes = {mode: run_mode(name, model, replace(options, memory=mode), work) for mode in MODES}
    default = modes["balanced"]  # what the compiler does without flags
    result = default.pop("result")
    for row in modes.values():
        row.pop("result", None)
    fast = modes["fast"]["instructions"]
    for row in modes.values():
        row["instructions_vs_fast"] = round(row["instructions"] / fast, 4)
    fw = build_firmware(result.out_dir, "mps2-an386")
    return {
        "arena_bytes": result.arena_bytes,
        "stack_bytes": default["stack_bytes"],
        "ram_bytes": result.arena_bytes + default["stack_bytes"],  # inputs, outputs inside
        "modes": modes,
        "weight_bytes": result.weight_bytes,
        "library": library_sizes(result.out_dir),
        "firmware": {
            "flash_bytes": fw.flash_bytes,
            "ram_bytes": fw.ram_bytes,
            "stack_reserved": fw.stack_reserved,
        },
    }


def against_tflm(row: dict, tflm: dict) -> None:
    """The issue's target: arena + stack within 0.6x TFLM's whole arena."""
    row["tflm_arena"] = tflm
    row["tflm_budget_bytes"] = int(TFLM_SHARE * tflm["total"])
    row["within_tflm_budget"] = row["ram_bytes"] <= row["tflm_budget_bytes"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(Path(__file__).with_name("results_memory.json")))
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, (onnx_path, tflite) in INT8.items():
            row = measure(
                name, MODELS / onnx_path, CompileOptions(prefix=name, target="mps2-an386"), work
            )
            against_tflm(row, tflm_arena(MODELS / tflite))
            results[name] = row
            print(name, row, flush=True)
        x, _, _ = kws_data()
        np.save(work / "kws_calib.npy", x[:200])
        calib = work / "kws_calib"
        calib.mkdir()
        for i in range(200):
            x[i].tofile(calib / f"{i:04d}.bin")
        results["kws (float, quantized by edgec)"] = measure(
            "kws_ptq",
            MODELS / "kws_dscnn" / "kws_ref_model_float32.onnx",
            CompileOptions(
                prefix="kws",
                target="mps2-an386",
                quantize="int8",
                calib=str(calib),
                calib_dtype="int8",
                data_scale=KWS_SCALE,
                data_zero_point=KWS_ZERO_POINT,
            ),
            work,
        )
        images, _ = mnist_data()
        np.savez(work / "mnist.npz", x=images[:500])
        results["mnist8 (quantized by edgec)"] = measure(
            "mnist_ptq",
            MODELS / "mnist8" / "model.onnx",
            CompileOptions(
                prefix="mnist", target="mps2-an386", quantize="int8", calib=str(work / "mnist.npz")
            ),
            work,
        )
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
