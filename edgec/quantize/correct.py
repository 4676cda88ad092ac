"""Bias correction, two ways.

- Analytic (``rounding_shift``, applied as the integer graph is built): the bias absorbs
  the mean output error of the weight rounding, ``(W_q - W) · E[rows]``.
- Empirical (``correct_biases``, ``PTQConfig.empirical_bias``): each weighted layer gets
  the bias that makes its mean pre-activation on the calibration data equal to the float
  model's, so it also absorbs what the quantized inputs add (rounding and clipping of the
  activations, the errors of the layers before). The integer graph runs over the
  calibration samples node by node; at each weighted layer, before it runs,

    b = b_float + W_float · E[rows_float] - W_int · E[rows_int]

with ``rows`` the layer's input rows (im2col for a convolution; a mean is linear, so the
mean of the rows is the rows of the mean tensor), ``E[rows_float]`` from calibration and
``E[rows_int]`` from the dequantized integer input the corrected layers before produced.
"""

from __future__ import annotations

import numpy as np

from edgec.data import Dataset
from edgec.interp import quantized_feeds, run_node
from edgec.ir.graph import Graph, Node, Value
from edgec.ops.integer import integer_params, is_integer_node, run_integer
from edgec.passes.refit import features, weight_matrix
from edgec.quantize.calibrate import progress
from edgec.quantize.observers import TensorStats

CORRECTED_OPS = ("Conv", "Gemm", "MatMul")
SAMPLES = 200  # calibration samples it reads (mean of the integer inputs)


def mean_rows(node: Node, mean: np.ndarray) -> np.ndarray | None:
    """The mean input row of ``node`` from its input's mean tensor: per weight column for
    a convolution (zero padding and strides included), per feature for a matrix product."""
    if node.op_type != "Conv":
        return mean.reshape(-1, mean.shape[-1]).mean(axis=0)
    if mean.ndim != len(node.inputs[1].shape):
        return None
    return features(node, mean).mean(axis=0)


def grouped_dot(rows: np.ndarray, mean: np.ndarray, groups: int) -> np.ndarray:
    """Per output channel, its weight row [O, F] times the mean input row of its group
    (``mean`` [groups * F])."""
    by_group = mean.reshape(groups, -1)[np.arange(len(rows)) // (len(rows) // groups)]
    return (rows * by_group).sum(axis=1)


def rounding_shift(
    node: Node, q: np.ndarray, scales: np.ndarray, w: np.ndarray, axis: int, mean: np.ndarray
) -> np.ndarray:
    """The analytic correction: mean output error per channel of the weight rounding,
    ``(W_q - W) · E[x]`` (``mean``: a convolution's mean im2col row, ``mean_rows``, or per
    input channel; a matrix product's mean features)."""
    shape = [1] * w.ndim
    shape[axis] = -1
    delta = (
        q.astype(np.float64)
        * scales.astype(np.float64).reshape(shape if scales.size > 1 else [1] * w.ndim)
        - w
    )
    group = node.attrs.get("group", 1)
    if node.op_type == "ConvTranspose":  # delta [C_in, O/group, k…]; o = g * O/group + j
        per_in = delta.reshape(delta.shape[0], delta.shape[1], -1).sum(axis=2)
        per_in = per_in.reshape(group, -1, delta.shape[1])  # [G, C_in/G, O/G]
        return np.einsum("gcj,gc->gj", per_in, mean.reshape(group, -1)).reshape(-1)
    if node.op_type == "Conv" and mean.size == delta[0].size * group:
        return grouped_dot(delta.reshape(delta.shape[0], -1), mean, group)
    if node.op_type == "Conv":  # per input channel: every tap sees the channel's mean
        per_in = delta.reshape(delta.shape[0], delta.shape[1], -1).sum(axis=2)  # [O, Cg]
        return grouped_dot(per_in, mean, group)
    rows = delta if axis == 0 else delta.T  # [out, in]
    return rows @ mean.reshape(-1)


def _correctable(node: Node) -> bool:
    bias = node.input(2)
    return (
        node.op_type in CORRECTED_OPS
        and is_integer_node(node)
        and node.inputs[1].is_const
        and node.inputs[1].quant is not None
        and bias is not None
        and bias.is_const
        and bias.quant is not None
        and node.inputs[0].quant is not None
        and node.inputs[0].quant.axis is None
    )


def _int_weights(node: Node) -> np.ndarray:
    """The dequantized integer weights as rows [out, features]."""
    q, _ = weight_matrix(node)
    scales = np.asarray(node.inputs[1].quant.scale, np.float64).reshape(-1)
    return q * (scales[:, None] if scales.size > 1 else scales[0])


def _new_bias(graph: Graph, node: Node, bias_float: np.ndarray) -> None:
    old = node.inputs[2]
    scale = np.asarray(old.quant.scale, np.float64)
    limit = np.iinfo(old.const.dtype).max
    data = np.clip(np.rint(bias_float / scale), -limit, limit).astype(old.const.dtype)
    new = graph.add_constant(old.name, data)
    new.quant = old.quant
    graph.set_input(node, 2, new)


def correct_biases(
    float_graph: Graph, int_graph: Graph, data: Dataset, stats: dict[str, TensorStats]
) -> dict[str, float]:
    """Rewrite the biases of ``int_graph``'s weighted layers in place (see the module
    docstring); returns each layer's largest mean shift removed, in units of its output
    scale."""
    teacher = {n.name: n for n in float_graph.nodes}
    count = min(len(data), SAMPLES)
    envs: list[dict[int, np.ndarray]] = []
    for i in range(count):
        feeds = quantized_feeds(int_graph, data.sample(i))
        envs.append({id(v): np.asarray(feeds[v.name]) for v in int_graph.inputs})
    const = {id(v): v.const for v in int_graph.constants()}
    shifts = {}
    nodes = list(int_graph.nodes)
    last_use = {id(v): i for i, n in enumerate(nodes) for v in n.inputs if v is not None}
    keep = {id(v) for v in int_graph.outputs}
    for index, node in progress(enumerate(nodes), len(nodes), "bias correction"):
        source = teacher.get(node.name)
        if _correctable(node) and source is not None:
            shifts[node.name] = _correct(int_graph, node, source, envs, stats)
            const[id(node.inputs[2])] = node.inputs[2].const
        params = integer_params(node) if is_integer_node(node) else None
        for env in envs:
            inputs = [None if v is None else const.get(id(v), env.get(id(v))) for v in node.inputs]
            results = (
                run_node(node, inputs) if params is None else run_integer(node, inputs, params)
            )
            for out, value in zip(node.outputs, results):
                env[id(out)] = value
            for v in node.inputs:  # free intermediates after their last reader
                if v is not None and last_use.get(id(v)) == index and id(v) not in keep:
                    env.pop(id(v), None)
    return shifts


def _correct(
    graph: Graph, node: Node, source: Node, envs: list, stats: dict[str, TensorStats]
) -> float:
    x: Value = node.inputs[0]
    float_mean = stats.get(source.inputs[0].name, TensorStats()).extra.get("mean")
    if float_mean is None:
        return 0.0
    q = x.quant
    int_mean = np.mean([env[id(x)] for env in envs], axis=0, dtype=np.float64)
    int_mean = (int_mean - float(np.asarray(q.zero_point))) * float(np.asarray(q.scale))
    rows_float, rows_int = mean_rows(source, float_mean), mean_rows(node, int_mean)
    if rows_float is None or rows_int is None:
        return 0.0
    w_float, b_float = weight_matrix(source)
    w_int = _int_weights(node)
    groups = int(node.attrs.get("group", 1)) if node.op_type == "Conv" else 1
    target = grouped_dot(w_float, rows_float, groups)
    if b_float is not None:
        target = target + b_float
    old = node.inputs[2]
    bias_now = old.const.astype(np.float64) * np.asarray(old.quant.scale, np.float64)
    shift = grouped_dot(w_int, rows_int, groups) + bias_now - target
    _new_bias(graph, node, bias_now - shift)
    out_scale = float(np.asarray(node.outputs[0].quant.scale).reshape(-1)[0])
    return float(np.max(np.abs(shift)) / out_scale)
