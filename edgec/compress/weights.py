"""``compile --prune magnitude:…`` and ``--cluster K``: the passes run with their reports.

Pruning runs on the folded float graph (before quantization); clustering on the int8 graph
(after it, or on a pre-quantized model). Clustering measures what it costs on the
calibration data: the int8 model's outputs before and after, through the integer
reference (the same numbers the C backend computes).
"""

from __future__ import annotations

import numpy as np

from edgec.data import Dataset
from edgec.errors import EdgecError
from edgec.interp import Interpreter, quantized_feeds
from edgec.ir.graph import Graph
from edgec.passes.base import run_passes
from edgec.passes.magnitude_prune import MagnitudePrune, parse_magnitude_spec, prunable
from edgec.passes.prune_refit import RefitPruned
from edgec.passes.refit import features, weight_matrix
from edgec.passes.weight_clustering import (
    MAX_CLUSTERS,
    REFIT_LIMIT,
    ClusterWeights,
    clusterable,
    parse_cluster_spec,
)

MEAN_SAMPLES = 200  # calibration samples for clustering's statistics and its report
REFIT_SAMPLES = 256  # calibration samples for refitting pruned layers


def prune_magnitude(graph: Graph, spec: str, data: Dataset | None = None) -> tuple[Graph, dict]:
    """Apply ``magnitude:SPARSITY[:global]`` to a float graph; with calibration ``data`` the
    pruned layers are then refitted to the unpruned model's outputs (prune_refit.py).
    Returns the graph and the report."""
    sparsity, scope = parse_magnitude_spec(spec)
    if not any(prunable(n) for n in graph.nodes):
        raise EdgecError(
            f"--prune {spec}: the model has no float Conv/Gemm/MatMul with constant weights "
            "(a model quantized elsewhere cannot be pruned: prune its float original)"
        )
    teacher = graph.copy()
    prune = MagnitudePrune(sparsity, scope)
    graph = run_passes(graph, [prune], fixed_point=False)
    refit = data is not None and len(data) > 0 and sparsity > 0
    if refit:
        pruned = [r["node"] for r in prune.report if r["zeros"] > r["zeros_before"]]
        sample = data.subset(slice(0, REFIT_SAMPLES))
        graph = run_passes(graph, [RefitPruned(teacher, sample, pruned)], fixed_point=False)
    total = sum(r["weights"] for r in prune.report)
    zeros = sum(r["zeros"] for r in prune.report)
    return graph, {
        "method": "magnitude",
        "scope": scope,
        "sparsity_asked": sparsity,
        "sparsity": round(zeros / total, 4) if total else 0.0,
        "refit_on_calibration_data": refit,
        "layers": prune.report,
    }


def input_stats(graph: Graph, data: Dataset) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per clusterable node: the mean and the mean square of its integer input minus the
    zero point, per input channel (axis 1 of a convolution's NCHW input, the last axis of a
    matrix product's)."""
    nodes = [n for n in graph.nodes if clusterable(n)]
    interp = Interpreter(graph)
    sums: dict[str, np.ndarray] = {}
    for i in range(len(data)):
        feeds = quantized_feeds(graph, data.sample(i))
        values = {**feeds, **interp.run(feeds, keep_all=True)}
        for node in nodes:
            x = values[node.inputs[0].name].astype(np.float64) - node.inputs[0].quant.zero_point
            x = np.moveaxis(x, 1, -1) if node.op_type == "Conv" else x
            x = x.reshape(-1, x.shape[-1])
            both = np.stack([x.mean(axis=0), (x * x).mean(axis=0)])
            sums[node.name] = sums.get(node.name, 0) + both
    return {name: tuple(total / len(data)) for name, total in sums.items()}


def row_covariances(graph: Graph, data: Dataset) -> dict[str, np.ndarray]:
    """Per clusterable node small enough to refit (weight_clustering.REFIT_LIMIT): the
    covariance of its input rows (minus the zero point; im2col rows for a convolution)."""
    nodes = [
        n
        for n in graph.nodes
        if clusterable(n)
        and n.inputs[1].const.size * weight_matrix(n)[0].shape[1] * MAX_CLUSTERS <= REFIT_LIMIT
    ]
    interp = Interpreter(graph)
    sums: dict[str, list] = {}
    for i in range(len(data)):
        feeds = quantized_feeds(graph, data.sample(i))
        values = {**feeds, **interp.run(feeds, keep_all=True)}
        for node in nodes:
            x = values[node.inputs[0].name].astype(np.float64) - node.inputs[0].quant.zero_point
            rows = features(node, x)
            total = sums.setdefault(node.name, [0.0, 0.0, 0])
            total[0] = total[0] + rows.T @ rows
            total[1] = total[1] + rows.sum(axis=0)
            total[2] += rows.shape[0]
    out = {}
    for name, (gram, first, count) in sums.items():
        mean = first / count
        out[name] = gram / count - np.outer(mean, mean)
    return out


def output_change(before: Graph, after: Graph, data: Dataset) -> dict:
    """The clustered model against the unclustered one on ``data`` (integer reference,
    dequantized outputs): SNR, mean |difference|, top-1 agreement for vector outputs."""
    run_a, run_b = Interpreter(before), Interpreter(after)
    signal = noise = 0.0
    diffs, agree, rows = [], 0, 0
    for i in range(len(data)):
        a = run_a.run(quantized_feeds(before, data.sample(i)))
        b = run_b.run(quantized_feeds(after, data.sample(i)))
        for va, vb in zip(before.outputs, after.outputs, strict=True):
            fa, fb = _dequantized(va, a[va.name]), _dequantized(vb, b[vb.name])
            signal += float(np.sum(fa * fa))
            noise += float(np.sum((fa - fb) ** 2))
            diffs.append(np.abs(fa - fb).mean())
            if fa.ndim >= 1 and fa.shape[-1] > 1:
                fa2, fb2 = fa.reshape(-1, fa.shape[-1]), fb.reshape(-1, fb.shape[-1])
                agree += int(np.sum(fa2.argmax(1) == fb2.argmax(1)))
                rows += fa2.shape[0]
    return {
        "samples": len(data),
        "snr_db": None if noise == 0 else round(10 * np.log10(signal / noise), 2),
        "mean_abs_change": float(np.mean(diffs)) if diffs else 0.0,
        "top1_agreement": round(agree / rows, 4) if rows else None,
    }


def _dequantized(value, data: np.ndarray) -> np.ndarray:
    if value.quant is None:
        return data.astype(np.float64)
    return (data.astype(np.float64) - value.quant.zero_point) * float(value.quant.scale)


def cluster_weights(graph: Graph, spec, data: Dataset | None) -> tuple[Graph, dict]:
    """Apply ``--cluster K[:layer|:channel]`` to an int8 graph; with calibration ``data``,
    biases absorb the clustering's mean shift and the report measures the outputs' change."""
    k, scope = parse_cluster_spec(spec)
    if not any(clusterable(n) for n in graph.nodes):
        raise EdgecError(
            f"--cluster {spec}: the model has no int8 Conv/Gemm/MatMul layer to cluster "
            "(add --quantize int8, or compile an int8 model)"
        )
    sample = data.subset(slice(0, MEAN_SAMPLES)) if data is not None else None
    stats = input_stats(graph, sample) if sample is not None else {}
    covariances = row_covariances(graph, sample) if sample is not None and scope == "layer" else {}
    before = graph.copy()
    clusters = ClusterWeights(k, scope, stats, covariances)
    graph = run_passes(graph, [clusters], fixed_point=False)
    report = {
        "clusters": k,
        "scope": scope,
        "calibrated": bool(stats),  # importance-weighted k-means and bias correction
        "layers": clusters.report,
    }
    if sample is not None:
        report["calibration"] = output_change(before, graph, sample)
    return graph, report
