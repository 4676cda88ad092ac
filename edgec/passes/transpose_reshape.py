"""Canonical data-movement ops: fewer Transposes, one constant-target Reshape per chain.

Rewrites, applied until none matches:

* Transpose∘Transpose → one Transpose with the composed perm (nothing if it is the identity,
  so a Transpose followed by its inverse cancels); an identity-perm Transpose goes away;
* a Transpose that only moves size-1 dims keeps the element order: it becomes a Reshape;
* Reshape, Flatten, Squeeze and Unsqueeze with static shapes become a Reshape to an explicit
  constant int64 shape; a Reshape of a reshape-like reads the inner op's input instead;
  a Reshape to its input's shape goes away.
"""

from __future__ import annotations

import numpy as np

from edgec.ir.graph import Graph, Node, Value
from edgec.ops import get_op
from edgec.passes.base import Pass, PassResult
from edgec.passes.dead_code import drop_if_unused
from edgec.passes.identity import can_bypass, same_quant

RESHAPE_LIKE = ("Reshape", "Flatten", "Squeeze", "Unsqueeze")


def _alive(node: Node) -> bool:
    return bool(node.outputs) and node.outputs[0].producer is node


def _static(node: Node) -> tuple[Value, Value] | None:
    """(input, output) of a single-output default-domain node with known shapes."""
    if node.domain or len(node.outputs) != 1 or not node.inputs or node.inputs[0] is None:
        return None
    x, y = node.inputs[0], node.outputs[0]
    if x.shape is None or y.shape is None:
        return None
    if not same_quant(x, y):
        return None  # a move that also requantizes is not a pure move
    if x.quant is not None and x.quant.axis is not None:
        return None  # per-axis parameters are tied to an axis that these rewrites would move
    return x, y


def perm_of(node: Node) -> tuple[int, ...]:
    return get_op("Transpose").perm(node, len(node.inputs[0].shape))


def keeps_order(perm: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    """True when ``perm`` moves only size-1 dims, so the data's row-major order is unchanged."""
    moved = [p for p in perm if shape[p] != 1]
    return moved == sorted(moved)


def is_canonical_reshape(node: Node) -> bool:
    """A Reshape whose constant target spells out the output shape (no 0 or -1 codes)."""
    if node.op_type != "Reshape" or node.input(1) is None or not node.inputs[1].is_const:
        return False
    target = tuple(int(d) for d in np.asarray(node.inputs[1].const).reshape(-1))
    zero_ok = node.attrs.get("allowzero", 0) == 1 or 0 not in target
    return target == node.outputs[0].shape and zero_ok


def _producer(value: Value, op_types: tuple[str, ...]) -> Node | None:
    node = value.producer
    if node is None or node.op_type not in op_types or _static(node) is None:
        return None
    return node


def _rewrite(graph: Graph, node: Node) -> str | None:
    """The rewrite that applies to ``node`` (a short label), or None; nothing is changed."""
    io = _static(node)
    if io is None:
        return None
    x, y = io
    if node.op_type == "Transpose":
        perm = perm_of(node)
        if perm == tuple(range(len(perm))):
            return "bypass" if can_bypass(graph, y, x) else None
        if _producer(x, ("Transpose",)) is not None:
            return "compose"
        return "to_reshape" if keeps_order(perm, x.shape) else None
    if node.op_type not in RESHAPE_LIKE:
        return None
    if x.shape == y.shape and can_bypass(graph, y, x):
        return "bypass"
    if not is_canonical_reshape(node):
        return "to_reshape"
    return "merge" if _producer(x, RESHAPE_LIKE) is not None else None


class CanonicalizeTransposeReshape(Pass):
    """See the module docstring; runs its rewrites to a local fixed point."""

    def run(self, graph: Graph) -> PassResult:
        changed = False
        while True:
            step = False
            for node in list(graph.nodes):
                if _alive(node):
                    step |= self._apply(graph, node)
            if not step:
                return PassResult(graph, changed)
            changed = True

    def _apply(self, graph: Graph, node: Node) -> bool:
        action = _rewrite(graph, node)
        if action is None:
            return False
        x, y = node.inputs[0], node.outputs[0]
        if action == "bypass":
            graph.bypass(y, x)
            graph.remove_node(node)
            for value in node.inputs[1:]:
                drop_if_unused(graph, value)
        elif action == "compose":
            inner = x.producer
            inner_perm = perm_of(inner)
            node.attrs["perm"] = [inner_perm[p] for p in perm_of(node)]
            self._read_through(graph, node, inner)
        elif action == "to_reshape":
            self._to_reshape(graph, node, x, y)
        else:  # merge: a reshape of a reshape reads the inner input directly
            self._read_through(graph, node, x.producer)
        return True

    @staticmethod
    def _read_through(graph: Graph, node: Node, inner: Node) -> None:
        """Make ``node`` read ``inner``'s input; drop ``inner`` when nothing else reads it."""
        graph.set_input(node, 0, inner.inputs[0])
        out = inner.outputs[0]
        if not out.users and not graph.is_output(out):
            graph.remove_node(inner)
            graph.remove_value(out)
            for value in inner.inputs[1:]:
                drop_if_unused(graph, value)

    @staticmethod
    def _to_reshape(graph: Graph, node: Node, x: Value, y: Value) -> None:
        """Turn ``node`` in place into ``Reshape(x, y.shape)`` (same name, same position)."""
        target = graph.add_constant(f"{y.name}_shape", np.array(y.shape, dtype=np.int64))
        old_inputs = list(node.inputs)
        for index in range(len(node.inputs)):
            graph.set_input(node, index, None)
        node.inputs = [None, None]
        graph.set_input(node, 0, x)
        graph.set_input(node, 1, target)
        node.op_type = "Reshape"
        node.attrs = {"allowzero": 1} if 0 in y.shape else {}
        for value in old_inputs[1:]:
            drop_if_unused(graph, value)

    def ensures(self, graph: Graph) -> None:
        for node in graph.nodes:
            action = _rewrite(graph, node)
            if action is not None:
                raise self.fail(f"{node.op_type} left uncanonical ({action} applies)", node)
