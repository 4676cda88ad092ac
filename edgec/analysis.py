"""What a model costs: per-layer shapes, parameters and MACs; weight and activation memory.

This is ``edgec analyze``. It works on any graph the importer reads, including graphs with
ops edgec does not support: their unknown shapes and MACs show as ``None`` ("?" in tables)
and the totals say whether they are complete.

Counting rules (the figures a report or a test can be checked against):

* **Parameters** of a node: elements of its constant data inputs (initializers or
  ``Constant`` node outputs). Not counted: inputs the op reads as compile-time settings
  (``Op.const_inputs``: shapes, axes, pads, clip bounds…), int64 constants (shapes, axes
  and indices in ONNX), and the scale and zero point of ``QuantizeLinear``/``DequantizeLinear``.
  Nor, so that every exporter's file of one network counts the same: a bias (Conv,
  ConvTranspose, Gemm) or an ``Add`` operand that is all zeros (torch's dynamo exporter drops
  them, the legacy exporter keeps them), and a one-element operand of an elementwise op (the
  eps, exponents and factors of a decomposed LayerNorm or GELU, which fused exports hold as
  attributes). BatchNorm folded into a convolution counts as that convolution's weights and
  bias (torch counts the BatchNorm's scale and shift instead, one parameter more per channel).
* **Weight bytes at float32**: every parameter at 4 bytes.
* **Weight bytes at int8** (the TFLite int8 scheme): weights of Conv, ConvTranspose, Gemm and
  MatMul at 1 byte; the biases of Conv, ConvTranspose and Gemm at 4 bytes (int32); everything
  else (unfolded BatchNorm, PRelu slopes, constants of elementwise ops) stays float32, 4 bytes.
  A constant read through ``DequantizeLinear`` takes the role of the slot it feeds.
* **Peak activation memory**: walk the schedule; at each node the live tensors are the graph
  inputs and node outputs produced so far and still to be read (graph outputs stay live to
  the end; an output nobody reads lives only while its node runs). The peak is the largest
  sum of live bytes: at the model's dtypes, and at int8 (floating-point and 8-bit tensors at
  1 byte per element; other integer tensors keep their size). No buffer reuse, in-place
  execution or scratch memory is assumed, so a memory planner can only do better.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from edgec.errors import EdgecError
from edgec.frontend.onnx_import import load_model
from edgec.ir.graph import Graph, Node, Value
from edgec.ops.registry import get_op, node_macs, unsupported_ops
from edgec.passes import fold as fold_graph

# Ops whose weight (input 1, or any constant input of MatMul) is int8 and bias (input 2) int32
# under the TFLite int8 scheme.
_WEIGHTED_OPS = {"Conv", "ConvTranspose", "Gemm", "MatMul"}
_BIASED_OPS = {"Conv", "ConvTranspose", "Gemm"}
_QUANT_OPS = {"QuantizeLinear", "DequantizeLinear"}
_ELEMENTWISE_OPS = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean"}
_FLOAT32_BYTES = 4
_INT32_BYTES = 4


@dataclass
class LayerRow:
    """One node: its name, op (``Conv+Relu`` when an activation is fused), output shapes,
    parameter count and MACs (``None`` when unknown)."""

    name: str
    op: str
    shapes: list[list[int] | None]
    params: int
    macs: int | None
    # which paths run it: {"float_c", "int8_c", "tvm"} → "yes", "int8", "float (…)" or
    # "no: reason" (filled by edgec.support.analyze; None from analyze_graph alone)
    support: dict[str, str] | None = None


@dataclass
class Totals:
    """Whole-model figures; ``*_complete`` is False when some layer's figure is unknown."""

    params: int
    macs: int
    macs_complete: bool
    weight_bytes_float32: int
    weight_bytes_int8: int
    peak_activation_bytes: int
    peak_activation_bytes_int8: int
    peak_at: str | None
    activations_complete: bool


@dataclass
class TensorSpec:
    name: str
    shape: list[int] | None
    dtype: str | None


@dataclass
class Analysis:
    """The result of :func:`analyze`: one row per node in schedule order, and totals."""

    model: str
    folded: bool
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    rows: list[LayerRow]
    totals: Totals
    unsupported_ops: dict[str, list[str]] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    # nodes edgec cannot take (a refused attribute, a shape it cannot infer) → why
    problems: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        """The analysis as JSON (keys as in the dataclasses; unknown figures are null)."""
        return json.dumps(self.to_dict(), indent=indent)


def analyze(
    model: str | os.PathLike | Graph,
    input_shapes: dict[str, list[int] | tuple[int, ...]] | None = None,
    fold: bool = True,
) -> Analysis:
    """Analyze an ONNX file (or a ``Graph``, which is left unchanged), after the fold passes
    unless ``fold`` is False. ``input_shapes`` fixes named input dims, as ``load_model`` does.
    (``edgec.analyze`` adds which paths run each layer: ``edgec.support``.)"""
    graph, label, folded, notices, problems = load_for_analysis(model, input_shapes, fold)
    result = analyze_graph(graph, label, folded=folded, notices=notices)
    result.problems = problems
    return result


def load_for_analysis(
    model: str | os.PathLike | Graph,
    input_shapes: dict[str, list[int] | tuple[int, ...]] | None = None,
    fold: bool = True,
) -> tuple[Graph, str, bool, list[str], dict[str, str]]:
    """(graph, label, folded, notices, problems): the model as analyze sees it. A node edgec
    cannot take is listed in ``problems`` instead of stopping the analysis; fold passes that
    fail leave the graph as imported (with a notice)."""
    notices: list[str] = []
    problems: dict[str, str] = {}
    if isinstance(model, Graph):
        graph, label = model.copy(), model.name
        if input_shapes:
            notices.append("input shapes are ignored for an in-memory graph")
    else:
        graph = load_model(model, input_shapes, notices, problems)
        label = str(model)
    if fold and problems:
        notices.append("not folded: some layers cannot be taken (see the problems)")
        fold = False
    if fold:
        try:
            graph = fold_graph(graph)
        except EdgecError as exc:
            notices.append(f"not folded: the fold passes failed ({exc})")
            fold = False
    return graph, label, fold, notices, problems


def analyze_graph(
    graph: Graph, label: str = "", folded: bool = False, notices: list[str] | None = None
) -> Analysis:
    """Analyze ``graph`` as it is (no passes run)."""
    rows = [_row(node) for node in graph.nodes]
    weight_f32, weight_i8 = _weight_bytes(graph)
    peak, peak_i8, peak_at, sizes_known = peak_activation_memory(graph)
    totals = Totals(
        params=sum(r.params for r in rows),
        macs=sum(r.macs or 0 for r in rows),
        macs_complete=all(r.macs is not None for r in rows),
        weight_bytes_float32=weight_f32,
        weight_bytes_int8=weight_i8,
        peak_activation_bytes=peak,
        peak_activation_bytes_int8=peak_i8,
        peak_at=peak_at,
        activations_complete=sizes_known,
    )
    return Analysis(
        model=label or graph.name,
        folded=folded,
        inputs=[_spec(v) for v in graph.inputs],
        outputs=[_spec(v) for v in graph.outputs],
        rows=rows,
        totals=totals,
        unsupported_ops=unsupported_ops(graph),
        notices=list(notices or []),
    )


# ---- per node -------------------------------------------------------------------------------
def op_label(node: Node) -> str:
    """The op as shown in reports: domain-qualified, with a fused activation appended."""
    label = f"{node.domain}.{node.op_type}" if node.domain else node.op_type
    return f"{label}+{node.fused.op_type}" if node.fused is not None else label


def _row(node: Node) -> LayerRow:
    shapes = [list(v.shape) if v.shape is not None else None for v in node.outputs]
    params = sum(const_data(v).size for _, v in parameter_inputs(node))
    return LayerRow(node.name, op_label(node), shapes, int(params), node_macs(node))


def const_data(value: Value | None) -> np.ndarray | None:
    """The value's data if it is known before running: an initializer or a Constant's output."""
    if value is None:
        return None
    if value.const is not None:
        return value.const
    producer = value.producer
    if producer is not None and producer.op_type == "Constant" and not producer.domain:
        data = producer.attrs.get("value")
        return data if isinstance(data, np.ndarray) else None
    if producer is not None and producer.op_type == "Identity" and not producer.domain:
        return const_data(producer.inputs[0])  # the legacy exporter's copies of shared weights
    return None


def parameter_inputs(node: Node) -> list[tuple[int, Value]]:
    """(index, value) of the inputs of ``node`` that count as parameters (module rules)."""
    if node.op_type == "Identity" and not node.domain:
        return []  # its readers count the data (const_data looks through it)
    op = get_op(node.op_type, node.domain)
    settings = set(op.const_inputs) if op is not None else set()
    if node.op_type in _QUANT_OPS and not node.domain:
        settings |= {1, 2}
    found = []
    for index, value in enumerate(node.inputs):
        data = const_data(value)
        if data is None or index in settings or data.dtype == np.int64:
            continue
        if not node.domain and _formula_constant(node.op_type, index, data):
            continue
        found.append((index, value))
    return found


def _formula_constant(op_type: str, index: int, data: np.ndarray) -> bool:
    """Constant data that exporters write differently and torch does not count: zero biases
    and one-element operands of elementwise ops (see the module's counting rules)."""
    zero_bias = (op_type in _BIASED_OPS and index == 2) or op_type == "Add"
    if zero_bias and not np.any(data):
        return True
    return op_type in _ELEMENTWISE_OPS and data.size == 1


# ---- weights --------------------------------------------------------------------------------
def _weight_bytes(graph: Graph) -> tuple[int, int]:
    float32 = int8 = 0
    for node in graph.nodes:
        for index, value in parameter_inputs(node):
            size = int(const_data(value).size)
            float32 += size * _FLOAT32_BYTES
            int8 += size * int8_bytes_per_element(node, index)
    return float32, int8


def int8_bytes_per_element(node: Node, index: int) -> int:
    if node.op_type == "DequantizeLinear" and not node.domain and index == 0:
        # The dequantized value plays the role of the slot it feeds.
        slots = [
            (user, i)
            for user in node.outputs[0].users
            for i, v in enumerate(user.inputs)
            if v is node.outputs[0]
        ]
        return max((_slot_bytes(user, i) for user, i in slots), default=_FLOAT32_BYTES)
    return _slot_bytes(node, index)


def _slot_bytes(node: Node, index: int) -> int:
    if node.domain:
        return _FLOAT32_BYTES
    if node.op_type in _BIASED_OPS and index == 2:
        return _INT32_BYTES
    if node.op_type in _WEIGHTED_OPS and (index == 1 or node.op_type == "MatMul"):
        return 1
    return _FLOAT32_BYTES


# ---- activations ----------------------------------------------------------------------------
def _is_activation(value: Value) -> bool:
    return const_data(value) is None


def _int8_itemsize(dtype: np.dtype) -> int:
    return 1 if np.issubdtype(dtype, np.floating) else dtype.itemsize


def peak_activation_memory(graph: Graph) -> tuple[int, int, str | None, bool]:
    """(peak bytes at the model's dtypes, peak bytes at int8, node at the peak, all sizes known).

    Tensors of unknown shape or dtype count as 0 bytes (the last item is then False).
    """
    last = len(graph.nodes) - 1
    spans: dict[int, tuple[Value, int, int]] = {}  # id → (value, first step, last step)
    for value in graph.inputs:
        spans[id(value)] = (value, 0, 0)
    for step, node in enumerate(graph.nodes):
        for value in node.inputs:
            if value is not None and id(value) in spans:
                v, first, _ = spans[id(value)]
                spans[id(value)] = (v, first, step)
        for value in node.outputs:
            if _is_activation(value):
                spans[id(value)] = (value, step, step)
    for value in graph.outputs:
        if id(value) in spans:
            v, first, _ = spans[id(value)]
            spans[id(value)] = (v, first, max(last, first))

    sizes_known = True
    live = np.zeros(max(last + 1, 1), dtype=np.int64)
    live_int8 = np.zeros_like(live)
    for value, first, end in spans.values():
        if value.shape is None or value.dtype is None:
            sizes_known = False
            continue
        elements = int(np.prod(value.shape, dtype=np.int64))
        live[first : end + 1] += elements * value.dtype.itemsize
        live_int8[first : end + 1] += elements * _int8_itemsize(value.dtype)
    step = int(np.argmax(live))
    peak_at = graph.nodes[step].name if graph.nodes else None
    return int(live[step]), int(live_int8.max()), peak_at, sizes_known


def _spec(value: Value) -> TensorSpec:
    shape = list(value.shape) if value.shape is not None else None
    return TensorSpec(value.name, shape, str(value.dtype) if value.dtype is not None else None)
