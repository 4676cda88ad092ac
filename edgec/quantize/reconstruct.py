"""``--weight-rounding optimized``: layer-by-layer reconstruction of the weights on the
calibration data, before the activations are calibrated.

Two copies of the float model run side by side over the calibration samples, node by
node: the teacher (the model as given) and the student, whose weighted layers are replaced,
in schedule order, by their quantized versions. When the student reaches a weighted layer,
the layer is solved so that, reading the student's inputs (which carry the rounding errors
of every layer before it), it reproduces the teacher's pre-activation output:

1. least squares for the weights and bias (ridge, pulled towards the float weights);
2. GPTQ rounding of those weights on the student inputs' Gram matrix (rounding.py), each
   channel's scale searched below 8 bits;
3. the bias solved again for the rounded weights (it absorbs their mean error).

The student then computes with the rounded weights (dequantized: the same products the
integer kernels make) and moves on. The result: the student graph (float, with the new
biases) and, per layer, the integer weights and scales the quantizer must use.

After pruning (``original``: the model before it), a layer whose output the pruning left
whole (a pruned group's consumer) aims at the unpruned model's output instead of the pruned
float model's, so the rounding also makes up for what pruning lost (the unpruned model's
inputs to that layer are collected once). Pruned layers aim at the pruned model, as before.
"""

from __future__ import annotations

import numpy as np

from edgec.data import Dataset
from edgec.interp import run_node
from edgec.ir.graph import Graph, Node
from edgec.passes.refit import Normal, collect, features, set_weight_matrix, weight_matrix
from edgec.quantize.calibrate import progress
from edgec.quantize.rounding import round_matrix

SAMPLES = 128  # calibration samples the reconstruction reads
SOLVED_OPS = ("Conv", "Gemm", "MatMul")  # refit's layouts; others round to nearest


def _groups(node: Node) -> int:
    return int(node.attrs.get("group", 1)) if node.op_type == "Conv" else 1


def _rows(node: Node, x: np.ndarray) -> np.ndarray:
    """The layer's input rows per group: [rows, groups, features]."""
    rows = features(node, np.asarray(x, np.float64))
    return rows.reshape(rows.shape[0], _groups(node), -1)


def _outputs(node: Node, x: np.ndarray) -> np.ndarray:
    """The layer's pre-activation output rows per group: [rows, groups, out / groups]."""
    w, b = weight_matrix(node)
    groups = _groups(node)
    y = np.einsum("rgd,god->rgo", _rows(node, x), w.reshape(groups, w.shape[0] // groups, -1))
    return y if b is None else y + b.reshape(groups, -1)


def _solve_layer(
    teacher: Node,
    student: Node,
    x_t: list[np.ndarray],
    x_s: list[np.ndarray],
    bits: int,
    aim: tuple[Node, list[np.ndarray]] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(integers [out, d], scales [out], bias [out]) of ``student`` (see the module docstring);
    ``aim``: the layer and inputs whose outputs are the target instead of the teacher's."""
    w_t, b_t = weight_matrix(teacher)
    out, groups = w_t.shape[0], _groups(teacher)
    per_group = out // groups
    w_g = w_t.reshape(groups, per_group, -1)
    normals = [Normal(w_g.shape[2], per_group) for _ in range(groups)]
    target_node, x_target = aim if aim is not None else (teacher, x_t)
    for a, b in zip(x_target, x_s):
        target = _outputs(target_node, a)
        rows = _rows(student, b)
        for g, normal in enumerate(normals):
            normal.add(rows[:, g], target[:, g])
    prior_b = np.zeros(out) if b_t is None else b_t
    q = np.zeros(w_t.shape, np.int64)
    scales = np.zeros(out, np.float32)
    bias = np.zeros(out)
    for g, normal in enumerate(normals):
        part = slice(g * per_group, (g + 1) * per_group)
        d = w_g.shape[2]
        prior = np.concatenate([w_g[g], prior_b[part, None]], axis=1)
        solved = normal.solve(np.arange(d), prior)
        gram = normal.gram[:d, :d]
        q[part], scales[part] = round_matrix(solved[:, :d], bits, "optimized", gram[None])
        w_q = q[part] * scales[part, None].astype(np.float64)
        # bias for the rounded weights: mean target minus mean product
        bias[part] = (normal.cross[d] - normal.gram[d, :d] @ w_q.T) / normal.gram[d, d]
    return q, scales, bias


def _same_outputs(a: Node, b: Node) -> bool:
    """Whether layers ``a`` and ``b`` compute the same value (name, channels, groups)."""
    same_value = a.op_type == b.op_type and a.outputs[0].name == b.outputs[0].name
    channels = weight_matrix(a)[0].shape[0] == weight_matrix(b)[0].shape[0]
    return same_value and channels and _groups(a) == _groups(b)


def _aims(graph: Graph, original: Graph, bits: dict[str, int]) -> dict[str, Node]:
    """Per solved layer of ``graph`` that ``original`` computes too: its ``original`` twin."""
    found = {n.name: n for n in original.nodes}
    return {
        node.name: found[node.name]
        for node in graph.nodes
        if node.name in bits
        and node.op_type in SOLVED_OPS
        and node.name in found
        and _same_outputs(node, found[node.name])
    }


def reconstruct(
    graph: Graph, data: Dataset, bits: dict[str, int], original: Graph | None = None
) -> tuple[Graph, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """The student graph and, per layer named in ``bits`` (its weight bits), its integer
    weights [out, d] (``refit.weight_matrix``'s layout) and float32 scales. ``original``:
    the model before pruning; a layer with all its output channels aims at its outputs."""
    student = graph.copy()
    count = min(len(data), SAMPLES)
    feeds = [data.sample(i) for i in range(count)]
    envs = ([dict(f) for f in feeds], [dict(f) for f in feeds])  # teacher, student
    last_use: dict[str, int] = {}
    for index, node in enumerate(graph.nodes):
        for v in node.inputs:
            if v is not None and not v.is_const:
                last_use[v.name] = index
    keep = {v.name for v in graph.outputs}
    aims = _aims(graph, original, bits) if original is not None else {}
    names = [a.inputs[0].name for a in aims.values()]
    original_x = collect(original, data.subset(slice(0, count)), names) if aims else {}
    decisions = {}
    steps = list(enumerate(zip(graph.nodes, student.nodes)))
    for index, (t_node, s_node) in progress(steps, len(steps), "weight rounding"):
        if s_node.name in bits and s_node.op_type in SOLVED_OPS:
            x_t = [env[t_node.inputs[0].name] for env in envs[0]]
            x_s = [env[s_node.inputs[0].name] for env in envs[1]]
            aim = None
            if s_node.name in aims:
                twin = aims[s_node.name]
                x = original_x[twin.inputs[0].name]
                aim = (twin, [x[i : i + 1] for i in range(count)])
            q, scales, bias = _solve_layer(t_node, s_node, x_t, x_s, bits[s_node.name], aim)
            w_q = q * scales[:, None].astype(np.float64)
            set_weight_matrix(student, s_node, w_q, bias)
            decisions[s_node.name] = (q, scales)
        for node, env_list in ((t_node, envs[0]), (s_node, envs[1])):
            for env in env_list:
                inputs = [
                    None if v is None else (v.const if v.is_const else env[v.name])
                    for v in node.inputs
                ]
                for out, value in zip(node.outputs, run_node(node, inputs)):
                    env[out.name] = value
                for v in node.inputs:
                    if v is not None and last_use.get(v.name) == index and v.name not in keep:
                        env.pop(v.name, None)
    return student, decisions
