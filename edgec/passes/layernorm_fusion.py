"""LayerNorm written out by an exporter → one ``LayerNormalization`` node (opset 17's op).

The form torch's legacy export at opset < 17 writes (and tf2onnx's, with the centered value
computed twice)::

    mean = ReduceMean(x, axes)          d = Sub(x, mean)
    var = ReduceMean(Pow(d, 2), axes)   (or Mul(d, d))
    y = Div(d, Sqrt(Add(var, eps)))     (or Mul(d, Reciprocal(Sqrt(...))))
    y = Add(Mul(y, gamma), beta)        (optional; gamma, beta constants)

with ``axes`` the trailing axes from some ``a`` on (``keepdims`` 1): LayerNormalization
with ``axis = a``. Every intermediate value must be read only inside the pattern.
"""

from __future__ import annotations

import numpy as np

from edgec.ir.graph import Graph, Node, Value
from edgec.ops import get_op
from edgec.passes.base import Pass, PassResult
from edgec.passes.dead_code import drop_if_unused
from edgec.passes.expression import scalar


def _made_by(value: Value | None, op_type: str) -> Node | None:
    node = value.producer if value is not None else None
    if node is None or node.op_type != op_type or node.domain or node.fused is not None:
        return None
    return node


def _trailing_axis(node: Node) -> int | None:
    """``a`` when the ReduceMean keeps dims and averages over axes a..rank-1."""
    x = node.inputs[0]
    op = get_op("ReduceMean")
    if not op.attr(node, "keepdims") or node.input(1) is None or not node.inputs[1].is_const:
        return None
    rank = len(x.shape)
    axes = op.axes(node, rank, node.inputs[1].const)
    if not axes or list(axes) != list(range(axes[0], rank)):
        return None
    return axes[0]


def _variance_base(node: Node) -> Value | None:
    """d of Pow(d, 2) or Mul(d, d)."""
    if node.op_type == "Pow" and scalar(node.input(1)) == 2.0:
        return node.inputs[0]
    if node.op_type == "Mul" and node.inputs[0] is node.inputs[1]:
        return node.inputs[0]
    return None


def _normalization(div: Node) -> tuple[Value, Value, float, list[Node]] | None:
    """(centered d, the mean's input x, epsilon, nodes) of ``d / sqrt(var + eps)``."""
    if div.op_type == "Div":
        d, root = div.inputs
    elif div.op_type == "Mul" and _made_by(div.inputs[1], "Reciprocal") is not None:
        reciprocal = div.inputs[1].producer
        d, root = div.inputs[0], reciprocal.inputs[0]
    else:
        return None
    sqrt = _made_by(root, "Sqrt")
    add = _made_by(sqrt.inputs[0], "Add") if sqrt else None
    if add is None:
        return None
    eps = scalar(add.inputs[1]) if scalar(add.inputs[1]) is not None else scalar(add.inputs[0])
    var_value = add.inputs[0] if scalar(add.inputs[1]) is not None else add.inputs[1]
    var = _made_by(var_value, "ReduceMean")
    square = var.inputs[0].producer if var else None
    base = _variance_base(square) if square else None
    subs = [_made_by(base, "Sub"), _made_by(d, "Sub")]
    if eps is None or None in subs:
        return None
    means = [_made_by(s.inputs[1], "ReduceMean") for s in subs]
    if None in means or len({id(m) for m in means}) != 1:
        return None
    mean, x = means[0], subs[0].inputs[0]
    if any(s.inputs[0] is not x for s in subs) or mean.inputs[0] is not x:
        return None
    axis = _trailing_axis(mean)
    if axis is None or _trailing_axis(var) != axis:
        return None
    nodes = [mean, *dict.fromkeys(subs), square, var, add, sqrt, div]
    if div.op_type == "Mul":
        nodes.insert(-1, div.inputs[1].producer)
    return x, d, eps, nodes


def _affine_operand(value: Value, x: Value, axis: int) -> np.ndarray | None:
    """A constant gamma or beta in the normalized shape, when it is one (its leading dims,
    over the axes not normalized, all 1)."""
    if not value.is_const:
        return None
    data = np.asarray(value.const)
    count = len(x.shape) - axis
    if data.ndim > count:
        if any(d != 1 for d in data.shape[: data.ndim - count]):
            return None
        data = data.reshape(data.shape[data.ndim - count :])
    try:
        return np.ascontiguousarray(np.broadcast_to(data, tuple(x.shape[axis:])))
    except ValueError:
        return None


def _consumer(graph: Graph, value: Value, op_type: str) -> Node | None:
    users = list(dict.fromkeys(value.users))
    if len(users) != 1 or graph.is_output(value) or users[0].op_type != op_type:
        return None
    node = users[0]
    return node if not node.domain and node.fused is None else None


def match_layernorm(graph: Graph, div: Node):
    """(x, gamma, beta, epsilon, axis, result, nodes) of a LayerNorm ending at ``div``."""
    found = _normalization(div)
    if found is None:
        return None
    x, _, eps, nodes = found
    axis = _trailing_axis(nodes[0])
    result = div.outputs[0]
    affine = {}
    for op_type in ("Mul", "Add"):  # * gamma, then + beta, each optional
        node = _consumer(graph, result, op_type)
        if node is None:
            continue
        other = node.inputs[1] if node.inputs[0] is result else node.inputs[0]
        data = _affine_operand(other, x, axis)
        if data is not None and node.outputs[0].shape == x.shape:
            nodes.append(node)
            result = node.outputs[0]
            affine[op_type] = data
    inside = {id(n) for n in nodes}
    for node in nodes:
        out = node.outputs[0]
        if out is not result and (
            graph.is_output(out) or any(id(u) not in inside for u in out.users)
        ):
            return None
    gamma = affine.get("Mul", np.ones(x.shape[axis:], x.dtype))
    return x, gamma, affine.get("Add"), eps, axis, result, nodes


class FuseLayerNorm(Pass):
    """Rewrite a written-out LayerNorm as one ``LayerNormalization``; the result keeps its name."""

    def run(self, graph: Graph) -> PassResult:
        changed = False
        for div in list(graph.nodes):
            if div not in graph.nodes or div.op_type not in ("Div", "Mul"):
                continue
            out = div.outputs[0]
            if out.dtype is None or not np.issubdtype(out.dtype, np.floating):
                continue
            found = match_layernorm(graph, div)
            if found is None:
                continue
            x, gamma, beta, eps, axis, result, nodes = found
            constants = [v for n in nodes for v in n.inputs if v is not None and v.is_const]
            for node in nodes:
                graph.remove_node(node)
            for node in nodes:
                if node.outputs[0] is not result:
                    graph.remove_value(node.outputs[0])
            inputs = [x, graph.add_constant(f"{div.name}_scale", gamma.astype(x.dtype))]
            if beta is not None:
                inputs.append(graph.add_constant(f"{div.name}_bias", beta.astype(x.dtype)))
            attrs = {"axis": axis, "epsilon": float(eps)}
            graph.add_node(
                "LayerNormalization", inputs, [result], attrs, graph.unique_node_name(
                    f"{div.name}_layernorm"
                ),
            )  # fmt: skip
            for const in constants:
                drop_if_unused(graph, const)
            graph.topo_sort()
            changed = True
        return PassResult(graph, changed)
