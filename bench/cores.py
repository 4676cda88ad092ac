"""The Cortex-M0, Cortex-M33 and RV32 boards: KWS on all of kws01, every shared int8 model
that fits, and the build-only RISC-V boards.

    python bench/cores.py [--out bench/results_cores.json] [--kws-samples 1000] [--samples 10]

On the emulated microbit (Cortex-M0, 16 KB of RAM: every build with ``--kernel-scratch
free``), mps2-an505 (Cortex-M33) and riscv32-virt / riscv32f-virt (RV32IMAC / RV32IMAFC),
the default build (``--kernels auto``):

- KWS int8 on the kws01 samples: bit-exact with edgec's host reference, equal to TensorFlow
  Lite Micro's outputs (``tflm_int8_outputs.npy``), accuracy, exact instruction counts, flash,
  arena, measured stack and the firmware's whole RAM (arena + reserved stack + protocol
  buffers: what the linker placed in RAM);
- every shared int8 model on seeded random inputs, or why it does not fit the board;
- the firmware of the two real RISC-V boards (build only): flash and RAM for KWS and hello-world.
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
from bench.common import DATA, MODELS
from bench.memory import INT8
from edgec.compiler import CompileOptions, compile_model
from edgec.errors import TargetError
from edgec.firmware import build_firmware
from edgec.harness.validate import ValidateOptions, validate

# board -> the compile options of every build on it
BOARDS = {
    "microbit": {"kernel_scratch": "free"},
    "mps2-an505": {},
    "riscv32-virt": {},
    "riscv32f-virt": {},
}
REAL = ("longan-nano", "esp32c3-devkitm")


def validated(out: Path, data: str, samples: int | None, work: Path, **extra) -> dict:
    start = time.monotonic()
    report_dir = work / f"{out.name}_report"
    result = validate(
        out,
        ValidateOptions(
            data=data,
            device="emulator",
            samples=samples,
            report_dir=str(report_dir),
            progress=False,
            **extra,
        ),
    )
    keys = ("samples", "bit_exact", "accuracy", "instructions", "memory")
    row = {k: result.get(k) for k in keys}
    row["seconds"] = round(time.monotonic() - start, 1)
    return row


def kws(board: str, work: Path, samples: int) -> dict:
    out = work / f"kws_{board}"
    result = compile_model(
        MODELS / INT8["kws"][0], out, CompileOptions(target=board, **BOARDS[board])
    )
    saved = work / f"kws_{board}.npy"
    row = validated(
        out, str(DATA / "kws01"), samples, work, input_dtype="int8", save_outputs=str(saved)
    )
    outputs = np.load(saved).reshape(-1, 12)
    tflm = np.load(DATA / "kws01" / "tflm_int8_outputs.npy")[: len(outputs)]
    row["tflm_equal"] = int(np.all(outputs == tflm, axis=1).sum())
    build = build_firmware(out, board)
    row["kernels"] = result.manifest.kernels
    row["ram_bytes"] = build.ram_bytes
    row["stack_reserved"] = build.stack_reserved
    row["firmware_ram_bytes"] = build.ram_bytes - build.arena_bytes - build.stack_reserved
    print("kws", board, row, flush=True)
    return row


def shared(board: str, work: Path, samples: int) -> dict:
    rows = {}
    rng = np.random.default_rng(2026)
    for name, (onnx_path, _) in INT8.items():
        out = work / f"shared_{name}_{board}"
        try:
            result = compile_model(
                MODELS / onnx_path, out, CompileOptions(target=board, **BOARDS[board])
            )
            build_firmware(out, board)
        except TargetError as exc:
            rows[name] = {"fits": False, "why": str(exc)}
            print(name, board, "does not fit:", exc, flush=True)
            continue
        spec = result.manifest.inputs[0]
        x = rng.integers(-128, 128, size=(samples, *spec.shape), dtype=np.int8)
        np.savez(work / f"{name}_{board}.npz", x=x)
        rows[name] = {"fits": True, **validated(out, str(work / f"{name}_{board}.npz"), None, work)}
        print(name, board, rows[name], flush=True)
    return rows


def real_boards(work: Path) -> dict:
    rows = {}
    for name in ("kws", "hello_world"):
        out = work / f"{name}_real"
        compile_model(MODELS / INT8[name][0], out, CompileOptions(target=REAL[0]))
        for board in REAL:
            fw = build_firmware(out, board)
            rows.setdefault(board, {})[name] = {
                "flash_bytes": fw.flash_bytes,
                "ram_bytes": fw.ram_bytes,
                "arena_bytes": fw.arena_bytes,
            }
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(Path(__file__).with_name("results_cores.json")))
    parser.add_argument("--kws-samples", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        results = {
            "kws": {b: kws(b, work, args.kws_samples) for b in BOARDS if b != "riscv32f-virt"},
            "shared_int8": {b: shared(b, work, args.samples) for b in BOARDS},
            "real_boards_build": real_boards(work),
        }
    Path(args.out).write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
