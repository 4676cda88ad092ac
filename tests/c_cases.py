"""Many generated models in one host build: the cases' C, one runner, one sanitized binary.

A ``Case`` is a graph, its input samples and the expected outputs (from an independent
reference); ``run_cases`` generates every case's C under its own symbol prefix into one
folder, compiles it once with ``-std=c99 -O2 -Wall -Wextra -Werror
-fsanitize=address,undefined`` and compares every output (bit for bit, or with a tolerance
for float models). Used by tests/test_c_int_kernels.py, tests/test_differential.py and
bench/fuzz.py.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgec.backends.c import generate_c
from edgec.backends.c.build import build_host, find_compiler
from edgec.backends.c.render import C_TYPES
from edgec.ir.graph import Graph


def random_int(rng, shape, dtype):
    info = np.iinfo(dtype)
    return rng.integers(info.min, int(info.max) + 1, size=shape).astype(dtype)


@dataclass
class Case:
    graph: Graph
    seed: int
    samples: list = field(default_factory=list)
    expected: list = field(default_factory=list)


def _runner(prefixes: list[str], cases: list[Case]) -> str:
    lines = ["#include <stdio.h>"]
    lines += [f'#include "{p}.h"' for p in prefixes]
    lines += [
        "static int read_exact(void *b, size_t n) { return fread(b, 1, n, stdin) == n; }",
        "int main(void)",
        "{",
        "    int s;",
    ]
    for p, case in zip(prefixes, cases):
        g = case.graph
        decl, args = [], []
        for kind, values in (("in", g.inputs), ("out", g.outputs)):
            for i, v in enumerate(values):
                decl.append(f"static {C_TYPES[np.dtype(v.dtype)]} {p}_{kind}{i}[{max(1, v.size)}];")
                args.append(f"{p}_{kind}{i}")
        reads = [
            f"            if (!read_exact({p}_in{i}, sizeof {p}_in{i})) return 2;"
            for i in range(len(g.inputs))
        ]
        writes = [
            f"            fwrite({p}_out{i}, 1, sizeof {p}_out{i}, stdout);"
            for i in range(len(g.outputs))
        ]
        lines += ["    {", *("        " + d for d in decl)]
        lines += [
            f"        for (s = 0; s < {len(case.samples)}; ++s) {{",
            *reads,
            f"            if ({p}_run({', '.join(args)}) != {p.upper()}_OK) return 3;",
            *writes,
            "        }",
            "    }",
        ]
    lines += ["    return 0;", "}"]
    return "\n".join(lines) + "\n"


def run_cases(
    cases: list[Case],
    tmp_path: Path,
    kernels: str = "portable",
    tolerance: tuple[float, float] | None = None,
    io_layout: str = "declared",
    core: str = "dsp",
    rounding: str = "tflm",
    weight_storage: str = "auto",
) -> None:
    """Generate, build (sanitized) and run every case; compare with the reference bit for bit.
    ``kernels``: "portable"; "optimized" (fast_*.c where they apply, with its C versions
    of the DSP instructions on this computer, always given scratch memory); "optimized-lean"
    (the same with the default scratch policy: in a one-op graph the scratch would grow the
    arena, so the variants without scratch run); "optimized-mve" (the Helium kernels' layouts,
    mve_*.c, in their C versions). ``tolerance`` (rtol, atol): float outputs
    compared with np.allclose instead of bit for bit. ``io_layout`` "nhwc": the samples
    and expected outputs are given channels-last. ``core`` "mve": the Helium kernels' layouts,
    run by their C versions here. ``rounding``: the build's --rounding."""
    find_compiler("gcc")
    core = "mve" if kernels.endswith("-mve") else core
    folder = tmp_path / "c"
    folder.mkdir()
    prefixes = [f"m{i}" for i in range(len(cases))]
    for prefix, case in zip(prefixes, cases):
        gen = generate_c(
            case.graph,
            prefix=prefix,
            sha256="0" * 64,
            kernels=kernels.split("-")[0],
            scratch="free" if kernels.endswith("-lean") else "always",
            io_layout=io_layout,
            core=core,
            rounding=rounding,
            weight_storage=weight_storage,
        )
        for name, text in {**gen.files, **gen.kernel_files}.items():
            (folder / name).write_text(text)
    runner = folder / "host_runner.c"
    runner.write_text(_runner(prefixes, cases))
    exe = build_host(folder, runner, folder / "cases", sanitize=True)
    payload = b"".join(a.tobytes() for case in cases for sample in case.samples for a in sample)
    done = subprocess.run([str(exe)], input=payload, capture_output=True, timeout=300)
    assert done.returncode == 0 and not done.stderr, done.stderr.decode(errors="replace")[:2000]
    cursor = 0
    for prefix, case in zip(prefixes, cases):
        for index, expected in enumerate(case.expected):
            for ref in expected:
                size = ref.nbytes
                got = np.frombuffer(done.stdout[cursor : cursor + size], ref.dtype)
                cursor += size
                node = case.graph.nodes[0]
                if tolerance is not None:
                    assert np.allclose(got, ref.reshape(-1), *tolerance), (
                        f"{prefix} ({case.graph.name}, seed {case.seed}), sample {index}: "
                        f"max |error| {np.abs(got - ref.reshape(-1)).max():.3g}"
                    )
                    continue
                diff = got.astype(np.int64) - ref.reshape(-1).astype(np.int64)
                assert not diff.any(), (
                    f"{prefix} ({node.op_type}, {node.outputs[0].dtype}, seed {case.seed}), "
                    f"sample {index}: {np.count_nonzero(diff)} of {diff.size} values differ, "
                    f"max {np.abs(diff).max()}"
                )
    assert cursor == len(done.stdout)
