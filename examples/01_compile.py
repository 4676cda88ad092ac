"""Walk-through 1: compile the digits CNN for a Cortex-M4F board and read memory.json.

    python examples/01_compile.py [--out DIR]

Runs `edgec compile … --target mps2-an386 --firmware`, then prints the schedule and the
arena plan from OUT/memory.json and the linked image's flash/RAM from the firmware build.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "examples" / "digits" / "digits_cnn.onnx"
TARGET = "mps2-an386"


def edgec(*args: str) -> None:
    """Run the edgec command line with this interpreter (same as typing `edgec …`)."""
    print("$ edgec", " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "edgec", *args], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "examples" / "01_compile")
    out = parser.parse_args().out

    edgec("compile", str(MODEL), "-o", str(out), "--target", TARGET, "--firmware", "--force")

    memory = json.loads((out / "memory.json").read_text())
    buffers = {t["buffer"]: t for t in memory["tensors"]}
    print("\nschedule (memory.json 'steps'; offsets are within the arena):")
    print(f"  {'step':>4}  {'op':<10} {'kernel':<23} {'MACs':>6}  output")
    for step in memory["steps"]:
        t = buffers[step["output"]]
        print(
            f"  {step['step']:>4}  {step['op']:<10} {step['kernel']:<23} {step['macs']:>6}  "
            f"{t['value']} {t['dtype']}{t['shape']} {t['bytes']} B at +{t['offset']}"
        )
    print(f"arena   {memory['arena_bytes']:,} B (every activation, reused across steps)")
    print(f"weights {memory['weight_bytes']:,} B in flash ({len(memory['weights'])} arrays)")

    firmware = json.loads((out / "firmware" / TARGET / "firmware.json").read_text())
    print(
        f"firmware {TARGET}: flash {firmware['flash_bytes']:,} of "
        f"{firmware['flash_capacity']:,} B, RAM {firmware['ram_bytes']:,} of "
        f"{firmware['ram_capacity']:,} B (of which {firmware['stack_reserved']:,} B reserved stack)"
    )


if __name__ == "__main__":
    main()
