"""``edgec compile --backend tvm``: the output folder of a TVM build.

OUT holds ``model.so`` (the library for the target), the manifest's TVM fields (the TVM
version, the target and its LLVM options, the numerics and the schedule), ``reference.onnx``
(the processed graph, the golden model of ``edgec validate``) and ``runner/`` (``runner.py``
with copies of edgec's protocol module, which the board's Python runs with only numpy and the
TVM runtime). A quantized graph is built in integers (``integer.py``: bit-exact with edgec's
integer reference) when every op has an integer lowering, else as relax QDQ.
"""

from __future__ import annotations

import tempfile
from dataclasses import fields
from pathlib import Path

from onnx import numpy_helper

from edgec.artifact import BackendOutput
from edgec.backends.tvm.build import LIBRARY, QDQ_NUMERICS, build_library, relax_module
from edgec.backends.tvm.cpu import cpu_info
from edgec.backends.tvm.integer import integer_module, unsupported
from edgec.backends.tvm.tuning import check_tuning, database_files, previous_database, tune
from edgec.errors import EdgecError
from edgec.ir import Graph, to_onnx
from edgec.linux_targets import LinuxTarget
from edgec.options import CompileOptions
from edgec.passes.conv_bias import FuseConvBias
from edgec.quantize.export import to_qdq
from edgec.resources import templates_dir

RUNNER = "runner/runner.py"
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
# CompileOptions fields only the C generator reads: refused for TVM unless at their default
C_ONLY_OPTIONS = (
    "io_layout", "kernels", "kernel_scratch", "memory", "prefix", "weight_storage",
)  # fmt: skip
ROUNDINGS = ("tflm", "float")  # TFLite Micro's fixed point, or onnxruntime's float rescale
# edgec's own modules the runner imports, copied beside it (not a second implementation).
RUNNER_MODULES = ("__init__.py", "version.py", "errors.py", "protocol.py")
PACKAGE = Path(__file__).resolve().parents[2]  # edgec/


def check_tvm_options(options: CompileOptions, target: LinuxTarget) -> None:
    """Options of the C generator that mean nothing to TVM are refused, not ignored."""
    defaults = {f.name: f.default for f in fields(options)}  # what no option was given means
    for field in C_ONLY_OPTIONS:
        if getattr(options, field) != defaults[field]:
            flag = "--" + field.replace("_", "-")
            raise EdgecError(f"{flag} applies to the C backend only (--backend c)")
    if options.rounding not in ROUNDINGS:
        raise EdgecError(
            f"--rounding {options.rounding}: the TVM backend requantizes as TFLite Micro (tflm) "
            "or as onnxruntime (float)"
        )
    check_tuning(options.tune_trials, target.mtriple is not None)


def compile_tvm(
    graph: Graph,
    target: LinuxTarget,
    options: CompileOptions,
    sha256: str,
    previous: Path | None = None,
) -> BackendOutput:
    """Build ``graph`` with TVM for ``target``: the library, the runner, the manifest fields
    (and ``tuning/``, MetaSchedule's database, when tuned now or in ``previous``, the OUT
    this build replaces)."""
    FuseConvBias()(graph)  # relax would keep such an Add in NCHW, between two transposes
    reference = to_onnx(to_qdq(graph))
    quantized = any(n.op_type in QDQ_OPS for n in reference.graph.node)
    notices: list[str] = []
    if quantized:
        mod, numerics = _quantized_module(graph, reference, target, options, notices)
    else:
        mod, numerics = relax_module(reference), "float32"
    float_graph = numerics == "float32"
    with tempfile.TemporaryDirectory(prefix="edgec-tvm-") as tmp:
        work = Path(tmp) / "tuning"
        seed = previous_database(previous)
        tuned = tune(mod, cpu_info(target), float_graph, options.tune_trials, work, seed)
        database = work if tuned else None
        build = build_library(mod, target, Path(tmp) / LIBRARY, float_graph, database)
        library = build.library.read_bytes()
        tuning = database_files(work)
    return BackendOutput(
        files={LIBRARY: library, **runner_files(), **tuning},
        manifest={
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
            "arena_bytes": None,  # TVM's VM allocates at run time: no static arena
            "weight_bytes": sum(
                numpy_helper.to_array(t).nbytes for t in reference.graph.initializer
            ),
        },
        device_shapes={
            "inputs": [tuple(v.shape) for v in graph.inputs],
            "outputs": [tuple(v.shape) for v in graph.outputs],
        },
        notices=notices,
        reference=reference,
    )


def integer_numerics(rounding: str) -> str:
    """The manifest's ``numerics`` of an integer build."""
    return f"integer ({rounding} rounding): bit-exact with edgec's integer reference"


def _quantized_module(graph, reference, target, options, notices: list[str]):
    """The integer module of a quantized graph, or (for ops the integer lowering lacks) the
    relax QDQ import with the reason in the notices; and the build's numerics."""
    missing = unsupported(graph)
    if not missing:
        module = integer_module(graph, cpu_info(target), options.rounding)
        return module, integer_numerics(options.rounding)
    listed = "; ".join(f"{op} ({len(names)})" for op, names in sorted(missing.items()))
    notices.append(
        f"quantized model on TVM as QDQ (no integer lowering for {listed}): {QDQ_NUMERICS}"
    )
    return relax_module(reference), QDQ_NUMERICS


def runner_files() -> dict[str, bytes]:
    """``runner/runner.py`` and the copies of edgec's modules it imports."""
    runner_dir = Path(RUNNER).parent
    files = {
        str(runner_dir / "edgec" / name): (PACKAGE / name).read_bytes() for name in RUNNER_MODULES
    }
    files[RUNNER] = (templates_dir() / "tvm" / "runner.py").read_bytes()
    return files
