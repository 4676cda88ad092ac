"""Relax import and build: the processed graph → ONNX → ``tvm.relax`` → a shared library.

edgec's passes run first (fold; quantization or a QDQ model lowered to edgec's integer
graph); the result is exported back to ONNX (``reference.onnx``, the same file the reference
executor checks against), imported with ``tvm.relax.frontend.onnx.from_onnx``, built with
``relax.build`` for the target's LLVM triple and features, and linked with the target's C++
(cross) compiler by ``export_library``.

Quantized graphs go to TVM as QDQ ONNX. Relax imports ``QuantizeLinear``/``DequantizeLinear``
as such and computes in float32 between them (the ONNX QDQ semantics, as onnxruntime's
reference kernels do), not with TFLite Micro's integer requantization: int8 outputs may
differ from edgec's integer reference (by up to 18 LSB on KWS). ``QDQ_NUMERICS`` says so in
the manifest; ``edgec validate`` counts bit-exact samples against edgec's reference as
always, and judges the build against its QDQ graph in onnxruntime (within one LSB).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import onnx

from edgec.errors import BuildError, EdgecError, UnsupportedOpError
from edgec.linux_targets import LinuxTarget
from edgec.resources import templates_dir

log = logging.getLogger(__name__)

LIBRARY = "model.so"
# Linked into every library: the parallel launcher the runner installs (``edgec_threads_start``).
THREADS_SOURCE = templates_dir() / "tvm" / "edgec_threads.c"
QDQ_NUMERICS = (
    "relax QDQ import: float32 arithmetic between QuantizeLinear and DequantizeLinear (ONNX "
    "QDQ semantics, as onnxruntime), not TFLite Micro's integer requantization; int8 outputs "
    "may differ from edgec's integer reference by several LSB"
)


@dataclass
class TvmBuild:
    library: Path
    tvm_version: str
    llvm_target: dict
    library_bytes: int
    schedule: str  # how the functions were scheduled


def import_tvm():
    """The ``tvm`` package, or a clear error naming the install command."""
    try:
        import tvm
        from tvm import relax  # noqa: F401  (the compiler half of the wheel)
    except ImportError as exc:
        raise EdgecError(
            f"the TVM backend needs apache-tvm ({exc}); install it with "
            "pip install 'edgec[tvm]' (or pip install apache-tvm)"
        ) from None
    return tvm


def relax_module(model: onnx.ModelProto):
    """Import an ONNX model into a Relax IRModule, listing every op relax cannot import."""
    import_tvm()
    from tvm.relax.frontend.onnx import from_onnx

    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    missing: dict[str, list[str]] = {}
    known = _relax_onnx_ops()
    for node in model.graph.node:
        if known is not None and node.op_type not in known:
            missing.setdefault(node.op_type, []).append(node.name or node.output[0])
    if missing:
        raise UnsupportedOpError(missing, what="TVM's relax ONNX importer")
    from edgec.backends.tvm.onnx_import import edgec_converters

    try:
        with edgec_converters():
            return from_onnx(model, opset=opset, keep_params_in_input=False)
    except Exception as exc:  # the importer raises plain Python and TVM errors
        raise BuildError(f"TVM could not import the model: {_first_line(exc)}", str(exc)) from None


def supported_onnx_ops() -> set[str] | None:
    """The ONNX op types relax's importer converts; None when TVM is not installed (or its
    table moved)."""
    try:
        import_tvm()
    except EdgecError:
        return None
    return _relax_onnx_ops()


def _relax_onnx_ops() -> set[str] | None:
    """The op types relax's importer converts (its private table; None if it moved)."""
    try:
        from tvm.relax.frontend.onnx.onnx_frontend import _get_convert_map

        return set(_get_convert_map())
    except (ImportError, AttributeError, TypeError):
        return None


SCHEDULE = "edgec CPU rules (register-tiled NHWC kernels, fused epilogues), untuned"


def check_cross_compiler(target: LinuxTarget) -> None:
    if target.cc and shutil.which(target.cc) is None:
        raise BuildError(
            f"{target.name}: the cross compiler {target.cc} is not installed (Debian: apt-get "
            f"install g++-{target.mtriple} libc6-dev-{_debian_arch(target)}-cross)"
        )


def build_library(
    mod, target: LinuxTarget, library: Path, float_graph: bool = True, database: Path | None = None
) -> TvmBuild:
    """Build the relax module ``mod`` for ``target`` through edgec's pipeline (with the
    MetaSchedule records in ``database``, if given) and write the library to ``library``."""
    tvm = import_tvm()
    from tvm import relax

    from edgec.backends.tvm.cpu import cpu_info
    from edgec.backends.tvm.pipeline import build_pipeline

    check_cross_compiler(target)
    cpu = cpu_info(target)
    llvm = cpu.llvm
    pipeline = build_pipeline(cpu, float_graph, database)
    try:
        executable = relax.build(mod, target=tvm.target.Target(llvm), relax_pipeline=pipeline)
    except Exception as exc:
        raise BuildError(f"relax.build for {llvm} failed: {_first_line(exc)}", str(exc)) from None
    kwargs = {"cc": target.cc} if target.cc else {}
    try:
        executable.export_library(str(library), addons=[str(THREADS_SOURCE)], **kwargs)
    except Exception as exc:
        raise BuildError(
            f"export_library with {target.cc or 'the host compiler'} failed: {_first_line(exc)}",
            str(exc),
        ) from None
    log.info("TVM %s built %s for %s", tvm.__version__, library.name, llvm)
    schedule = SCHEDULE
    if database is not None:
        schedule = f"MetaSchedule records where tuned, else {SCHEDULE}"
    return TvmBuild(library, tvm.__version__, llvm, library.stat().st_size, schedule)


def _debian_arch(target: LinuxTarget) -> str:
    return {"aarch64": "arm64", "arm": "armhf"}.get(target.arch, target.arch)


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(exc).__name__
