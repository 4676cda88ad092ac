"""Division by a constant scalar → multiplication by its reciprocal.

Attention scales its scores by ``1 / sqrt(d)`` with a Div (torch's export of ``q @ k.T /
math.sqrt(d)``). As a Mul it has TFLite's integer kernel (Div has none), so a quantized
model keeps the scores in int8; in float the two differ by at most one rounding.
"""

from __future__ import annotations

import numpy as np

from edgec.ir.graph import Graph
from edgec.passes.base import Pass, PassResult
from edgec.passes.dead_code import drop_if_unused
from edgec.passes.expression import scalar


class DivByConstant(Pass):
    """``Div(x, c)`` with c a nonzero float scalar constant becomes ``Mul(x, 1 / c)``."""

    def run(self, graph: Graph) -> PassResult:
        changed = False
        for node in graph.nodes:
            if node.op_type != "Div" or node.domain or node.inputs[0].is_const:
                continue
            divisor = node.inputs[1]
            c = scalar(divisor)
            if c is None or c == 0.0 or not np.isfinite(c):
                continue
            reciprocal = np.asarray(1.0 / c, divisor.dtype).reshape(divisor.const.shape)
            graph.set_input(node, 1, graph.add_constant(f"{divisor.name}_reciprocal", reciprocal))
            drop_if_unused(graph, divisor)
            node.op_type = "Mul"
            changed = True
        return PassResult(graph, changed)
