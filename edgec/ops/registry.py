"""The op registry: one ``Op`` subclass per ONNX op, found by op type.

An ``Op`` owns the semantics of its ONNX op and nothing else (no C, no passes):

* ``attributes`` declares every attribute of the op with its kind and default; ``check``
  validates arity, attribute kinds and values, and which inputs must be constant;
* ``infer`` is the shape rule: input ``TensorInfo`` (dtype, shape, constant data if known)
  to output ``(dtype, shape)``;
* ``run`` is the float numpy reference, the golden model of every comparison;
* ``macs`` counts multiply-accumulates for reports.

The IR keeps ops in their latest-opset form; the importer rewrites older forms (attributes
that became inputs and the like) so that every ``Op`` implements one semantics.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from edgec.errors import ModelError, ShapeError, UnsupportedOpError, node_error, show_name
from edgec.ir.graph import Graph, Node, QuantParams, Shape

REQUIRED = object()

_KIND_CHECKS: dict[str, Callable[[Any], bool]] = {
    "int": lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, (int, float, np.floating, np.integer)),
    "string": lambda v: isinstance(v, str),
    "ints": lambda v: isinstance(v, (list, tuple)) and all(_KIND_CHECKS["int"](x) for x in v),
    "floats": lambda v: isinstance(v, (list, tuple)) and all(_KIND_CHECKS["float"](x) for x in v),
    "strings": lambda v: isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v),
    "tensor": lambda v: isinstance(v, np.ndarray),
}


@dataclass(frozen=True)
class Attr:
    """An attribute's kind (``int``, ``float``, ``ints``…), default and allowed values."""

    kind: str
    default: Any = REQUIRED
    choices: tuple | None = None


@dataclass
class TensorInfo:
    """What shape inference knows of one input: dtype, shape and (when constant) data."""

    dtype: np.dtype
    shape: Shape | None
    data: np.ndarray | None = None


class Op:
    """Base class of registry entries; subclasses set the class attributes and override."""

    op_type: ClassVar[str]
    domain: ClassVar[str] = ""
    num_inputs: ClassVar[tuple[int, int]] = (1, 1)
    num_outputs: ClassVar[tuple[int, int]] = (1, 1)
    attributes: ClassVar[dict[str, Attr]] = {}
    # Indices of inputs whose data must be known at compile time (shapes, axes, pads…).
    const_inputs: ClassVar[tuple[int, ...]] = ()
    # Whether outputs may be computed at compile time when every input is constant.
    foldable: ClassVar[bool] = True
    # ---- facts other layers read (quantizer, pruning, backends) ----------------------------
    # How the op runs on quantized (integer) tensors: "arith" has its own integer reference
    # (``integer_params``/``run_integer``, TFLite Micro semantics); "move" only moves data and
    # keeps the input's quantization; "index" reads integer tensors as they are and outputs
    # an unquantized index (ArgMax: a positive scale keeps the order of the values); None
    # means float only.
    integer: ClassVar[str | None] = None
    # Input 1 (and 2, the bias) hold weights: int8 per output channel when quantized.
    weighted: ClassVar[bool] = False
    # Output quantization fixed by TFLite's kernels, per output dtype: (scale, zero point).
    fixed_output: ClassVar[dict[str, tuple[float, int]]] = {}
    # The integer kernel requires the output quantized like the input.
    keeps_input_quant: ClassVar[bool] = False
    # There is a 16x8 (int16 activations) kernel besides the int8 one.
    int16: ClassVar[bool] = True
    # Output channel c is a function of input channel c only (axis 1 is kept).
    channelwise: ClassVar[bool] = False
    # Constant inputs the integer kernel takes in a form of its own (``integer_operands``),
    # neither weights nor activations (LayerNormalization's scale and bias).
    operand_inputs: ClassVar[tuple[int, ...]] = ()

    # ---- attributes -----------------------------------------------------------------------
    def attr(self, node: Node, name: str) -> Any:
        """The attribute's value, or its declared default."""
        if name in node.attrs:
            return node.attrs[name]
        default = self.attributes[name].default
        if default is REQUIRED:
            raise node_error(ModelError, node, f"missing required attribute {name!r}")
        return default

    def check(self, node: Node) -> None:
        """Validate arity and attributes; raise a typed error naming the node."""
        lo, hi = self.num_inputs
        present = len(node.inputs)
        if not lo <= present <= hi:
            raise node_error(ModelError, node, f"expects {lo}..{hi} inputs, got {present}")
        for i in range(lo):
            if node.inputs[i] is None:
                raise node_error(ModelError, node, f"required input {i} is missing")
        lo, hi = self.num_outputs
        if not lo <= len(node.outputs) <= hi:
            raise node_error(
                ModelError, node, f"expects {lo}..{hi} outputs, got {len(node.outputs)}"
            )
        for name, value in node.attrs.items():
            spec = self.attributes.get(name)
            if spec is None:
                raise node_error(ModelError, node, f"unknown attribute {name!r}")
            if not _KIND_CHECKS[spec.kind](value):
                raise node_error(
                    ModelError, node, f"attribute {name!r} must be {spec.kind}, got {value!r}"
                )
            if spec.choices is not None and value not in spec.choices:
                raise node_error(
                    ModelError, node, f"attribute {name!r}={value!r} not one of {spec.choices}"
                )
        for name, spec in self.attributes.items():
            if spec.default is REQUIRED and name not in node.attrs:
                raise node_error(ModelError, node, f"missing required attribute {name!r}")

    # ---- semantics ------------------------------------------------------------------------
    def infer(self, node: Node, ins: list[TensorInfo | None]) -> list[tuple[np.dtype, Shape]]:
        """Output dtypes and shapes. Default: one output like the first input."""
        return [(ins[0].dtype, ins[0].shape)]

    def run(self, node: Node, inputs: list[np.ndarray | None]) -> list[np.ndarray]:
        raise NotImplementedError

    def propagate(self, node: Node, ins: list[TensorInfo | None]) -> list[np.ndarray] | None:
        """Output data computable at compile time (used by shape inference), else None."""
        if not self.foldable:
            return None
        if any(i is not None and i.data is None for i in ins):
            return None
        return self.run(node, [i.data if i is not None else None for i in ins])

    def macs(self, node: Node) -> int:
        """Multiply-accumulates of one execution (0 for ops without products)."""
        return 0

    def is_weighted(self, node: Node) -> bool:
        """Whether this node's inputs 1 (and 2) are weights and bias (``weighted``; a
        MatMul only when B is a constant matrix)."""
        return self.weighted

    def internal_tensors(self, node: Node, inputs: list) -> dict[str, np.ndarray]:
        """Float values inside the op that calibration observes besides its outputs (a
        recurrent node's states), by name; most ops have none."""
        return {}

    # ---- integer reference ("arith" ops; the kernels are in edgec/ops/integer/) -----------
    def integer_operands(self, node: Node, dtype: str) -> dict[int, tuple[np.ndarray, QuantParams]]:
        """The ``operand_inputs`` quantized for the integer kernel (input and output
        quantization already set): input index -> (integer data, its QuantParams)."""
        return {}

    def integer_params(self, node: Node) -> Any:
        """The integer kernel's parameters, derived once from the node's quantization."""
        raise NotImplementedError(f"{self.op_type} has no integer reference")

    def run_integer(self, node: Node, inputs: list, params: Any, rounding: str) -> np.ndarray:
        """The integer kernel on integer inputs (``rounding``: tflm, float or litert)."""
        raise NotImplementedError(f"{self.op_type} has no integer reference")

    def float_rounding_params(self, node: Node) -> Any:
        """Parameters of the op's onnxruntime kernel where rounding "float" runs another
        algorithm than TFLM's (a lookup table, QLinearSoftmax), else None (the same
        ``integer_params``, whose ``run_integer`` follows the rounding)."""
        return None

    def integer_limits(self, node: Node) -> str | None:
        """Why this node's float form has no integer kernel (an "arith" op whose kernel needs
        a constant operand, say), or None; the quantizer then keeps the node float."""
        return None

    # ---- helpers for subclasses -----------------------------------------------------------
    @staticmethod
    def const_data(node: Node, ins: list[TensorInfo | None], index: int) -> np.ndarray | None:
        """Data of input ``index`` (``None`` when omitted); a ShapeError if not constant."""
        info = ins[index] if index < len(ins) else None
        if info is None:
            return None
        if info.data is None:
            value = node.input(index)
            name = f" ({show_name(value.name)})" if value is not None else ""
            raise node_error(
                ShapeError,
                node,
                f"input {index}{name} must be a compile-time constant: computed at run time "
                "it would make the output shape data-dependent",
            )
        return info.data


REGISTRY: dict[str, Op] = {}


def register(cls: type[Op]) -> type[Op]:
    """Class decorator: add one instance of ``cls`` to the registry."""
    if cls.op_type in REGISTRY:
        raise RuntimeError(f"op {cls.op_type} registered twice")
    has_reference = (
        cls.run_integer is not Op.run_integer and cls.integer_params is not Op.integer_params
    )
    if (cls.integer == "arith") != has_reference:
        # the quantizer trusts ``integer``: an op without its reference would fail late
        raise RuntimeError(f"op {cls.op_type}: integer='arith' if and only if run_integer exists")
    REGISTRY[cls.op_type] = cls()
    return cls


def get_op(op_type: str, domain: str = "") -> Op | None:
    if domain not in ("", "ai.onnx"):
        return None
    return REGISTRY.get(op_type)


def lookup(node: Node) -> Op:
    op = get_op(node.op_type, node.domain)
    if op is None:
        raise UnsupportedOpError({node.op_type: [node.name]})
    return op


def unsupported_ops(
    graph: Graph, also: Callable[[Node], bool] | None = None
) -> dict[str, list[str]]:
    """Op type → node names of every node without a registry entry (or failing ``also``)."""
    found: dict[str, list[str]] = {}
    for node in graph.nodes:
        missing = get_op(node.op_type, node.domain) is None
        if missing or (also is not None and not also(node)):
            key = node.op_type if not node.domain else f"{node.domain}.{node.op_type}"
            found.setdefault(key, []).append(node.name)
    return found


def require_supported(graph: Graph, what: str = "the reference executor") -> None:
    """Raise one ``UnsupportedOpError`` listing every unsupported op type and node."""
    found = unsupported_ops(graph)
    if found:
        raise UnsupportedOpError(found, what)


def node_macs(node: Node) -> int | None:
    """Multiply-accumulates of one execution of ``node``; None for an op or a shape edgec
    does not know."""
    op = get_op(node.op_type, node.domain)
    if op is None:
        return None
    values = [v for v in (*node.inputs, *node.outputs) if v is not None]
    if any(v.shape is None for v in values):
        return None
    return int(op.macs(node))


def graph_macs(graph: Graph) -> int:
    """Multiply-accumulates of one inference (nodes of unknown ops count 0)."""
    return sum(node_macs(node) or 0 for node in graph.nodes)


def normalize_axis(node: Node, axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise node_error(ShapeError, node, f"axis {axis} out of range for rank {rank}")
    return axis % rank


def broadcast_shapes(node: Node, shapes: Sequence[Shape]) -> Shape:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise node_error(
            ShapeError, node, f"shapes {', '.join(map(str, shapes))} do not broadcast"
        ) from None
