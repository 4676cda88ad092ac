"""A value as a polynomial of the values it is computed from, for the fusion passes.

Exporters spell a function such as GELU in many orders (``0.5 * x * (1 + erf(x / sqrt 2))``,
``x * 0.5 * ...``, ``Mul`` by 0.7071 or ``Div`` by 1.4142, ``Pow(x, 3)`` or ``x * x * x``).
Expanding the arithmetic between a value and its *leaves* into a polynomial makes all of
them the same dict: ``{(leaf ids...): coefficient}``. Only intermediate values read by one
node (and not graph outputs) are expanded, so the nodes recorded can be replaced as a whole;
a value read elsewhere, a graph input or the output of any other op is a leaf.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from edgec.ir.graph import Graph, Node, Value

Monomial = tuple[int, ...]  # sorted ids of leaf values (with repeats: the powers)
Polynomial = dict[Monomial, float]

MAX_TERMS = 8
MAX_DEGREE = 4


def scalar(value: Value | None) -> float | None:
    """The value of a constant with a single element, else None."""
    if value is None or not value.is_const or value.const.size != 1:
        return None
    if not np.issubdtype(value.const.dtype, np.floating):
        return None
    return float(np.asarray(value.const).reshape(()))


def single_use(graph: Graph, value: Value) -> bool:
    return len(set(map(id, value.users))) == 1 and not graph.is_output(value)


def _add(p: Polynomial, q: Polynomial, sign: float = 1.0) -> Polynomial:
    out = dict(p)
    for m, c in q.items():
        out[m] = out.get(m, 0.0) + sign * c
    return {m: c for m, c in out.items() if c != 0.0}


def _mul(p: Polynomial, q: Polynomial) -> Polynomial | None:
    out: Polynomial = {}
    for m1, c1 in p.items():
        for m2, c2 in q.items():
            m = tuple(sorted(m1 + m2))
            if len(m) > MAX_DEGREE:
                return None
            out[m] = out.get(m, 0.0) + c1 * c2
    return {m: c for m, c in out.items() if c != 0.0}


@dataclass
class Expansion:
    """A polynomial of leaves, with the nodes expanded to get it."""

    poly: Polynomial
    nodes: list[Node] = field(default_factory=list)
    leaves: dict[int, Value] = field(default_factory=dict)


def expand(graph: Graph, value: Value, stop: Iterable[Value] = (), whole: bool = True) -> Expansion:
    """``value`` as a polynomial of its leaves; ``stop`` values are leaves whatever their use.
    ``whole``: expand ``value`` itself even when other nodes read it too (it is the result
    being replaced); else it is expanded only when read once, like the values below it."""
    stops = {id(v) for v in stop}
    result = Expansion({})
    poly = _expand(graph, value, stops, result, top=whole)
    result.poly = poly if poly is not None else {}
    return result


def _leaf(value: Value, result: Expansion) -> Polynomial:
    result.leaves[id(value)] = value
    return {(id(value),): 1.0}


def _expand(graph: Graph, value: Value, stops: set[int], result: Expansion, top: bool):
    c = scalar(value)
    if c is not None:
        return {(): c}
    node = value.producer
    expandable = (
        node is not None
        and id(value) not in stops
        and (top or single_use(graph, value))
        and node.op_type in ("Add", "Sub", "Mul", "Div", "Pow", "Neg")
        and not node.domain
        and node.fused is None
        and value.dtype is not None
        and np.issubdtype(value.dtype, np.floating)
    )
    if not expandable:
        return _leaf(value, result)
    parts = [_expand(graph, v, stops, result, top=False) for v in node.inputs]
    if any(p is None for p in parts):
        return None
    poly = _combine(node.op_type, parts, [scalar(v) for v in node.inputs])
    if poly is None or len(poly) > MAX_TERMS:
        return None
    result.nodes.append(node)
    return poly


def _combine(op: str, parts: list[Polynomial], scalars: list[float | None]) -> Polynomial | None:
    if op == "Neg":
        return {m: -c for m, c in parts[0].items()}
    a, b = parts
    if op == "Add":
        return _add(a, b)
    if op == "Sub":
        return _add(a, b, -1.0)
    if op == "Mul":
        return _mul(a, b)
    if op == "Div":
        divisor = scalars[1]
        if divisor is None or divisor == 0.0:
            return None
        return {m: c / divisor for m, c in a.items()}
    exponent = scalars[1]  # Pow: a small constant integer power
    if exponent is None or exponent != int(exponent) or not 1 <= exponent <= MAX_DEGREE:
        return None
    out: Polynomial | None = {(): 1.0}
    for _ in range(int(exponent)):
        out = _mul(out, a) if out is not None else None
    return out


def same(poly: Polynomial, want: Polynomial, rtol: float = 1e-4) -> bool:
    """Equal keys and coefficients within ``rtol`` (exporters round constants to float32)."""
    if set(poly) != set(want):
        return False
    return all(math.isclose(poly[m], want[m], rel_tol=rtol) for m in want)
