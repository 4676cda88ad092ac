"""Lower pre-quantized ONNX (QDQ form) to edgec's integer IR.

A QDQ model writes each quantized op as ``DequantizeLinear → float op → QuantizeLinear``
(TFLite conversions, tf2onnx, onnxruntime's quantizer). Lowering makes the op read the
integer tensors directly: the integer values carry ``QuantParams`` (scale, zero point,
axis), the DQ/Q pairs disappear, and the op's integer reference (TFLite semantics) applies.

What cannot be lowered stays as it was: a DQ or Q that remains is a real conversion between
an integer and a float region, run by its own kernel. QOperator models (QLinearConv…) are
first rewritten as QDQ (``qoperator.py``); dynamic quantization (ConvInteger…) is reported
up front as unsupported.
"""

from __future__ import annotations

import numpy as np

from edgec.errors import QuantizationError, UnsupportedOpError, node_error
from edgec.frontend import load_model
from edgec.ir.graph import Graph, Node, QuantParams, Value
from edgec.ops import get_op
from edgec.passes import fold
from edgec.passes.base import Pass, PassResult
from edgec.quantize.export import INT64_BIAS_KEY
from edgec.quantize.fallback import float_nodes
from edgec.quantize.qoperator import has_qoperator, qoperator_to_qdq

# Quantized ops without a lowering: dynamic quantization (parameters computed at run time)
# and the QOperator ops qoperator.py does not rewrite.
QOPERATOR_OPS = {
    "QLinearReduceMean",
    "QLinearWhere",
    "ConvInteger",
    "MatMulInteger",
    "DynamicQuantizeLinear",
    "QAttention",
    "DynamicQuantizeMatMul",
    "MatMulIntegerToFloat",
}


def reject_qoperator_ops(graph: Graph) -> None:
    """Quantized ops without a lowering: name them all in one ``UnsupportedOpError``."""
    found: dict[str, list[str]] = {}
    for node in graph.nodes:
        if node.op_type in QOPERATOR_OPS:
            found.setdefault(node.op_type, []).append(node.name)
    if found:
        raise UnsupportedOpError(
            found, "edgec (dynamic quantization; quantize statically, as QDQ or QOperator)"
        )


def quant_params_of(node: Node) -> QuantParams:
    """The QuantParams described by a constant-parameter QuantizeLinear/DequantizeLinear."""
    scale = node.input(1)
    zp = node.input(2)
    if scale is None or not scale.is_const or (zp is not None and not zp.is_const):
        raise node_error(QuantizationError, node, "scale and zero point must be constants")
    if node.op_type == "QuantizeLinear":
        dtype = zp.dtype if zp is not None else node.outputs[0].dtype
    else:
        dtype = node.inputs[0].dtype
    zero = zp.const if zp is not None else np.zeros(scale.const.shape, dtype)
    per_axis = scale.const.size > 1
    axis = node.attrs.get("axis", 1) if per_axis else None
    if axis is not None:
        rank = len(node.inputs[0].shape)
        axis %= rank
    if np.any(scale.const <= 0) or not np.all(np.isfinite(scale.const)):
        raise node_error(QuantizationError, node, "scales must be positive and finite")
    return QuantParams(
        scale.const.reshape(-1) if per_axis else scale.const.reshape(()),
        zero.reshape(-1) if per_axis else zero.reshape(()),
        dtype,
        axis,
    )


def _same_params(a: QuantParams, b: QuantParams) -> bool:
    return (
        a.dtype == b.dtype
        and a.axis == b.axis
        and np.array_equal(a.scale, b.scale)
        and np.array_equal(a.zero_point, b.zero_point)
    )


def _attach(node: Node, value: Value, params: QuantParams) -> None:
    if value.quant is not None and not _same_params(value.quant, params):
        raise node_error(
            QuantizationError,
            node,
            f"value {value.name!r} is quantized with two different parameter sets",
        )
    value.quant = params


class LowerQDQ(Pass):
    """Absorb DQ/Q pairs into the ops between them; see the module docstring."""

    def run(self, graph: Graph) -> PassResult:
        reject_qoperator_ops(graph)
        changed = qoperator_to_qdq(graph)
        kept_float = float_nodes(graph)  # the float fallback of an earlier compile
        for node in list(graph.nodes):
            if node.name in kept_float:
                continue
            if node in graph.nodes and node.op_type not in ("QuantizeLinear", "DequantizeLinear"):
                changed |= self._lower(graph, node)
        changed |= _remove_unused_qdq(graph)
        changed |= _lower_boundaries(graph)
        changed |= _remove_unused_qdq(graph)
        changed |= _propagate_through_moves(graph)
        changed |= _restore_int64_biases(graph)
        return PassResult(graph, changed)

    def _lower(self, graph: Graph, node: Node) -> bool:
        op = get_op(node.op_type, node.domain)
        if op is None or getattr(op, "integer", None) is None or not node.outputs:
            return False
        if op.integer == "index":
            return _lower_index(graph, node)
        sources: list[tuple[Value, QuantParams] | None] = []
        for index, value in enumerate(node.inputs):
            if value is None:
                sources.append(None)
                continue
            dq = value.producer
            if dq is not None and dq.op_type == "DequantizeLinear":
                sources.append((dq.inputs[0], quant_params_of(dq)))
            elif index in op.const_inputs and value.is_const:
                sources.append(None)  # shape/axes/pads operands stay as they are
            elif value.dtype is not None and np.issubdtype(value.dtype, np.integer) and value.quant:
                sources.append((value, value.quant))
            else:
                return False
        if not any(s is not None for s in sources):
            return False
        quantizers = _output_quantizers(graph, node)
        if quantizers is None:
            return False
        for index, source in enumerate(sources):
            if source is None:
                continue
            value, params = source
            _attach(node, value, params)
            graph.set_input(node, index, value)
        for index, q in quantizers.items():
            out, out_params = node.outputs[index], quant_params_of(q)
            if out_params.axis is not None:
                raise node_error(
                    QuantizationError, q, "per-axis quantization of activations is not supported"
                )
            result = q.outputs[0]
            _attach(q, result, out_params)
            graph.remove_node(q)
            node.outputs[index] = result
            result.producer = node
            graph.remove_value(out)
        return True


def _lower_index(graph: Graph, node: Node) -> bool:
    """An index op (ArgMax) reads the integer tensor behind a per-tensor DequantizeLinear
    (its scale is positive: the order of the values is the order of the integers)."""
    dq = node.inputs[0].producer
    if dq is None or dq.op_type != "DequantizeLinear":
        return False
    params = quant_params_of(dq)
    if params.axis is not None:
        return False
    source = dq.inputs[0]
    _attach(dq, source, params)
    graph.set_input(node, 0, source)
    return True


def _output_quantizers(graph: Graph, node: Node) -> dict[int, Node] | None:
    """The QuantizeLinear that alone reads each output (an unread output has none; a
    recurrent node's Y often is), or None when an output is read otherwise."""
    found = {}
    for index, out in enumerate(node.outputs):
        readers = graph.consumers(out)
        if not readers and not graph.is_output(out) and len(node.outputs) > 1:
            continue
        if graph.is_output(out) or len(readers) != 1 or readers[0].op_type != "QuantizeLinear":
            return None
        found[index] = readers[0]
    return found or None


def _remove_unused_qdq(graph: Graph) -> bool:
    changed = False
    for node in reversed(list(graph.nodes)):
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            out = node.outputs[0]
            if not out.users and not graph.is_output(out):
                graph.remove_node(node)
                graph.remove_value(out)
                changed = True
    return changed


def _lower_boundaries(graph: Graph) -> bool:
    """Q/DQ nodes that stay: their integer side carries its parameters, and a DQ → Q pair
    becomes one requantizing QuantizeLinear (an integer input, as TFLite's QUANTIZE)."""
    changed = False
    for node in list(graph.nodes):
        if (
            node.op_type == "DequantizeLinear"
            and node.inputs[0].quant is None
            and not node.inputs[0].is_const
        ):
            _attach(node, node.inputs[0], quant_params_of(node))
            changed = True
        if node.op_type != "QuantizeLinear":
            continue
        out = node.outputs[0]
        if out.quant is None:
            _attach(node, out, quant_params_of(node))
            changed = True
        dq = node.inputs[0].producer
        if dq is not None and dq.op_type == "DequantizeLinear":
            source = dq.inputs[0]
            _attach(dq, source, quant_params_of(dq))
            graph.set_input(node, 0, source)
            changed = True
    return changed


def _restore_int64_biases(graph: Graph) -> bool:
    """Biases edgec stored as int32 for ONNX's sake (metadata ``edgec.int64_bias``)."""
    names = [n for n in graph.metadata.pop(INT64_BIAS_KEY, "").split(",") if n]
    for name in names:
        if graph.has_value(name):
            value = graph.value(name)
            value.const = value.const.astype(np.int64)
            value.dtype = value.const.dtype
            if value.quant is not None:
                value.quant = QuantParams(
                    value.quant.scale, value.quant.zero_point, np.int64, value.quant.axis
                )
    return bool(names)


def _propagate_through_moves(graph: Graph) -> bool:
    """Data-movement ops on integer tensors pass the input's quantization to their output."""
    changed = False
    for node in graph.nodes:
        op = get_op(node.op_type, node.domain)
        if op is None or getattr(op, "integer", None) != "move":
            continue
        src = node.inputs[0]
        for out in node.outputs[:1]:
            if (
                src is not None
                and src.quant is not None
                and out.quant is None
                and src.quant.axis is None
            ):
                out.quant = src.quant
                changed = True
    return changed


def has_qdq(graph: Graph) -> bool:
    """Whether the graph is quantized: QuantizeLinear/DequantizeLinear nodes (a QDQ model)
    or QOperator ops."""
    quantizing = ("QuantizeLinear", "DequantizeLinear")
    return any(n.op_type in quantizing for n in graph.nodes) or has_qoperator(graph)


def load_reference_graph(path) -> Graph:
    """A compiled folder's ``reference.onnx`` back as the graph the generated code implements
    (the QDQ export of an integer graph, lowered again: ``to_qdq``'s inverse)."""
    graph = fold(load_model(path))
    return lower_and_fold(graph) if has_qdq(graph) else graph


def lower_and_fold(graph: Graph) -> Graph:
    """Lower a folded QDQ (or QOperator) graph, then fold again; DQ nodes left on constants
    (weights of ops that stay float) fold into float weights, remaining Q/DQ are real
    conversions."""
    if qoperator_to_qdq(graph):
        graph = fold(graph)
    return fold(lower_qdq(graph), keep_qdq=False)


def lower_qdq(graph: Graph) -> Graph:
    """Run :class:`LowerQDQ` once (it reaches its fixed point in one sweep)."""
    return LowerQDQ().run(graph).graph
