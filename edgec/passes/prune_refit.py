"""Refit pruned layers on calibration data, with the unpruned model as the teacher.

edgec is post-training: instead of fine-tuning, each pruned layer's remaining weights (and
its bias) are solved by least squares so that, on the calibration samples, the layer's
output (before its activation) matches the teacher's. Layers go in graph order and each
sees the inputs the already-refitted layers before it produce, so the errors of earlier
layers are compensated rather than compounded. The zeros stay zeros: the sparsity pattern
magnitude pruning chose is kept, only the survivors move.

Per output channel o with kept inputs S: (X_S' X_S + λ I) w_S = X_S' Y_o, where X holds the
student's layer inputs (im2col rows for a convolution) plus a column of ones for the bias,
and Y the teacher's pre-activation outputs. The ridge pulls toward the pruned weights
(+ λ w_pruned on the right; λ = (1e-2 + unknowns / rows) of the mean diagonal): with few
samples per unknown, or inputs that are rarely active, the solution stays near magnitude
pruning instead of overfitting.
"""

from __future__ import annotations

import numpy as np

from edgec.data import Dataset
from edgec.interp import Interpreter
from edgec.ir.graph import Graph, Node
from edgec.ops import get_op
from edgec.ops.spatial import pad_spatial, resolve_window, windows
from edgec.passes.base import Pass, PassResult
from edgec.passes.dead_code import drop_if_unused

RIDGE = 1e-2


def layer_rows(node: Node, x: np.ndarray) -> np.ndarray:
    """The layer's input as rows of the matrix product ([rows, k]): im2col for a Conv."""
    if node.op_type != "Conv":
        return x.reshape(-1, x.shape[-1]).astype(np.float64)
    op = get_op("Conv")
    w = node.inputs[1].const
    win = resolve_window(node, op, x.shape[2:], w.shape[2:])
    cols = windows(pad_spatial(x, win, 0), win)  # (N, C, *out, *k)
    nd = len(win.kernel)
    order = (0, *range(2, 2 + nd), 1, *range(2 + nd, 2 + 2 * nd))
    return cols.transpose(order).reshape(-1, int(np.prod(w.shape[1:]))).astype(np.float64)


def matrix_of(node: Node, w: np.ndarray) -> np.ndarray:
    """Weights as [n][k] (output channels by reduction)."""
    if node.op_type == "Conv":
        return w.reshape(w.shape[0], -1)
    if node.op_type == "MatMul" or not node.attrs.get("transB", 0):
        return w.T
    return w


def _from_matrix(node: Node, m: np.ndarray, shape) -> np.ndarray:
    if node.op_type == "Conv" or (node.op_type == "Gemm" and node.attrs.get("transB", 0)):
        return m.reshape(shape)
    return m.T.reshape(shape)


def refittable(node: Node) -> bool:
    if node.op_type == "Gemm":
        op = get_op("Gemm")
        if op.attr(node, "transA") or op.attr(node, "alpha") != 1.0 or op.attr(node, "beta") != 1.0:
            return False
        bias, n = node.input(2), matrix_of(node, node.inputs[1].const).shape[0]
        return bias is None or (bias.const is not None and bias.const.size == n)
    if node.op_type == "MatMul":
        return len(node.inputs[0].shape) == 2
    return node.op_type == "Conv" and node.attrs.get("group", 1) == 1


class RefitPruned(Pass):
    """Refit the layers named in ``layers`` (pruned copies of ``teacher``'s, same value
    names) on ``data``; ``report`` gives each layer's relative output error before and after."""

    def __init__(self, teacher: Graph, data: Dataset, layers: list[str]):
        self.teacher = teacher
        self.data = data
        self.layers = layers
        self.report: list[dict] = []

    def _inputs(self, graph: Graph, name: str) -> list[np.ndarray]:
        interp = Interpreter(graph)
        out = []
        for i in range(len(self.data)):
            feeds = self.data.sample(i)
            values = {**feeds, **interp.run(feeds, keep_all=True)}
            out.append(values[name])
        return out

    def run(self, graph: Graph) -> PassResult:
        teacher_nodes = {n.name: n for n in self.teacher.nodes}
        self.report = []
        changed = False
        for node in [n for n in graph.nodes if n.name in self.layers and refittable(n)]:
            dense = teacher_nodes[node.name]
            x_name = node.inputs[0].name
            student_x = self._inputs(graph, x_name)
            teacher_x = self._inputs(self.teacher, x_name)
            changed |= self._refit(graph, node, dense, student_x, teacher_x)
        return PassResult(graph, changed)

    def _refit(self, graph: Graph, node: Node, dense: Node, xs, xt) -> bool:
        w_t = matrix_of(dense, dense.inputs[1].const).astype(np.float64)
        n, k = w_t.shape
        b_t = np.zeros(n) if dense.input(2) is None else dense.inputs[2].const.astype(np.float64)
        w_s = matrix_of(node, node.inputs[1].const).astype(np.float64)
        with_bias = node.op_type != "MatMul"
        h = np.zeros((k + 1, k + 1))
        g = np.zeros((k + 1, n))
        rows = 0
        for a, b in zip(xs, xt, strict=True):
            rows_s, rows_t = layer_rows(node, a), layer_rows(dense, b)
            rows += rows_s.shape[0]
            ones = np.ones((rows_s.shape[0], 1))
            xs1 = np.hstack([rows_s, ones])
            h += xs1.T @ xs1
            g += xs1.T @ (rows_t @ w_t.T + b_t)
        scale = float(np.mean(np.diag(h)[:k])) + 1e-12
        b_s = np.zeros(n) if node.input(2) is None else node.inputs[2].const.astype(np.float64)
        new_w, new_b = w_s.copy(), b_s.copy()
        for o in range(n):
            keep = np.flatnonzero(w_s[o])
            cols = np.append(keep, k) if with_bias else keep
            if cols.size == 0:
                continue
            prior = np.append(w_s[o, keep], b_s[o]) if with_bias else w_s[o, keep]
            # fewer samples per unknown, more pull: a data term that cannot pin the weights
            ridge = scale * (RIDGE + cols.size / rows)
            sub = h[np.ix_(cols, cols)] + ridge * np.eye(cols.size)
            sol = np.linalg.solve(sub, g[cols, o] + ridge * prior)
            new_w[o, keep] = sol[: keep.size]
            if with_bias:
                new_b[o] = sol[-1]
        self.report.append({"node": node.name, "refit": True})
        w_value = node.inputs[1]
        data = _from_matrix(node, new_w, w_value.const.shape).astype(w_value.const.dtype)
        graph.set_input(node, 1, graph.add_constant(f"{w_value.name}_refit", data))
        drop_if_unused(graph, w_value)
        if with_bias:
            old = node.input(2)
            bias = graph.add_constant(f"{node.name}_bias_refit", new_b.astype(np.float32))
            if old is None:
                node.inputs.append(None)
            graph.set_input(node, 2, bias)
            drop_if_unused(graph, old)
        return True
