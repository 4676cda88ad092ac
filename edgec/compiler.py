"""The compile pipeline behind ``edgec compile``: import, fold, quantize, generate, write.

The output folder is self-describing: ``manifest.json`` records the source model's SHA-256,
the options and the I/O specs, and ``reference.onnx`` is the processed graph that the
generated code must reproduce (the golden model of ``edgec validate``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnx

from edgec import __version__
from edgec.errors import EdgecError
from edgec.ir import Graph, load_model, to_onnx
from edgec.ir.onnx_import import read_model
from edgec.outdir import check_destination, write_atomically, write_files

log = logging.getLogger(__name__)

BACKENDS = ("c",)
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
    input_shapes: dict[str, Sequence[int]] = field(default_factory=dict)
    force: bool = False


@dataclass
class CompileResult:
    out_dir: Path
    graph: Graph
    manifest: dict
    notices: list[str]

    @property
    def arena_bytes(self) -> int:
        return int(self.manifest["arena_bytes"])

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
) -> Graph:
    """Import and process a model the way ``compile`` does, without generating code."""
    from edgec.passes import fold
    from edgec.quantize.qdq import lower_qdq

    notices = notices if notices is not None else []
    graph = load_model(model, options.input_shapes, notices)
    graph = fold(graph)
    if has_qdq(graph):
        if options.quantize not in ("none", None):
            raise EdgecError("the model is already quantized (QDQ); drop --quantize")
        graph = lower_qdq(graph)
        graph = fold(graph)
    elif options.quantize not in ("none", None):
        from edgec.quantize.ptq import quantize_graph

        graph = quantize_graph(graph, options)
    return graph


def port_specs(values) -> list[dict]:
    specs = []
    for v in values:
        spec = {"name": v.name, "dtype": str(np.dtype(v.dtype)), "shape": list(v.shape)}
        if v.quant is not None and v.quant.axis is None:
            spec.update(scale=float(v.quant.scale), zero_point=int(v.quant.zero_point))
        specs.append(spec)
    return specs


def compile_model(
    model_path: str | Path, out_dir: str | Path, options: CompileOptions
) -> CompileResult:
    """Compile ``model_path`` into ``out_dir`` (written atomically)."""
    if options.backend not in BACKENDS:
        raise EdgecError(f"unknown backend {options.backend!r}; choose from {', '.join(BACKENDS)}")
    if options.quantize not in QUANTIZE_MODES:
        raise EdgecError(f"--quantize must be one of {', '.join(QUANTIZE_MODES)}")
    out_dir = Path(out_dir)
    check_destination(out_dir, options.force)
    read_model(model_path)  # a clear error for unreadable files before anything else
    sha = file_sha256(model_path)
    notices: list[str] = []
    graph = prepare_graph(model_path, options, notices)

    from edgec.backends.c import generate_c

    generated = generate_c(graph, options.prefix, sha, options.io_layout)
    manifest = {
        "edgec_version": __version__,
        "source_model": str(Path(model_path).resolve()),
        "model_sha256": sha,
        "options": {k: v for k, v in asdict(options).items() if k != "force"},
        "backend": options.backend,
        "target": options.target,
        "prefix": options.prefix,
        "inputs": port_specs(graph.inputs),
        "outputs": port_specs(graph.outputs),
        "io_shapes": {
            "inputs": [list(p.shape) for p in generated.program.inputs],
            "outputs": [list(p.shape) for p in generated.program.outputs],
        },
        "arena_bytes": generated.arena_bytes,
        "weight_bytes": generated.weight_bytes,
        "reference_graph": "reference.onnx",
        "notices": notices,
    }

    def fill(folder: Path) -> None:
        write_files(folder, generated.files)
        write_files(folder, generated.kernel_files)
        write_files(folder, {"manifest.json": json.dumps(manifest, indent=2) + "\n"})
        onnx.save(to_onnx(graph), str(folder / "reference.onnx"))

    final = write_atomically(out_dir, fill, options.force)
    return CompileResult(final, graph, manifest, notices)


def load_manifest(out_dir: str | Path) -> dict:
    path = Path(out_dir) / "manifest.json"
    if not path.is_file():
        raise EdgecError(f"{out_dir} is not an edgec output folder (no manifest.json)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise EdgecError(f"{path}: unreadable manifest ({exc})") from None


def input_shapes_arg(specs: Sequence[str]) -> Mapping[str, tuple[int, ...]]:
    """Parse ``NAME=D0,D1,…`` items of ``--input-shape``."""
    shapes = {}
    for spec in specs:
        name, sep, dims = spec.rpartition("=")
        try:
            if not sep or not name:
                raise ValueError
            shapes[name] = tuple(int(d) for d in dims.split(","))
        except ValueError:
            raise EdgecError(f"--input-shape {spec!r}: expected NAME=D0,D1,…") from None
    return shapes
