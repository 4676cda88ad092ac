"""onnxruntime's QOperator format (``QuantFormat.QOperator``) rewritten as QDQ.

A QOperator model holds integer ops whose quantization parameters are inputs: QLinearConv,
QLinearMatMul (ONNX), and the com.microsoft contrib ops QGemm, QLinearAdd, QLinearMul,
QLinearAveragePool, QLinearGlobalAveragePool, QLinearConcat, QLinearSigmoid,
QLinearLeakyRelu and QLinearSoftmax. Each is written here as what it computes,
``DequantizeLinear`` on its integer inputs → the float op → ``QuantizeLinear``, so that
``LowerQDQ`` turns it into the integer IR like any QDQ model (a bias of scale
``s_in * s_w`` gets a DequantizeLinear of that scale). onnxruntime's kernels of these ops are
the "float" rounding's numerics (``edgec.ops.integer``): compile such a model with
``--rounding float`` to reproduce onnxruntime's outputs.

Dynamic quantization (ConvInteger, MatMulInteger, DynamicQuantizeLinear…) has no static
parameters to lower and stays refused.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edgec.errors import QuantizationError, node_error
from edgec.ir.graph import Graph, Node, Value
from edgec.ops.shapes import infer_shapes

MS = "com.microsoft"
Rewrite = Callable[[Graph, Node], None]  # replaces one QOperator node in place


def _dq(graph: Graph, node: Node, value: Value, scale: Value, zero: Value | None, axis=None):
    """A DequantizeLinear of ``value`` placed before ``node``; returns its float output."""
    if value is None:
        return None
    out = graph.new_value(f"{value.name}_dq", np.float32, value.shape)
    attrs = {} if axis is None else {"axis": axis}
    graph.add_node(
        "DequantizeLinear",
        [value, scale, zero] if zero is not None else [value, scale],
        [out],
        attrs,
        name=graph.unique_node_name(f"{node.name}_dq"),
        before=node,
    )
    return out


def _replace(
    graph: Graph,
    node: Node,
    op_type: str,
    inputs: list[Value | None],
    attrs: dict,
    out_scale: Value | None,
    out_zero: Value | None,
) -> None:
    """Replace ``node`` by ``op_type`` on float ``inputs``, quantized to ``node``'s output
    (a float output when ``out_scale`` is None: QGemm without y_scale)."""
    result = node.outputs[0]
    graph.remove_node(node)
    if out_scale is None:
        graph.add_node(op_type, inputs, [result], attrs, name=node.name)
        return
    real = graph.new_value(f"{result.name}_float", np.float32, result.shape)
    graph.add_node(op_type, inputs, [real], attrs, name=node.name)
    q_inputs = [real, out_scale] + ([out_zero] if out_zero is not None else [])
    graph.add_node(
        "QuantizeLinear", q_inputs, [result], name=graph.unique_node_name(f"{node.name}_q")
    )


def _bias_dq(graph: Graph, node: Node, bias: Value | None, x_scale: Value, w_scale: Value):
    """DequantizeLinear of an int32 bias at scale s_x * s_w (per output channel)."""
    if bias is None:
        return None
    if not (x_scale.is_const and w_scale.is_const):
        raise node_error(QuantizationError, node, "scales must be constants")
    scale = (
        x_scale.const.astype(np.float32).reshape(()) * w_scale.const.astype(np.float32)
    ).reshape(-1)
    per_channel = scale.size > 1
    scale_value = graph.add_constant(f"{bias.name}_scale", scale if per_channel else scale[0])
    return _dq(graph, node, bias, scale_value, None, axis=0 if per_channel else None)


def _weight_axis(w_scale: Value, axis: int) -> int | None:
    return axis if w_scale.const is not None and w_scale.const.size > 1 else None


def _conv(graph: Graph, node: Node) -> None:
    x, xs, xz, w, ws, wz, ys, yz, *rest = [*node.inputs, None]
    inputs = [
        _dq(graph, node, x, xs, xz),
        _dq(graph, node, w, ws, wz, _weight_axis(ws, 0)),
        _bias_dq(graph, node, rest[0], xs, ws),
    ]
    _replace(graph, node, "Conv", [v for v in inputs if v is not None], node.attrs, ys, yz)


def _matmul(graph: Graph, node: Node) -> None:
    a, a_s, az, b, bs, bz, ys, yz = node.inputs
    inputs = [_dq(graph, node, a, a_s, az), _dq(graph, node, b, bs, bz, _weight_axis(bs, 1))]
    _replace(graph, node, "MatMul", inputs, {}, ys, yz)


def _gemm(graph: Graph, node: Node) -> None:
    a, a_s, az, b, bs, bz, c, ys, yz = (node.inputs + [None] * 9)[:9]
    trans_b = int(node.attrs.get("transB", 0))
    inputs = [
        _dq(graph, node, a, a_s, az),
        _dq(graph, node, b, bs, bz, _weight_axis(bs, 0 if trans_b else 1)),
        _bias_dq(graph, node, c, a_s, bs),
    ]
    attrs = {k: v for k, v in node.attrs.items() if k in ("alpha", "transA", "transB")}
    _replace(graph, node, "Gemm", [v for v in inputs if v is not None], attrs, ys, yz)


def _binary(op_type: str) -> Rewrite:
    def rewrite(graph: Graph, node: Node) -> None:
        a, a_s, az, b, bs, bz, ys, yz = node.inputs
        inputs = [_dq(graph, node, a, a_s, az), _dq(graph, node, b, bs, bz)]
        _replace(graph, node, op_type, inputs, {}, ys, yz)

    return rewrite


def _unary(op_type: str, keep: tuple[str, ...] = ()) -> Rewrite:
    def rewrite(graph: Graph, node: Node) -> None:
        x, xs, xz, ys, yz = (node.inputs + [None] * 5)[:5]
        if node.attrs.get("channels_last", 0):
            raise node_error(QuantizationError, node, "channels_last (NHWC) data is not supported")
        attrs = {k: v for k, v in node.attrs.items() if k in keep}
        _replace(graph, node, op_type, [_dq(graph, node, x, xs, xz)], attrs, ys, yz)

    return rewrite


def _softmax(graph: Graph, node: Node) -> None:
    x = node.inputs[0]
    axis, opset = int(node.attrs.get("axis", -1)), int(node.attrs.get("opset", 13))
    rank = len(x.shape) if x.shape is not None else None
    if opset < 13 and rank is not None and axis % rank != rank - 1:
        raise node_error(
            QuantizationError,
            node,
            f"opset-{opset} softmax over the axes from {axis} (export with opset 13 or later)",
        )
    _unary("Softmax", ("axis",))(graph, node)


def _concat(graph: Graph, node: Node) -> None:
    ys, yz, *triples = node.inputs
    inputs = [_dq(graph, node, *triples[i : i + 3]) for i in range(0, len(triples), 3)]
    _replace(graph, node, "Concat", inputs, {"axis": node.attrs["axis"]}, ys, yz)


POOL_ATTRS = ("auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides")
REWRITES: dict[tuple[str, str], Rewrite] = {
    ("", "QLinearConv"): _conv,
    ("", "QLinearMatMul"): _matmul,
    (MS, "QGemm"): _gemm,
    (MS, "QLinearAdd"): _binary("Add"),
    (MS, "QLinearMul"): _binary("Mul"),
    (MS, "QLinearAveragePool"): _unary("AveragePool", POOL_ATTRS),
    (MS, "QLinearGlobalAveragePool"): _unary("GlobalAveragePool"),
    (MS, "QLinearConcat"): _concat,
    (MS, "QLinearSigmoid"): _unary("Sigmoid"),
    (MS, "QLinearLeakyRelu"): _unary("LeakyRelu", ("alpha",)),
    (MS, "QLinearSoftmax"): _softmax,
}


def _key(node: Node) -> tuple[str, str]:
    return ("" if node.domain in ("", "ai.onnx") else node.domain, node.op_type)


def has_qoperator(graph: Graph) -> bool:
    return any(_key(node) in REWRITES for node in graph.nodes)


def qoperator_to_qdq(graph: Graph) -> bool:
    """Rewrite every QOperator node of ``graph`` (in place) as DQ → float op → Q; returns
    whether anything changed."""
    found = [node for node in graph.nodes if _key(node) in REWRITES]
    for node in found:
        REWRITES[_key(node)](graph, node)
    if found:
        graph.topo_sort()
        infer_shapes(graph)  # contrib ops' outputs had none: the float ops' rules give them
    return bool(found)
