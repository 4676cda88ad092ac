"""Build the zoo's models with seeded random weights and export each three ways.

    /work/venv-torch/bin/python tests/zoo/export_zoo.py [--models a,b] [--out tests/zoo]

Needs torch, torchvision, onnx, onnxscript and onnxruntime (a venv of its own: torch is this
script's tool, never a test or CI dependency). Per model: weights from torch's default init
under a seed of the model's name; BatchNorm affine parameters random and running statistics
measured on random inputs, then perturbed, so that folding BatchNorm changes real numbers.
Exports: ``legacy13`` and ``legacy17`` (``torch.onnx.export(dynamo=False)`` at opsets 13 and
17) and ``dynamo`` (torch's default exporter, its default opset). Each export is checked by
``onnx.checker`` and against torch's own outputs in onnxruntime; ``manifest.json`` and the
model table of ``README.md`` are rewritten from what was exported.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import sys
import zlib
from pathlib import Path

import numpy as np
import onnx
import onnx.shape_inference
import onnxruntime as ort
import torch
import torchvision
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from zoo_models import MODELS, ZooModel  # noqa: E402

EXPORTS = {"legacy13": 13, "legacy17": 17, "dynamo": None}
CHECK_SAMPLES = 4
MAX_FILE_BYTES = 1_500_000
TABLE_START, TABLE_END = "<!-- zoo table start -->", "<!-- zoo table end -->"


def seeded_model(spec: ZooModel) -> nn.Module:
    """The model with seeded weights, realistic perturbed BatchNorm statistics, random
    LayerNorm and PReLU parameters, and its last layer scaled to outputs of unit spread."""
    seed = zlib.crc32(spec.name.encode())
    torch.manual_seed(seed)
    model = spec.build()
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                # Shifted up, as trained networks' BatchNorm often is: with zero-mean shifts
                # a random deep network is chaotic (PTQ noise grows ~1.5 dB per layer; no
                # quantizer, onnxruntime's included, gets MobileNetV2 above 10 dB).
                m.weight.uniform_(0.3, 0.8, generator=generator)
                m.bias.normal_(1.0, 0.2, generator=generator)
            elif isinstance(m, nn.LayerNorm):
                m.weight.uniform_(0.5, 1.5, generator=generator)
                m.bias.normal_(0.0, 0.2, generator=generator)
            elif isinstance(m, nn.PReLU):
                m.weight.uniform_(0.05, 0.5, generator=generator)
        set_batchnorm_statistics(model, spec, generator)
        model.eval()
        out = model(torch.randn((16, *spec.input_shape[1:]), generator=generator))
        if out.is_floating_point():
            last = [m for m in model.modules() if isinstance(m, nn.Linear | nn.Conv2d)][-1]
            last.weight /= out.std()
            last.bias /= out.std()
    return model


def set_batchnorm_statistics(model: nn.Module, spec: ZooModel, generator) -> None:
    """Running statistics measured on random inputs, then moved off by a random amount."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    for bn in norms:
        bn.momentum = None  # a cumulative average over the batches below
        bn.reset_running_stats()
    model.train()
    for _ in range(4):
        model(torch.randn((16, *spec.input_shape[1:]), generator=generator))
    for bn in norms:
        scale = torch.empty_like(bn.running_var).uniform_(0.7, 1.4, generator=generator)
        shift = torch.randn(bn.running_mean.shape, generator=generator)
        bn.running_mean += 0.1 * shift * bn.running_var.sqrt()
        bn.running_var *= scale
        bn.momentum = 0.1


def sample_inputs(spec: ZooModel, count: int) -> np.ndarray:
    rng = np.random.default_rng(zlib.crc32(spec.name.encode()) + 2)
    return rng.standard_normal((count, *spec.input_shape)).astype(np.float32)


def export(model: nn.Module, example: torch.Tensor, kind: str, path: Path) -> None:
    common = {"input_names": ["input"], "output_names": ["output"]}
    opset = EXPORTS[kind]
    with contextlib.redirect_stdout(io.StringIO()):
        if opset is not None:
            torch.onnx.export(
                model, (example,), str(path), dynamo=False, opset_version=opset, **common
            )
        else:
            torch.onnx.export(
                model, (example,), str(path), dynamo=True, external_data=False, **common
            )


def check_export(path: Path, inputs: np.ndarray, expected: list[np.ndarray]) -> dict:
    """onnx.checker, then onnxruntime against torch's outputs; the facts for manifest.json."""
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    try:  # strict shape inference: a finding about the export, not a reason to drop it
        onnx.checker.check_model(proto, full_check=True)
        full_check = "ok"
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        full_check = str(exc).strip().splitlines()[-1][:300]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    worst = 0.0
    for x, want in zip(inputs, expected):
        got = session.run(None, {name: x})[0]
        if got.dtype.kind in "iu":
            worst = max(worst, float(np.max(got != want)))
        else:
            worst = max(worst, float(np.max(np.abs(got - want))))
    opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    return {
        "file": f"models/{path.name}",
        "bytes": path.stat().st_size,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "opset": opset,
        "ops": sorted({n.op_type for n in proto.graph.node}),
        "max_abs_diff_vs_torch": worst,
        "onnx_full_check": full_check,
    }


def build_one(spec: ZooModel, out: Path) -> dict:
    model = seeded_model(spec)
    inputs = sample_inputs(spec, CHECK_SAMPLES)
    with torch.no_grad():
        expected = [model(torch.from_numpy(x)).numpy() for x in inputs]
    out_std = float(np.std(np.stack(expected))) if expected[0].dtype.kind == "f" else None
    entry = {
        "name": spec.name,
        "source": spec.source,
        "input_shape": list(spec.input_shape),
        "output_shape": list(expected[0].shape),
        "params": sum(p.numel() for p in model.parameters()),
        "output_std": out_std,
        "exports": {},
    }
    for kind in EXPORTS:
        path = out / "models" / f"{spec.name}.{kind}.onnx"
        try:
            export(model, torch.from_numpy(inputs[0]), kind, path)
            entry["exports"][kind] = check_export(path, inputs, expected)
        except Exception as exc:  # an exporter's failure is a fact to record, not a stop
            path.unlink(missing_ok=True)
            entry["exports"][kind] = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
        info = entry["exports"][kind]
        print(f"{spec.name:20s} {kind:9s} {info.get('bytes', info.get('error'))}", flush=True)
    return entry


def readme_table(manifest: dict) -> str:
    rows = [
        "| model | source | input | params | legacy13 | legacy17 | dynamo (opset) |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in manifest["models"]:
        cells = []
        for kind in EXPORTS:
            e = m["exports"][kind]
            if "error" in e:
                cells.append("export failed")
                continue
            size = f"{e['bytes'] / 1e3:,.0f} kB"
            cells.append(f"{size} ({e['opset']})" if kind == "dynamo" else size)
        shape = "x".join(str(d) for d in m["input_shape"])
        rows.append(
            f"| `{m['name']}` | {m['source']} | {shape} | {m['params']:,} | "
            + " | ".join(cells)
            + " |"
        )
    total = sum(e.get("bytes", 0) for m in manifest["models"] for e in m["exports"].values())
    versions = ", ".join(f"{k} {v}" for k, v in manifest["versions"].items())
    return "\n".join(
        [
            *rows,
            "",
            f"{len(manifest['models'])} models, {total / 1e6:.2f} MB in all; made with {versions}.",
        ]
    )


def write_readme(manifest: dict) -> None:
    path = HERE / "README.md"
    text = path.read_text()
    head, rest = text.split(TABLE_START, 1)
    tail = rest.split(TABLE_END, 1)[1]
    path.write_text(f"{head}{TABLE_START}\n{readme_table(manifest)}\n{TABLE_END}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", help="comma-separated names (default: all)")
    parser.add_argument("--out", default=str(HERE))
    args = parser.parse_args()
    out = Path(args.out)
    (out / "models").mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    old = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {"models": []}
    done = {m["name"]: m for m in old["models"]}
    wanted = set(args.models.split(",")) if args.models else {m.name for m in MODELS}
    for spec in MODELS:
        if spec.name in wanted:
            done[spec.name] = build_one(spec, out)
    manifest = {
        "versions": {
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": ort.__version__,
        },
        "models": [done[m.name] for m in MODELS if m.name in done],
    }
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    if out == HERE:
        write_readme(manifest)


if __name__ == "__main__":
    main()
