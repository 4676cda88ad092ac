"""The lowered form of a model for the C backend: kernel calls over arena buffers.

``lower.py`` turns a Graph into a ``Program``; ``planner.py`` gives each buffer an arena
offset; ``render.py`` prints the program as C. Nothing here knows about ONNX names: buffers,
weights and calls carry generated identifiers, and the original names only reach the C
text as escaped comments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class TensorBuffer:
    """An activation in the arena (or the caller's I/O memory)."""

    name: str  # generated identifier, e.g. "t12"
    dtype: np.dtype
    shape: tuple[int, ...]  # in memory order
    source: str  # the IR value name it holds (for comments, dumps, memory.json)
    first: int = -1  # first call index that writes it (-1: written before the first call)
    last: int = -1  # last call index that reads it
    alias_of: str | None = None
    offset: int = -1
    layout: str = "logical"  # "logical" (ONNX order) or "channels_last"
    scratch_for: str | None = None  # a kernel's working memory: the node it serves
    # written in place over (input buffer, lag): may overlap that input if the input lies at
    # least lag bytes above it (see overlap.py)
    overlap: tuple[str, int] | None = None
    # a stateful build's recurrent state: live across model_run calls (the whole schedule)
    persistent: bool = False
    # a view (tiling.py): ``view_offset`` bytes into the buffer it aliases; a band of rows
    # of a channels-first tensor is strided (``strides``, elements per memory axis) and
    # reaches ``span`` bytes from its start
    view_offset: int = 0
    strides: tuple[int, ...] | None = None
    span: int | None = None
    # the overlap is a tiled stage's output over the stage's input (checked per tile view)
    tiled: bool = False

    @property
    def nbytes(self) -> int:
        if self.span is not None:
            return self.span
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


@dataclass
class WeightArray:
    """A constant array emitted as ``static const`` data in flash."""

    name: str
    data: np.ndarray
    comment: str = ""

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes)


@dataclass(frozen=True)
class Ref:
    """A C expression naming a weight array or a parameter struct in a field value."""

    name: str


@dataclass(frozen=True)
class Symbol:
    """A C constant the kernels' headers define (an enum value), printed as its name."""

    name: str


@dataclass(frozen=True)
class Struct:
    """A nested struct value (printed as a designated initializer)."""

    fields: dict[str, Any]


@dataclass
class KernelCall:
    """One call in the schedule: ``kernel(&params, inputs..., outputs...)``."""

    kernel: str
    struct: str | None  # C type of the params struct, None for kernels without one
    fields: dict[str, Any]
    inputs: list[str]  # buffer names (or weight names for constant operands)
    outputs: list[str]
    node: str  # the IR node it implements (for comments, dumps)
    op: str
    macs: int = 0
    variadic_inputs: bool = False  # inputs passed as an array of pointers

    @property
    def main_output(self) -> str:
        """The buffer that stands for the step's result (hooks, per-layer comparison): the
        first output present (a recurrent kernel's absent outputs are None)."""
        return next(name for name in self.outputs if name is not None)


@dataclass
class Program:
    calls: list[KernelCall] = field(default_factory=list)
    buffers: dict[str, TensorBuffer] = field(default_factory=dict)
    weights: dict[str, WeightArray] = field(default_factory=dict)
    inputs: list[IOPort] = field(default_factory=list)
    outputs: list[IOPort] = field(default_factory=list)
    kernel_sources: set[str] = field(default_factory=set)
    arena_bytes: int = 0
    lean_nodes: list[str] = field(default_factory=list)  # see generate.lower_and_plan
    in_place: list[dict] = field(default_factory=list)  # see generate.in_place_report
    weight_storage: list[dict] = field(default_factory=list)  # see emit_compact
    resets: list[StateReset] = field(default_factory=list)  # what model_reset() calls
    tiles: list[dict] = field(default_factory=list)  # the tiled stages (tiling.py)


@dataclass
class StateReset:
    """One call of ``model_reset()``: a recurrent kernel's reset function, given the
    parameters of schedule step ``step``, the initial states and the state buffer."""

    kernel: str
    step: int
    inputs: list[str | None]
    state: str


@dataclass
class IOPort:
    """A model input or output as the generated API presents it."""

    name: str  # the ONNX name (escaped when printed)
    buffer: str  # the arena buffer holding it in memory order
    dtype: np.dtype
    shape: tuple[int, ...]  # the API's shape (declared layout unless --io-layout nhwc)
    perm_to_buffer: tuple[int, ...] | None  # API order → buffer order permutation, if any
    scale: float | None = None
    zero_point: int | None = None
