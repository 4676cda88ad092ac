"""``edgec compile --backend tvm``: the output folder of a TVM build.

OUT holds ``model.so`` (the library for the target), ``manifest.json`` (I/O names, shapes and
dtypes, the source model's SHA-256, the TVM version, the target and its LLVM options),
``reference.onnx`` (the processed graph that went to TVM, the golden model of ``edgec
validate``) and ``runner/`` (``runner.py`` with copies of edgec's protocol module, which the
board's Python runs with only numpy and the TVM runtime).
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path

import onnx
from onnx import numpy_helper

import edgec
from edgec.backends.tvm.build import LIBRARY, QDQ_NUMERICS, build_library, relax_module
from edgec.errors import EdgecError
from edgec.outdir import write_atomically
from edgec.resources import templates_dir

DEFAULT_TARGET = "aarch64-linux"
RUNNER = "runner/runner.py"
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
# CompileOptions fields only the C generator reads: refused for TVM unless at their default
C_ONLY_OPTIONS = ("io_layout", "kernels", "kernel_scratch", "prefix", "weight_storage")
# edgec's own modules the runner imports, copied beside it (not a second implementation).
RUNNER_MODULES = ("__init__.py", "errors.py", "harness/__init__.py", "harness/protocol.py")


def compile_tvm(model_path: str | Path, out_dir: str | Path, options):
    """Compile ``model_path`` with TVM into ``out_dir`` (written atomically)."""
    from edgec.compiler import CompileResult, port_specs, process_model, write_reports
    from edgec.ir import to_onnx
    from edgec.quantize.export import to_qdq
    from edgec.targets import load_board

    target = load_board(options.target or DEFAULT_TARGET, "linux")
    _check_c_only_options(options)
    if options.rounding not in ("tflm", "float"):
        raise EdgecError(
            f"--rounding {options.rounding}: the TVM backend requantizes as TFLite Micro (tflm) "
            "or as onnxruntime (float)"
        )
    out_dir, sha, notices, reports, graph = process_model(model_path, out_dir, options)
    reference = to_onnx(to_qdq(graph))
    quantized = any(n.op_type in QDQ_OPS for n in reference.graph.node)
    numerics = "float32"
    if quantized:
        mod, numerics = _quantized_module(graph, reference, target, options, notices)
    else:
        mod = relax_module(reference)
    weight_bytes = sum(numpy_helper.to_array(t).nbytes for t in reference.graph.initializer)

    def fill(folder: Path) -> None:
        build = build_library(mod, target, folder / LIBRARY, float_graph=numerics == "float32")
        manifest = {
            "edgec_version": edgec.__version__,
            "source_model": str(Path(model_path).resolve()),
            "model_sha256": sha,
            "options": {k: v for k, v in asdict(options).items() if k != "force"},
            "backend": "tvm",
            "target": target.name,
            "tvm_version": build.tvm_version,
            "llvm_target": build.llvm_target,
            "cross_compiler": target.cc,
            "arch": target.arch,
            "library": LIBRARY,
            "library_bytes": build.library_bytes,
            "runner": RUNNER,
            "numerics": numerics,
            "schedule": build.schedule,
            "threads": "all cores of the board (runner --threads N)",
            "inputs": port_specs(graph.inputs),
            "outputs": port_specs(graph.outputs),
            "io_shapes": {
                "inputs": [list(v.shape) for v in graph.inputs],
                "outputs": [list(v.shape) for v in graph.outputs],
            },
            "arena_bytes": None,  # TVM's VM allocates at run time: no static arena
            "weight_bytes": weight_bytes,
            "reference_graph": "reference.onnx",
            "notices": notices,
        }
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        onnx.save(reference, str(folder / "reference.onnx"))
        write_runner(folder)
        write_reports(folder, reports)

    final = write_atomically(out_dir, fill, options.force)
    manifest = json.loads((final / "manifest.json").read_text())
    return CompileResult(final, graph, manifest, notices, reports)


def integer_numerics(rounding: str) -> str:
    """The manifest's ``numerics`` of an integer build."""
    return f"integer ({rounding} rounding): bit-exact with edgec's integer reference"


def _quantized_module(graph, reference, target, options, notices: list[str]):
    """The integer module of a quantized graph, or (for ops the integer lowering lacks) the
    relax QDQ import with the reason in the notices; and the build's numerics."""
    from edgec.backends.tvm.cpu import cpu_info
    from edgec.backends.tvm.integer import integer_module, unsupported

    missing = unsupported(graph)
    if not missing:
        return integer_module(graph, cpu_info(target), options.rounding), integer_numerics(
            options.rounding
        )
    listed = "; ".join(f"{op} ({len(names)})" for op, names in sorted(missing.items()))
    notices.append(
        f"quantized model on TVM as QDQ (no integer lowering for {listed}): {QDQ_NUMERICS}"
    )
    return relax_module(reference), QDQ_NUMERICS


def write_runner(folder: Path) -> None:
    """``runner/runner.py`` and the copies of edgec's modules it imports."""
    runner_dir = folder / Path(RUNNER).parent
    package = Path(edgec.__file__).parent
    for name in RUNNER_MODULES:
        dest = runner_dir / "edgec" / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes((package / name).read_bytes())
    runner = runner_dir / Path(RUNNER).name
    runner.write_bytes((templates_dir() / "tvm" / "runner.py").read_bytes())
    runner.chmod(0o755)


def _check_c_only_options(options) -> None:
    """Options of the C generator that mean nothing to TVM are refused, not ignored."""
    defaults = {f.name: f.default for f in fields(options)}  # what no option was given means
    for field in C_ONLY_OPTIONS:
        if getattr(options, field) != defaults[field]:
            flag = "--" + field.replace("_", "-")
            raise EdgecError(f"{flag} applies to the C backend only (--backend c)")
