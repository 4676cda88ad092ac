"""onnx2c as a benchmark peer: built from its public source at run time, run in edgec's firmware.

    python bench/onnx2c_peer.py --source DIR MODEL.onnx [--target mps2-an386]

``--source`` is an onnx2c checkout with its submodules (aixlog, args, cmake_timestamp; the
``onnx`` submodule's onnx.proto is used when present, else the one the onnx wheel ships).
Nothing of onnx2c is kept in this repository: the compiler is built here, at run time, with
``protoc`` and ``g++`` (Debian: protobuf-compiler, libprotobuf-dev; installed with apt-get
when missing), the same steps as its CMake build without the test and benchmark targets.

onnx2c's generated C for a model is measured in edgec's own firmware harness (same start-up,
UART protocol, -icount instruction counter and compiler flags as edgec's models): edgec
compiles the same model for its ``model.h`` API, then the folder's model code is replaced by
onnx2c's file and a shim whose ``model_run`` calls onnx2c's ``entry``. So instructions and
flash are comparable number for number; its RAM is its model object's .data and .bss.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from edgec.compiler import CompileOptions, compile_model
from edgec.firmware import build_firmware
from edgec.harness.validate import ValidateOptions, validate

CACHE = Path(os.environ.get("EDGEC_BENCH_CACHE", Path.home() / ".cache" / "edgec-bench"))
APT_PACKAGES = ("protobuf-compiler", "libprotobuf-dev", "g++")
TIMESTAMP_DEFINES = ("BUILD_TIME", "GIT_HASH", "GIT_SHORT_HASH", "GIT_BRANCH", "GIT_DIRTY")


def _ensure_tools() -> None:
    """protoc and g++ from Debian's packages when they are missing (as root)."""
    if shutil.which("protoc") and shutil.which("g++"):
        return
    apt = ["apt-get", "install", "-y", "--no-install-recommends", *APT_PACKAGES]
    prefix = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run([*prefix, "apt-get", "update"], check=True, capture_output=True)
    subprocess.run([*prefix, *apt], check=True, capture_output=True)


def _onnx_proto(source: Path) -> Path:
    bundled = source / "onnx" / "onnx" / "onnx.proto"
    if bundled.is_file():
        return bundled
    import onnx

    return Path(onnx.__file__).parent / "onnx.proto"


def _sources(source: Path) -> list[Path]:
    src = source / "src"
    passes = (src / "optimization_passes").glob("*.cpp")
    return sorted([*src.glob("*.cc"), *(src / "nodes").glob("*.cc"), *passes])


def build_onnx2c(source: str | Path, jobs: int = 2) -> Path:
    """Build the onnx2c compiler from ``source`` (once per source tree: cached by content)."""
    source = Path(source).resolve()
    files = _sources(source)
    if not files:
        raise SystemExit(f"{source} does not look like an onnx2c checkout (no src/*.cc)")
    digest = hashlib.sha256()
    for path in [*files, *sorted((source / "src").rglob("*.h")), _onnx_proto(source)]:
        digest.update(path.name.encode() + path.read_bytes())
    work = CACHE / f"onnx2c-{digest.hexdigest()[:16]}"
    binary = work / "onnx2c"
    if binary.is_file():
        return binary
    _ensure_tools()
    gen, obj = work / "gen", work / "obj"
    gen.mkdir(parents=True, exist_ok=True)
    obj.mkdir(exist_ok=True)
    shutil.copy(_onnx_proto(source), gen / "onnx.proto")
    subprocess.run(["protoc", "--proto_path=.", "--cpp_out=.", "onnx.proto"], cwd=gen, check=True)
    includes = [
        f"-I{source / 'src'}",
        f"-I{gen}",
        f"-I{source / 'aixlog' / 'include'}",
        f"-I{source / 'args'}",
        f"-I{source / 'cmake_timestamp'}",
    ]
    compile_cmds = [
        ["g++", "-std=c++20", "-O2", "-w", *includes, "-c", str(f), "-o", str(obj / f"{i}.o")]
        for i, f in enumerate([*files, gen / "onnx.pb.cc"])
    ]
    defines = [f'-D{name}="benchmark build"' for name in TIMESTAMP_DEFINES]
    compile_cmds.append(
        [
            "gcc",
            *defines,
            '-DCPACK_VERSION="0.0.1"',
            "-c",
            str(source / "cmake_timestamp" / "timestamp.c"),
            "-o",
            str(obj / "timestamp.o"),
        ]
    )
    running: list[subprocess.Popen] = []
    for cmd in compile_cmds:
        running.append(subprocess.Popen(cmd))
        if len(running) >= jobs and running.pop(0).wait() != 0:
            raise SystemExit("building onnx2c failed")
    if any(p.wait() != 0 for p in running):
        raise SystemExit("building onnx2c failed")
    objects = sorted(str(p) for p in obj.glob("*.o"))
    subprocess.run(["g++", *objects, "-lprotobuf", "-o", str(binary)], check=True)
    return binary


_ENTRY = re.compile(r"^void entry\((.*)\)\s*\{", re.M)
_PARAM = re.compile(r"(const\s+)?(\w+)\s+(\w+)((?:\[\d+\])+)")


def shim_source(onnx2c_c: str, sha256: str, prefix: str = "model") -> str:
    """A model.c implementing edgec's ``model.h`` API by calling onnx2c's ``entry``."""
    params = _PARAM.findall(_ENTRY.search(onnx2c_c).group(1))
    declared = ", ".join(f"{c}{t} {name}{dims}" for c, t, name, dims in params)
    args, n_in = [], sum(1 for c, *_ in params if c)
    for i, (const, ctype, _, dims) in enumerate(params):
        inner = "".join(re.findall(r"\[\d+\]", dims)[1:])
        ptr = f"input{i}" if const else f"output{i - n_in}"
        args.append(f"({const}{ctype} (*){inner}){ptr}")
    ins = [f"const float *input{i}" for i in range(n_in)]
    outs = [f"float *output{i}" for i in range(len(params) - n_in)]
    signature = ", ".join([*ins, *outs])
    error = f"{prefix.upper()}_ERR_NULL_POINTER"
    nulls = "".join(
        f"    if ({p.split('*')[1]} == NULL) {{\n        return {error};\n    }}\n"
        for p in ins + outs
    )
    return f"""/* Benchmark shim: edgec's model API over onnx2c's generated entry(). */
#include <stddef.h>

#include "{prefix}.h"

void entry({declared});

{prefix}_status {prefix}_run({signature})
{{
{nulls}    entry({", ".join(args)});
    return {prefix.upper()}_OK;
}}

{prefix}_status {prefix}_run_hooked({signature}, {prefix}_step_hook hook, void *user)
{{
    (void)hook;
    (void)user;
    return {prefix}_run({", ".join(p.split("*")[1] for p in ins + outs)});
}}

const char *{prefix}_model_sha256(void)
{{
    return "{sha256}";
}}
"""


def peer_folder(model: Path, onnx2c: Path, out: Path, target: str) -> Path:
    """edgec's output folder for ``model`` with onnx2c's C in place of edgec's model code."""
    result = compile_model(model, out, CompileOptions(target=target, force=True))
    for path in out.glob("*.c"):
        path.unlink()
    generated = subprocess.run(
        [str(onnx2c), str(model)], capture_output=True, text=True, check=True
    ).stdout
    (out / "onnx2c_model.c").write_text(generated)
    (out / "model.c").write_text(shim_source(generated, result.manifest.model_sha256))
    return out


def static_ram(obj: Path) -> int:
    """RAM of onnx2c's model object: its .data and .bss (the tensor unions, any other
    intermediate tensors), from ``arm-none-eabi-size``."""
    text = subprocess.run(
        ["arm-none-eabi-size", str(obj)], capture_output=True, text=True, check=True
    ).stdout
    _, data, bss, *_ = text.splitlines()[1].split()
    return int(data) + int(bss)


def measure_peer(
    model: Path, onnx2c: Path, work: Path, target: str, data: Path, outputs: Path | None = None
) -> dict:
    """onnx2c's instructions, flash and RAM for ``model`` on ``target`` over ``data``'s samples
    (its outputs saved to ``outputs``; the report compares them with onnxruntime)."""
    out = peer_folder(model, onnx2c, work / f"onnx2c_{model.stem}_{target}", target)
    firmware = build_firmware(out, target)
    options = ValidateOptions(data=str(data), device="emulator")
    options.save_outputs = str(outputs) if outputs else None
    report = validate(out, options)
    return {
        "samples": report["samples"],
        "max_abs_error_vs_onnxruntime": report.get("max_abs_error"),
        "instructions": int(report["instructions"]["median"]),
        "instructions_identical": report["instructions"]["min"] == report["instructions"]["max"],
        "flash_bytes": firmware.flash_bytes,
        "arena_bytes": static_ram(firmware.elf.parent / "obj" / "onnx2c_model.o"),
        "stack_bytes": report["memory"]["stack_bytes"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model")
    parser.add_argument("--source", required=True, help="an onnx2c checkout with submodules")
    parser.add_argument("--target", default="mps2-an386")
    parser.add_argument("--work", default="build/onnx2c")
    args = parser.parse_args()
    onnx2c = build_onnx2c(args.source)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    model = Path(args.model)
    import onnx

    dims = [d.dim_value for d in onnx.load(model).graph.input[0].type.tensor_type.shape.dim]
    x = np.random.default_rng(2026).normal(0, 1, (3, *dims)).astype(np.float32)
    np.savez(work / "data.npz", x=x)
    print(json.dumps(measure_peer(model, onnx2c, work, args.target, work / "data.npz"), indent=2))


if __name__ == "__main__":
    main()
