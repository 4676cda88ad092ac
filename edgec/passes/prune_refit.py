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
from edgec.ir.graph import Graph, Node
from edgec.ops import get_op
from edgec.passes.base import Pass, PassResult
from edgec.passes.refit import CHUNK, collect, features, set_weight_matrix, weight_matrix

RIDGE = 1e-2


def refittable(node: Node) -> bool:
    if node.op_type == "Gemm":
        op = get_op("Gemm")
        if op.attr(node, "transA") or op.attr(node, "alpha") != 1.0 or op.attr(node, "beta") != 1.0:
            return False
        bias, n = node.input(2), weight_matrix(node)[0].shape[0]
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

    def run(self, graph: Graph) -> PassResult:
        teacher_nodes = {n.name: n for n in self.teacher.nodes}
        self.report = []
        changed = False
        for node in [n for n in graph.nodes if n.name in self.layers and refittable(n)]:
            dense = teacher_nodes[node.name]
            x_name = node.inputs[0].name
            student_x = collect(graph, self.data, [x_name])[x_name]
            teacher_x = collect(self.teacher, self.data, [x_name])[x_name]
            changed |= self._refit(graph, node, dense, student_x, teacher_x)
        return PassResult(graph, changed)

    def _refit(self, graph: Graph, node: Node, dense: Node, xs, xt) -> bool:
        w_t, b_t = weight_matrix(dense)
        n, k = w_t.shape
        b_t = np.zeros(n) if b_t is None else b_t
        w_s, b_s = weight_matrix(node)
        with_bias = node.op_type != "MatMul"
        h = np.zeros((k + 1, k + 1))
        g = np.zeros((k + 1, n))
        rows = 0
        for start in range(0, len(xs), CHUNK):
            part = slice(start, start + CHUNK)
            rows_s, rows_t = features(node, xs[part]), features(dense, xt[part])
            rows += rows_s.shape[0]
            ones = np.ones((rows_s.shape[0], 1))
            xs1 = np.hstack([rows_s, ones])
            h += xs1.T @ xs1
            g += xs1.T @ (rows_t @ w_t.T + b_t)
        scale = float(np.mean(np.diag(h)[:k])) + 1e-12
        b_s = np.zeros(n) if b_s is None else b_s
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
        set_weight_matrix(graph, node, new_w, new_b if with_bias else None)
        return True
