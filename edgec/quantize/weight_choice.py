"""Choices the optimized weight quantization makes on the calibration data.

- ``equalized``: the graph after cross-layer equalization (passes/equalize.py), or None when
  there is nothing to equalize. Whether it is kept is measured (``output_snr`` of both
  quantized models against the float one): per-channel weights often need no equalization,
  and a wrong guess would cost accuracy.
- ``choose_weight_bits`` (``--weight-bits auto``): each weighted layer's sensitivity is the
  noise its 4-bit weights alone add to the model's output (float model, other layers as
  given, on a few calibration samples); layers take 4 bits from the least noise per byte
  saved on, while the summed noise keeps the output SNR against the model with 8-bit
  weights at or above ``AUTO_SNR_DB``.
"""

from __future__ import annotations

import numpy as np

from edgec.data import Dataset
from edgec.interp import Interpreter, quantized_feeds
from edgec.ir.graph import Graph
from edgec.passes.base import run_passes
from edgec.passes.equalize import CrossLayerEqualization
from edgec.passes.refit import set_weight_matrix, weight_matrix
from edgec.quantize.calibrate import progress
from edgec.quantize.rounding import nearest

AUTO_SNR_DB = 30.0  # --weight-bits auto: the output SNR the 4-bit layers may cost at most
SENSITIVITY_SAMPLES = 32
SCORE_SAMPLES = 64


def equalized(graph: Graph) -> Graph | None:
    """A cross-layer-equalized copy of the float ``graph``; None when nothing changes."""
    cle = CrossLayerEqualization()
    result = run_passes(graph.copy(), [cle], fixed_point=False)
    return result if cle.scales else None


def _outputs(interpreter: Interpreter, graph: Graph, feeds: dict) -> list[np.ndarray]:
    """The graph's outputs as float64 (dequantized when integer)."""
    found = interpreter.run(quantized_feeds(graph, feeds))
    values = []
    for v in graph.outputs:
        y = found[v.name].astype(np.float64)
        if v.quant is not None:
            y = (y - float(v.quant.zero_point)) * float(v.quant.scale)
        values.append(y)
    return values


def output_snr(reference: Graph, candidate: Graph, data: Dataset) -> float:
    """SNR (dB) of ``candidate``'s outputs against ``reference``'s on the first
    ``SCORE_SAMPLES`` samples of ``data`` (either graph float or integer)."""
    run_ref, run_cand = Interpreter(reference), Interpreter(candidate)
    signal = noise = 0.0
    for i in range(min(len(data), SCORE_SAMPLES)):
        feeds = data.sample(i)
        for a, b in zip(_outputs(run_ref, reference, feeds), _outputs(run_cand, candidate, feeds)):
            signal += float(np.sum(a * a))
            noise += float(np.sum((a - b) ** 2))
    return float("inf") if noise == 0 else 10 * float(np.log10(max(signal, 1e-30) / noise))


def _with_4bit(graph: Graph, name: str) -> Graph:
    """A copy of ``graph`` whose layer ``name`` computes with 4-bit weights (nearest)."""
    g = graph.copy()
    node = next(n for n in g.nodes if n.name == name)
    w, b = weight_matrix(node)
    q, scales = nearest(w, 4)
    set_weight_matrix(g, node, q * scales[:, None].astype(np.float64), b)
    return g


def choose_weight_bits(graph: Graph, data: Dataset, layers: list[str]) -> dict[str, int]:
    """``--weight-bits auto``: 4 or 8 per layer of ``layers`` (see the module docstring)."""
    sample = data.subset(slice(0, SENSITIVITY_SAMPLES))
    reference = Interpreter(graph)
    baseline = [_outputs(reference, graph, sample.sample(i)) for i in range(len(sample))]
    signal = sum(float(np.sum(y * y)) for outs in baseline for y in outs)
    noise: dict[str, float] = {}
    for name in progress(layers, len(layers), "weight bits (sensitivity)"):
        changed = _with_4bit(graph, name)
        run = Interpreter(changed)
        total = 0.0
        for i in range(len(sample)):
            for a, b in zip(baseline[i], _outputs(run, changed, sample.sample(i))):
                total += float(np.sum((a - b) ** 2))
        noise[name] = total
    saved = {n.name: int(n.inputs[1].const.size) for n in graph.nodes if n.name in noise}
    budget = signal / 10 ** (AUTO_SNR_DB / 10)
    bits = dict.fromkeys(layers, 8)
    spent = 0.0
    for name in sorted(layers, key=lambda n: noise[n] / max(saved[n], 1)):
        if spent + noise[name] <= budget:
            bits[name] = 4
            spent += noise[name]
    return bits
