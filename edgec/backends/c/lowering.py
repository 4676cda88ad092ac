"""The state of one lowering: the Program being built and the buffers each IR value lives in.

Emitters (``emit_*.py``) receive a ``Lowering`` and a node, and ask it for buffers
(``read``/``write``/``alias``/``scratch``), constant arrays (``weight``) and kernel calls
(``call``). A value may live in several layouts; ``read`` emits the permute between them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edgec.backends.c import layout as L
from edgec.backends.c.overlap import permute_lag
from edgec.backends.c.program import (
    KernelCall,
    Program,
    Ref,
    StateReset,
    TensorBuffer,
    WeightArray,
)
from edgec.errors import ShapeError, show_name
from edgec.ir.graph import Graph, Node, Value


@dataclass(frozen=True)
class Emitter:
    """How one op lowers: ``emit(lowering, node)``; ``check(node)`` gives a reason it cannot."""

    emit: Callable[[Lowering, Node], None]
    check: Callable[[Node], str | None] = lambda node: None


class Lowering:
    """Builds a Program; emitters call ``read``/``write``/``alias``/``weight``/``call``."""

    def __init__(
        self,
        graph: Graph,
        io_layout: str = "declared",
        kernels: str = "portable",
        lean: frozenset[str] = frozenset(),
        weight_storage: str = "auto",
        in_place: frozenset[str] = frozenset(),
        core: str = "dsp",
        rounding: str = "tflm",
        stateful: bool = False,
        memo: dict | None = None,
    ):
        self.graph = graph
        # what emitters compute from a layer's constants alone, kept across the lowerings of
        # one compile (the planner's search lowers a graph many times)
        self.memo = memo if memo is not None else {}
        # the optimized int8 kernels' family: "dsp" (fast_*.c: Cortex-M4/M7/M33 assembly, C
        # elsewhere), "scalar" (the same layouts, RV32 and Cortex-M0 paths: fast_scalar.h) or
        # "mve" (Helium, Cortex-M55/M85); only that family's layouts are emitted
        self.core = core
        # --rounding: the integer kernels' requantization (rounding.py writes its operands)
        self.rounding = rounding
        # recurrent states persist across model_run calls (emit_recurrent)
        self.stateful = stateful
        # nodes whose output is planned over their input (overlap.py); they run a portable
        # kernel whose access order is modelled there
        self.in_place = in_place
        # "auto": int8 weight matrices sparse or clustered where that saves flash (emit_compact)
        self.weight_storage = weight_storage
        self.program = Program()
        self.io_layout = io_layout
        # "optimized": int8 kernels of fast_*.c where they apply; "portable": conv_int.c …
        self.optimized = kernels == "optimized"
        self.lean = lean  # nodes whose kernels must do without scratch memory
        self._stored: dict[tuple[int, str], str] = {}
        self._primary: dict[int, str] = {}
        self._count = {"t": 0, "w": 0}
        self._shared: dict[tuple, Ref] | None = None  # weights by content, while tiling
        self._held: list = []  # values made while lowering (buffers are keyed by their id)

    # ---- naming ---------------------------------------------------------------------------
    def _fresh(self, kind: str) -> str:
        self._count[kind] += 1
        return f"{kind}{self._count[kind] - 1}"

    # ---- buffers --------------------------------------------------------------------------
    def stored_layout(self, value: Value) -> str:
        return self._primary[id(value)]

    def stored_buffer(self, value: Value) -> str:
        """The buffer holding ``value`` in the layout it was first stored in."""
        return self._stored[(id(value), self._primary[id(value)])]

    def _new_buffer(self, value: Value, layout: str, first: int) -> str:
        name = self._fresh("t")
        shape = L.memory_shape(value.shape, layout)
        self.program.buffers[name] = TensorBuffer(
            name, np.dtype(value.dtype), shape, value.name, first=first, layout=layout
        )
        self._stored[(id(value), layout)] = name
        self._primary.setdefault(id(value), layout)
        return name

    def add_input(self, value: Value, layout: str) -> str:
        layout = L.normalize(len(value.shape), layout)
        return self._new_buffer(value, layout, first=-1)

    def read(self, value: Value, layout: str) -> str:
        """A buffer holding ``value`` in ``layout``; emits a permute when it lives elsewhere."""
        if value.is_const:
            raise ShapeError(f"constant {show_name(value.name)} read as an activation")
        layout = L.normalize(len(value.shape), layout)
        key = (id(value), layout)
        if key in self._stored:
            return self._stored[key]
        have = self.stored_layout(value)
        source = self._stored[(id(value), have)]
        if L.same_bytes(value.shape, have, layout):
            name = self._alias_buffer(value, source, layout)
        else:
            name = self._new_buffer(value, layout, first=len(self.program.calls))
            self._emit_permute(value, have, layout, source, name)
        self._stored[key] = name
        return name

    def _emit_permute(self, value: Value, src_layout: str, dst_layout: str, src: str, dst: str):
        rank = len(value.shape)
        src_perm = L.to_memory_perm(rank, src_layout)
        dst_perm = L.to_memory_perm(rank, dst_layout)
        # Memory axis i of the destination holds logical axis dst_perm[i], found in the
        # source's memory at position src_perm.index(dst_perm[i]).
        perm = tuple(src_perm.index(a) for a in dst_perm)
        fields = L.permute_fields(
            L.memory_shape(value.shape, src_layout), perm, value.dtype.itemsize
        )
        strides = self.program.buffers[src].strides
        if strides is not None:  # a tile's rows of a channels-first tensor (tiling.py)
            fields["in_stride"] = [0] * (len(fields["in_shape"]) - len(strides)) + list(strides)
        self.permute_in_place(f"layout of {value.name}", fields, src, dst)
        self.call(
            "edgec_permute",
            "edgec_permute_t",
            fields,
            [src],
            [dst],
            f"layout of {value.name}",
            "Transpose",
            sources={"move.c"},
        )

    def permute_in_place(self, node: str, fields: dict, src: str, dst: str) -> None:
        """Plan a permute's output over its input when ``node`` is to run in place."""
        if node in self.in_place:
            self.program.buffers[dst].overlap = (src, permute_lag(fields))

    def elementwise_in_place(self, node: str, inputs: list[str], dst: str) -> None:
        """Plan an elementwise output over one of its same-shaped inputs (element i written
        after element i is read: no lag) when ``node`` is to run in place: ``node`` names
        its first input, ``node:k`` its k-th."""
        for k, src in enumerate(inputs):
            if (node if k == 0 else f"{node}:{k}") in self.in_place:
                self.program.buffers[dst].overlap = (src, 0)

    def write(self, value: Value, layout: str) -> str:
        """Declare the buffer a node's output is written into."""
        layout = L.normalize(len(value.shape), layout)
        return self._new_buffer(value, layout, first=len(self.program.calls))

    def scratch(self, node: Node, nbytes: int, what: str) -> str:
        """Working memory for ``node``'s next kernel call (an emitter asks only for nodes
        not in ``lean``: their scratch would grow the arena)."""
        name = self._fresh("t")
        self.program.buffers[name] = TensorBuffer(
            name,
            np.dtype(np.int8),
            (nbytes,),
            f"{node.name} {what}",
            first=len(self.program.calls),
            scratch_for=node.name,
        )
        return name

    def persistent(self, node: Node, nbytes: int, what: str) -> str:
        """Memory for ``node`` that keeps its content across ``model_run`` calls (a stateful
        build's recurrent state): live over the whole schedule (see ``lower``)."""
        name = self.scratch(node, nbytes, what)
        self.program.buffers[name].persistent = True
        return name

    def reset(self, kernel: str, inputs: list[str | None], state: str) -> None:
        """Have ``model_reset()`` call ``kernel`` with the last call's parameters."""
        step = len(self.program.calls) - 1
        self.program.resets.append(StateReset(kernel, step, list(inputs), state))

    def alias(self, value: Value, source_buffer: str, layout: str) -> str:
        """``value`` shares ``source_buffer``'s storage (same bytes, new shape)."""
        layout = L.normalize(len(value.shape), layout)
        name = self._alias_buffer(value, source_buffer, layout)
        self._stored[(id(value), layout)] = name
        self._primary.setdefault(id(value), layout)
        return name

    def _alias_buffer(self, value: Value, source_buffer: str, layout: str) -> str:
        name = self._fresh("t")
        self.program.buffers[name] = TensorBuffer(
            name,
            np.dtype(value.dtype),
            L.memory_shape(value.shape, layout),
            value.name,
            first=len(self.program.calls),
            alias_of=source_buffer,
            layout=layout,
        )
        return name

    # ---- constants and calls ----------------------------------------------------------------
    def weight(self, data: np.ndarray, comment: str = "") -> Ref:
        data = np.ascontiguousarray(data)
        key = (data.dtype.str, data.shape, data.tobytes())
        if self._shared is not None and key in self._shared:
            return self._shared[key]
        name = self._fresh("w")
        self.program.weights[name] = WeightArray(name, data, comment)
        if self._shared is not None:
            self._shared[key] = Ref(name)
        return Ref(name)

    def hold(self, *objects) -> None:
        """Keep values and nodes made during lowering (tiling.py) alive: a freed value's id
        could name another value's buffer."""
        self._held.extend(objects)

    def share_weights(self, on: bool) -> None:
        """While on, equal constant arrays are stored once (the tiles of a stage)."""
        self._shared = {} if on else None

    def call(
        self,
        kernel: str,
        struct: str | None,
        fields: dict,
        inputs: list[str],
        outputs: list[str],
        node: str,
        op: str,
        sources: set[str],
        macs: int = 0,
        variadic: bool = False,
    ) -> None:
        index = len(self.program.calls)
        for name in inputs:
            if name in self.program.buffers:
                self.program.buffers[name].last = index
        for name in outputs:
            if name is None:  # an absent optional output: the kernel gets NULL
                continue
            buf = self.program.buffers[name]
            buf.first = index if buf.first < 0 else buf.first
            buf.last = max(buf.last, index)
        self.program.calls.append(
            KernelCall(
                kernel, struct, fields, list(inputs), list(outputs), node, op, macs, variadic
            )
        )
        self.program.kernel_sources |= sources
