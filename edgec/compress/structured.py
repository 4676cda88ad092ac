"""Compression before quantization: ``--prune channels:RATIO``, ``--prune-budget``, ``--lowrank``.

The passes run on the folded float graph with the calibration samples (``--calib``) as
their data and the graph as it was before them as the teacher. Each pass's effect is
recorded per layer (parameters, MACs, int8 weight bytes, int8 output bytes) and in total
(with the int8 peak activation estimate) in a report that ``compile`` writes as
``compression.json``.
"""

from __future__ import annotations

import time
from dataclasses import asdict

import numpy as np

from edgec.analysis import analyze_graph, const_data, int8_bytes_per_element, parameter_inputs
from edgec.data import Dataset
from edgec.errors import EdgecError
from edgec.ir.graph import Graph
from edgec.passes.base import PassManager
from edgec.passes.channel_prune import ChannelPrune
from edgec.passes.lowrank import LowRank
from edgec.passes.prune_budget import PruneBudget

# channels: removed here (structured); magnitude: weights zeroed (compress/weights.py).
PRUNE_KINDS = ("channels", "magnitude")


def prune_kind(spec: str) -> str:
    kind = spec.partition(":")[0]
    if kind not in PRUNE_KINDS:
        raise EdgecError(
            f"unknown prune spec {spec!r}: expected channels:RATIO or magnitude:SPARSITY[:global]"
        )
    return kind


def parse_prune(spec: str) -> tuple[str, float]:
    """``channels:RATIO`` → ("channels", RATIO)."""
    kind = prune_kind(spec)
    value = spec.partition(":")[2]
    try:
        ratio = float(value)
    except ValueError:
        raise EdgecError(f"--prune {spec!r}: RATIO must be a number in [0, 1)") from None
    if not 0.0 <= ratio < 1.0:
        raise EdgecError(f"--prune {spec!r}: RATIO must be in [0, 1)")
    return kind, ratio


def parse_lowrank(spec: str) -> dict:
    """``energy:E`` (0 < E <= 1) or ``rank:R`` → keyword arguments of ``LowRank``."""
    kind, _, value = spec.partition(":")
    try:
        if kind == "energy":
            energy = float(value)
            if 0.0 < energy <= 1.0:
                return {"energy": energy}
        elif kind == "rank":
            rank = int(value)
            if rank >= 1:
                return {"rank": rank}
    except ValueError:
        pass
    raise EdgecError(
        f"--lowrank {spec!r}: expected energy:E with 0 < E <= 1, or rank:R with R >= 1"
    )


def layer_figures(graph: Graph) -> tuple[dict[str, dict], dict]:
    """Per node (by name): params, MACs, int8 weight bytes, int8 output bytes; and totals."""
    analysis = analyze_graph(graph)
    layers = {}
    for node, row in zip(graph.nodes, analysis.rows):
        weight = sum(
            int(const_data(value).size) * int8_bytes_per_element(node, index)
            for index, value in parameter_inputs(node)
        )
        out = sum(int(np.prod(v.shape)) for v in node.outputs if v.shape is not None)
        layers[node.name] = {
            "op": row.op,
            "params": row.params,
            "macs": row.macs,
            "weight_bytes_int8": weight,
            "output_bytes_int8": out,
        }
    t = analysis.totals
    totals = {
        "params": t.params,
        "macs": t.macs,
        "weight_bytes_int8": t.weight_bytes_int8,
        "peak_activation_bytes_int8": t.peak_activation_bytes_int8,
    }
    return layers, totals


def compare(before: tuple[dict, dict], after: tuple[dict, dict]) -> dict:
    """Per layer and total figures before and after (layers absent on one side: null)."""
    (layers_b, totals_b), (layers_a, totals_a) = before, after
    names = list(dict.fromkeys([*layers_b, *layers_a]))
    rows = []
    for name in names:
        b, a = layers_b.get(name), layers_a.get(name)
        row = {"name": name, "op": (a or b)["op"]}
        for key in ("params", "macs", "weight_bytes_int8", "output_bytes_int8"):
            row[key] = [None if b is None else b[key], None if a is None else a[key]]
        rows.append(row)
    totals = {k: [totals_b[k], totals_a[k]] for k in totals_b}
    return {"layers": rows, "totals": totals}


def compress_graph(graph: Graph, options, data: Dataset | None) -> tuple[Graph, dict]:
    """Run the compression passes ``options`` asks for; returns the graph and the report."""
    steps = []
    if options.prune and options.prune_budget is not None:
        raise EdgecError("give --prune or --prune-budget, not both")
    if structured_prune(options):
        _, ratio = parse_prune(options.prune)
        steps.append((f"prune {options.prune}", "channels", {"ratio": ratio}))
    if options.prune_budget is not None:
        steps.append((f"prune-budget {options.prune_budget:g}", "budget", {}))
    if options.lowrank:
        steps.append((f"lowrank {options.lowrank}", "lowrank", parse_lowrank(options.lowrank)))
    if steps and data is None:
        raise EdgecError(
            f"--{steps[0][0].split()[0]} needs calibration data (--calib DATA): the pruned "
            "and factored layers are re-fitted on it"
        )
    report = {"passes": []}
    first = current = layer_figures(graph)
    for label, kind, kwargs in steps:
        start = time.monotonic()
        p = _make_pass(kind, kwargs, options, data)
        graph = PassManager([p], fixed_point=False).run(graph).graph
        after = layer_figures(graph)
        entry = {"pass": label, "seconds": round(time.monotonic() - start, 2)}
        entry.update(_details(p))
        entry.update(compare(current, after))
        report["passes"].append(entry)
        current = after
    report["totals"] = compare(first, current)["totals"]
    return graph, report


def _make_pass(kind: str, kwargs: dict, options, data: Dataset):
    if kind == "channels":
        return ChannelPrune(data, **kwargs)
    if kind == "budget":
        return PruneBudget(data, options.prune_budget, options.prune_metric)
    return LowRank(data, **kwargs)


def _details(p) -> dict:
    if hasattr(p, "report"):
        return {"budget": asdict(p.report)}
    if hasattr(p, "factored"):
        return {"factored": [asdict(f) for f in p.factored]}
    return {"removed_channels": {k: len(v) for k, v in p.removed.items()}}


def structured_prune(options) -> bool:
    """Whether ``--prune`` removes channels (magnitude pruning runs elsewhere)."""
    return bool(options.prune) and prune_kind(options.prune) == "channels"


def wants_compression(options) -> bool:
    return structured_prune(options) or options.prune_budget is not None or bool(options.lowrank)
