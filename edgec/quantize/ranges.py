"""Activation ranges chosen by the error the next layer sees (``PTQConfig.range_search``).

A tensor's int8 range trades rounding (a wide range) against clipping (a narrow one); the
observers judge that trade on the tensor alone. Here each candidate range is judged where
its error lands: the tensor is quantized, passed through the ops that keep its parameters
(pooling, reshapes: their outputs are requantized on the same grid, so an average pool's
output loses the resolution its averaging gained) and through the first nodes that read it
with parameters of their own (the next convolution, Gemm, activation...), in float, on the
calibration samples (up to ``SAMPLES``: a tail of rare values needs many); the range whose
outputs there are closest to the float model's wins.
Candidates: the percentile ranges of ``PERCENTILES``, the ``mse`` range and the observed
range; the observers' choice wins ties.

By default ("pooled") only the tensors whose parameters an averaging pool shares are
searched, the case the observers cannot see. For the others ("all"), on KWS, the error at
the next layer preferred ranges that cost output SNR (the error at the model's output,
which would judge them right, costs a run of the rest of the model per candidate).
"""

from __future__ import annotations

import numpy as np

from edgec.data import Dataset
from edgec.interp import Interpreter, run_node
from edgec.ir.graph import Graph, Node, Value
from edgec.ops import get_op
from edgec.ops.quant import dequantize, quantize
from edgec.quantize.calibrate import progress
from edgec.quantize.observers import TensorStats, choose_range

RANGE_SEARCHES = ("pooled", "all", "none")
# pools whose output, an average, needs a finer grid than their input (a max does not)
AVERAGING = ("AveragePool", "GlobalAveragePool")
SAMPLES = 200  # calibration samples each candidate is scored on
PERCENTILES = (99.9, 99.95, 99.99, 99.995, 99.999)


def _keeps_params(node: Node) -> bool:
    op = get_op(node.op_type, node.domain)
    return op is not None and (op.keeps_input_quant or op.integer == "move")


def _reach(graph: Graph, value: Value, integer: set[str]) -> tuple[list[Node], list[Node]]:
    """(integer nodes sharing ``value``'s parameters, downstream; the nodes reading them
    that end the walk) in schedule order."""
    shared, ends, frontier = [], [], [value]
    while frontier:
        v = frontier.pop()
        for reader in v.users:
            op = get_op(reader.op_type, reader.domain)
            same = reader.name in integer or (op is not None and op.integer == "move")
            if same and _keeps_params(reader) and reader.inputs[0] is v:
                if reader not in shared:
                    shared.append(reader)
                    frontier.extend(reader.outputs)
            elif reader not in ends:
                ends.append(reader)
    order = {id(n): i for i, n in enumerate(graph.nodes)}
    return sorted(shared, key=lambda n: order[id(n)]), sorted(ends, key=lambda n: order[id(n)])


def _fake_quant(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``x`` through int8 asymmetric quantization over [lo, hi] (as activation_params)."""
    scale = np.float32((hi - lo) / 255.0 or 1e-8)
    zero_point = np.int64(np.clip(np.round(-128 - lo / scale), -128, 127))
    return dequantize(quantize(x, scale, zero_point, np.dtype(np.int8)), scale, zero_point)


def _error(nodes, value, lo, hi, shared, ends, reference) -> float:
    """Relative squared error of the ``ends``' outputs with ``value`` quantized to [lo, hi]."""
    total = 0.0
    for env in reference:
        local = {value.name: _fake_quant(env[value.name], lo, hi)}
        for node in nodes:
            if node not in shared and node not in ends:
                continue
            inputs = [
                None if v is None else (v.const if v.is_const else local.get(v.name, env[v.name]))
                for v in node.inputs
            ]
            outs = run_node(node, inputs)
            for out, y in zip(node.outputs, outs):
                local[out.name] = _fake_quant(y, lo, hi) if node in shared else y
        for node in ends:
            for out in node.outputs:
                ref = env[out.name].astype(np.float64)
                err = local[out.name].astype(np.float64) - ref
                total += float(np.sum(err * err)) / max(float(np.sum(ref * ref)), 1e-30)
    return total


def candidate_ranges(stats: TensorStats, chosen: tuple[float, float]) -> list[tuple]:
    """The observers' choice first, then the other candidates (module docstring)."""
    found = [chosen]
    asked = [("percentile", p) for p in PERCENTILES] + [("mse", 99.99), ("minmax", 99.99)]
    for method, p in asked:
        r = choose_range(stats, method, 8, p)
        if not any(np.allclose(r, f, rtol=1e-9, atol=0) for f in found):
            found.append(r)
    return found


def search_ranges(
    graph: Graph,
    data: Dataset,
    stats: dict[str, TensorStats],
    tensors: dict[str, tuple[float, float]],
    integer: set[str],
    shared_only: bool = True,
) -> dict[str, tuple[float, float]]:
    """For each tensor of ``tensors`` (name → the observers' int8 range), the candidate
    range with the least error downstream; ``integer``: names of the nodes made integer.
    ``shared_only``: search only the tensors whose parameters an averaging pool shares."""
    values = {v.name: v for v in graph.values()}
    walks = {}
    for name in tensors:
        value = values.get(name)
        if value is None or name not in stats or stats[name].histogram is None:
            continue
        shared, ends = _reach(graph, value, integer)
        pooled = any(n.op_type in AVERAGING for n in shared)
        if ends and (pooled or not shared_only):
            walks[name] = (value, shared, ends)
    chosen = dict(tensors)
    if not walks:
        return chosen
    needed = set(walks)  # the float values the walks read, on each sample
    for _, shared, ends in walks.values():
        for node in (*shared, *ends):
            needed |= {v.name for v in node.inputs if v is not None and not v.is_const}
            needed |= {v.name for v in node.outputs} if node in ends else set()
    interpreter = Interpreter(graph)
    reference = []
    for i in range(min(len(data), SAMPLES)):
        feeds = data.sample(i)
        found = {**feeds, **interpreter.run(feeds, keep_all=True)}
        reference.append({k: v for k, v in found.items() if k in needed})
    for name in progress(list(walks), len(walks), "activation ranges"):
        value, shared, ends = walks[name]
        candidates = candidate_ranges(stats[name], tensors[name])
        errors = [
            _error(graph.nodes, value, lo, hi, shared, ends, reference) for lo, hi in candidates
        ]
        chosen[name] = candidates[int(np.argmin(errors))]
    return chosen
