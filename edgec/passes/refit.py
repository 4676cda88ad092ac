"""Least-squares re-fitting of a linear layer on calibration data (post-training distillation).

After a pass changes what a Conv / Gemm / MatMul reads (fewer input channels, a low-rank
factor), the layer's weights are solved again so that its pre-activation output matches
the *original* model's on the calibration samples. The layer is seen as a matrix: its
input features (im2col patches for a Conv, rows for a Gemm) times ``W`` (out x features)
plus a bias. The solve is a ridge regression pulled towards the current weights, so a layer
seen through few samples stays near what it was rather than near zero.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from edgec.data import Dataset
from edgec.interp import Interpreter
from edgec.ir.graph import Graph, Node
from edgec.ops.registry import get_op
from edgec.ops.spatial import pad_spatial, resolve_window, windows
from edgec.passes.dead_code import drop_if_unused

# Ridge strength relative to the mean diagonal of the Gram matrix.
RIDGE = 1e-3
CHUNK = 32  # samples per chunk when accumulating Gram matrices


def collect(graph: Graph, data: Dataset, names: Iterable[str]) -> dict[str, np.ndarray]:
    """The values ``names`` of ``graph`` over every sample, stacked: name → [N, *shape[1:]]."""
    names = list(dict.fromkeys(names))
    interpreter = Interpreter(graph)
    found: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for i in range(len(data)):
        feeds = data.sample(i)
        values = interpreter.run(feeds, keep_all=True)
        for name in names:
            found[name].append(values[name] if name in values else feeds[name])
    return {n: np.concatenate(v, axis=0) for n, v in found.items()}


def features(node: Node, x: np.ndarray) -> np.ndarray:
    """The layer's input as a matrix [rows, features] (im2col for a Conv; a matrix product's
    leading axes become rows)."""
    if node.op_type != "Conv":
        return x.reshape(-1, x.shape[-1]).astype(np.float64)
    w = node.inputs[1]
    op = get_op("Conv")
    win = resolve_window(node, op, x.shape[2:], w.shape[2:])
    cols = windows(pad_spatial(x, win, 0), win)  # (N, C, *out, *k)
    n, c, nd = x.shape[0], x.shape[1], len(win.kernel)
    order = (0, *range(2, 2 + nd), 1, *range(2 + nd, 2 + 2 * nd))
    cols = cols.transpose(order)
    return cols.reshape(n * math.prod(win.out), c * math.prod(win.kernel)).astype(np.float64)


def weight_matrix(node: Node) -> tuple[np.ndarray, np.ndarray | None]:
    """(W [out, features], bias [out] or None) of a Conv (group 1), Gemm or MatMul."""
    w = node.inputs[1].const.astype(np.float64)
    bias = node.input(2)
    if node.op_type == "Conv":
        b = None if bias is None else bias.const.astype(np.float64).reshape(-1)
        return w.reshape(w.shape[0], -1), b
    if node.op_type == "Gemm":
        alpha = float(node.attrs.get("alpha", 1.0))
        beta = float(node.attrs.get("beta", 1.0))
        matrix = alpha * (w if node.attrs.get("transB", 0) else w.T)
        b = None
        if bias is not None:
            b = beta * np.broadcast_to(bias.const.astype(np.float64).reshape(-1), matrix.shape[:1])
        return matrix, b
    return w.T, None  # MatMul


def set_weight_matrix(graph: Graph, node: Node, w: np.ndarray, b: np.ndarray | None) -> None:
    """Store ``w`` [out, features] and ``b`` back in ``node``'s own layout (fresh constants)."""
    old = node.inputs[1]
    dtype = old.const.dtype
    if node.op_type == "Conv":
        data = w.reshape(w.shape[0], -1, *old.const.shape[2:])
    elif node.op_type == "Gemm":
        node.attrs["alpha"], node.attrs["beta"] = 1.0, 1.0
        data = w if node.attrs.get("transB", 0) else w.T
    else:
        data = w.T
    replace_input(graph, node, 1, data.astype(dtype))
    if b is not None:
        replace_input(graph, node, 2, b.astype(dtype), absent_name=f"{node.name}_bias")


def replace_input(
    graph: Graph, node: Node, index: int, data: np.ndarray, absent_name: str | None = None
) -> None:
    """Give ``node.inputs[index]`` new constant data without touching other readers. An
    optional input the node lacks (a Conv's bias) is added, named ``absent_name`` (default:
    the node's name)."""
    node.inputs += [None] * (index + 1 - len(node.inputs))
    old = node.inputs[index]
    name = old.name if old is not None else absent_name or node.name
    value = graph.add_constant(name, np.asarray(data))
    graph.set_input(node, index, value)
    drop_if_unused(graph, old)


class Normal:
    """Accumulated normal equations of one layer: G = Pᵀ P, B = Pᵀ Y, |Y|² (P with a 1s column)."""

    def __init__(self, features: int, outputs: int, bias: bool = True):
        size = features + (1 if bias else 0)
        self.bias = bias
        self.gram = np.zeros((size, size))
        self.cross = np.zeros((size, outputs))
        self.energy = 0.0
        self.rows = 0

    def add(self, p: np.ndarray, y: np.ndarray) -> None:
        if self.bias:
            p = np.concatenate([p, np.ones((p.shape[0], 1))], axis=1)
        self.gram += p.T @ p
        self.cross += p.T @ y
        self.energy += float(np.sum(y * y))
        self.rows += p.shape[0]

    def ridge(self) -> float:
        return RIDGE * float(np.mean(np.diag(self.gram))) + 1e-12

    def solve(self, keep: np.ndarray, prior: np.ndarray, columns=None) -> np.ndarray:
        """Ridge solution over the features ``keep`` (bias column implied), pulled towards
        ``prior`` [out, len(keep) (+1)], for the outputs ``columns`` (default all).
        Returns [out, len(keep) (+1)]."""
        index = np.append(keep, self.gram.shape[0] - 1) if self.bias else np.asarray(keep)
        g = self.gram[np.ix_(index, index)]
        lam = self.ridge()
        cross = self.cross if columns is None else self.cross[:, columns]
        rhs = cross[index] + lam * prior.T
        return np.linalg.solve(g + lam * np.eye(len(index)), rhs).T


def normal_equations(
    node: Node,
    student_x: np.ndarray,
    teacher_x: np.ndarray,
    teacher_node: Node,
    bias: bool = True,
    outputs: np.ndarray | None = None,
) -> Normal:
    """Normal equations of ``node`` reading ``student_x`` towards the pre-activation output
    of ``teacher_node`` on ``teacher_x`` (both [N, …], the same samples); ``outputs``: the
    teacher's output channels that ``node`` still has (default all)."""
    w_t, b_t = weight_matrix(teacher_node)
    normal: Normal | None = None
    for start in range(0, student_x.shape[0], CHUNK):
        p = features(node, student_x[start : start + CHUNK])
        target = features(teacher_node, teacher_x[start : start + CHUNK]) @ w_t.T
        if b_t is not None:
            target += b_t
        if outputs is not None:
            target = target[:, outputs]
        if normal is None:
            normal = Normal(p.shape[1], target.shape[1], bias)
        normal.add(p, target)
    assert normal is not None
    return normal
