"""The zoo's int8 models on the emulated boards: the default build against every kernel and
weight-storage flag (exact instruction counts).

    python bench/zoo_speed.py [--boards mps2-an386 mps3-an547] [--models a b] [--export legacy17]

For every model of tests/zoo (one export), quantized by ``--quantize int8`` on the zoo's
calibration inputs (bench/zoo.py's data), compile the default build and one build per
non-default flag (``--kernels portable`` with dense and default storage,
``--weight-storage dense``, ``--weight-storage small``), run two samples on the board's
emulator (QEMU ``-icount``) and record the instructions per inference, flash and whether the
outputs equal edgec's integer reference bit for bit. A model the int8 C backend or the board
cannot take is recorded with the reason. Results: bench/results_zoo_speed.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.kernels import VARIANTS
from bench.zoo import ZOO, write_data, zoo_manifest
from edgec.compiler import CompileOptions, compile_model
from edgec.harness.validate import ValidateOptions, validate

RESULTS = Path(__file__).with_name("results_zoo_speed.json")
SAMPLES = 2


def measure(model: dict, export: str, board: str, work: Path) -> dict:
    path = ZOO / "models" / f"{model['name']}.{export}.onnx"
    data, calib = write_data(model, work)
    rows: dict = {}
    for variant, (kernels, storage) in VARIANTS.items():
        out = work / variant
        try:
            options = CompileOptions(
                quantize="int8", calib=str(calib), target=board, kernels=kernels,
                weight_storage=storage, force=True,
            )  # fmt: skip
            result = compile_model(path, out, options)
            report = validate(
                out,
                ValidateOptions(str(data), device="emulator", samples=SAMPLES, progress=False),
            )
        except Exception as exc:  # the reason is the finding
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            return {"skipped": reason, "trace": traceback.format_exc(limit=2)[-400:]}
        rows[variant] = {
            "instructions": int(report["instructions"]["median"]),
            "bit_exact": report["bit_exact"],
            "samples": report["samples"],
            "flash_bytes": report["memory"]["flash_bytes"],
            "kernels": result.manifest.kernels,
        }
    others = [r["instructions"] for v, r in rows.items() if v != "default"]
    rows["default_fastest"] = rows["default"]["instructions"] <= min(others)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--boards", nargs="*", default=["mps2-an386", "mps3-an547"])
    parser.add_argument("--models", nargs="*", default=None)
    parser.add_argument("--export", default="legacy17")
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    models = [m for m in zoo_manifest()["models"] if not args.models or m["name"] in args.models]
    for model in models:
        for board in args.boards:
            with tempfile.TemporaryDirectory() as tmp:
                row = measure(model, args.export, board, Path(tmp))
            results.setdefault(model["name"], {})[board] = row
            RESULTS.write_text(json.dumps(results, indent=2) + "\n")
            if "skipped" in row:
                print(f"{model['name']:22s} {board:11s} skipped: {row['skipped']}", flush=True)
                continue
            print(
                f"{model['name']:22s} {board:11s} default {row['default']['instructions']:>11,}"
                f"  fastest {row['default_fastest']}  "
                + "  ".join(f"{v} {r['instructions']:,}" for v, r in row.items() if v != "default"
                            and isinstance(r, dict)),
                flush=True,
            )  # fmt: skip
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
