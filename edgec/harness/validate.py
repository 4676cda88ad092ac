"""``edgec validate``: run a compiled model on a device and judge every output.

For each sample the device's output is compared with (a) the host reference executor on
the compiled graph (integer models must match bit for bit), (b) the source ONNX model in
onnxruntime, and (c) the labels when there are any. The report is written even when the
device fails part-way, for the samples that completed.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from edgec import metrics
from edgec import protocol as P
from edgec.artifact import Manifest, file_sha256
from edgec.data import Dataset, load_dataset
from edgec.errors import EdgecError, ValidationError
from edgec.firmware import build_firmware
from edgec.harness.device import run_on_device
from edgec.harness.host import run_on_host
from edgec.harness.layers import compare_layers
from edgec.harness.link import is_serial_spec
from edgec.harness.linux import run_on_linux
from edgec.harness.parallel import run_sharded
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
    threads: int | None = None  # TVM runner threads (None: all cores of the board)
    workers: int = 1  # devices validating shards of the samples at once (Ray tasks)
    ray_address: str | None = None  # a Ray cluster (HOST:PORT); None: a local Ray
    # float outputs: (rtol, atol) against onnxruntime (default FLOAT_RTOL, FLOAT_ATOL)
    tolerance: tuple[float, float] | None = None


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


def run_all(out_dir: Path, manifest: Manifest, dataset: Dataset, options: ValidateOptions):
    """Every sample on one device, or sharded over ``options.workers`` devices (Ray)."""
    if options.workers <= 1 and not options.ray_address:
        return run_device(out_dir, manifest, dataset, options)
    if options.workers < 1:
        raise ValidationError(f"--workers {options.workers}: give at least 1")
    if options.device not in ("emulator", "host"):
        raise ValidationError(
            "--workers runs several emulators or host builds: --device emulator|host"
        )
    if manifest.backend == "c" and options.device == "emulator":
        build_firmware(out_dir, manifest=manifest)  # once here; every shard reuses the image
    return run_sharded(
        run_device, out_dir, manifest, dataset, options, options.workers, options.ray_address
    )


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


def onnxruntime_outputs(
    model: Path | bytes, manifest: Manifest, dataset: Dataset
) -> list[np.ndarray]:
    """Every output of ``model`` (a file, or serialized) in onnxruntime for each sample
    (integer data dequantized where the model takes floats)."""
    source = model if isinstance(model, bytes) else str(model)
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
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
            feeds[meta.name] = data.reshape(_ort_shape(meta.shape, spec.shape, data.shape))
        for k, out in enumerate(session.run(None, feeds)):
            results[k].append(out)
    return [np.stack(r) for r in results]


def source_intermediates(manifest: Manifest, graph, dataset: Dataset) -> dict[str, np.ndarray]:
    """The source model's float tensors that the compiled graph also holds (by name), stacked
    over the samples, from onnxruntime; empty when the source file is not at hand."""
    source = Path(manifest.source_model)
    if not source.is_file():
        return {}
    model = onnx.load(str(source))
    inferred = onnx.shape_inference.infer_shapes(model)
    floats = {
        vi.name
        for vi in inferred.graph.value_info
        if vi.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    }
    held = {v.name for node in graph.nodes for v in node.outputs if v is not None}
    wanted = sorted(floats & held - {o.name for o in model.graph.output})
    if not wanted:
        return {}
    for name in wanted:
        model.graph.output.append(
            onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)
        )
    outputs = onnxruntime_outputs(model.SerializeToString(), manifest, dataset)
    return dict(zip(wanted, outputs[len(outputs) - len(wanted) :]))


def _ort_shape(declared, compiled, data_shape) -> tuple[int, ...]:
    """The shape to feed onnxruntime: the model's fixed dims, and for its symbolic ones the
    dims the model was compiled with (``compile --input-shape``)."""
    if not declared or len(compiled) != len(declared):
        return tuple(data_shape)
    shape = tuple(d if isinstance(d, int) else c for d, c in zip(declared, compiled))
    # a streaming build compiles a few steps, the sample holds the whole sequence
    return shape if math.prod(shape) == math.prod(data_shape) else tuple(data_shape)


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
    run = run_all(out_dir, manifest, dataset, options)
    done = len(run.outputs)
    subset = dataset.subset(slice(0, done))
    if manifest.stream:  # the state carried from call to call, as on the device
        reference = StatefulReference(graph).run_samples(manifest, subset)
    else:
        interpreter = Interpreter(graph, manifest.rounding)
        reference = [interpreter.run(subset.sample(i)) for i in range(done)]
    float_outs = float_outputs(manifest, subset) if done else None
    unlike = manifest.stream and float_outs is not None and _shapes_differ(float_outs, run)
    if unlike:  # outputs of every step: the last call holds only its own steps
        float_outs = None
    rtol, atol = options.tolerance or (FLOAT_RTOL, FLOAT_ATOL)
    report = build_report(manifest, graph, subset, run, reference, float_outs, rtol, atol)
    if unlike:
        report["float_comparison"] = "skipped: the model's outputs span the whole sequence"
    if manifest.backend == "tvm" and done:
        if manifest.numerics != "float32":
            report.update(qdq_check(out_dir, manifest, subset, run))
        else:
            report.update(graph_tolerance(out_dir, manifest, subset, run, rtol, atol))
    elif done and not manifest.integer_outputs:
        report.update(
            c_float_tolerance(out_dir, manifest, graph, subset, run, reference, rtol, atol)
        )
    report["wall_seconds"] = round(time.monotonic() - started, 3)
    memory = load_memory(out_dir) if run.profile is not None or run.layers else None
    if run.profile is not None:
        report["profile"] = profile_rows(memory, run.profile)
    if run.layers:
        twins = source_intermediates(manifest, graph, subset)
        report.update(compare_layers(manifest, memory, graph, subset, run, source_values=twins))
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
    manifest: Manifest,
    graph,
    data: Dataset,
    run: DeviceRun,
    reference,
    float_outs,
    rtol: float | None = None,
    atol: float | None = None,
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
    if run.threads is not None:
        report["threads"] = run.threads
    if n and manifest.backend == "tvm":  # C builds keep their bit-exact verdict
        report.update(tolerance_checks(run, reference, float_outs, outs_spec, integer, rtol, atol))
    report["memory"] = {
        "flash_bytes": run.memory.get("flash_bytes", manifest.weight_bytes),
        "arena_bytes": manifest.arena_bytes,
        "stack_bytes": run.memory.get("stack_bytes"),
        # the firmware image's whole RAM: arena, reserved stack, protocol buffers
        "firmware_ram_bytes": run.memory.get("ram_bytes"),
    }
    report["outputs"] = device
    return report


# Float outputs against onnxruntime: the bound a float backend (TVM) is held to.
FLOAT_RTOL, FLOAT_ATOL = 1e-4, 1e-5


def tolerance_checks(
    run: DeviceRun,
    reference,
    float_outs,
    outs_spec,
    integer: bool,
    rtol: float | None = None,
    atol: float | None = None,
) -> dict:
    """Per-sample bounds: float outputs within rtol/atol of onnxruntime (every output port);
    integer outputs' largest distance from the reference in LSB."""
    rtol = FLOAT_RTOL if rtol is None else rtol
    atol = FLOAT_ATOL if atol is None else atol
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
    expected = [[float_outs[k][i] for k in range(len(outs_spec))] for i in range(n)]
    within = samples_within(run.outputs, expected, rtol, atol)
    return {"vs_float_tolerance": {"rtol": rtol, "atol": atol, "samples_within": within}}


def within_tolerance(got, want, rtol: float, atol: float) -> bool:
    """Whether one output port is within ``atol + rtol * max|want|`` everywhere: float32
    rounding grows with the size of the sums a port is made of, not with each element's own
    size, so the relative part scales with the port's peak (as the per-layer check does).
    A NaN where a number is expected fails."""
    got = np.asarray(got, np.float64).reshape(-1)
    want = np.asarray(want, np.float64).reshape(-1)
    if got.shape != want.shape:
        return False
    if not got.size:
        return True
    same_nan = np.isnan(got) & np.isnan(want)
    error = np.where(same_nan, 0.0, np.abs(got - want))
    peak = float(np.max(np.abs(np.where(np.isnan(want), 0.0, want))))
    return bool(np.all(error <= atol + rtol * peak))  # a NaN error compares False


def samples_within(outputs, expected, rtol: float, atol: float) -> int:
    """How many samples have every output port within tolerance of ``expected`` (per sample,
    a list of arrays in port order; ``within_tolerance``)."""
    return sum(
        int(
            all(
                within_tolerance(got, want, rtol, atol)
                for got, want in zip(sample, wanted, strict=True)
            )
        )
        for sample, wanted in zip(outputs, expected, strict=True)
    )


def graph_tolerance(
    out_dir: Path,
    manifest: Manifest,
    data: Dataset,
    run: DeviceRun,
    rtol: float = FLOAT_RTOL,
    atol: float = FLOAT_ATOL,
) -> dict:
    """A float build against the graph it was given (``reference.onnx``, after edgec's
    passes) in onnxruntime: the same bound, so that a compressed graph, whose outputs
    rightly differ from the source model's, is still held to "the backend changed nothing"."""
    expected = onnxruntime_outputs(out_dir / manifest.reference_graph, manifest, data)
    wanted = [[e[i] for e in expected] for i in range(len(run.outputs))]
    within = samples_within(run.outputs, wanted, rtol, atol)
    return {"vs_graph_tolerance": {"rtol": rtol, "atol": atol, "samples_within": within}}


def c_float_tolerance(
    out_dir: Path, manifest: Manifest, graph, data: Dataset, run: DeviceRun, reference, rtol, atol
) -> dict:
    """The verdict of a C build with float outputs: a float graph against onnxruntime on the
    compiled graph (``reference.onnx``); a quantized graph with float outputs (--float-io,
    float islands) or a streaming build (the state carried across calls) against the
    reference executor, whose integer steps it matches exactly."""
    if not manifest.stream and not any(v.quant is not None for v in graph.values()):
        return graph_tolerance(out_dir, manifest, data, run, rtol, atol)
    wanted = [[r[s.name] for s in manifest.outputs] for r in reference]
    within = samples_within(run.outputs, wanted, rtol, atol)
    return {"vs_reference_tolerance": {"rtol": rtol, "atol": atol, "samples_within": within}}


# Options that change a model's numerics on purpose (compression): its outputs are then
# judged against the compressed graph only, not against the source model.
COMPRESSING_OPTIONS = ("prune", "lowrank", "cluster")


def qdq_check(out_dir: Path, manifest: Manifest, data: Dataset, run: DeviceRun) -> dict:
    """A quantized TVM build against what it implements: the QDQ graph it was given
    (``reference.onnx``) in onnxruntime, which also computes in float between Q and DQ."""
    expected = onnxruntime_outputs(out_dir / manifest.reference_graph, manifest, data)
    worst = 0.0
    for k, spec in enumerate(manifest.outputs):
        outputs = np.stack([s[k] for s in run.outputs])
        device = outputs.astype(np.float64)
        wanted = expected[k].astype(np.float64).reshape(device.shape)
        diff = np.abs(device - wanted)
        if spec.scale is not None and np.issubdtype(outputs.dtype, np.floating):
            diff = diff / spec.scale  # float outputs of a quantized model, in output LSB
        worst = max(worst, float(np.max(diff)))
    return {"max_lsb_vs_qdq_onnxruntime": worst}


def passed(report: dict, manifest: Manifest) -> bool:
    """Did the device meet its bar? (:func:`failure` says why not.)"""
    return failure(report, manifest) is None


def failure(report: dict, manifest: Manifest) -> str | None:
    """Why the device missed its bar, or None. C builds: integer outputs bit-exact with the
    reference executor; float outputs within rtol/atol of their compiled graph on every sample.
    TVM builds: float outputs within rtol/atol of onnxruntime on every sample (of the graph
    TVM was given, and of the source model unless compression changed it on purpose); integer
    TVM builds bit-exact like C builds; QDQ builds (float arithmetic between quantize steps)
    within one LSB of their QDQ graph in onnxruntime."""
    samples = report["samples"]

    def outside(key: str, what: str) -> str | None:
        bound = report.get(key)
        if bound is None:
            return f"no comparison with {what} was made"
        if bound["samples_within"] == samples:
            return None
        return (
            f"{samples - bound['samples_within']} of {samples} samples differ from {what} by "
            f"more than rtol {bound['rtol']:g}, atol {bound['atol']:g} (--tolerance)"
        )

    if manifest.backend != "tvm" or (manifest.numerics or "").startswith("integer"):
        exact = report.get("bit_exact")
        if exact is not None and exact != samples:
            return f"{samples - exact} of {samples} samples are not bit-exact with the reference"
        if manifest.integer_outputs or not samples:
            return None
        if "vs_reference_tolerance" in report:
            return outside("vs_reference_tolerance", "the reference executor")
        return outside("vs_graph_tolerance", "the compiled graph in onnxruntime")
    if manifest.numerics != "float32":
        worst = report.get("max_lsb_vs_qdq_onnxruntime", 0.0)
        if worst <= 1:
            return None
        return f"outputs differ from the QDQ graph in onnxruntime by {worst:g} LSB (bound 1)"
    compressed = any(manifest.options.get(k) for k in COMPRESSING_OPTIONS)
    reason = outside("vs_graph_tolerance", "the graph TVM was given in onnxruntime")
    if reason is None and not compressed:
        reason = outside("vs_float_tolerance", "the source model in onnxruntime")
    return reason


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
