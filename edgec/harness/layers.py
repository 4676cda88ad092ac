"""Per-layer comparison (``validate --per-layer``): every schedule step's output on the device
against the same value in the host reference executor.

Each step of memory.json writes one buffer; that buffer's ``value`` names the IR value it
holds, stored in channels-last order when the kernel runs NHWC. The device's dump is put back
in the value's logical order, then compared: integer steps must match bit for bit (their
error is also given in real units, dequantized with the value's scale), float steps within
``rtol`` of the layer's largest magnitude. The first step that fails names the layer where
the device and the reference part ways; later layers inherit the error, so only the first
one points at a cause.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgec.artifact import Manifest
from edgec.backends.c import layout as L
from edgec.interp import Interpreter
from edgec.ir.graph import Graph, Value
from edgec.metrics import snr_db

FLOAT_RTOL = 1e-4  # of the layer's peak |reference|: float32 sums in another order stay far below
FLOAT_ATOL = 1e-6


@dataclass
class StepTarget:
    """Where a step's buffer finds its reference: the IR value and the buffer's memory order."""

    value: Value | None
    layout: str | None  # L.LOGICAL, L.CHANNELS_LAST, "ambiguous", or None (cannot compare)
    reason: str | None = None  # why the step is not compared


def compare_layers(
    manifest: Manifest,
    memory_json: dict,
    graph: Graph,
    dataset,
    run,
    rtol: float = FLOAT_RTOL,
    atol: float = FLOAT_ATOL,
    source_values: dict[str, np.ndarray] | None = None,
) -> dict:
    """``per_layer`` statistics and ``first_divergent_layer``; empty when nothing was dumped.
    ``source_values``: the source model's float tensors by name, stacked over the samples (from
    onnxruntime); a step holding one of them also gets its error against it (``vs_float``)."""
    if not getattr(run, "layers", None):
        return {}
    steps = memory_json["steps"]
    tensors = {t["buffer"]: t for t in memory_json["tensors"]}
    # A buffer filled by several steps (one slice each) is only whole after its last writer.
    last_writer = {s["output"]: k for k, s in enumerate(steps)}
    targets = []
    for k, step in enumerate(steps):
        target = _target(graph, step, tensors.get(step["output"], {}))
        if last_writer.get(step["output"]) != k:
            target = StepTarget(None, None, "partial: later steps write the rest of this buffer")
        targets.append(target)
    stats = [_StepStats(t) if t.value is not None else None for t in targets]
    interpreter = Interpreter(graph, manifest.rounding)
    for i, dumps in enumerate(run.layers):  # one sample at a time: memory stays per step
        feeds = dataset.sample(i)
        values = {**feeds, **interpreter.run(feeds, keep_all=True)}
        for k, stat in enumerate(stats):
            if stat is not None:
                stat.add(dumps[k], np.asarray(values[stat.target.value.name]))
                twin = (source_values or {}).get(stat.target.value.name)
                if twin is not None and twin[i].size == dumps[k].size:
                    stat.add_float(dumps[k], twin[i])
    layers = []
    first = None
    for k, (step, target, stat) in enumerate(zip(steps, targets, stats)):
        buffer = tensors.get(step["output"], {})
        entry = {
            "step": k,
            "op": step.get("op"),
            "node": step.get("node"),
            "kernel": step.get("kernel"),
            "value": buffer.get("value"),
            "dtype": buffer.get("dtype"),
            "shape": buffer.get("shape"),
        }
        if stat is None:
            entry.update(compared=False, reason=target.reason)
        else:
            entry.update(stat.result(rtol, atol))
            if first is None and entry["diverges"]:
                first = entry
        layers.append(entry)
    integer = manifest.integer_outputs
    return {
        "per_layer": {
            "samples": len(run.layers),
            "steps": len(steps),
            "compared": sum(1 for e in layers if e["compared"]),
            "integer_model": integer,
            "float_tolerance": {"rtol": rtol, "atol": atol},
            "layers": layers,
        },
        "first_divergent_layer": describe(first) if first else None,
        "first_divergent_step": first["step"] if first else None,
    }


def describe(entry: dict) -> str:
    """``Conv 'conv1' (step 3)``: how a step is named to the user."""
    return f"{entry['op']} {entry['node']!r} (step {entry['step']})"


def _target(graph: Graph, step: dict, buffer: dict) -> StepTarget:
    """The IR value a step's buffer holds, found by the value name or by the step's node."""
    if not buffer:
        return StepTarget(None, None, "output buffer missing from memory.json")
    size = math.prod(buffer["shape"])
    candidates = []
    name = buffer.get("value")
    if name is not None:
        candidates.append(name)
    # A node rebuilt from reference.onnx may name its output differently (an activation fused
    # again, "<name>_prefused"); the node keeps its name, so look it up too.
    for node in graph.nodes:
        if node.name == step.get("node") and node.outputs:
            candidates.append(node.outputs[0].name)
            break
    if name is not None:
        candidates.append(f"{name}_prefused")
    for candidate in candidates:
        if graph.has_value(candidate):
            value = graph.value(candidate)
            if value.shape is not None and math.prod(value.shape) == size:
                layout = buffer.get("layout") or _layout(tuple(value.shape), buffer["shape"])
                return StepTarget(value, layout)
    return StepTarget(None, None, "no reference value of this size (scratch buffer)")


def _layout(logical: tuple[int, ...], stored) -> str:
    """Which memory order a buffer of shape ``stored`` keeps ``logical`` in."""
    stored = tuple(stored)
    nhwc = L.memory_shape(logical, L.CHANNELS_LAST)
    if L.same_bytes(logical, L.LOGICAL, L.CHANNELS_LAST):
        return L.LOGICAL
    if stored == nhwc and stored != logical:
        return L.CHANNELS_LAST
    if stored == logical and stored != nhwc:
        return L.LOGICAL
    if stored == logical == nhwc:
        return "ambiguous"
    return L.LOGICAL  # same size, other shape: a reshape-only alias keeps logical order


def to_logical(data: np.ndarray, logical: tuple[int, ...], layout: str) -> np.ndarray:
    """A dumped buffer in the value's logical order."""
    if layout == L.CHANNELS_LAST and len(logical) >= 3:
        stored = L.memory_shape(logical, L.CHANNELS_LAST)
        return np.moveaxis(data.reshape(stored), -1, 1)
    return data.reshape(logical)


class _StepStats:
    """Running comparison of one step over the samples (device dump vs reference value)."""

    def __init__(self, target: StepTarget):
        self.target = target
        self.layout = target.layout  # "ambiguous" until the first sample decides
        self.integer = True
        self.exact: list[bool] = []
        self.sample_max: list[float] = []  # largest |error| per sample, real units
        self.mismatched = self.max_lsb = self.elements = 0
        self.abs_sum = self.signal = self.noise = self.peak = 0.0
        self.float_signal = self.float_noise = self.float_max = 0.0
        self.float_samples = 0

    def add(self, dumped: np.ndarray, wanted: np.ndarray) -> None:
        logical = tuple(self.target.value.shape)
        if self.layout == "ambiguous":
            # Logical and NHWC shapes coincide (C == H == W): take the order the data agrees with.
            self.layout = min(
                (L.CHANNELS_LAST, L.LOGICAL),
                key=lambda lay: float(_abs_error(to_logical(dumped, logical, lay), wanted).sum()),
            )
        got = to_logical(dumped, logical, self.layout)
        floating = np.issubdtype(got.dtype, np.floating) or np.issubdtype(wanted.dtype, np.floating)
        self.integer = self.integer and not floating
        self.exact.append(bool(np.array_equal(got, wanted)))
        self.mismatched += int(np.count_nonzero(got != wanted))
        if not floating and got.size:
            self.max_lsb = max(self.max_lsb, int(_abs_error(got, wanted).max()))
        real_ref = _dequantize(wanted, self.target.value)
        err = _dequantize(got, self.target.value) - real_ref
        self.elements = int(err.size)
        self.sample_max.append(float(np.max(np.abs(err))) if err.size else 0.0)
        self.abs_sum += float(np.sum(np.abs(err)))
        self.signal += float(np.sum(real_ref**2))
        self.noise += float(np.sum(err**2))
        self.peak = max(self.peak, float(np.max(np.abs(real_ref))) if err.size else 0.0)

    def add_float(self, dumped: np.ndarray, source: np.ndarray) -> None:
        """The dump, dequantized, against the source model's float tensor of the same name."""
        logical = tuple(self.target.value.shape)
        got = _dequantize(to_logical(dumped, logical, self.layout), self.target.value)
        err = got - np.asarray(source, np.float64).reshape(got.shape)
        self.float_samples += 1
        self.float_signal += float(np.sum(np.asarray(source, np.float64) ** 2))
        self.float_noise += float(np.sum(err**2))
        self.float_max = max(self.float_max, float(np.max(np.abs(err))) if err.size else 0.0)

    def result(self, rtol: float, atol: float) -> dict:
        total = self.elements * len(self.exact)
        nan = any(math.isnan(v) for v in self.sample_max)
        entry = {
            "compared": True,
            "reference_value": self.target.value.name,
            "layout": self.layout,
            "integer": self.integer,
            "elements": self.elements,
            "exact_samples": sum(self.exact),
            "mismatched_elements": self.mismatched,
            "max_abs_error": math.nan if nan else max(self.sample_max, default=0.0),
            "mae": self.abs_sum / total if total else 0.0,
            "snr_db": snr_db(self.signal, self.noise),
            "reference_peak": self.peak,
        }
        if self.integer:
            entry["max_abs_error_lsb"] = self.max_lsb
            bad = [i for i, same in enumerate(self.exact) if not same]
        else:
            entry["tolerance"] = atol + rtol * self.peak
            # ``not <=``: a NaN from the device diverges.
            bad = [i for i, v in enumerate(self.sample_max) if not v <= entry["tolerance"]]
        entry["diverges"] = bool(bad)
        entry["first_divergent_sample"] = bad[0] if bad else None
        if self.float_samples:
            entry["vs_float"] = {
                "samples": self.float_samples,
                "snr_db": snr_db(self.float_signal, self.float_noise),
                "max_abs_error": self.float_max,
            }
        if self.target.layout == "ambiguous":
            entry["note"] = "layout inferred from the data (logical and NHWC shapes coincide)"
        return entry


def _abs_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if np.issubdtype(a.dtype, np.floating) or np.issubdtype(b.dtype, np.floating):
        return np.abs(a.astype(np.float64) - b.astype(np.float64))
    return np.abs(a.astype(np.int64) - b.astype(np.int64))


def _dequantize(data: np.ndarray, value: Value) -> np.ndarray:
    """Integer data in real units with the value's scale and zero point (float: as is)."""
    quant = value.quant
    if quant is None or np.issubdtype(data.dtype, np.floating):
        return data.astype(np.float64)
    scale = quant.scale.astype(np.float64)
    zero = quant.zero_point.astype(np.float64)
    if quant.axis is not None and scale.ndim == 1 and scale.size > 1:
        shape = [1] * data.ndim
        shape[quant.axis % data.ndim] = scale.size
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return (data.astype(np.float64) - zero) * scale
