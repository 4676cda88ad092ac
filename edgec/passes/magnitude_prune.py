"""Magnitude pruning: zero the smallest weights of every matrix-product layer.

Post-training, with no fine-tuning: the float weights of each Conv (groups 1), Gemm and
MatMul with constant weights lose their smallest magnitudes, per layer (each layer keeps
``1 - sparsity`` of its weights) or globally (one threshold over all layers, on magnitudes
divided by each layer's RMS so that layers of different scales compete fairly). It runs on
the float graph before quantization: symmetric int8 weights quantize a zero to exactly 0,
and the C backend then stores the layer sparse where that saves flash. Depthwise and
grouped convolutions are left alone (their kernels keep dense weights).
"""

from __future__ import annotations

import numpy as np

from edgec.errors import EdgecError
from edgec.ir.graph import Graph, Node
from edgec.passes.base import Pass, PassResult
from edgec.passes.dead_code import drop_if_unused

SCOPES = ("layer", "global")


def parse_magnitude_spec(spec: str) -> tuple[float, str]:
    """``magnitude:SPARSITY[:global]`` → (sparsity, scope)."""
    parts = spec.split(":")
    usage = f"--prune {spec!r}: expected magnitude:SPARSITY[:global] with SPARSITY in [0, 1)"
    if parts[0] != "magnitude" or len(parts) not in (2, 3):
        raise EdgecError(usage)
    try:
        sparsity = float(parts[1])
    except ValueError:
        raise EdgecError(usage) from None
    scope = parts[2] if len(parts) == 3 else "layer"
    if not 0.0 <= sparsity < 1.0 or scope not in SCOPES:
        raise EdgecError(usage)
    return sparsity, scope


def prunable(node: Node) -> bool:
    """A float matrix-product layer whose weights the C backend could store sparse."""
    if node.op_type not in ("Conv", "Gemm", "MatMul") or node.domain:
        return False
    x, w = node.inputs[0], node.input(1)
    if w is None or not w.is_const or w.quant is not None or x.is_const:
        return False
    if not np.issubdtype(w.const.dtype, np.floating) or w.const.size == 0:
        return False
    if node.op_type == "Conv":
        return node.attrs.get("group", 1) == 1
    return w.const.ndim == 2


def _zero_smallest(scores: np.ndarray, count: int) -> np.ndarray:
    """A mask keeping all but the ``count`` smallest scores (ties broken by position)."""
    keep = np.ones(scores.size, bool)
    keep[np.argsort(scores.reshape(-1), kind="stable")[:count]] = False
    return keep.reshape(scores.shape)


class MagnitudePrune(Pass):
    """Zero the smallest-magnitude weights; ``report`` lists each layer's weights and zeros."""

    def __init__(self, sparsity: float, scope: str = "layer"):
        if not 0.0 <= sparsity < 1.0 or scope not in SCOPES:
            raise ValueError(f"sparsity in [0, 1) and scope in {SCOPES}, not {sparsity}, {scope}")
        self.sparsity = sparsity
        self.scope = scope
        self.report: list[dict] = []

    def run(self, graph: Graph) -> PassResult:
        layers = [n for n in graph.nodes if prunable(n)]
        weights = [n.inputs[1].const.astype(np.float64) for n in layers]
        masks = self._masks(weights)
        changed = False
        self.report = []
        for node, w, keep in zip(layers, weights, masks, strict=True):
            pruned = np.where(keep, w, 0.0).astype(node.inputs[1].const.dtype)
            zeros_before = int(np.count_nonzero(w == 0))
            if not np.array_equal(pruned, node.inputs[1].const):
                # a new constant: another node may share the original
                old = node.inputs[1]
                graph.set_input(node, 1, graph.add_constant(f"{old.name}_pruned", pruned))
                drop_if_unused(graph, old)
                changed = True
            self.report.append(
                {
                    "node": node.name,
                    "op": node.op_type,
                    "weights": int(w.size),
                    "zeros_before": zeros_before,
                    "zeros": int(np.count_nonzero(pruned == 0)),
                }
            )
        return PassResult(graph, changed)

    def _masks(self, weights: list[np.ndarray]) -> list[np.ndarray]:
        if self.scope == "layer":
            return [_zero_smallest(np.abs(w), round(self.sparsity * w.size)) for w in weights]
        if not weights:
            return []
        scores = [np.abs(w) / max(float(np.sqrt(np.mean(w * w))), 1e-30) for w in weights]
        flat = np.concatenate([s.reshape(-1) for s in scores])
        keep = _zero_smallest(flat, round(self.sparsity * flat.size))
        bounds = np.cumsum([0] + [s.size for s in scores])
        return [keep[a:b].reshape(s.shape) for a, b, s in zip(bounds, bounds[1:], scores)]
