"""Constant folding: evaluate at compile time what does not depend on the model's inputs."""

from __future__ import annotations

import numpy as np

from edgec.errors import EdgecError
from edgec.interp import run_node
from edgec.ir.graph import Graph, Node
from edgec.ops import TensorInfo, get_op
from edgec.passes.base import Pass, PassResult
from edgec.passes.dead_code import drop_if_unused

QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
# Ops whose result depends only on the input's static shape, never on its data.
SHAPE_QUERIES = ("Shape", "Size")


class ConstantFolding(Pass):
    """A node whose inputs are all constants (or a Shape/Size of a static shape) becomes
    constant data on its output values, and the node goes away.

    ``keep_qdq`` leaves QuantizeLinear/DequantizeLinear in place even on constant weights:
    they carry the quantization parameters that the quantization stage reads.
    """

    def __init__(self, keep_qdq: bool = True):
        self.keep_qdq = keep_qdq

    def run(self, graph: Graph) -> PassResult:
        changed = False
        # Nodes are in schedule order, so one sweep folds whole constant chains.
        for node in list(graph.nodes):
            if self.foldable(graph, node):
                self._fold(graph, node)
                changed = True
        return PassResult(graph, changed)

    def foldable(self, graph: Graph, node: Node) -> bool:
        """Whether this pass would fold ``node``."""
        op = get_op(node.op_type, node.domain)
        if op is None or not node.outputs:
            return False
        if self.keep_qdq and node.op_type in QDQ_OPS:
            return False
        if node.op_type in SHAPE_QUERIES:
            x = node.inputs[0]
            return x is not None and x.shape is not None
        if _touches_quantized(node) and not _moves_data(node):
            return False  # the float reference does not apply to integer-domain values
        present = [v for v in node.inputs if v is not None]
        return op.foldable and all(v.is_const for v in present)

    def _fold(self, graph: Graph, node: Node) -> None:
        results = self._evaluate(node)
        if len(results) < len(node.outputs):
            raise self.fail(f"evaluation gave {len(results)} outputs for {len(node.outputs)}", node)
        arrays = []
        for out, data in zip(node.outputs, results):
            array = np.asarray(data)
            if out.dtype is not None and array.dtype != out.dtype:
                array = array.astype(out.dtype)
            if out.shape is not None and array.shape != out.shape:
                message = f"folded {out.name!r} has shape {array.shape}, inferred {out.shape}"
                raise self.fail(message, node)
            # (np.ascontiguousarray would turn a scalar into shape (1,))
            arrays.append(array if array.flags.c_contiguous else array.copy(order="C"))
        graph.remove_node(node)
        source = node.inputs[0] if node.inputs else None
        source_quant = source.quant if source is not None and _moves_data(node) else None
        for out, array in zip(node.outputs, arrays):
            out.const, out.dtype, out.shape = array, array.dtype, array.shape
            if out.quant is None and source_quant is not None and source_quant.axis is None:
                out.quant = source_quant  # a folded data move keeps its input's parameters
        for value in node.inputs:
            drop_if_unused(graph, value)

    def _evaluate(self, node: Node) -> list[np.ndarray]:
        op = get_op(node.op_type, node.domain)
        try:
            if node.op_type in SHAPE_QUERIES:
                x = node.inputs[0]
                return list(op.propagate(node, [TensorInfo(x.dtype, x.shape, x.const)]))
            return run_node(node, [v.const if v is not None else None for v in node.inputs])
        except EdgecError:
            raise
        except Exception as exc:
            raise self.fail(f"evaluating it failed: {type(exc).__name__}: {exc}", node) from exc

    def ensures(self, graph: Graph) -> None:
        for node in graph.nodes:
            if self.foldable(graph, node):
                raise self.fail("node with constant inputs left unfolded", node)


def _moves_data(node: Node) -> bool:
    """Ops the registry marks as pure data movement, valid on integer data as on float."""
    return getattr(get_op(node.op_type, node.domain), "integer", None) == "move"


def _touches_quantized(node: Node) -> bool:
    values = [*node.inputs, *node.outputs]
    return any(v is not None and v.quant is not None for v in values)
