"""Elementwise math beyond the binary and unary tables: Max / Min / Sum / Mean of any number
of inputs, Where with a constant condition and Cast (float), and the integer forms of
edgec/ops/integer/unary.py (tables, Abs, Max / Min, Sum / Mean, Where).

Several inputs run as a chain of two-operand calls into the output buffer (the kernels work
in place): ``out = in0 op in1``, then ``out = out op in_k``; Mean divides last. The integer
Sum / Mean is one call over all inputs (its rescaling is not a chain of Adds).
"""

from __future__ import annotations

import math

import numpy as np

from edgec.backends.c import layout as L
from edgec.backends.c.emit_common import (
    activation_bounds,
    broadcast_operands,
    c_enum,
    call_elementwise,
    call_table,
    int_sources,
    suffix,
)
from edgec.backends.c.emit_eltwise import BINARY_OPS, emit_binary
from edgec.backends.c.int_checks import checked, same_dtype
from edgec.backends.c.lowering import Emitter, Lowering
from edgec.backends.c.program import Ref, Struct
from edgec.ir.graph import Node, Value
from edgec.ops.integer import integer_params

VARIADIC = ("Max", "Min", "Sum", "Mean")
CAST_TYPES = {
    np.dtype(t): c_enum(f"Type{name}")
    for t, name in (
        (np.float32, "F32"),
        (np.int8, "S8"),
        (np.uint8, "U8"),
        (np.int16, "S16"),
        (np.int32, "S32"),
        (np.int64, "S64"),
    )
}
TABLE_OPS = ("Neg", "Exp", "Log", "Sqrt", "Reciprocal", "Pow", "Erf", "Elu", "HardSigmoid")
MATH = {"math_f32.c"}


def _contiguous(loop: list[int]) -> list[int]:
    return list(L.contiguous_strides(tuple(loop)))


def _operands(lw: Lowering, node: Node, inputs: list[Value]):
    """(layout, [(ref, strides)] per input, loop dims, output buffer)."""
    out = node.outputs[0]
    layout, refs, loop, strides = broadcast_operands(lw, node, inputs, out)
    return layout, [(r, list(s)) for r, s in zip(refs, strides)], loop, lw.write(out, layout)


# ---- float -------------------------------------------------------------------------------------
def emit_variadic(lw: Lowering, node: Node) -> None:
    x, out = node.inputs[0], node.outputs[0]
    if len(node.inputs) == 2 and node.op_type != "Mean":
        emit_binary(lw, node)
        return
    if len(node.inputs) == 1 and x.shape == out.shape:
        layout = lw.stored_layout(x)
        lw.alias(out, lw.read(x, layout), layout)
        return
    inputs = list(node.inputs)
    if node.op_type == "Mean":
        inputs.append(Value("count", np.dtype(np.float32), (), const=np.float32(len(inputs))))
    _, operands, loop, dst = _operands(lw, node, inputs)
    acc = (dst, _contiguous(loop))
    op = BINARY_OPS["Add" if node.op_type in ("Sum", "Mean") else node.op_type]
    pairs = [(operands[0], operands[1] if len(operands) > 1 else operands[0])]
    pairs += [(acc, operand) for operand in operands[2:]]
    lo, hi = activation_bounds(node)
    for index, (a, b) in enumerate(pairs):
        last = index == len(pairs) - 1
        divide = last and node.op_type == "Mean"
        fields = {
            "op": BINARY_OPS["Div"] if divide else op,
            "dims": loop,
            "a_stride": a[1],
            "b_stride": b[1],
            "act_min": lo if last else -math.inf,
            "act_max": hi if last else math.inf,
        }
        lw.call(
            "edgec_binary_f32",
            "edgec_binary_f32_t",
            fields,
            [a[0], b[0]],
            [dst],
            node.name,
            node.op_type,
            {"eltwise_f32.c"},
        )


def check_variadic(node: Node) -> str | None:
    if all(v.is_const for v in node.inputs):
        return "constant inputs (fold first)"
    return None


def _condition(node: Node) -> Value:
    """The constant condition as a uint8 operand (C has no bool arrays here)."""
    c = node.inputs[0]
    return Value(f"{c.name}_u8", np.dtype(np.uint8), c.shape, const=c.const.astype(np.uint8))


def emit_where(lw: Lowering, node: Node) -> None:
    _, (c, a, b), loop, dst = _operands(lw, node, [_condition(node), *node.inputs[1:]])
    fields = {
        "elem_size": node.outputs[0].dtype.itemsize,
        "dims": loop,
        "c_stride": c[1],
        "a_stride": a[1],
        "b_stride": b[1],
        "condition": Ref(c[0]),
    }
    lw.call("edgec_where", "edgec_where_t", fields, [a[0], b[0]], [dst], node.name, "Where", MATH)


def check_where(node: Node) -> str | None:
    if not node.inputs[0].is_const:
        return "the condition must be constant"
    if all(v.is_const for v in node.inputs):
        return "constant inputs (fold first)"
    return None


def emit_cast(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    layout = lw.stored_layout(x)
    src, dst = lw.read(x, layout), lw.write(y, layout)
    fields = {"size": x.size, "from": CAST_TYPES[x.dtype], "to": CAST_TYPES[y.dtype]}
    lw.call("edgec_cast", "edgec_cast_t", fields, [src], [dst], node.name, node.op_type, MATH)


def check_cast(node: Node) -> str | None:
    x, y = node.inputs[0], node.outputs[0]
    for v in (x, y):
        if np.dtype(v.dtype) not in CAST_TYPES:
            return f"{v.dtype} data"
    if x.quant is not None or y.quant is not None:
        return "a quantized tensor (Cast converts raw values)"
    return None


# ---- integer -----------------------------------------------------------------------------------
def _requant(rq) -> Struct:
    if rq is None:
        return Struct({"requantize": 0, "input_zero_point": 0, "mult": 0, "shift": 0})
    return Struct(
        {
            "requantize": 1,
            "input_zero_point": rq.input_zero_point,
            "mult": rq.multiplier,
            "shift": rq.shift,
        }
    )


def emit_lut(lw: Lowering, node: Node) -> None:
    call_table(lw, node, integer_params(node), f"{node.op_type} table of {node.name}")


def emit_int_abs(lw: Lowering, node: Node) -> None:
    p = integer_params(node)
    fields = {
        "requantize": int(p.rescale),
        "input_zero_point": p.input_zero_point,
        "output_zero_point": p.output_zero_point,
        "mult": p.multiplier,
        "shift": p.shift,
    }
    kernel = f"edgec_abs_{suffix(node.outputs[0])}"
    call_elementwise(lw, node, kernel, "edgec_abs_int_t", fields, "math_int.c")


def emit_int_minmax(lw: Lowering, node: Node) -> None:
    out = node.outputs[0]
    _, operands, loop, dst = _operands(lw, node, list(node.inputs))
    tagged = list(zip(operands, integer_params(node)))  # (operand, its requantization)
    tagged = tagged * 2 if len(tagged) == 1 else tagged
    accumulated = ((dst, _contiguous(loop)), None)
    pairs = [(tagged[0], tagged[1])] + [(accumulated, t) for t in tagged[2:]]
    for (a, rq_a), (b, rq_b) in pairs:
        fields = {
            "is_min": int(node.op_type == "Min"),
            "dims": loop,
            "a_stride": a[1],
            "b_stride": b[1],
            "output_zero_point": int(out.quant.zero_point),
            "a": _requant(rq_a),
            "b": _requant(rq_b),
        }
        lw.call(
            f"edgec_minmax_{suffix(out)}",
            "edgec_minmax_int_t",
            fields,
            [a[0], b[0]],
            [dst],
            node.name,
            node.op_type,
            int_sources("math_int.c"),
        )


def emit_int_add_n(lw: Lowering, node: Node) -> None:
    p = integer_params(node)
    out = node.outputs[0]
    _, operands, loop, dst = _operands(lw, node, list(node.inputs))

    def table(values, what):
        return lw.weight(np.array(values, np.int32).reshape(-1), f"{what} of {node.name}")

    fields = {
        "n_inputs": len(operands),
        "dims": loop,
        "strides": table([s for _, s in operands], "input strides"),
        "input_zero_point": table(p.zero_points, "input zero points"),
        "mult": table(p.multipliers, "input multipliers"),
        "shift": table(p.shifts, "input shifts"),
        "left_shift": p.left_shift,
        "output_zero_point": p.output_zero_point,
        "out_mult": p.output_multiplier,
        "out_shift": p.output_shift,
    }
    lw.call(
        f"edgec_add_n_{suffix(out)}",
        "edgec_add_n_int_t",
        fields,
        [r for r, _ in operands],
        [dst],
        node.name,
        node.op_type,
        int_sources("math_int.c"),
        variadic=True,
    )


def emit_int_where(lw: Lowering, node: Node) -> None:
    out = node.outputs[0]
    if out.quant is None:  # unquantized integers: the byte selection
        emit_where(lw, node)
        return
    requants = integer_params(node)
    _, (c, a, b), loop, dst = _operands(lw, node, [_condition(node), *node.inputs[1:]])
    fields = {
        "dims": loop,
        "c_stride": c[1],
        "a_stride": a[1],
        "b_stride": b[1],
        "condition": Ref(c[0]),
        "output_zero_point": int(out.quant.zero_point),
        "a": _requant(requants[0]),
        "b": _requant(requants[1]),
    }
    lw.call(
        f"edgec_where_{suffix(out)}",
        "edgec_where_int_t",
        fields,
        [a[0], b[0]],
        [dst],
        node.name,
        "Where",
        int_sources("math_int.c"),
    )


def check_int_where(node: Node) -> str | None:
    if node.outputs[0].quant is None:
        return check_where(node)
    return checked(check_where)(node)


def check_same_shape_types(node: Node) -> str | None:
    if any(v.dtype != node.outputs[0].dtype for v in node.inputs if not v.is_const):
        return "inputs of the output's type"
    return None


_cast = Emitter(emit_cast, check_cast)
FLOAT_EMITTERS = {
    **{op: Emitter(emit_variadic, check_variadic) for op in VARIADIC},
    "Where": Emitter(emit_where, check_where),
    "Cast": _cast,
}
INT_EMITTERS = {
    **{op: Emitter(emit_lut, checked(same_dtype)) for op in TABLE_OPS},
    "Abs": Emitter(emit_int_abs, checked(same_dtype)),
    "Max": Emitter(emit_int_minmax, checked(check_same_shape_types)),
    "Min": Emitter(emit_int_minmax, checked(check_same_shape_types)),
    "Sum": Emitter(emit_int_add_n, checked(check_same_shape_types)),
    "Mean": Emitter(emit_int_add_n, checked(check_same_shape_types)),
    "Where": Emitter(emit_int_where, check_int_where),
    "Cast": _cast,  # to an integer type
}
