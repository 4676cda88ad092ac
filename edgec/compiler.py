"""The compile pipeline behind ``edgec compile``: import, process, hand to a backend, write.

Every backend is one entry of ``BACKENDS``: which boards it builds for, a check of the
options that runs before any work, and a build function taking the processed graph, the
target and the options and returning its files and manifest fields (``BackendOutput``). No
backend imports this module. The output folder is self-describing: the manifest
(``edgec.artifact``) and ``reference.onnx``, the processed graph the generated code must
reproduce (the golden model of ``edgec validate``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import onnx

from edgec.analysis import const_data, parameter_inputs
from edgec.artifact import BackendOutput, Manifest, PortSpec, file_sha256
from edgec.backends.c.compile import (
    check_c_options,
    check_weights_fit,
    compile_c,
    integer_refusal,
)
from edgec.backends.tvm.compile import check_tvm_options, compile_tvm
from edgec.compress import cluster_weights, compress_graph, prune_magnitude, wants_compression
from edgec.compress.structured import prune_kind
from edgec.data import calibration_dataset, input_specs
from edgec.errors import EdgecError
from edgec.frontend import load_model, read_model
from edgec.ir import Graph, to_onnx
from edgec.ir.graph import Node
from edgec.ops.registry import node_macs
from edgec.options import QUANTIZE_MODES, CompileOptions
from edgec.outdir import check_destination, write_atomically, write_files
from edgec.passes import fold
from edgec.passes.resequence import make_stateful
from edgec.quantize.export import to_qdq
from edgec.quantize.fallback import float_fallback
from edgec.quantize.ptq import PTQConfig, quantize_float_graph
from edgec.quantize.qdq import has_qdq, lower_and_fold
from edgec.quantize.report import dumps, quantization_report
from edgec.reports.compile import LayerFacts, render_compile_report
from edgec.reports.compression import compiled_summary, summary_rows
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
    # a check of the folded float graph before quantization (its calibration takes long)
    precheck: Callable[[Graph, object, CompileOptions], None] | None = None
    # why an integer node cannot run in integer while its float kernel can (float fallback)
    integer_refusal: Callable[[Node, CompileOptions], str | None] | None = None
    # build(..., previous=OUT) gets the folder it replaces (TVM: its tuning database)
    reads_previous: bool = False


BACKENDS: dict[str, Backend] = {
    "c": Backend(
        "mcu", DEFAULT_TARGET, check_c_options, compile_c, check_weights_fit, integer_refusal
    ),
    "tvm": Backend("linux", "aarch64-linux", check_tvm_options, compile_tvm, reads_previous=True),
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
    precheck: Callable[[Graph], None] | None = None,
    refusal: Callable[[Node], str | None] | None = None,
) -> Graph:
    """Import and process a model the way ``compile`` does, without generating code:
    fold, compress (on --calib), quantize or lower a QDQ model, cluster. ``precheck`` sees
    the graph before quantization; the integer nodes ``refusal`` gives a reason for are kept
    in float (``quantize.fallback``, reported in the quantization report)."""
    notices = notices if notices is not None else []
    reports = reports if reports is not None else {}
    graph = fold(load_model(model, options.input_shapes, notices))
    unpruned = None  # the model before compression: the optimized rounding aims at it
    # what --calib holds: the model's own inputs (before quantization changes their dtype)
    data_specs = input_specs(graph)
    if wants_compression(options):
        if has_qdq(graph):
            raise EdgecError("pruning and low-rank apply to float models; this one is quantized")
        data = calibration_dataset(data_specs, options)
        unpruned = graph.copy()
        graph, reports["compression"] = compress_graph(graph, options, data)
    if options.prune and prune_kind(options.prune) == "magnitude":
        data = calibration_dataset(data_specs, options) if options.prune_refit else None
        graph, reports["pruning"] = prune_magnitude(graph, options.prune, data)
    if has_qdq(graph):
        if options.quantizing:
            raise EdgecError("the model is already quantized (QDQ); drop --quantize")
        graph = lower_and_fold(graph)
        kept = float_fallback(graph, refusal) if refusal is not None else []
        if kept:
            reports["quantization"] = {"float_fallback": kept}
    elif options.quantizing:
        if precheck is not None:
            precheck(graph)
        graph, reports["quantization"] = quantize_with_options(graph, options, refusal, unpruned)
    if options.cluster:
        data = calibration_dataset(data_specs, options)
        graph, reports["clustering"] = cluster_weights(graph, options.cluster, data)
    return graph


def quantize_with_options(
    graph: Graph,
    options: CompileOptions,
    refusal: Callable[[Node], str | None] | None = None,
    original: Graph | None = None,
) -> tuple[Graph, dict]:
    """PTQ of a folded float graph as ``compile --quantize`` asks; returns it and its report
    (integer nodes ``refusal`` gives a reason for stay in float)."""
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
        input_grid=options.input_grid,
        range_search=options.range_search,
        empirical_bias=options.empirical_bias,
        sqnr_threshold_db=options.sqnr_threshold_db,
        input_params=input_params,
        weight_bits="auto" if options.weight_bits == "auto" else int(options.weight_bits),
        weight_rounding=options.rounding_method,
    )
    model = quantize_float_graph(graph, data, config, original)
    kept = float_fallback(model.graph, refusal) if refusal is not None else []
    precision = {k: v for k, v in model.precision.items() if k not in {r["node"] for r in kept}}
    report = quantization_report(graph, model.graph, data, precision, options.rounding)
    report["float_fallback"] = kept
    if model.layer_sqnr:
        report["int8_layer_sqnr_db"] = model.layer_sqnr
    if model.choices:
        report["weights"] = model.choices
    return model.graph, report


def _layer_facts(graph: Graph) -> list[LayerFacts]:
    return [
        LayerFacts(
            node.name,
            node.op_type,
            node_macs(node) or 0,
            sum(const_data(v).nbytes for _, v in parameter_inputs(node)),
        )
        for node in graph.nodes
    ]


def _memory(built: BackendOutput) -> dict | None:
    return json.loads(built.files["memory.json"]) if "memory.json" in built.files else None


def compression_section(graph: Graph, built: BackendOutput, reports: dict) -> dict:
    """compression.json's ``compiled`` section (reports/compression.py)."""
    params = [
        sum(int(const_data(v).size) for _, v in parameter_inputs(node)) for node in graph.nodes
    ]
    return compiled_summary(
        _layer_facts(graph),
        params,
        [node.outputs[0].name if node.outputs else "" for node in graph.nodes],
        [v.name for v in graph.outputs],
        _memory(built),
        reports,
        int(built.manifest.get("weight_bytes") or 0),
    )


def compile_report(manifest: Manifest, graph: Graph, built: BackendOutput, reports: dict) -> str:
    """``OUT/report.html``: the compiled model's layers, memory and quantization as charts."""
    layers = _layer_facts(graph)
    memory = _memory(built)
    arena = manifest.arena_bytes
    summary = [
        ("backend", manifest.backend),
        ("target", manifest.target),
        ("source model", manifest.source_model),
        ("model SHA-256", manifest.model_sha256),
        ("weights", f"{manifest.weight_bytes:,} B"),
        ("arena", "allocated at run time" if arena is None else f"{arena:,} B"),
        ("MACs per inference", f"{sum(layer.macs for layer in layers):,}"),
    ]
    compiled = (reports.get("compression") or {}).get("compiled")
    if compiled:  # compression.json: bytes by format, the SQNR measured on calibration data
        summary += summary_rows(compiled)
    title = f"edgec compile: {Path(manifest.source_model).name} for {manifest.target}"
    return render_compile_report(title, summary, layers, memory, reports)


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
    if options.stateful and options.backend != "c":
        raise EdgecError(
            "--stateful builds keep their state in the C backend's arena (--backend c)"
        )
    if options.stream_steps is not None and not options.stateful:
        raise EdgecError("--stream-steps sets the time steps per call of a --stateful build")
    # Refuse an existing OUT (unless --force) and an unreadable file before any work.
    out_dir = Path(out_dir)
    check_destination(out_dir, options.force)
    read_model(model_path)
    notices: list[str] = []
    reports: dict = {}
    precheck = refusal = None
    if backend.precheck is not None:

        def precheck(graph: Graph) -> None:
            backend.precheck(graph, target, options)

    if backend.integer_refusal is not None and options.float_fallback:

        def refusal(node: Node) -> str | None:
            return backend.integer_refusal(node, options)

    graph = prepare_graph(model_path, options, notices, reports, precheck, refusal)
    stream = None
    if options.stateful:  # quantized on whole sequences, then run a few steps per call
        graph, stream = make_stateful(graph, options.stream_steps)
    sha = file_sha256(model_path)
    previous = {"previous": out_dir} if backend.reads_previous and out_dir.is_dir() else {}
    built = backend.build(graph, target, options, sha, **previous)
    notices += built.notices
    compiled = compression_section(graph, built, reports)
    reports["compression"] = {**reports.get("compression", {}), "compiled": compiled}
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
        stream=stream,
        **built.manifest,
    )
    reference = built.reference if built.reference is not None else to_onnx(to_qdq(graph))
    html = compile_report(manifest, graph, built, reports)

    def fill(folder: Path) -> None:
        write_files(folder, built.files)
        manifest.save(folder)
        onnx.save(reference, str(folder / manifest.reference_graph))
        write_files(folder, {f"{name}.json": dumps(report) for name, report in reports.items()})
        write_files(folder, {"report.html": html})

    final = write_atomically(out_dir, fill, options.force)
    return CompileResult(final, graph, manifest, notices, reports)
