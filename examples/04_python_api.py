"""Walk-through 4: the same flow from Python — compile int8, validate on the emulated board.

    python examples/04_python_api.py [--out DIR] [--samples N]

`compile_model` is `edgec compile`, `validate` is `edgec validate`; both take an options
dataclass whose fields are the command-line options. The reference executor (`Interpreter`)
runs the compiled graph on the host: the device must reproduce it bit for bit.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from edgec import Interpreter
from edgec.compiler import CompileOptions, compile_model
from edgec.data import load_dataset
from edgec.harness.validate import ValidateOptions, validate

ROOT = Path(__file__).resolve().parent.parent
DIGITS = ROOT / "examples" / "digits"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "examples" / "04_python_api")
    parser.add_argument("--samples", type=int, help="the first N test samples (default: all)")
    args = parser.parse_args()

    # edgec compile MODEL -o OUT --target mps2-an386 --quantize int8 --calib calib.npz --force
    options = CompileOptions(
        target="mps2-an386", quantize="int8", calib=str(DIGITS / "calib.npz"), force=True
    )
    result = compile_model(DIGITS / "digits_cnn.onnx", args.out, options)
    print(f"compiled to {result.out_dir}: arena {result.arena_bytes} B, "
          f"weights {result.weight_bytes} B")  # fmt: skip

    # edgec validate OUT --data test.npz --device emulator [--samples N]
    saved = result.out_dir / "device_outputs.npy"  # --save-outputs
    report = validate(
        result.out_dir,
        ValidateOptions(
            data=str(DIGITS / "test.npz"),
            device="emulator",
            samples=args.samples,
            save_outputs=str(saved),
        ),
    )
    print(f"device: {report['bit_exact']}/{report['samples']} bit-exact, accuracy "
          f"{report['accuracy']['device']:.2%} (float {report['accuracy']['float']:.2%}), "
          f"{report['instructions']['median']:,.0f} instructions per inference")  # fmt: skip

    # The host reference on one sample: float pixels are quantized with the input's own
    # scale and zero point (load_dataset does that), the int8 logits are dequantized here.
    data = load_dataset(DIGITS / "test.npz", result.manifest.inputs, limit=1)
    logits_q = Interpreter(result.graph).run(data.sample(0))["logits"]
    out = result.manifest.outputs[0]
    logits = (logits_q.astype(np.float32) - out.zero_point) * out.scale
    print(f"host reference, sample 0: int8 logits {logits_q.ravel().tolist()}")
    print(f"  dequantized: {' '.join(f'{v:.2f}' for v in logits.ravel())}")
    print(f"  predicted {int(logits.argmax())}, label {int(data.labels[0])}")
    device = np.load(saved)[0]
    print(f"  the device's int8 logits are the same: {np.array_equal(device, logits_q)}")


if __name__ == "__main__":
    main()
