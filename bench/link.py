"""KWS validation over a damaged serial link: the same bit-exact report as a clean run?

    python bench/link.py [--samples 200] [--out bench/results_link.json]

KWS int8 (the TFLite-converted QDQ model) on the emulated mps2-an386, first over a clean
link, then through tests/fault_proxy.py at seeded damage rates (1 % of bytes corrupted; and
0.4 % each dropped, corrupted and duplicated). For every run: samples completed, outputs
identical to the clean run's, instruction counts identical, retries and damaged frames the
client saw, and wall time. Nothing may differ silently: a run either matches the clean one
or stops with an error naming the sample.
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
from bench.common import DATA, KWS_SCALE, KWS_ZERO_POINT, MODELS
from edgec.compiler import CompileOptions, compile_model
from edgec.data import load_dataset
from edgec.firmware import build_firmware
from edgec.harness.device import DeviceOptions, run_on_device
from edgec.harness.emulator import Emulator
from edgec.harness.validate import ValidateOptions
from tests.fault_proxy import FaultProxy

DAMAGE = {
    "1 % corrupted": {"corrupt": 0.01},
    "0.4 % each dropped, corrupted, duplicated": {
        "corrupt": 0.004,
        "drop": 0.004,
        "duplicate": 0.004,
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--out", default=str(Path(__file__).with_name("results_link.json")))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = compile_model(
            MODELS / "kws_dscnn/kws_ref_model_int8_qdq.onnx", Path(tmp) / "kws", CompileOptions()
        )
        elf = build_firmware(result.out_dir, "mps2-an386").elf
        dataset = load_dataset(
            DATA / "kws01",
            result.manifest.inputs,
            None,
            "int8",
            None,
            KWS_SCALE,
            KWS_ZERO_POINT,
            args.samples,
        )
        options = ValidateOptions(data="unused", device="emulator", samples=args.samples)
        start = time.monotonic()
        clean = run_on_device(result.out_dir, result.manifest, dataset, options)
        rows = {
            "clean": {"samples": len(clean.outputs), "seconds": round(time.monotonic() - start, 1)}
        }
        print("clean", rows["clean"], flush=True)
        for seed, (label, rates) in enumerate(DAMAGE.items(), start=1):
            with Emulator("mps2-an386", elf) as emulator:
                proxy = FaultProxy(emulator.port, seed, **rates)
                start = time.monotonic()
                try:
                    run = run_on_device(
                        result.out_dir,
                        result.manifest,
                        dataset,
                        ValidateOptions(
                            data="unused",
                            device=f"socket://127.0.0.1:{proxy.port}",
                            samples=args.samples,
                        ),
                        DeviceOptions(request_timeout=0.1),
                    )
                finally:
                    proxy.close()
            same = sum(
                all(np.array_equal(g, w) for g, w in zip(got, want))
                for got, want in zip(run.outputs, clean.outputs)
            )
            rows[label] = {
                "samples": len(run.outputs),
                "identical_to_clean": int(same),
                "instructions_identical": run.counts == clean.counts[: len(run.counts)],
                "error": run.error,
                "bytes_damaged": proxy.injected,
                "seconds": round(time.monotonic() - start, 1),
            }
            print(label, rows[label], flush=True)
            Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")  # after every run
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
