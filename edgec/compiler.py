"""The compile pipeline behind ``edgec compile``: import, fold, quantize, generate, write.

The output folder is self-describing: ``manifest.json`` records the source model's SHA-256,
the options and the I/O specs, and ``reference.onnx`` is the processed graph that the
generated code must reproduce (the golden model of ``edgec validate``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnx

from edgec import __version__
from edgec.data import calibration_dataset, input_specs
from edgec.errors import EdgecError
from edgec.ir import Graph, load_model, to_onnx
from edgec.ir.onnx_import import read_model
from edgec.outdir import check_destination, write_atomically, write_files
from edgec.quantize.export import to_qdq
from edgec.quantize.report import dumps

log = logging.getLogger(__name__)

BACKENDS = ("c", "tvm")
QUANTIZE_MODES = ("none", "int8", "int16x8", "auto")


@dataclass
class CompileOptions:
    backend: str = "c"
    target: str | None = None
    prefix: str = "model"
    quantize: str = "none"
    calib: str | None = None
    rounding: str = "tflm"
    io_layout: str = "declared"
    # "auto": the optimized int8 kernels on cores with the DSP extension, else the portable.
    kernels: str = "auto"
    # "always": optimized kernels get their scratch memory (im2col rows) even where it grows
    # the arena; "free": only where it does not (the portable kernel runs instead), and the
    # convolutions and permutes at the peak are planned in place over their input (overlap.py)
    kernel_scratch: str = "always"
    input_shapes: dict[str, Sequence[int]] = field(default_factory=dict)
    force: bool = False
    # Post-training quantization (``--quantize``): calibration data and how to read it.
    calib_method: str = "percentile"
    calib_samples: int | None = None
    calib_dtype: str | None = None
    calib_shape: tuple[int, ...] | None = None
    data_scale: float | None = None
    data_zero_point: int | None = None
    float_io: bool = False
    bias_correction: bool = True
    sqnr_threshold_db: float = 40.0
    # Compression before quantization (edgec/compress/), re-fitted on the --calib data:
    # "channels:RATIO" or "magnitude:SPARSITY[:global]" (weights zeroed, stored sparse).
    prune: str | None = None
    prune_budget: float | None = None  # points of top-1 agreement (or accuracy) to spend
    prune_metric: str = "agreement"
    prune_refit: bool = True  # refit magnitude-pruned layers to the unpruned model
    lowrank: str | None = None  # energy:E | rank:R
    # Clustering "K[:layer|:channel]" of int8 weights; the C backend's weight storage.
    cluster: str | None = None
    weight_storage: str = "auto"


@dataclass
class CompileResult:
    out_dir: Path
    graph: Graph
    manifest: dict
    notices: list[str]
    reports: dict = field(default_factory=dict)

    @property
    def arena_bytes(self) -> int | None:
        """The planned arena (C backend); None for TVM, whose VM allocates at run time."""
        value = self.manifest["arena_bytes"]
        return None if value is None else int(value)

    @property
    def weight_bytes(self) -> int:
        return int(self.manifest["weight_bytes"])


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def has_qdq(graph: Graph) -> bool:
    return any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in graph.nodes)


def prepare_graph(
    model: str | Path | onnx.ModelProto,
    options: CompileOptions,
    notices: list[str] | None = None,
    reports: dict | None = None,
) -> Graph:
    """Import and process a model the way ``compile`` does, without generating code."""
    from edgec.compress.structured import prune_kind
    from edgec.passes import fold
    from edgec.quantize.qdq import lower_and_fold

    notices = notices if notices is not None else []
    graph = load_model(model, options.input_shapes, notices)
    graph = fold(graph)
    # what --calib holds: the model's own inputs (before quantization changes their dtype)
    data_specs = input_specs(graph)
    graph = _compress(graph, options, data_specs, reports)
    if options.prune and prune_kind(options.prune) == "magnitude":
        from edgec.compress import prune_magnitude

        data = calibration_dataset(data_specs, options) if options.prune_refit else None
        graph, report = prune_magnitude(graph, options.prune, data)
        if reports is not None:
            reports["pruning"] = report
    if has_qdq(graph):
        if options.quantize not in ("none", None):
            raise EdgecError("the model is already quantized (QDQ); drop --quantize")
        graph = lower_and_fold(graph)
    elif options.quantize not in ("none", None):
        graph, report = quantize_with_options(graph, options)
        if reports is not None:
            reports["quantization"] = report
    if options.cluster:
        from edgec.compress import cluster_weights

        data = calibration_dataset(data_specs, options)
        graph, report = cluster_weights(graph, options.cluster, data)
        if reports is not None:
            reports["clustering"] = report
    return graph


def process_model(
    model_path: str | Path, out_dir: str | Path, options: CompileOptions
) -> tuple[Path, str, list[str], dict, Graph]:
    """What every backend does first: refuse an existing OUT (unless --force), read the model
    (a clear error for an unreadable file before anything else), hash it and process it.
    Returns (OUT, the model's SHA-256, notices, pass reports, the processed graph)."""
    out_dir = Path(out_dir)
    check_destination(out_dir, options.force)
    read_model(model_path)
    notices: list[str] = []
    reports: dict = {}
    graph = prepare_graph(model_path, options, notices, reports)
    return out_dir, file_sha256(model_path), notices, reports, graph


def _compress(graph: Graph, options: CompileOptions, specs, reports: dict | None) -> Graph:
    """Channel pruning / low-rank of the float graph when asked (``compression.json``)."""
    from edgec.compress import compress_graph, wants_compression

    if not wants_compression(options):
        return graph
    if has_qdq(graph):
        raise EdgecError("pruning and low-rank apply to float models; this one is quantized")
    data = calibration_dataset(specs, options)
    graph, report = compress_graph(graph, options, data)
    if reports is not None:
        reports["compression"] = report
    return graph


def quantize_with_options(graph: Graph, options: CompileOptions) -> tuple[Graph, dict]:
    """PTQ of a folded float graph as ``compile --quantize`` asks; returns it and its report."""
    from edgec.quantize.ptq import PTQConfig, quantize_float_graph
    from edgec.quantize.report import quantization_report

    if not options.calib:
        raise EdgecError(f"--quantize {options.quantize} needs calibration data (--calib DATA)")
    specs = input_specs(graph)
    data = calibration_dataset(specs, options)
    mode = {"int8": "int8", "int16x8": "int16x8", "auto": "auto"}[options.quantize]
    input_params = {}
    if options.data_scale is not None and mode == "int8" and not options.float_io:
        # Integer data given with its parameters: the int8 model takes it unchanged.
        input_params = {s.name: (options.data_scale, options.data_zero_point or 0) for s in specs}
    config = PTQConfig(
        mode=mode,
        method=options.calib_method,
        float_io=options.float_io,
        bias_correction=options.bias_correction,
        sqnr_threshold_db=options.sqnr_threshold_db,
        input_params=input_params,
    )
    model = quantize_float_graph(graph, data, config)
    report = quantization_report(graph, model.graph, data, model.precision, options.rounding)
    if model.layer_sqnr:
        report["int8_layer_sqnr_db"] = model.layer_sqnr
    return model.graph, report


def port_specs(values) -> list[dict]:
    specs = []
    for v in values:
        spec = {"name": v.name, "dtype": str(np.dtype(v.dtype)), "shape": list(v.shape)}
        if v.quant is not None and v.quant.axis is None:
            spec.update(scale=float(v.quant.scale), zero_point=int(v.quant.zero_point))
        specs.append(spec)
    return specs


def _target_memory_check(target):
    """A check that the weights fit the target's flash and the arena its RAM."""
    from edgec.errors import TargetError

    def fits(weight_bytes: int, arena_bytes: int) -> None:
        problems = []
        if weight_bytes > target.flash.length:
            problems.append(f"weights {weight_bytes:,} B > flash {target.flash.length:,} B")
        if arena_bytes > target.ram.length:
            problems.append(f"arena {arena_bytes:,} B > RAM {target.ram.length:,} B")
        if problems:
            raise TargetError(
                f"the model does not fit {target.name}: {'; '.join(problems)} "
                "(choose a larger target with --target, or quantize with --quantize int8)"
            )

    return fits


def resolve_kernels(options: CompileOptions, target) -> str:
    """``--kernels auto``: optimized where the target's core has a fast path for them (the
    DSP extension, or the plain multiply-add paths of RV32 and the Cortex-M0)."""
    from edgec.backends.c.generate import SCRATCH_POLICIES
    from edgec.backends.c.lower import KERNEL_SETS

    if options.kernels not in ("auto", *KERNEL_SETS):
        raise EdgecError(f"--kernels must be one of {', '.join(('auto', *KERNEL_SETS))}")
    if options.kernel_scratch not in SCRATCH_POLICIES:
        raise EdgecError(f"--kernel-scratch must be one of {', '.join(SCRATCH_POLICIES)}")
    if options.kernels != "auto":
        return options.kernels
    return "optimized" if target.fast_kernels else "portable"


def compile_model(
    model_path: str | Path, out_dir: str | Path, options: CompileOptions
) -> CompileResult:
    """Compile ``model_path`` into ``out_dir`` (written atomically)."""
    if options.backend not in BACKENDS:
        raise EdgecError(f"unknown backend {options.backend!r}; choose from {', '.join(BACKENDS)}")
    if options.quantize not in QUANTIZE_MODES:
        raise EdgecError(f"--quantize must be one of {', '.join(QUANTIZE_MODES)}")
    if options.backend == "tvm":  # ARM Linux boards: edgec/backends/tvm
        from edgec.backends.tvm import compile_tvm

        return compile_tvm(model_path, out_dir, options)
    if options.rounding != "tflm":
        raise EdgecError(
            f"--rounding {options.rounding}: the C backend implements TFLite Micro's rounding "
            "only; the other modes run in the reference executor (edgec.interp.Interpreter)"
        )
    from edgec.targets import load_board

    target = load_board(options.target, "mcu")
    kernels = resolve_kernels(options, target)
    from edgec.backends.c.weight_storage import POLICIES

    if options.weight_storage not in POLICIES:
        raise EdgecError(f"--weight-storage must be one of {', '.join(POLICIES)}")
    out_dir, sha, notices, reports, graph = process_model(model_path, out_dir, options)

    from edgec.backends.c import generate_c

    generated = generate_c(
        graph,
        options.prefix,
        sha,
        options.io_layout,
        kernels=kernels,
        scratch=options.kernel_scratch,
        fits=_target_memory_check(target),
        weight_storage=options.weight_storage,
    )
    manifest = {
        "edgec_version": __version__,
        "source_model": str(Path(model_path).resolve()),
        "model_sha256": sha,
        "options": {k: v for k, v in asdict(options).items() if k != "force"},
        "backend": options.backend,
        "target": options.target,
        "prefix": options.prefix,
        "kernels": kernels,
        "inputs": port_specs(graph.inputs),
        "outputs": port_specs(graph.outputs),
        "io_shapes": {
            "inputs": [list(p.shape) for p in generated.program.inputs],
            "outputs": [list(p.shape) for p in generated.program.outputs],
        },
        "arena_bytes": generated.arena_bytes,
        "weight_bytes": generated.weight_bytes,
        "weight_storage": generated.program.weight_storage,
        "reference_graph": "reference.onnx",
        "notices": notices,
    }

    def fill(folder: Path) -> None:
        write_files(folder, generated.files)
        write_files(folder, generated.kernel_files)
        write_files(folder, {"manifest.json": json.dumps(manifest, indent=2) + "\n"})
        onnx.save(to_onnx(to_qdq(graph)), str(folder / "reference.onnx"))
        write_reports(folder, reports)

    final = write_atomically(out_dir, fill, options.force)
    return CompileResult(final, graph, manifest, notices, reports)


REPORTS = ("quantization", "compression", "pruning", "clustering")


def write_reports(folder: Path, reports: dict) -> None:
    """``quantization.json``, ``compression.json``, … for the passes that ran (any backend)."""
    write_files(
        folder, {f"{name}.json": dumps(reports[name]) for name in REPORTS if name in reports}
    )


def load_manifest(out_dir: str | Path) -> dict:
    path = Path(out_dir) / "manifest.json"
    if not path.is_file():
        raise EdgecError(f"{out_dir} is not an edgec output folder (no manifest.json)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise EdgecError(f"{path}: unreadable manifest ({exc})") from None
