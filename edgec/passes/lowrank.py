"""Low-rank factorization of Gemm, MatMul and 1x1 Conv layers (``--lowrank energy:E|rank:R``).

A weight ``W`` (out x in) becomes ``U_r · V_r`` by truncated SVD, each factor carrying the
square root of the singular values (balanced factors quantize alike): a first layer
``V_r`` (in → r, no bias) and the original layer, now ``U_r`` (r → out, with the bias and
the fused activation). Only layers where ``r·(in+out) < in·out`` are split, so parameters
and MACs both fall. With calibration data the second factor and the bias are then re-fitted
by least squares so that the layer's pre-activation output matches the original model's,
reading the inputs of the model as factored so far (errors of earlier layers are absorbed).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from edgec.data import Dataset
from edgec.errors import EdgecError
from edgec.ir.graph import Graph, Node, Value
from edgec.ops.shapes import infer_shapes
from edgec.passes.base import Pass, PassResult
from edgec.passes.refit import (
    collect,
    features,
    normal_equations,
    replace_input,
    set_weight_matrix,
    weight_matrix,
)

log = logging.getLogger(__name__)


@dataclass
class Factored:
    name: str
    shape: tuple[int, int]  # (out, in)
    rank: int
    energy: float


def factorable(node: Node) -> bool:
    """A Gemm / MatMul on a 2-d input or a 1x1 Conv (group 1), with constant float weights."""
    x, w = node.inputs[0], node.input(1)
    if node.domain or x is None or x.shape is None or w is None or not w.is_const:
        return False
    if w.quant is not None or not np.issubdtype(w.const.dtype, np.floating):
        return False
    bias = node.input(2)
    if bias is not None and not bias.is_const:
        return False
    if node.op_type == "Gemm":
        return not node.attrs.get("transA", 0) and len(x.shape) == 2
    if node.op_type == "MatMul":
        return len(x.shape) == 2 and w.const.ndim == 2
    if node.op_type == "Conv":
        return node.attrs.get("group", 1) == 1 and all(k == 1 for k in w.shape[2:])
    return False


def choose_rank(singular: np.ndarray, energy: float | None, rank: int | None) -> int:
    """Smallest rank keeping ``energy`` of the squared singular values, or ``rank``."""
    if rank is not None:
        return int(min(rank, len(singular)))
    share = np.cumsum(singular**2) / max(float(np.sum(singular**2)), 1e-30)
    return int(np.searchsorted(share, energy - 1e-12) + 1)


def factors(
    node: Node, w: np.ndarray, rank: int, x: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """(second [out, r], first [r, in]) with ``second @ first`` ≈ ``w``, balanced.

    With the layer's input samples ``x`` the approximation is the best of its rank for the
    layer's *outputs* on them: the SVD of ``w`` seen through the inputs' second-moment
    factor (W·L with L Lᵀ = E[x xᵀ]), mapped back through L⁻¹. Without data, plain SVD.
    """
    whiten = None
    if x is not None:
        p = features(node, x)
        moment = p.T @ p / max(p.shape[0], 1)
        jitter = 1e-6 * float(np.mean(np.diag(moment))) + 1e-12
        try:
            whiten = np.linalg.cholesky(moment + jitter * np.eye(len(moment)))
        except np.linalg.LinAlgError:
            whiten = None
    if whiten is None:
        u, s, vt = np.linalg.svd(w, full_matrices=False)
    else:
        u, s, zt = np.linalg.svd(w @ whiten, full_matrices=False)
        vt = np.linalg.solve(whiten.T, zt.T).T  # rows of Zᵀ L⁻¹
    root = np.sqrt(s[:rank])
    return u[:, :rank] * root, root[:, None] * vt[:rank]


class LowRank(Pass):
    """Split every factorable layer where it pays; re-fit the second factor on ``data``."""

    def __init__(self, data: Dataset | None, energy: float | None = None, rank: int | None = None):
        if (energy is None) == (rank is None):
            raise EdgecError("low-rank: give exactly one of energy:E or rank:R")
        if energy is not None and not 0.0 < energy <= 1.0:
            raise EdgecError(f"low-rank energy {energy} must be in (0, 1]")
        if rank is not None and rank < 1:
            raise EdgecError(f"low-rank rank {rank} must be >= 1")
        self.data = data
        self.energy = energy
        self.rank = rank
        self.factored: list[Factored] = []

    def run(self, graph: Graph) -> PassResult:
        plan = []
        for node in graph.nodes:
            if not factorable(node):
                continue
            w, _ = weight_matrix(node)
            s = np.linalg.svd(w, compute_uv=False)
            r = choose_rank(s, self.energy, self.rank)
            out_dim, in_dim = w.shape
            if r * (in_dim + out_dim) < in_dim * out_dim:
                plan.append((node, r, float(np.sum(s[:r] ** 2) / max(np.sum(s**2), 1e-30))))
        if not plan:
            return PassResult(graph, False)
        teacher = graph.copy() if self.data is not None else None
        twins = {id(n): teacher.nodes[i] for i, n in enumerate(graph.nodes)} if teacher else {}
        if teacher is not None:
            names = [node.inputs[0].name for node, *_ in plan]
            teacher_inputs = collect(teacher, self.data, names)
        for node, rank, kept in plan:
            w, _ = weight_matrix(node)
            x = None
            if teacher is not None:
                x = collect(graph, self.data, [node.inputs[0].name])[node.inputs[0].name]
            second, first = factors(node, w, rank, x)
            hidden = self._split(graph, node, first, second)
            self.factored.append(Factored(node.name, w.shape, rank, kept))
            if teacher is None:
                continue
            h = collect(graph, self.data, [hidden.name])[hidden.name]
            twin = twins[id(node)]
            bias = node.op_type != "MatMul"
            normal = normal_equations(node, h, teacher_inputs[twin.inputs[0].name], twin, bias)
            w, b = weight_matrix(node)
            if bias:
                b = np.zeros(w.shape[0]) if b is None else b
                solved = normal.solve(np.arange(w.shape[1]), np.column_stack([w, b]))
                set_weight_matrix(graph, node, solved[:, :-1], solved[:, -1])
            else:
                set_weight_matrix(graph, node, normal.solve(np.arange(w.shape[1]), w), None)
            log.info("low-rank %s: rank %d of %s", node.name, rank, w.shape)
        return PassResult(graph, True)

    def _split(self, graph: Graph, node: Node, first: np.ndarray, second: np.ndarray) -> Value:
        """Insert the ``first`` factor before ``node`` and make ``node`` the ``second``."""
        x, w = node.inputs[0], node.inputs[1]
        dtype = w.const.dtype
        rank = first.shape[0]
        hidden = Value(graph.unique_name(f"{node.name}_lowrank"), x.dtype, None)
        if node.op_type == "Conv":
            tail = (1,) * (w.const.ndim - 2)
            attrs = {k: v for k, v in node.attrs.items() if k != "kernel_shape"}
            weight = graph.add_constant(f"{w.name}_v", first.reshape(rank, -1, *tail).astype(dtype))
            graph.add_node(
                "Conv", [x, weight], [hidden], attrs, f"{node.name}_lowrank", before=node
            )
            node.attrs = {"group": 1, "kernel_shape": list(tail)}
            replace_input(
                graph, node, 1, second.reshape(second.shape[0], rank, *tail).astype(dtype)
            )
        elif node.op_type == "Gemm":
            weight = graph.add_constant(f"{w.name}_v", first.astype(dtype))
            attrs = {"transB": 1}
            graph.add_node(
                "Gemm", [x, weight], [hidden], attrs, f"{node.name}_lowrank", before=node
            )
            bias = node.input(2)
            if bias is not None:
                beta = float(node.attrs.get("beta", 1.0))
                b = beta * np.broadcast_to(bias.const.reshape(-1), second.shape[:1])
                replace_input(graph, node, 2, b.astype(bias.const.dtype))
            node.attrs = {"transB": 1}
            replace_input(graph, node, 1, second.astype(dtype))
        else:
            weight = graph.add_constant(f"{w.name}_v", first.T.astype(dtype))
            graph.add_node("MatMul", [x, weight], [hidden], {}, f"{node.name}_lowrank", before=node)
            replace_input(graph, node, 1, second.T.astype(dtype))
        graph.set_input(node, 0, hidden)
        infer_shapes(graph)
        return hidden
