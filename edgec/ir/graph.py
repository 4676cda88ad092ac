"""The intermediate representation: a dataflow graph of ``Node`` objects over ``Value`` edges.

Every value has exactly one definition (a graph input, a constant, or one node output) and a
list of using nodes. Shapes are static tuples once the importer has resolved dynamic dims;
``None`` means "not known" and is only allowed on the outputs of unsupported ops.
Node order in ``Graph.nodes`` is always a valid schedule (topological order).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgec.errors import ModelError, show_name

Shape = tuple[int, ...]


@dataclass
class QuantParams:
    """Affine quantization ``real = scale * (q - zero_point)``; per tensor or along ``axis``."""

    scale: np.ndarray
    zero_point: np.ndarray
    dtype: np.dtype
    axis: int | None = None

    def __post_init__(self):
        self.scale = np.asarray(self.scale, dtype=np.float32)
        self.zero_point = np.asarray(self.zero_point, dtype=np.int64)
        self.dtype = np.dtype(self.dtype)

    @property
    def per_channel(self) -> bool:
        return self.scale.ndim == 1 and self.scale.size > 1


@dataclass(frozen=True)
class FusedActivation:
    """An activation folded into the node that produces its input (Relu, Clip…).

    Backends clamp in the producing kernel; the reference executor and the ONNX
    exporter apply it as the separate op it came from.
    """

    op_type: str
    attrs: dict[str, Any] = field(default_factory=dict)


class Value:
    """A tensor edge: name, dtype, static shape; optional constant data and quantization."""

    __slots__ = ("const", "dtype", "name", "producer", "quant", "shape", "users")

    def __init__(
        self,
        name: str,
        dtype: np.dtype | type | str | None,
        shape: Iterable[int] | None,
        const: np.ndarray | None = None,
        quant: QuantParams | None = None,
    ):
        self.name = name
        self.dtype = np.dtype(dtype) if dtype is not None else None
        self.shape: Shape | None = tuple(int(d) for d in shape) if shape is not None else None
        self.const = const
        self.quant = quant
        self.producer: Node | None = None
        self.users: list[Node] = []

    @property
    def is_const(self) -> bool:
        return self.const is not None

    @property
    def size(self) -> int:
        """Number of elements (the shape must be known)."""
        if self.shape is None:
            raise ModelError(f"value {show_name(self.name)} has no known shape")
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def __repr__(self) -> str:
        kind = "const " if self.is_const else ""
        return f"Value({self.name!r}, {kind}{self.dtype}, {self.shape})"


class Node:
    """One op application. ``inputs`` may hold ``None`` for an omitted optional input."""

    __slots__ = ("attrs", "domain", "fused", "inputs", "name", "op_type", "outputs")

    def __init__(
        self,
        op_type: str,
        inputs: list[Value | None],
        outputs: list[Value],
        attrs: dict[str, Any] | None = None,
        name: str = "",
        domain: str = "",
    ):
        self.op_type = op_type
        self.domain = domain
        self.name = name
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.attrs: dict[str, Any] = dict(attrs or {})
        self.fused: FusedActivation | None = None

    def input(self, index: int) -> Value | None:
        """The input at ``index``, or ``None`` when it is omitted or absent."""
        return self.inputs[index] if index < len(self.inputs) else None

    def __repr__(self) -> str:
        ins = ", ".join(v.name if v else "<none>" for v in self.inputs)
        outs = ", ".join(v.name for v in self.outputs)
        return f"Node({self.op_type} {self.name!r}: [{ins}] -> [{outs}])"


class Graph:
    """A model: named values, nodes in schedule order, graph inputs and outputs."""

    def __init__(self, name: str = "graph", opset: int = 21):
        self.name = name
        self.opset = opset
        self.nodes: list[Node] = []
        self.inputs: list[Value] = []
        self.outputs: list[Value] = []
        self.doc_string = ""
        self.metadata: dict[str, str] = {}
        self._values: dict[str, Value] = {}
        self._counter = itertools.count()

    # ---- values ---------------------------------------------------------------------------
    def value(self, name: str) -> Value:
        try:
            return self._values[name]
        except KeyError:
            raise ModelError(f"no value named {show_name(name)}") from None

    def has_value(self, name: str) -> bool:
        return name in self._values

    def values(self) -> Iterator[Value]:
        return iter(self._values.values())

    def constants(self) -> list[Value]:
        """Constant values (initializers), in name order."""
        return [v for v in self._values.values() if v.is_const]

    def unique_name(self, base: str) -> str:
        if base and base not in self._values:
            return base
        while True:
            candidate = f"{base or 'v'}_{next(self._counter)}"
            if candidate not in self._values:
                return candidate

    def add_value(self, value: Value) -> Value:
        if value.name in self._values:
            raise ModelError(f"value {show_name(value.name)} is defined twice")
        self._values[value.name] = value
        return value

    def new_value(self, base: str, dtype, shape, const: np.ndarray | None = None) -> Value:
        """Create and register a value with a fresh name derived from ``base``."""
        return self.add_value(Value(self.unique_name(base), dtype, shape, const))

    def add_constant(self, base: str, data: np.ndarray) -> Value:
        data = np.asarray(data)
        return self.new_value(base, data.dtype, data.shape, const=data)

    def rename_value(self, value: Value, new_name: str) -> None:
        if new_name == value.name:
            return
        if new_name in self._values:
            raise ModelError(f"value {show_name(new_name)} already exists")
        del self._values[value.name]
        value.name = new_name
        self._values[new_name] = value

    def remove_value(self, value: Value) -> None:
        if self._values.get(value.name) is value:
            del self._values[value.name]

    # ---- nodes ----------------------------------------------------------------------------
    def add_node(
        self,
        op_type: str,
        inputs: list[Value | None],
        outputs: list[Value],
        attrs: dict[str, Any] | None = None,
        name: str = "",
        *,
        before: Node | None = None,
        after: Node | None = None,
    ) -> Node:
        """Insert a node (at the end, or next to ``before``/``after``) and link its edges."""
        node = Node(op_type, inputs, outputs, attrs, name or self.unique_node_name(op_type))
        for out in outputs:
            if out.name not in self._values:
                self.add_value(out)
            if out.producer is not None:
                raise ModelError(f"value {show_name(out.name)} already has a producer")
            out.producer = node
        for inp in inputs:
            if inp is not None:
                inp.users.append(node)
        if before is not None:
            self.nodes.insert(self.nodes.index(before), node)
        elif after is not None:
            self.nodes.insert(self.nodes.index(after) + 1, node)
        else:
            self.nodes.append(node)
        return node

    def unique_node_name(self, base: str) -> str:
        taken = {n.name for n in self.nodes}
        if base not in taken:
            return base
        return next(f"{base}_{i}" for i in itertools.count(1) if f"{base}_{i}" not in taken)

    def remove_node(self, node: Node) -> None:
        """Unlink ``node``; its outputs lose their producer (remove or rebind them after)."""
        self.nodes.remove(node)
        for inp in node.inputs:
            if inp is not None and node in inp.users:
                inp.users.remove(node)
        for out in node.outputs:
            if out.producer is node:
                out.producer = None

    def set_input(self, node: Node, index: int, value: Value | None) -> None:
        old = node.inputs[index]
        if old is not None:
            old.users.remove(node)
        node.inputs[index] = value
        if value is not None:
            value.users.append(node)

    def replace_uses(self, old: Value, new: Value) -> None:
        """Make every reader of ``old`` (nodes and graph outputs) read ``new`` instead."""
        for user in list(old.users):
            for i, inp in enumerate(user.inputs):
                if inp is old:
                    self.set_input(user, i, new)
        self.outputs = [new if v is old else v for v in self.outputs]

    def bypass(self, out: Value, source: Value) -> bool:
        """Replace ``out`` by ``source`` everywhere, keeping graph output names stable.

        Returns False (and changes nothing) when ``out`` is a graph output whose name
        cannot be moved onto ``source`` (``source`` is itself a graph input, output or
        constant); the caller then keeps the node.
        """
        if out in self.outputs:
            if source in self.inputs or source in self.outputs or source.is_const:
                return False
            self.replace_uses(out, source)
            name = out.name
            self.remove_value(out)
            self.rename_value(source, name)
            return True
        self.replace_uses(out, source)
        self.remove_value(out)
        return True

    # ---- structure ------------------------------------------------------------------------
    def consumers(self, value: Value) -> list[Node]:
        return list(dict.fromkeys(value.users))

    def is_output(self, value: Value) -> bool:
        return any(v is value for v in self.outputs)

    def topo_sort(self) -> None:
        """Reorder ``nodes`` into a schedule, stable w.r.t. the current order.

        Raises ``ModelError`` naming the nodes on a cycle or a value that nobody produces.
        """
        position = {id(n): i for i, n in enumerate(self.nodes)}
        pending = {id(n): 0 for n in self.nodes}
        for node in self.nodes:
            for inp in node.inputs:
                if inp is None or inp.is_const or inp.producer is None:
                    continue
                if id(inp.producer) not in pending:
                    raise ModelError(
                        f"{node.op_type} node {show_name(node.name)} reads "
                        f"{show_name(inp.name)}, produced by a node outside the graph"
                    )
                pending[id(node)] += 1
        ready = sorted(
            (n for n in self.nodes if pending[id(n)] == 0), key=lambda n: position[id(n)]
        )
        order: list[Node] = []
        heap = [(position[id(n)], id(n), n) for n in ready]
        heapq.heapify(heap)
        while heap:
            _, _, node = heapq.heappop(heap)
            order.append(node)
            for out in node.outputs:
                for user in dict.fromkeys(out.users):
                    count = sum(1 for i in user.inputs if i is out)
                    pending[id(user)] -= count
                    if pending[id(user)] == 0:
                        heapq.heappush(heap, (position[id(user)], id(user), user))
        if len(order) != len(self.nodes):
            stuck = [n for n in self.nodes if pending[id(n)] > 0]
            names = ", ".join(f"{n.op_type} {show_name(n.name)}" for n in stuck[:5])
            raise ModelError(f"the graph has a cycle through {len(stuck)} nodes: {names}")
        self.nodes = order

    def validate(self) -> None:
        """Check the invariants every pass must keep; raise ``ModelError`` on a violation."""
        self._validate_use_lists()
        defined = {id(v) for v in self.inputs} | {id(v) for v in self.constants()}
        for node in self.nodes:
            for inp in node.inputs:
                if inp is None:
                    continue
                if self._values.get(inp.name) is not inp:
                    raise ModelError(
                        f"{node.op_type} node {show_name(node.name)} reads unregistered "
                        f"value {show_name(inp.name)}"
                    )
                if id(inp) not in defined:
                    raise ModelError(
                        f"{node.op_type} node {show_name(node.name)} reads "
                        f"{show_name(inp.name)} before it is produced"
                    )
                if node not in inp.users:
                    raise ModelError(f"use list of {show_name(inp.name)} misses a reader")
            for out in node.outputs:
                if out.producer is not node:
                    raise ModelError(f"value {show_name(out.name)} has a stale producer")
                defined.add(id(out))
        for out in self.outputs:
            if id(out) not in defined:
                raise ModelError(f"graph output {show_name(out.name)} is never produced")

    def _validate_use_lists(self) -> None:
        """Every value lists each node of the graph once per input slot that reads it."""
        in_graph = {id(n) for n in self.nodes}
        for value in self._values.values():
            for user in dict.fromkeys(value.users):
                reads = sum(1 for i in user.inputs if i is value)
                where = f"{user.op_type} node {show_name(user.name)}"
                if id(user) not in in_graph:
                    raise ModelError(
                        f"use list of {show_name(value.name)} names {where}, "
                        "which is not in the graph"
                    )
                if reads != value.users.count(user):
                    raise ModelError(
                        f"use list of {show_name(value.name)} names {where} "
                        f"{value.users.count(user)} times; it reads the value {reads} times"
                    )

    def copy(self) -> Graph:
        """A structural copy; constant arrays are shared (passes replace, never mutate, them)."""
        clone = Graph(self.name, self.opset)
        clone.doc_string = self.doc_string
        clone.metadata = dict(self.metadata)
        mapping: dict[int, Value] = {}
        for v in self._values.values():
            nv = Value(v.name, v.dtype, v.shape, v.const, v.quant)
            mapping[id(v)] = clone.add_value(nv)
        for node in self.nodes:
            new = clone.add_node(
                node.op_type,
                [mapping[id(i)] if i is not None else None for i in node.inputs],
                [mapping[id(o)] for o in node.outputs],
                # Lists are copied: a pass editing a copy's ``pads`` must not edit the original.
                {k: list(a) if isinstance(a, list) else a for k, a in node.attrs.items()},
                node.name,
            )
            new.domain = node.domain
            new.fused = node.fused
        clone.inputs = [mapping[id(v)] for v in self.inputs]
        clone.outputs = [mapping[id(v)] for v in self.outputs]
        return clone

    def op_types(self) -> dict[str, list[str]]:
        """Op type → names of the nodes using it, in schedule order."""
        found: dict[str, list[str]] = {}
        for node in self.nodes:
            found.setdefault(node.op_type, []).append(node.name)
        return found

    def __repr__(self) -> str:
        return f"Graph({self.name!r}, {len(self.nodes)} nodes, opset {self.opset})"
