"""The ``host`` device: the generated C built for this computer and run in a subprocess."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from edgec.artifact import Manifest
from edgec.backends.c.build import build_host, run_host
from edgec.backends.c.render import render_host_runner
from edgec.data import Dataset
from edgec.errors import EdgecError
from edgec.harness.run import DeviceRun, device_inputs, model_outputs, to_device
from edgec.harness.stateful import calls, resets


def run_on_host(out_dir: Path, manifest: Manifest, dataset: Dataset, options) -> DeviceRun:
    if shutil.which("gcc") is None and shutil.which("cc") is None:
        raise EdgecError("--device host needs a C compiler (gcc) on this computer")
    with tempfile.TemporaryDirectory(prefix="edgec-host-") as tmp:
        work = Path(tmp)
        for source in Path(out_dir).glob("*.[ch]"):
            shutil.copy(source, work / source.name)
        runner = work / "host_runner.c"
        runner.write_text(render_host_runner(manifest))
        exe = build_host(work, runner, work / "model_host", sanitize=options.sanitize)
        specs = [(np.dtype(p.dtype), tuple(p.api_shape)) for p in manifest.outputs]
        if manifest.stream:
            return DeviceRun(_stream(exe, manifest, dataset, specs), device="host")
        samples = [device_inputs(manifest, dataset, i) for i in range(len(dataset))]
        raw = run_host(exe, samples, specs)
    return DeviceRun([model_outputs(manifest, sample) for sample in raw], device="host")


def _stream(exe: Path, manifest: Manifest, dataset: Dataset, specs) -> list[list[np.ndarray]]:
    """A stateful build's samples, call by call: each call's stdin starts with a byte, 1 to
    restart the state first; a sample's result is its last call's outputs."""
    feeds, last = [], []
    for i, restart in enumerate(resets(dataset)):
        pieces = calls(manifest, dataset.sample(i))
        for k, piece in enumerate(pieces):
            control = np.array([int(restart and k == 0)], np.uint8)
            feeds.append([control, *(to_device(piece[p.name], p) for p in manifest.inputs)])
        last.append(len(feeds) - 1)
    raw = run_host(exe, feeds, specs)
    return [model_outputs(manifest, raw[k]) for k in last]
