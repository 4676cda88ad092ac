"""Rewrite older-opset forms into the latest-opset form the registry implements.

ONNX moved many attributes to inputs over the years (Clip's bounds, Pad's pads, Squeeze's
axes…) and changed a few semantics (Softmax's 2-d coercion before opset 13, legacy
``broadcast``/``axis`` arithmetic before opset 7). Each rewrite here is one small function
keyed by op type, applied when the model's opset is older than the change.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edgec.errors import ModelError, node_error
from edgec.ir.graph import Graph, Node, Value
from edgec.ops.tensor_ops import Constant

# Attributes of old opsets that carry no meaning at inference.
_INERT_ATTRS = {"consumed_inputs", "is_test"}


def upgrade_graph(graph: Graph, opset: int) -> None:
    """Apply every rewrite whose opset boundary lies above ``opset``."""
    for node in list(graph.nodes):
        if not node.domain:
            for since, rewrite in _REWRITES.get(node.op_type, ()):
                if opset < since and node in graph.nodes:
                    rewrite(graph, node, opset)
        for key in _INERT_ATTRS & node.attrs.keys():
            del node.attrs[key]
    for node in [n for n in graph.nodes if n.op_type == "Constant" and not n.domain]:
        _constant_to_value(graph, node)


def _const_input(graph: Graph, node: Node, base: str, data) -> Value:
    value = graph.add_constant(f"{node.name}_{base}", np.asarray(data))
    return value


def _attr_to_inputs(names: list[tuple[str, np.dtype | None]]) -> Callable:
    """Move attributes to trailing inputs, in order; an absent attribute becomes an empty slot."""

    def rewrite(graph: Graph, node: Node, opset: int) -> None:
        slots: list[Value | None] = []
        for name, dtype in names:
            if name in node.attrs:
                raw = node.attrs.pop(name)
                kind = dtype or (
                    node.inputs[0].dtype if node.inputs[0].dtype is not None else np.float32
                )
                slots.append(_const_input(graph, node, name, np.asarray(raw, dtype=kind)))
            else:
                slots.append(None)
        while slots and slots[-1] is None:
            slots.pop()
        for value in slots:
            node.inputs.append(value)
            if value is not None:
                value.users.append(node)

    return rewrite


def _legacy_broadcast(graph: Graph, node: Node, opset: int) -> None:
    """Before opset 7, ``broadcast=1`` aligned B with A starting at ``axis`` (not at the end)."""
    broadcast = node.attrs.pop("broadcast", 0)
    axis = node.attrs.pop("axis", None)
    if not broadcast:
        return
    a, b = node.inputs[0], node.inputs[1]
    if a.shape is None or b.shape is None:
        raise node_error(ModelError, node, "legacy broadcasting needs the ranks of both inputs")
    rank_a, rank_b = len(a.shape), len(b.shape)
    start = rank_a - rank_b if axis is None else axis % rank_a
    trailing = rank_a - start - rank_b
    if trailing <= 0:
        return
    new_shape = (*b.shape, *([1] * trailing))
    if b.is_const:
        reshaped = graph.add_constant(f"{b.name}_bcast", b.const.reshape(new_shape))
    else:
        axes = graph.add_constant(f"{node.name}_bcast_axes", np.arange(rank_b, rank_b + trailing))
        reshaped = graph.new_value(f"{b.name}_bcast", b.dtype, new_shape)
        graph.add_node("Unsqueeze", [b, axes], [reshaped], before=node, name=f"{node.name}_bcast")
    graph.set_input(node, 1, reshaped)


def _drop(*names: str) -> Callable:
    def rewrite(graph: Graph, node: Node, opset: int) -> None:
        for name in names:
            node.attrs.pop(name, None)

    return rewrite


def _batchnorm(graph: Graph, node: Node, opset: int) -> None:
    """Before opset 14 the running-statistics outputs meant training mode (batch statistics).

    Opset 6 said so with ``is_test`` instead; there unused extra outputs are dropped.
    """
    if node.attrs.pop("spatial", 1) != 1:
        raise node_error(ModelError, node, "BatchNormalization with spatial=0 is not supported")
    if len(node.outputs) == 1:
        return
    inference = opset < 7 and node.attrs.get("is_test", 0) == 1
    used = any(extra.users or graph.is_output(extra) for extra in node.outputs[1:])
    if not inference or used:
        raise node_error(
            ModelError,
            node,
            "training-mode BatchNormalization (it declares the running-statistics outputs) "
            "is not an inference op",
        )
    for extra in node.outputs[1:]:
        graph.remove_value(extra)
        extra.producer = None
    del node.outputs[1:]


def _softmax_2d(graph: Graph, node: Node, opset: int) -> None:
    """Opset < 13 Softmax coerces to 2-d at ``axis`` (default 1): Flatten → Softmax → Reshape."""
    x, y = node.inputs[0], node.outputs[0]
    axis = node.attrs.get("axis", 1)
    if x.shape is None:
        raise node_error(ModelError, node, "the input rank must be known to upgrade this op")
    rank = len(x.shape)
    axis %= max(rank, 1)
    node.attrs["axis"] = -1
    if axis == rank - 1:
        return
    flat = graph.new_value(f"{x.name}_2d", x.dtype, None)
    graph.add_node("Flatten", [x], [flat], {"axis": axis}, before=node, name=f"{node.name}_flatten")
    graph.set_input(node, 0, flat)
    soft = graph.new_value(f"{y.name}_2d", y.dtype, None)
    # The node now produces the 2-d result; a Reshape restores the original shape into ``y``.
    node.outputs[0] = soft
    soft.producer = node
    y.producer = None
    shape = graph.add_constant(f"{node.name}_shape", np.array(x.shape, dtype=np.int64))
    graph.add_node("Reshape", [soft, shape], [y], after=node, name=f"{node.name}_reshape")


def _prelu_channel_slope(graph: Graph, node: Node, opset: int) -> None:
    """Before opset 7 a 1-d slope of length C applied per channel (axis 1), not per last dim."""
    x, slope = node.inputs
    if slope.shape is None or x.shape is None or len(slope.shape) != 1 or len(x.shape) < 3:
        return
    if slope.shape[0] == x.shape[1] and slope.shape[0] != 1:
        shaped = (slope.shape[0], *([1] * (len(x.shape) - 2)))
        if slope.is_const:
            graph.set_input(
                node, 1, graph.add_constant(f"{slope.name}_chw", slope.const.reshape(shaped))
            )


def _upsample(graph: Graph, node: Node, opset: int) -> None:
    """Upsample (opset 7–9) and Resize-10 are Resize with asymmetric coordinates.

    Their nearest pixel is the floor of the source coordinate when an axis grows and its
    ceiling when it shrinks (onnxruntime's reading of the old ops). A Resize-10 that both
    grows and shrinks axes becomes two Resize nodes, shrinking first. Linear mode (spelled
    ``bilinear`` by the first Upsample) interpolates at the same asymmetric coordinates.
    """
    mode = node.attrs.get("mode", "nearest")
    mode = "linear" if mode == "bilinear" else mode
    if node.op_type == "Upsample" and "scales" in node.attrs:
        scales = _const_input(
            graph, node, "scales", np.asarray(node.attrs.pop("scales"), np.float32)
        )
    else:
        scales = node.inputs[1]
        scales.users.remove(node)
    node.op_type = "Resize"
    x = node.inputs[0]
    node.inputs = [x, None, scales]
    scales.users.append(node)
    node.attrs = {"mode": mode, "coordinate_transformation_mode": "asymmetric"}
    if mode != "nearest":
        return
    node.attrs["nearest_mode"] = "floor"
    factors = scales.const
    if factors is None or not np.any(factors < 1):
        return
    if np.all(factors <= 1):
        node.attrs["nearest_mode"] = "ceil"
        return
    shrink = np.where(factors < 1, factors, 1).astype(np.float32)
    shrink_scales = graph.add_constant(f"{node.name}_shrink_scales", shrink)
    shrunk_shape = None
    if x.shape is not None:
        shrunk_shape = tuple(int(d * f) for d, f in zip(x.shape, shrink))
    shrunk = graph.new_value(f"{x.name}_shrunk", x.dtype, shrunk_shape)
    graph.add_node(
        "Resize",
        [x, None, shrink_scales],
        [shrunk],
        {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "ceil"},
        name=f"{node.name}_shrink",
        before=node,
    )
    graph.set_input(node, 0, shrunk)
    graph.set_input(node, 2, graph.add_constant(f"{node.name}_grow_scales", np.maximum(factors, 1)))


def _split_num_outputs(graph: Graph, node: Node, opset: int) -> None:
    """Opset 18 wants ``num_outputs`` when no ``split`` sizes are given (equal parts before)."""
    if node.input(1) is None and "num_outputs" not in node.attrs:
        node.attrs["num_outputs"] = len(node.outputs)


def _concat_default_axis(graph: Graph, node: Node, opset: int) -> None:
    node.attrs.setdefault("axis", 1)


def _constant_to_value(graph: Graph, node: Node) -> None:
    if "sparse_value" in node.attrs or any(
        not isinstance(v, (int, float, list, np.ndarray)) for v in node.attrs.values()
    ):
        raise node_error(ModelError, node, "only dense numeric Constant values are supported")
    data = Constant().value(node)
    out = node.outputs[0]
    graph.remove_node(node)
    out.const = np.asarray(data, order="C")
    out.dtype, out.shape = out.const.dtype, out.const.shape


_I64 = np.dtype(np.int64)
_BINARY_LEGACY = [(7, _legacy_broadcast)]
# op type → [(first opset with the new form, rewrite)]
_REWRITES: dict[str, list[tuple[int, Callable]]] = {
    "Add": _BINARY_LEGACY,
    "Sub": _BINARY_LEGACY,
    "Mul": _BINARY_LEGACY,
    "Div": _BINARY_LEGACY,
    "Pow": _BINARY_LEGACY,
    "Gemm": [(7, _drop("broadcast"))],
    "PRelu": [(7, _prelu_channel_slope)],
    "BatchNormalization": [(14, _batchnorm)],
    "Dropout": [(12, _drop("ratio"))],
    "Clip": [(11, _attr_to_inputs([("min", None), ("max", None)]))],
    "Pad": [(11, _attr_to_inputs([("pads", _I64), ("value", None)]))],
    "Reshape": [(5, _attr_to_inputs([("shape", _I64)]))],
    "Squeeze": [(13, _attr_to_inputs([("axes", _I64)]))],
    "Unsqueeze": [(13, _attr_to_inputs([("axes", _I64)]))],
    "Split": [(13, _attr_to_inputs([("split", _I64)])), (18, _split_num_outputs)],
    "Slice": [(10, _attr_to_inputs([("starts", _I64), ("ends", _I64), ("axes", _I64)]))],
    "ReduceSum": [(13, _attr_to_inputs([("axes", _I64)]))],
    "ReduceMean": [(18, _attr_to_inputs([("axes", _I64)]))],
    "ReduceMax": [(18, _attr_to_inputs([("axes", _I64)]))],
    "ReduceMin": [(18, _attr_to_inputs([("axes", _I64)]))],
    "ReduceProd": [(18, _attr_to_inputs([("axes", _I64)]))],
    "ReduceL1": [(18, _attr_to_inputs([("axes", _I64)]))],
    "ReduceL2": [(18, _attr_to_inputs([("axes", _I64)]))],
    "ReduceLogSum": [(18, _attr_to_inputs([("axes", _I64)]))],
    "ReduceLogSumExp": [(18, _attr_to_inputs([("axes", _I64)]))],
    "ReduceSumSquare": [(18, _attr_to_inputs([("axes", _I64)]))],
    "Softmax": [(13, _softmax_2d)],
    "LogSoftmax": [(13, _softmax_2d)],
    "Upsample": [(99, _upsample)],
    "Resize": [(11, _upsample)],
    "Concat": [(4, _concat_default_axis)],
}
