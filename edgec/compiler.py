"""The compile pipeline behind ``edgec compile``: import, process, hand to a backend, write.

Every backend is one entry of ``BACKENDS``: which boards it builds for, a check of the
options that runs before any work, and a build function taking the processed graph, the
target and the options and returning its files and manifest fields (``BackendOutput``). No
backend imports this module. The output folder is self-describing: the manifest
(``edgec.artifact``) and ``reference.onnx``, the processed graph the generated code must
reproduce (the golden model of ``edgec validate``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import onnx

from edgec.artifact import BackendOutput, Manifest, PortSpec, file_sha256
from edgec.backends.c.compile import check_c_options, compile_c
from edgec.backends.tvm.compile import check_tvm_options, compile_tvm
from edgec.compress import cluster_weights, compress_graph, prune_magnitude, wants_compression
from edgec.compress.structured import prune_kind
from edgec.data import calibration_dataset, input_specs
from edgec.errors import EdgecError
from edgec.frontend import load_model, read_model
from edgec.ir import Graph, to_onnx
from edgec.options import QUANTIZE_MODES, CompileOptions
from edgec.outdir import check_destination, write_atomically, write_files
from edgec.passes import fold
from edgec.quantize.export import to_qdq
from edgec.quantize.ptq import PTQConfig, quantize_float_graph
from edgec.quantize.qdq import has_qdq, lower_and_fold
from edgec.quantize.report import dumps, quantization_report
from edgec.targets import DEFAULT_TARGET, load_board

__all__ = ["BACKENDS", "CompileOptions", "CompileResult", "compile_model", "prepare_graph"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backend:
    """One code generator: the kind of board it builds for, its default board, a check of
    the options (before the model is read), and the build itself."""

    target_kind: str  # "mcu" or "linux"
    default_target: str
    check: Callable[[CompileOptions, object], None]
    build: Callable[[Graph, object, CompileOptions, str], BackendOutput]


BACKENDS: dict[str, Backend] = {
    "c": Backend("mcu", DEFAULT_TARGET, check_c_options, compile_c),
    "tvm": Backend("linux", "aarch64-linux", check_tvm_options, compile_tvm),
}


@dataclass
class CompileResult:
    out_dir: Path
    graph: Graph
    manifest: Manifest
    notices: list[str]
    reports: dict = field(default_factory=dict)

    @property
    def arena_bytes(self) -> int | None:
        """The planned arena (C backend); None for TVM, whose VM allocates at run time."""
        return self.manifest.arena_bytes

    @property
    def weight_bytes(self) -> int:
        return self.manifest.weight_bytes


def prepare_graph(
    model: str | Path | onnx.ModelProto,
    options: CompileOptions,
    notices: list[str] | None = None,
    reports: dict | None = None,
) -> Graph:
    """Import and process a model the way ``compile`` does, without generating code:
    fold, compress (on --calib), quantize or lower a QDQ model, cluster."""
    notices = notices if notices is not None else []
    reports = reports if reports is not None else {}
    graph = fold(load_model(model, options.input_shapes, notices))
    # what --calib holds: the model's own inputs (before quantization changes their dtype)
    data_specs = input_specs(graph)
    if wants_compression(options):
        if has_qdq(graph):
            raise EdgecError("pruning and low-rank apply to float models; this one is quantized")
        data = calibration_dataset(data_specs, options)
        graph, reports["compression"] = compress_graph(graph, options, data)
    if options.prune and prune_kind(options.prune) == "magnitude":
        data = calibration_dataset(data_specs, options) if options.prune_refit else None
        graph, reports["pruning"] = prune_magnitude(graph, options.prune, data)
    if has_qdq(graph):
        if options.quantizing:
            raise EdgecError("the model is already quantized (QDQ); drop --quantize")
        graph = lower_and_fold(graph)
    elif options.quantizing:
        graph, reports["quantization"] = quantize_with_options(graph, options)
    if options.cluster:
        data = calibration_dataset(data_specs, options)
        graph, reports["clustering"] = cluster_weights(graph, options.cluster, data)
    return graph


def quantize_with_options(graph: Graph, options: CompileOptions) -> tuple[Graph, dict]:
    """PTQ of a folded float graph as ``compile --quantize`` asks; returns it and its report."""
    if not options.calib:
        raise EdgecError(f"--quantize {options.quantize} needs calibration data (--calib DATA)")
    specs = input_specs(graph)
    data = calibration_dataset(specs, options)
    input_params = {}
    if options.data_scale is not None and options.quantize == "int8" and not options.float_io:
        # Integer data given with its parameters: the int8 model takes it unchanged.
        input_params = {s.name: (options.data_scale, options.data_zero_point or 0) for s in specs}
    config = PTQConfig(
        mode=options.quantize,
        method=options.calib_method,
        float_io=options.float_io,
        bias_correction=options.bias_correction,
        sqnr_threshold_db=options.sqnr_threshold_db,
        input_params=input_params,
        weight_bits="auto" if options.weight_bits == "auto" else int(options.weight_bits),
        weight_rounding=options.rounding_method,
    )
    model = quantize_float_graph(graph, data, config)
    report = quantization_report(graph, model.graph, data, model.precision, options.rounding)
    if model.layer_sqnr:
        report["int8_layer_sqnr_db"] = model.layer_sqnr
    if model.choices:
        report["weights"] = model.choices
    return model.graph, report


def compile_model(
    model_path: str | Path, out_dir: str | Path, options: CompileOptions
) -> CompileResult:
    """Compile ``model_path`` into ``out_dir`` (written atomically)."""
    backend = BACKENDS.get(options.backend)
    if backend is None:
        raise EdgecError(f"unknown backend {options.backend!r}; choose from {', '.join(BACKENDS)}")
    if options.quantize not in (*QUANTIZE_MODES, None):
        raise EdgecError(f"--quantize must be one of {', '.join(QUANTIZE_MODES)}")
    target = load_board(options.target or backend.default_target, backend.target_kind)
    backend.check(options, target)
    # Refuse an existing OUT (unless --force) and an unreadable file before any work.
    out_dir = Path(out_dir)
    check_destination(out_dir, options.force)
    read_model(model_path)
    notices: list[str] = []
    reports: dict = {}
    graph = prepare_graph(model_path, options, notices, reports)
    sha = file_sha256(model_path)
    built = backend.build(graph, target, options, sha)
    notices += built.notices
    shapes = built.device_shapes
    manifest = Manifest(
        backend=options.backend,
        target=target.name,
        model_sha256=sha,
        source_model=str(Path(model_path).resolve()),
        options=options.recorded(),
        inputs=[PortSpec.of_value(v, s) for v, s in zip(graph.inputs, shapes["inputs"])],
        outputs=[PortSpec.of_value(v, s) for v, s in zip(graph.outputs, shapes["outputs"])],
        notices=notices,
        **built.manifest,
    )
    reference = built.reference if built.reference is not None else to_onnx(to_qdq(graph))

    def fill(folder: Path) -> None:
        write_files(folder, built.files)
        manifest.save(folder)
        onnx.save(reference, str(folder / manifest.reference_graph))
        write_files(folder, {f"{name}.json": dumps(report) for name, report in reports.items()})

    final = write_atomically(out_dir, fill, options.force)
    return CompileResult(final, graph, manifest, notices, reports)
