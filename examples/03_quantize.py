"""Walk-through 3: quantize the digits CNN to int8 with calibration data, read quantization.json.

    python examples/03_quantize.py [--out DIR] [--samples N]

`edgec compile --quantize int8 --calib calib.npz` chooses every tensor's int8 scale from 200
training images and writes quantization.json (per-tensor error against the float model);
`edgec validate` then checks the int8 firmware on the emulated board: bit-exact against the
host integer reference, and its accuracy against the float model's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIGITS = ROOT / "examples" / "digits"


def edgec(*args: str) -> None:
    """Run the edgec command line with this interpreter (same as typing `edgec …`)."""
    print("$ edgec", " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "edgec", *args], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "examples" / "03_quantize")
    parser.add_argument("--samples", type=int, help="the first N test samples (default: all)")
    args = parser.parse_args()
    out = args.out

    edgec("compile", str(DIGITS / "digits_cnn.onnx"), "-o", str(out), "--target", "mps2-an386",
          "--quantize", "int8", "--calib", str(DIGITS / "calib.npz"), "--force")  # fmt: skip

    quant = json.loads((out / "quantization.json").read_text())
    print(f"\nquantization.json (error of each int8 tensor vs float, {quant['samples']} samples):")
    print(f"  {'tensor':<8} {'op':<8} {'dtype':<6} {'SQNR dB':>8} {'max |err|':>10}")
    for t in quant["tensors"]:
        sqnr = "-" if t["sqnr_db"] is None else f"{t['sqnr_db']:.1f}"  # None: nothing to compare
        print(f"  {t['name']:<8} {t['op']:<8} {t['dtype']:<6} {sqnr:>8} "
              f"{t['max_abs_error']:>10.4f}")  # fmt: skip
    manifest = json.loads((out / "manifest.json").read_text())
    print("manifest.json (the generated API's input and output):")
    for port in manifest["inputs"] + manifest["outputs"]:
        zero = port["zero_point"]
        print(f"  {port['name']}: {port['dtype']}, real value = (q {'-' if zero >= 0 else '+'} "
              f"{abs(zero)}) * {port['scale']:.6g}")  # fmt: skip

    limit = ["--samples", str(args.samples)] if args.samples else []
    edgec("validate", str(out), "--data", str(DIGITS / "test.npz"), "--device", "emulator",
          "--save-outputs", str(out / "device_outputs.npy"), *limit)  # fmt: skip
    report = json.loads((out / "validation" / "report.json").read_text())
    print(f"\nbit-exact with the host integer reference: {report['bit_exact']}/{report['samples']}")
    print(f"accuracy: int8 on the device {report['accuracy']['device']:.2%}, "
          f"float in onnxruntime {report['accuracy']['float']:.2%}")  # fmt: skip


if __name__ == "__main__":
    main()
