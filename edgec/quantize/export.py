"""Integer IR → QDQ float graph, so a quantized model opens in Netron and runs in onnxruntime.

Each arithmetic integer op becomes ``DequantizeLinear`` on its integer inputs, the float op,
and ``QuantizeLinear`` into its integer output — the inverse of ``qdq.LowerQDQ``. Ops that
only move integer data (and keep its quantization) stay as they are.
"""

from __future__ import annotations

import numpy as np

from edgec.errors import QuantizationError
from edgec.ir.graph import Graph, Node, QuantParams, Value
from edgec.ops import get_op


def _is_integer_arith(node: Node) -> bool:
    op = get_op(node.op_type, node.domain)
    if op is None or node.op_type in ("QuantizeLinear", "DequantizeLinear"):
        return False
    quantized = any(v is not None and v.quant is not None for v in (*node.inputs, *node.outputs))
    return quantized and getattr(op, "integer", None) == "arith"


def _param_constants(graph: Graph, base: str, q: QuantParams) -> tuple[Value, Value]:
    scale = graph.add_constant(f"{base}_scale", np.asarray(q.scale, np.float32))
    zero = graph.add_constant(f"{base}_zero_point", np.asarray(q.zero_point).astype(q.dtype))
    return scale, zero


# ONNX dequantizes at most int32: int64 biases (16x8 mode) are stored as int32 and named in
# this metadata entry so that importing the file restores them exactly.
INT64_BIAS_KEY = "edgec.int64_bias"


def _narrow_int64(g: Graph, value: Value) -> None:
    data = value.const
    if data is None or np.abs(data).max(initial=0) > 2**31 - 1:
        raise QuantizationError(f"bias {value.name!r} does not fit the int32 of an ONNX QDQ file")
    value.const = data.astype(np.int32)
    value.dtype = value.const.dtype
    value.quant = QuantParams(value.quant.scale, value.quant.zero_point, np.int32, value.quant.axis)
    names = [n for n in g.metadata.get(INT64_BIAS_KEY, "").split(",") if n]
    g.metadata[INT64_BIAS_KEY] = ",".join([*names, value.name])


def to_qdq(graph: Graph) -> Graph:
    """A float QDQ copy of an integer graph (the input graph is not changed)."""
    g = graph.copy()
    dequantized: dict[int, Value] = {}
    for node in list(g.nodes):
        requantize = node.op_type == "QuantizeLinear" and node.inputs[0].quant is not None
        if not (_is_integer_arith(node) or requantize):
            continue
        for index, value in enumerate(node.inputs):
            if value is None or value.quant is None:
                continue
            if id(value) not in dequantized:
                if value.dtype == np.int64:
                    _narrow_int64(g, value)
                q = value.quant
                scale, zero = _param_constants(g, value.name, q)
                floated = g.new_value(f"{value.name}_dq", np.float32, value.shape)
                attrs = {"axis": int(q.axis)} if q.axis is not None else {}
                g.add_node(
                    "DequantizeLinear",
                    [value, scale, zero],
                    [floated],
                    attrs,
                    name=g.unique_node_name(f"{value.name}_dq"),
                    before=node,
                )
                dequantized[id(value)] = floated
            g.set_input(node, index, dequantized[id(value)])
        for index, out in enumerate(node.outputs):  # several for LSTM/GRU
            if out.quant is None or requantize:
                continue
            floated = g.new_value(f"{out.name}_f", np.float32, out.shape)
            node.outputs[index] = floated
            floated.producer = node
            out.producer = None
            scale, zero = _param_constants(g, out.name, out.quant)
            g.add_node(
                "QuantizeLinear",
                [floated, scale, zero],
                [out],
                name=g.unique_node_name(f"{out.name}_q"),
                after=node,
            )
    return g
