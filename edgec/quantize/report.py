"""How far a quantized graph is from its float original, tensor by tensor.

The table a user reads when accuracy drops: for every activation both graphs compute, the
SQNR (dB) and the largest absolute error of the dequantized integer tensor against the float
one, over (up to ``MAX_SAMPLES`` of) the calibration data.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

import numpy as np

from edgec.data import Dataset
from edgec.interp import Interpreter, quantized_feeds
from edgec.ir.graph import Graph
from edgec.metrics import snr_db

MAX_SAMPLES = 64


@dataclass
class TensorError:
    name: str
    op: str
    dtype: str
    sqnr_db: float
    max_abs_error: float


def _compare(
    float_graph: Graph, int_graph: Graph, data: Dataset, rounding: str = "tflm"
) -> list[TensorError]:
    float_run, int_run = Interpreter(float_graph), Interpreter(int_graph, rounding)
    int_values = {
        v.name: v for v in int_graph.values() if v.quant is not None and v.quant.axis is None
    }
    producers = {o.name: n.op_type for n in float_graph.nodes for o in n.outputs}
    signal: dict[str, float] = {}
    noise: dict[str, float] = {}
    worst: dict[str, float] = {}
    count = min(len(data), MAX_SAMPLES)
    for i in range(count):
        feeds = data.sample(i)
        reference = float_run.run(_float_feeds(float_graph, feeds), keep_all=True)
        measured = int_run.run(quantized_feeds(int_graph, feeds), keep_all=True)
        for name, value in int_values.items():
            if name not in reference or name not in measured or name not in producers:
                continue
            q = value.quant
            deq = (measured[name].astype(np.float64) - float(q.zero_point)) * float(q.scale)
            ref = reference[name].astype(np.float64)
            err = deq - ref
            signal[name] = signal.get(name, 0.0) + float(np.sum(ref * ref))
            noise[name] = noise.get(name, 0.0) + float(np.sum(err * err))
            worst[name] = max(worst.get(name, 0.0), float(np.max(np.abs(err))) if err.size else 0.0)
    return [
        TensorError(
            name,
            producers[name],
            int_values[name].dtype.name,
            snr_db(signal[name], noise[name]),
            worst[name],
        )
        for name in signal
    ]


def _float_feeds(graph: Graph, feeds: dict) -> dict:
    out = {}
    for v in graph.inputs:
        x = feeds[v.name]
        out[v.name] = x if x.dtype == v.dtype else x.astype(v.dtype)
    return out


def layer_sqnr(float_graph: Graph, int_graph: Graph, data: Dataset) -> dict[str, float]:
    """SQNR (dB) of each layer's output, keyed by the float graph's node names."""
    by_output = {e.name: e.sqnr_db for e in _compare(float_graph, int_graph, data)}
    return {
        n.name: by_output[n.outputs[0].name]
        for n in float_graph.nodes
        if n.outputs[0].name in by_output
    }


def quantization_report(
    float_graph: Graph,
    int_graph: Graph,
    data: Dataset,
    precision: dict[str, str],
    rounding: str = "tflm",
) -> dict:
    """The per-tensor table plus the chosen precision of each layer, as a JSON-ready dict."""
    rows = _compare(float_graph, int_graph, data, rounding)
    order = {o.name: i for i, n in enumerate(float_graph.nodes) for o in n.outputs}
    rows.sort(key=lambda r: order.get(r.name, -1))
    return {
        "samples": min(len(data), MAX_SAMPLES),
        "tensors": [_finite(asdict(r)) for r in rows],
        "precision": precision,
    }


def _finite(row: dict) -> dict:
    return {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()
    }


def dumps(report: dict) -> str:
    return json.dumps(report, indent=2) + "\n"
