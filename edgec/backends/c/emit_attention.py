"""Attention blocks, float and integer: MatMul of two activations (batched, broadcast batch
dims), LayerNormalization, Gelu (kernels in attention_f32.c, attention_int.c; the optimized
products in fast_f32_gemm.c and fast_gemm.c).

A MatMul whose B is a constant matrix is a fully connected layer (emit_linear); the others
come here. The integer product has two variants in order, the optimized GEMM (int8, B's zero
point 0, a requantization the fast table can hold) and TFLite's reference loops.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from edgec.backends.c import layout as L
from edgec.backends.c.emit_common import axis_split, call_table, int_sources, suffix
from edgec.backends.c.emit_fast import GEMM_SOURCES, FastRequant, fast_requant
from edgec.backends.c.int_checks import checked, same_dtype
from edgec.backends.c.lowering import Emitter, Lowering
from edgec.backends.c.program import Struct
from edgec.ir.graph import Node, Value
from edgec.ops import get_op
from edgec.ops.integer import integer_params
from edgec.ops.integer.layernorm import folded_terms
from edgec.ops.integer.softmax import exp_table_int8

BATCH_DIMS = 3  # EDGEC_MATMUL_BATCH_DIMS
FAST_MAX_K = 16384  # |bias| + the sum of products < 2**30: the GEMM's doubled sums fit int32


def is_batched(node: Node) -> bool:
    """A MatMul that is not a fully connected layer (B is not a constant matrix)."""
    return not get_op("MatMul").is_weighted(node)


def either(test: Callable[[Node], bool], first: Emitter, other: Emitter) -> Emitter:
    """``first`` for the nodes that pass ``test``, else ``other``."""
    return Emitter(
        lambda lw, node: (first if test(node) else other).emit(lw, node),
        lambda node: (first if test(node) else other).check(node),
    )


# ---- batched products: shapes and operands ----------------------------------------------------
def _matrices(node: Node) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, int, int]]:
    """(A's shape, B's shape) as [..., M, K] and [..., K, N] (1-d operands made 2-d), and
    (M, K, N)."""
    a, b = tuple(node.inputs[0].shape), tuple(node.inputs[1].shape)
    a = (1, *a) if len(a) == 1 else a
    b = (*b, 1) if len(b) == 1 else b
    return a, b, (a[-2], a[-1], b[-1])


def batch_fields(node: Node) -> dict | None:
    """The batch loop (at most three dims after merging) and each operand's matrix strides;
    None when the broadcast needs more dims."""
    a, b, (m, k, n) = _matrices(node)
    batch = tuple(np.broadcast_shapes(a[:-2], b[:-2]))
    strides = []
    for shape, size in ((a[:-2], m * k), (b[:-2], k * n)):
        padded = (1,) * (len(batch) - len(shape)) + tuple(shape)
        strides.append(tuple(s * size for s in L.broadcast_strides(padded, batch)))
    loop, strides = L.collapse_dims(batch or (1,), strides if batch else [(0,), (0,)])
    if len(loop) > BATCH_DIMS:
        return None
    pad = BATCH_DIMS - len(loop)
    return {
        "batch": [1] * pad + list(loop),
        "a_stride": [0] * pad + list(strides[0]),
        "b_stride": [0] * pad + list(strides[1]),
        "m": m,
        "k": k,
        "n": n,
    }


def _operand(lw: Lowering, node: Node, value: Value) -> str:
    if value.is_const:
        return lw.weight(value.const, f"constant operand of {node.name}").name
    return lw.read(value, L.LOGICAL)


def call_matmul(lw, node, kernel, struct, fields, outputs, sources) -> None:
    inputs = [_operand(lw, node, v) for v in node.inputs]
    macs = get_op("MatMul").macs(node)
    lw.call(kernel, struct, fields, inputs, outputs, node.name, "MatMul", sources, macs)


def check_matmul(node: Node) -> str | None:
    if all(v.is_const for v in node.inputs):
        return "constant inputs (fold first)"
    if batch_fields(node) is None:
        return f"batch dims that do not merge into {BATCH_DIMS}"
    return None


# ---- float --------------------------------------------------------------------------------------
def emit_matmul(lw: Lowering, node: Node) -> None:
    dst = lw.write(node.outputs[0], L.LOGICAL)
    fields = batch_fields(node)
    call_matmul(
        lw, node, "edgec_matmul_f32", "edgec_matmul_f32_t", fields, [dst], {"attention_f32.c"}
    )


def _normalized(node: Node) -> tuple[int, int]:
    """(rows, size) of a LayerNormalization."""
    shape = node.inputs[0].shape
    axis = get_op("LayerNormalization").normalized_axis(node, len(shape))
    return math.prod(shape[:axis]), math.prod(shape[axis:])


def _flat_operand(node: Node, index: int) -> np.ndarray | None:
    value = node.input(index)
    op = get_op("LayerNormalization")
    return None if value is None else op.operand(node, index, value.const)


def emit_layernorm(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    rows, size = _normalized(node)
    beta = _flat_operand(node, 2)
    fields = {
        "rows": rows,
        "size": size,
        "epsilon": float(get_op("LayerNormalization").attr(node, "epsilon")),
        "gamma": lw.weight(_flat_operand(node, 1).astype(np.float32), f"{node.name} scale"),
        "beta": None if beta is None else lw.weight(beta.astype(np.float32), f"{node.name} bias"),
    }
    src, dst = lw.read(x, L.LOGICAL), lw.write(y, L.LOGICAL)
    lw.call(
        "edgec_layernorm_f32", "edgec_layernorm_f32_t", fields, [src], [dst], node.name,
        node.op_type, {"attention_f32.c"},
    )  # fmt: skip


def check_layernorm(node: Node) -> str | None:
    if any(v is not None and not v.is_const for v in node.inputs[1:]):
        return "scale and bias must be constant"
    if any(out.users for out in node.outputs[1:]):
        return "the Mean and InvStdDev outputs"
    return None


def emit_gelu(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    layout = lw.stored_layout(x)
    src, dst = lw.read(x, layout), lw.write(y, layout)
    approximate = int(get_op("Gelu").attr(node, "approximate") == "tanh")
    fields = {"size": x.size, "approximate": approximate}
    lw.call(
        "edgec_gelu_f32", "edgec_gelu_f32_t", fields, [src], [dst], node.name, node.op_type,
        {"attention_f32.c"},
    )  # fmt: skip


# ---- integer ------------------------------------------------------------------------------------
@dataclass
class IntMatMul:
    """An integer product of two activations with its parameters, for the variants' tests."""

    lw: Lowering
    node: Node

    @cached_property
    def p(self):
        return integer_params(self.node)

    @cached_property
    def fields(self) -> dict:
        return {
            **batch_fields(self.node),
            "a_zero_point": self.p.a_zero_point,
            "b_zero_point": self.p.b_zero_point,
            "output_zero_point": self.p.requant.zero_point,
            "out_mult": int(self.p.requant.multiplier[0]),
            "out_shift": int(self.p.requant.shift[0]),
        }

    @cached_property
    def requant(self) -> FastRequant | None:
        return fast_requant(self.p.requant, self.fields["n"], self.lw.rounding)

    @property
    def fast_fits(self) -> bool:
        """int8, B symmetric, the fast table holds the requantization, room for scratch."""
        return (
            self.lw.optimized
            and suffix(self.node.outputs[0]) == "s8"
            and self.p.b_zero_point == 0
            and self.requant is not None
            and self.fields["k"] <= FAST_MAX_K
            and self.node.name not in self.lw.lean
        )


def _matmul_fast(mm: IntMatMul) -> None:
    lw, node, rq = mm.lw, mm.node, mm.requant
    k, n = mm.fields["k"], mm.fields["n"]
    fields = {
        "mm": Struct(mm.fields),
        "multiplier": int(rq.multiplier[0]),
        "r1": int(rq.shift[0]),
        "twice_zp_plus_1": rq.k,
    }
    outputs = [lw.write(node.outputs[0], L.LOGICAL)]
    k4 = (k + 3) // 4 * 4
    stream_words = n // 2 * (5 + k4 // 2) + n % 2 * (3 + k4 // 4)  # fast_gemm.c's records
    scratch = 4 * stream_words + 4 * k4
    outputs.append(lw.scratch(node, scratch, "the right operand's records, widened rows"))
    call_matmul(
        lw, node, "edgec_matmul_fast_s8", "edgec_matmul_fast_s8_t", fields, outputs,
        GEMM_SOURCES,
    )  # fmt: skip


def _matmul_portable(mm: IntMatMul) -> None:
    node = mm.node
    sfx = suffix(node.outputs[0])
    dst = mm.lw.write(node.outputs[0], L.LOGICAL)
    call_matmul(
        mm.lw, node, f"edgec_matmul_{sfx}", "edgec_matmul_int_t", mm.fields, [dst],
        int_sources("eltwise_int.c"),
    )  # fmt: skip


@dataclass(frozen=True)
class Variant:
    """One kernel of the integer product: ``applies`` tests it, ``emit`` lowers with it."""

    name: str
    applies: Callable[[IntMatMul], bool]
    emit: Callable[[IntMatMul], None]


MATMUL_VARIANTS = (
    Variant("fast GEMM", lambda mm: mm.fast_fits, _matmul_fast),
    Variant("portable", lambda mm: True, _matmul_portable),
)


def emit_int_matmul(lw: Lowering, node: Node) -> None:
    mm = IntMatMul(lw, node)
    next(v for v in MATMUL_VARIANTS if v.applies(mm)).emit(mm)


def check_int_matmul(node: Node) -> str | None:
    b, y = node.inputs[1], node.outputs[0]
    if b.dtype != y.dtype or b.quant is None or b.quant.axis is not None:
        return "both inputs quantized per tensor with the output's type"
    return check_matmul(node) or same_dtype(node)


def emit_int_layernorm(lw: Lowering, node: Node) -> None:
    p = integer_params(node)
    rows, size = _normalized(node)
    beta = None if node.input(2) is None else _flat_operand(node, 2)
    gamma, bias, total = folded_terms(_flat_operand(node, 1), beta, p)
    fields = {
        "rows": rows,
        "size": size,
        "input_zero_point": p.input_zero_point,
        "output_zero_point": p.output_zero_point,
        "epsilon_term": p.epsilon_term,
        "fraction_bits": p.fraction_bits,
        "out_total": total,
        "gamma": lw.weight(gamma, f"{node.name} scale times the output multiplier"),
        "bias": lw.weight(bias, f"{node.name} bias times the output multiplier, rounding"),
    }
    x, y = node.inputs[0], node.outputs[0]
    src, dst = lw.read(x, L.LOGICAL), lw.write(y, L.LOGICAL)
    lw.call(
        f"edgec_layernorm_{suffix(y)}", "edgec_layernorm_int_t", fields, [src], [dst], node.name,
        node.op_type, int_sources("attention_int.c"),
    )  # fmt: skip


def check_int_layernorm(node: Node) -> str | None:
    gamma = node.inputs[1]
    if gamma.dtype not in (np.int8, np.int16):
        return f"{gamma.dtype} scale (int16 or int8)"
    return check_layernorm(node) or same_dtype(node)


def emit_int_gelu(lw: Lowering, node: Node) -> None:
    call_table(lw, node, integer_params(node).table, f"{node.name} table")


def emit_softmax_table(lw: Lowering, node: Node) -> bool:
    """int8-input Softmax in an optimized build: exp of the 256 differences tabulated
    (fast_softmax.c); False (the portable kernel) otherwise."""
    x, y = node.inputs[0], node.outputs[0]
    if not lw.optimized or suffix(x) != "s8":
        return False
    p = integer_params(node)
    axis = get_op("Softmax").attr(node, "axis")
    layout, src, outer, size, inner = axis_split(lw, x, axis)
    dst = lw.write(y, layout)
    fields = {
        "outer": outer,
        "axis_size": size,
        "inner": inner,
        "diff_min": p.diff_min,
        "exp_table": lw.weight(exp_table_int8(p), f"{node.name} exp of the differences"),
    }
    kernel = "edgec_softmax_table_s8" + ("" if suffix(y) == "s8" else "_s16")
    lw.call(
        kernel, "edgec_softmax_table_s8_t", fields, [src], [dst], node.name, node.op_type,
        int_sources("fast_softmax.c"),
    )  # fmt: skip
    return True


def check_int8(node: Node) -> str | None:
    return None if node.outputs[0].dtype == np.int8 else "int8 only"


FLOAT_MATMUL = Emitter(emit_matmul, check_matmul)
INT_MATMUL = Emitter(emit_int_matmul, checked(check_int_matmul))
FLOAT_EMITTERS = {
    "LayerNormalization": Emitter(emit_layernorm, check_layernorm),
    "Gelu": Emitter(emit_gelu),
}
INT_EMITTERS = {
    "LayerNormalization": Emitter(emit_int_layernorm, checked(check_int_layernorm)),
    "Gelu": Emitter(emit_int_gelu, checked(check_int8)),
}
