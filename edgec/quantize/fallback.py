"""Float fallback: an integer node a backend cannot run in integer runs in float instead.

``keep_in_float`` rewrites the node as ``DequantizeLinear`` on its integer inputs (integer
weights and biases become float constants), the float op, and ``QuantizeLinear`` into its
integer output, which keeps its quantization: the rest of the graph is unchanged. The node's
name goes into the graph's metadata (``edgec.float_nodes``) so that lowering the exported
``reference.onnx`` again leaves it in float.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edgec.ir.graph import Graph, Node, Value
from edgec.ops.integer import is_integer_node

FLOAT_NODES_KEY = "edgec.float_nodes"


def float_nodes(graph: Graph) -> set[str]:
    """Names of the nodes kept in float on purpose."""
    return {n for n in graph.metadata.get(FLOAT_NODES_KEY, "").split(",") if n}


def _dequantized_constant(graph: Graph, value: Value) -> Value:
    q = value.quant
    data = value.const.astype(np.float64)
    scale, zero = np.asarray(q.scale, np.float64), np.asarray(q.zero_point, np.float64)
    if q.axis is not None:
        shape = [1] * data.ndim
        shape[q.axis] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    real = ((data - zero) * scale).astype(np.float32)
    return graph.add_constant(f"{value.name}_float", real)


def _quant_constants(graph: Graph, value: Value) -> tuple[Value, Value]:
    q = value.quant
    scale = graph.add_constant(f"{value.name}_scale", np.asarray(q.scale, np.float32))
    zero = graph.add_constant(f"{value.name}_zero_point", np.asarray(q.zero_point, q.dtype))
    return scale, zero


def keep_in_float(graph: Graph, node: Node) -> None:
    """Rewrite integer ``node`` (in place) as dequantize → float op → quantize."""
    for index, value in enumerate(node.inputs):
        if value is None or value.quant is None:
            continue
        if value.is_const:
            graph.set_input(node, index, _dequantized_constant(graph, value))
            continue
        real = graph.new_value(f"{value.name}_float", np.float32, value.shape)
        graph.add_node(
            "DequantizeLinear",
            [value, *_quant_constants(graph, value)],
            [real],
            name=graph.unique_node_name(f"{node.name}_dequantize"),
            before=node,
        )
        graph.set_input(node, index, real)
    result = node.outputs[0]
    real = graph.new_value(f"{result.name}_float", np.float32, result.shape)
    real.producer = node
    node.outputs[0] = real
    result.producer = None
    graph.add_node(
        "QuantizeLinear",
        [real, *_quant_constants(graph, result)],
        [result],
        name=graph.unique_node_name(f"{node.name}_quantize"),
        after=node,
    )
    graph.metadata[FLOAT_NODES_KEY] = ",".join(sorted(float_nodes(graph) | {node.name}))


def float_fallback(graph: Graph, refusal: Callable[[Node], str | None]) -> list[dict]:
    """Keep in float every integer node ``refusal`` gives a reason for; the report's rows
    (node, op, reason)."""
    rows = []
    for node in list(graph.nodes):
        if not is_integer_node(node) or node.op_type == "QuantizeLinear":
            continue
        reason = refusal(node)
        if reason is not None:
            keep_in_float(graph, node)
            rows.append({"node": node.name, "op": node.op_type, "reason": reason})
    return rows
