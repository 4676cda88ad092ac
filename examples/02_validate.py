"""Walk-through 2: run the compiled digits CNN on the emulated board and read report.json.

    python examples/02_validate.py [--out DIR] [--samples N]

Compiles the float model for mps2-an386, runs `edgec validate … --device emulator` over the
held-out digits (QEMU boots the firmware, each sample goes over the serial protocol), and
prints what report.json says about it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIGITS = ROOT / "examples" / "digits"
FIELDS = [  # report.json keys worth reading first, and what they mean
    ("samples", "samples run on the device"),
    ("accuracy.device", "top-1 accuracy of the device's outputs on the labels"),
    ("accuracy.float", "the same for the source model in onnxruntime"),
    ("agreement", "share of samples whose top-1 class is onnxruntime's"),
    ("max_abs_error", "largest |device - onnxruntime| over all outputs"),
    ("snr_db", "device vs onnxruntime signal-to-noise ratio (dB)"),
    ("bit_exact", "samples equal to the host reference bit for bit (null: float)"),
    ("instructions.median", "instructions per inference (QEMU counts them)"),
    ("memory.flash_bytes", "flash of the linked firmware image"),
    ("memory.arena_bytes", "RAM of the activation arena"),
    ("memory.stack_bytes", "stack high-water mark, measured by stack painting"),
]


def lookup(report: dict, dotted: str):
    """``report["a"]["b"]`` for ``"a.b"``."""
    for key in dotted.split("."):
        report = report[key]
    return report


def edgec(*args: str) -> None:
    """Run the edgec command line with this interpreter (same as typing `edgec …`)."""
    print("$ edgec", " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "edgec", *args], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "examples" / "02_validate")
    parser.add_argument("--samples", type=int, help="the first N test samples (default: all)")
    args = parser.parse_args()
    out = args.out

    edgec("compile", str(DIGITS / "digits_cnn.onnx"), "-o", str(out), "--target", "mps2-an386",
          "--force")  # fmt: skip
    limit = ["--samples", str(args.samples)] if args.samples else []
    # The device's raw outputs are saved too, so that anyone can check them independently.
    edgec("validate", str(out), "--data", str(DIGITS / "test.npz"), "--device", "emulator",
          "--save-outputs", str(out / "device_outputs.npy"), *limit)  # fmt: skip

    report = json.loads((out / "validation" / "report.json").read_text())
    print(f"\n{out / 'validation' / 'report.json'}:")
    for key, meaning in FIELDS:
        print(f"  {key:<20} {json.dumps(lookup(report, key)):<22} {meaning}")


if __name__ == "__main__":
    main()
