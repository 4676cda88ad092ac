"""GELU written out by an exporter → one ``Gelu`` node (opset 20's op, float and int8 kernels).

Two forms, in any order of their arithmetic (see ``expression.py``):

* erf: ``0.5 * x * (1 + erf(x / sqrt 2))`` (torch's legacy export of ``nn.GELU()``);
* tanh: ``0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)))`` (``approximate="tanh"``).
"""

from __future__ import annotations

import math

import numpy as np

from edgec.ir.graph import Graph, Node, Value
from edgec.passes.base import Pass, PassResult
from edgec.passes.dead_code import drop_if_unused
from edgec.passes.expression import Expansion, expand, same, single_use

TANH_SCALE = math.sqrt(2.0 / math.pi)
CUBIC = 0.044715
FORWARD_STEPS = 6  # arithmetic nodes between erf/tanh and the result


def _inner(graph: Graph, f: Node) -> tuple[Value, Expansion, str] | None:
    """(x, the expansion of f's input, approximate) when f's input is GELU's inner term."""
    inner = expand(graph, f.inputs[0], whole=False)
    if len(inner.leaves) != 1:
        return None
    x = next(iter(inner.leaves.values()))
    one, three = (id(x),), (id(x),) * 3
    if f.op_type == "Erf" and same(inner.poly, {one: 1 / math.sqrt(2.0)}):
        return x, inner, "none"
    if f.op_type == "Tanh" and same(inner.poly, {one: TANH_SCALE, three: TANH_SCALE * CUBIC}):
        return x, inner, "tanh"
    return None


def match_gelu(graph: Graph, f: Node) -> tuple[Value, Value, list[Node], str] | None:
    """(x, the GELU result, every node computing it, approximate) around erf/tanh node f."""
    if f.op_type not in ("Erf", "Tanh") or f.domain or len(f.outputs) != 1:
        return None
    e = f.outputs[0]
    if e.dtype is None or not np.issubdtype(e.dtype, np.floating) or not single_use(graph, e):
        return None
    found = _inner(graph, f)
    if found is None:
        return None
    x, inner, approximate = found
    want = {tuple(sorted((id(x), id(e)))): 0.5, (id(x),): 0.5}
    value = e
    for _ in range(FORWARD_STEPS):  # the result lies a few single-use steps after erf/tanh
        if not single_use(graph, value):
            return None
        value = value.users[0].outputs[0]
        outer = expand(graph, value, stop=[x, e])
        if same(outer.poly, want):
            return x, value, [*outer.nodes, f, *inner.nodes], approximate
    return None


class FuseGelu(Pass):
    """Rewrite GELU's erf or tanh form as one ``Gelu`` node; its result keeps its name."""

    def run(self, graph: Graph) -> PassResult:
        changed = False
        for f in list(graph.nodes):
            if f not in graph.nodes:
                continue
            found = match_gelu(graph, f)
            if found is None:
                continue
            x, result, nodes, approximate = found
            constants = [v for n in nodes for v in n.inputs if v is not None and v.is_const]
            for node in nodes:
                graph.remove_node(node)
            for node in nodes:
                for out in node.outputs:
                    if out is not result:
                        graph.remove_value(out)
            name = graph.unique_node_name(f"{f.name}_gelu")
            graph.add_node("Gelu", [x], [result], {"approximate": approximate}, name)
            for const in constants:
                drop_if_unused(graph, const)
            graph.topo_sort()
            changed = True
        return PassResult(graph, changed)
