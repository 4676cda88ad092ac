"""``edgec validate``: run a compiled model on a device and judge every output.

For each sample the device's output is compared with (a) the host reference executor on
the compiled graph (integer models must match bit for bit), (b) the source ONNX model in
onnxruntime, and (c) the labels when there are any. The report is written even when the
device fails part-way, for the samples that completed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edgec import metrics
from edgec import protocol as P
from edgec.artifact import Manifest, file_sha256
from edgec.data import Dataset, load_dataset
from edgec.errors import EdgecError, ValidationError
from edgec.harness.device import run_on_device
from edgec.harness.host import run_on_host
from edgec.harness.layers import compare_layers
from edgec.harness.link import is_serial_spec
from edgec.harness.linux import run_on_linux
from edgec.harness.report import load_memory, predictions, write_html, write_json
from edgec.harness.run import DeviceRun
from edgec.harness.stateful import StatefulReference, sequence_specs
from edgec.interp import Interpreter
from edgec.quantize.qdq import load_reference_graph
from edgec.targets import load_target

log = logging.getLogger(__name__)


@dataclass
class ValidateOptions:
    data: str
    labels: str | None = None
    device: str = "host"
    samples: int | None = None
    per_layer: bool = False
    report_dir: str | None = None
    save_outputs: str | None = None
    input_dtype: str | None = None
    input_shape: tuple[int, ...] | None = None
    data_scale: float | None = None
    data_zero_point: int | None = None
    sanitize: bool = False
    profile: bool = False  # count every schedule step once (a device, not the host)
    progress: bool = True


def default_device(manifest: Manifest) -> str:
    """``emulator`` for a folder compiled for an emulated board, else ``host``."""
    return "emulator" if load_target(manifest.target).emulated else "host"


def run_device(
    out_dir: Path, manifest: Manifest, dataset: Dataset, options: ValidateOptions
) -> DeviceRun:
    if manifest.backend == "tvm":
        return run_on_linux(out_dir, manifest, dataset, options)
    if options.device == "host":
        return run_on_host(out_dir, manifest, dataset, options)
    if options.device == "emulator" or is_serial_spec(options.device):
        return run_on_device(out_dir, manifest, dataset, options)
    raise ValidationError(f"device {options.device!r} is not available for this output folder")


def float_outputs(manifest: Manifest, dataset: Dataset) -> list[np.ndarray] | None:
    """The source model's outputs in onnxruntime, or None when it is not at hand."""
    source = Path(manifest.source_model)
    if not source.is_file():
        log.warning("source model %s not found: no comparison with the float model", source)
        return None
    if file_sha256(source) != manifest.model_sha256:
        raise ValidationError(
            f"{source} changed since it was compiled (SHA-256 differs); recompile"
        )
    return onnxruntime_outputs(source, manifest, dataset)


def onnxruntime_outputs(model: Path, manifest: Manifest, dataset: Dataset) -> list[np.ndarray]:
    """Every output of ``model`` in onnxruntime for each sample (integer data dequantized
    where the model takes floats)."""
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    feeds_spec = session.get_inputs()
    specs = manifest.inputs
    results = [[] for _ in session.get_outputs()]
    for i in range(len(dataset)):
        feeds = {}
        for meta, spec in zip(feeds_spec, specs):
            data = dataset.inputs[spec.name][i]
            wanted = np.dtype(_ort_dtype(meta.type))
            if data.dtype != wanted and spec.scale is not None:
                data = (
                    (data.astype(np.float32) - spec.zero_point) * np.float32(spec.scale)
                ).astype(wanted)
            feeds[meta.name] = data.reshape(
                [d if isinstance(d, int) else 1 for d in meta.shape] or data.shape
            )
        for k, out in enumerate(session.run(None, feeds)):
            results[k].append(out)
    return [np.stack(r) for r in results]


def _ort_dtype(type_name: str) -> str:
    return {
        "tensor(float)": "float32",
        "tensor(int8)": "int8",
        "tensor(uint8)": "uint8",
        "tensor(int16)": "int16",
        "tensor(double)": "float64",
    }.get(type_name, "float32")


def dequantized(data: np.ndarray, spec) -> np.ndarray:
    if spec.scale is None or np.issubdtype(data.dtype, np.floating):
        return data.astype(np.float64)
    return (data.astype(np.float64) - spec.zero_point) * spec.scale


def validate(out_dir: str | Path, options: ValidateOptions) -> dict:
    """Run the validation and write ``report.json``; returns the report."""
    out_dir = Path(out_dir)
    manifest = Manifest.load(out_dir)
    if options.profile and options.device == "host":
        raise ValidationError(
            "--profile counts instructions or cycles on a device: use --device emulator or a "
            "serial port (on the host, use a profiler on the host build)"
        )
    if manifest.stream and options.per_layer:
        raise ValidationError(
            "--per-layer compares one run step by step; a stateful build runs a sequence in "
            "several calls (validate it without --per-layer)"
        )
    dataset = load_dataset(
        options.data,
        sequence_specs(manifest) if manifest.stream else manifest.inputs,
        options.labels,
        options.input_dtype,
        options.input_shape,
        options.data_scale,
        options.data_zero_point,
        options.samples,
    )
    graph = load_reference_graph(out_dir / manifest.reference_graph)
    started = time.monotonic()
    run = run_device(out_dir, manifest, dataset, options)
    done = len(run.outputs)
    subset = dataset.subset(slice(0, done))
    if manifest.stream:  # the state carried from call to call, as on the device
        reference = StatefulReference(graph).run_samples(manifest, subset)
    else:
        interpreter = Interpreter(graph)
        reference = [interpreter.run(subset.sample(i)) for i in range(done)]
    float_outs = float_outputs(manifest, subset) if done else None
    unlike = manifest.stream and float_outs is not None and _shapes_differ(float_outs, run)
    if unlike:  # outputs of every step: the last call holds only its own steps
        float_outs = None
    report = build_report(manifest, graph, subset, run, reference, float_outs)
    if unlike:
        report["float_comparison"] = "skipped: the model's outputs span the whole sequence"
    if manifest.backend == "tvm" and done:
        if manifest.numerics != "float32":
            report.update(qdq_check(out_dir, manifest, subset, run))
        else:
            report.update(graph_tolerance(out_dir, manifest, subset, run))
    report["wall_seconds"] = round(time.monotonic() - started, 3)
    memory = load_memory(out_dir) if run.profile is not None or run.layers else None
    if run.profile is not None:
        report["profile"] = profile_rows(memory, run.profile)
    if run.layers:
        report.update(compare_layers(manifest, memory, graph, subset, run))
    if run.error:
        report["error"] = run.error
    write_report(report, options, out_dir, memory)
    if run.error:
        raise EdgecError(f"{run.error} (report written for {done} completed samples)")
    return report


def _shapes_differ(float_outs: list[np.ndarray], run: DeviceRun) -> bool:
    """Whether the source model's outputs (whole sequences) differ in size from a stateful
    build's (its last call)."""
    return any(f[0].size != d.size for f, d in zip(float_outs, run.outputs[0]))


def profile_rows(memory: dict, profile: P.Profile) -> list[dict]:
    """One row per schedule step: what it runs, its MACs, its count and count per MAC."""
    rows = []
    for step, count in zip(memory["steps"], profile.counts):
        macs = int(step["macs"])
        rows.append(
            {
                "step": step["step"],
                "op": step["op"],
                "node": step["node"],
                "kernel": step["kernel"],
                "macs": macs,
                profile.count_unit: int(count),
                "per_mac": round(count / macs, 3) if macs else None,
            }
        )
    return rows


def build_report(
    manifest: Manifest, graph, data: Dataset, run: DeviceRun, reference, float_outs
) -> dict:
    outs_spec = manifest.outputs
    n = len(run.outputs)
    device = [
        np.stack([s[k] for s in run.outputs]) if n else np.zeros((0,))
        for k in range(len(outs_spec))
    ]
    ref = [
        np.stack([r[spec.name] for r in reference]) if n else np.zeros((0,)) for spec in outs_spec
    ]
    integer = manifest.integer_outputs
    report = {
        "samples": n,
        "target": manifest.target or "host",
        "device": run.device,
        "model_sha256": manifest.model_sha256,
        "bit_exact": sum(
            int(
                all(
                    np.array_equal(run.outputs[i][k], reference[i][s.name])
                    for k, s in enumerate(outs_spec)
                )
            )
            for i in range(n)
        )
        if integer
        else None,
    }
    primary_device = dequantized(device[0], outs_spec[0]) if n else None
    report["vs_reference"] = (
        metrics.error_stats(primary_device, dequantized(ref[0], outs_spec[0])) if n else {}
    )
    if float_outs is not None and n:
        primary_float = (
            dequantized(float_outs[0], outs_spec[0])
            if not np.issubdtype(float_outs[0].dtype, np.floating)
            else float_outs[0].astype(np.float64)
        )
        primary_float = primary_float.reshape(primary_device.shape)
        report["agreement"] = metrics.agreement(primary_device, primary_float)
        report.update(metrics.error_stats(primary_device, primary_float))
    if data.labels is not None and n:
        report["accuracy"] = {"device": metrics.accuracy(primary_device, data.labels)}
        if float_outs is not None:
            report["accuracy"]["float"] = metrics.accuracy(primary_float, data.labels)
        report["predictions"] = predictions(
            primary_device, data.labels, primary_float if float_outs is not None else None
        )
    if run.count_unit and run.counts:
        report[run.count_unit] = metrics.summary(run.counts)
        report[f"{run.count_unit}_per_sample"] = [int(c) for c in run.counts]
    if run.timing:
        report["timing"] = run.timing
    if n and manifest.backend == "tvm":  # C builds keep their bit-exact verdict
        report.update(tolerance_checks(run, reference, float_outs, outs_spec, integer))
    report["memory"] = {
        "flash_bytes": run.memory.get("flash_bytes", manifest.weight_bytes),
        "arena_bytes": manifest.arena_bytes,
        "stack_bytes": run.memory.get("stack_bytes"),
    }
    report["outputs"] = device
    return report


# Float outputs against onnxruntime: the bound a float backend (TVM) is held to.
FLOAT_RTOL, FLOAT_ATOL = 1e-4, 1e-5


def tolerance_checks(run: DeviceRun, reference, float_outs, outs_spec, integer: bool) -> dict:
    """Per-sample bounds: float outputs within rtol/atol of onnxruntime (every output port);
    integer outputs' largest distance from the reference in LSB."""
    n = len(run.outputs)
    if integer:
        worst = max(
            int(np.max(np.abs(run.outputs[i][k].astype(np.int64) - reference[i][s.name])))
            for i in range(n)
            for k, s in enumerate(outs_spec)
        )
        return {"max_lsb_vs_reference": worst}
    if float_outs is None:
        return {}
    within = sum(
        int(
            all(
                np.allclose(
                    run.outputs[i][k].reshape(-1),
                    np.asarray(float_outs[k][i]).reshape(-1),
                    rtol=FLOAT_RTOL,
                    atol=FLOAT_ATOL,
                )
                for k in range(len(outs_spec))
            )
        )
        for i in range(n)
    )
    return {
        "vs_float_tolerance": {"rtol": FLOAT_RTOL, "atol": FLOAT_ATOL, "samples_within": within}
    }


def graph_tolerance(out_dir: Path, manifest: Manifest, data: Dataset, run: DeviceRun) -> dict:
    """A float TVM build against the graph it was given (``reference.onnx``, after edgec's
    passes) in onnxruntime: the same bound, so that a compressed graph, whose outputs
    rightly differ from the source model's, is still held to "TVM changed nothing"."""
    expected = onnxruntime_outputs(out_dir / manifest.reference_graph, manifest, data)
    within = sum(
        int(
            all(
                np.allclose(
                    sample[k].reshape(-1),
                    expected[k][i].reshape(-1),
                    rtol=FLOAT_RTOL,
                    atol=FLOAT_ATOL,
                )
                for k in range(len(manifest.outputs))
            )
        )
        for i, sample in enumerate(run.outputs)
    )
    bound = {"rtol": FLOAT_RTOL, "atol": FLOAT_ATOL, "samples_within": within}
    return {"vs_graph_tolerance": bound}


# Options that change a model's numerics on purpose (compression): its outputs are then
# judged against the compressed graph only, not against the source model.
COMPRESSING_OPTIONS = ("prune", "lowrank", "cluster")


def qdq_check(out_dir: Path, manifest: Manifest, data: Dataset, run: DeviceRun) -> dict:
    """A quantized TVM build against what it implements: the QDQ graph it was given
    (``reference.onnx``) in onnxruntime, which also computes in float between Q and DQ."""
    expected = onnxruntime_outputs(out_dir / manifest.reference_graph, manifest, data)
    worst = 0.0
    for k, spec in enumerate(manifest.outputs):
        device = np.stack([s[k] for s in run.outputs]).astype(np.float64)
        wanted = expected[k].astype(np.float64).reshape(device.shape)
        diff = np.abs(device - wanted)
        if spec.scale is not None and np.issubdtype(device.dtype, np.floating):
            diff = diff / spec.scale  # float outputs of a quantized model, in output LSB
        worst = max(worst, float(np.max(diff)))
    return {"max_lsb_vs_qdq_onnxruntime": worst}


def passed(report: dict, manifest: Manifest) -> bool:
    """Did the device meet its bar? C builds: bit-exact integer outputs. TVM builds: float
    outputs within rtol/atol of onnxruntime on every sample (of the graph TVM was given, and
    of the source model unless compression changed it on purpose); QDQ builds (float arithmetic
    between quantize steps) within one LSB of their QDQ graph in onnxruntime."""
    if manifest.backend != "tvm":
        return report.get("bit_exact") in (None, report["samples"])
    if manifest.numerics != "float32":
        return report.get("max_lsb_vs_qdq_onnxruntime", 0.0) <= 1

    def all_within(key: str) -> bool:
        bound = report.get(key)
        return bound is not None and bound["samples_within"] == report["samples"]

    compressed = any(manifest.options.get(k) for k in COMPRESSING_OPTIONS)
    return all_within("vs_graph_tolerance") and (compressed or all_within("vs_float_tolerance"))


def write_report(
    report: dict, options: ValidateOptions, out_dir: Path, memory: dict | None
) -> None:
    outputs = report.pop("outputs")
    if options.save_outputs:
        np.save(
            options.save_outputs,
            outputs[0]
            if len(outputs) == 1
            else np.concatenate([o.reshape(len(o), -1) for o in outputs], axis=1),
        )
    report_dir = Path(options.report_dir) if options.report_dir else out_dir / "validation"
    report_dir.mkdir(parents=True, exist_ok=True)
    write_json(report, report_dir / "report.json")
    write_html(report, memory or load_memory(out_dir), report_dir / "report.html")
