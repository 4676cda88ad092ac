"""Compile generated C: for this computer (host runs, sanitizers) or with a cross compiler."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgec.errors import BuildError, DeviceError

HOST_WARNINGS = ["-std=c99", "-Wall", "-Wextra", "-Werror"]
SANITIZERS = [
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-fno-omit-frame-pointer",
]


def find_compiler(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BuildError(f"the C compiler {name!r} is not installed (or not on PATH)")
    return path


def c_sources(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.c") if p.name != "host_runner.c")


def run_compiler(command: Sequence[str], cwd: Path | None = None) -> str:
    """Run a compiler command; ``BuildError`` with its output when it fails."""
    try:
        done = subprocess.run(list(command), cwd=cwd, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        raise BuildError(f"{Path(command[0]).name} timed out after 600 s") from None
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()
        first = next((line for line in output.splitlines() if "error" in line), output[:200])
        raise BuildError(f"{Path(command[0]).name} failed: {first}", output)
    return done.stdout + done.stderr


def build_host(
    folder: Path,
    runner_source: Path,
    exe: Path,
    sanitize: bool = False,
    opt: str = "-O2",
    cc: str | None = None,
    defines: Sequence[str] = (),
) -> Path:
    """Compile the generated folder plus a runner into an executable for this machine
    (``defines``: extra -D flags, e.g. a kernel path meant for another core)."""
    compiler = find_compiler(cc or os.environ.get("CC", "gcc"))
    flags = [opt, *HOST_WARNINGS, *(SANITIZERS if sanitize else []), *defines]
    command = [
        compiler,
        *flags,
        f"-I{folder}",
        *map(str, c_sources(folder)),
        str(runner_source),
        "-o",
        str(exe),
        "-lm",
    ]
    run_compiler(command)
    return exe


def run_host(
    exe: Path,
    samples: Sequence[Sequence[np.ndarray]],
    output_specs: Sequence[tuple[np.dtype, tuple[int, ...]]],
    timeout: float = 600,
) -> list[list[np.ndarray]]:
    """Feed every sample's inputs through the host runner; its outputs per sample."""
    payload = b"".join(np.ascontiguousarray(a).tobytes() for sample in samples for a in sample)
    env = dict(
        os.environ,
        ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
        UBSAN_OPTIONS="print_stacktrace=1",
    )
    try:
        done = subprocess.run(
            [str(exe)], input=payload, capture_output=True, timeout=timeout, env=env
        )
    except subprocess.TimeoutExpired:
        raise DeviceError(f"the host build did not finish within {timeout:.0f} s") from None
    if done.returncode != 0 or done.stderr.strip():
        report = done.stderr.decode(errors="replace").strip()
        first = report.splitlines()[0] if report else f"exit status {done.returncode}"
        raise DeviceError(f"the host build failed at run time: {first}")
    sizes = [int(np.prod(shape)) * np.dtype(dtype).itemsize for dtype, shape in output_specs]
    per_sample = sum(sizes)
    if len(done.stdout) != per_sample * len(samples):
        raise DeviceError(
            f"the host build wrote {len(done.stdout)} bytes, expected {per_sample * len(samples)}"
        )
    results, cursor = [], 0
    for _ in samples:
        outs = []
        for (dtype, shape), size in zip(output_specs, sizes):
            outs.append(
                np.frombuffer(done.stdout[cursor : cursor + size], dtype=dtype).reshape(shape)
            )
            cursor += size
        results.append(outs)
    return results
