"""MatMul of a 2-d activation by a constant matrix, then Add of a constant row → one Gemm.

Exporters often split a dense layer into MatMul + Add (mnist-8 does). As a Gemm the bias
joins the accumulator: one kernel, one requantization, and no intermediate tensor.
"""

from __future__ import annotations

import numpy as np

from edgec.ir.graph import Graph, Node
from edgec.passes.base import Pass, PassResult


def _bias_row(add: Node, product) -> np.ndarray | None:
    """The Add's constant operand as an (N,) row, if it is one."""
    other = add.inputs[1] if add.inputs[0] is product else add.inputs[0]
    if other is None or not other.is_const:
        return None
    n = product.shape[-1]
    data = other.const
    if data.size == n and data.shape[-1] == n and data.ndim <= 2:
        return data.reshape(n)
    if data.size == 1:
        return np.full(n, data.reshape(()), data.dtype)
    return None


def matmul_gemm_target(graph: Graph, node: Node) -> tuple[Node, np.ndarray] | None:
    if node.op_type != "MatMul" or node.fused is not None:
        return None
    a, b = node.inputs
    y = node.outputs[0]
    if a.is_const or not b.is_const or b.const.ndim != 2 or len(a.shape) != 2:
        return None
    if a.quant is not None or y.quant is not None or graph.is_output(y):
        return None
    readers = graph.consumers(y)
    if len(readers) != 1 or readers[0].op_type != "Add" or readers[0].fused is not None:
        return None
    add = readers[0]
    if add.outputs[0].shape != y.shape or add.outputs[0].quant is not None:
        return None
    bias = _bias_row(add, y)
    return (add, bias) if bias is not None else None


class FuseMatMulAdd(Pass):
    """Rewrite ``Add(MatMul(A, B), c)`` (A 2-d, B and c constant) as ``Gemm(A, B, c)``."""

    def run(self, graph: Graph) -> PassResult:
        changed = False
        for node in list(graph.nodes):
            found = matmul_gemm_target(graph, node)
            if found is None:
                continue
            add, bias = found
            result = add.outputs[0]
            y = node.outputs[0]
            c = graph.add_constant(f"{node.name}_bias", bias.astype(y.dtype))
            graph.remove_node(add)
            for operand in add.inputs:
                if operand is not None and operand.is_const and not operand.users:
                    graph.remove_value(operand)
            node.op_type = "Gemm"
            node.inputs.append(c)
            c.users.append(node)
            node.outputs[0] = result
            result.producer = node
            graph.remove_value(y)
            changed = True
        return PassResult(graph, changed)

    def ensures(self, graph: Graph) -> None:
        for node in graph.nodes:
            if matmul_gemm_target(graph, node) is not None:
                raise self.fail("MatMul + constant Add left unfused", node)
