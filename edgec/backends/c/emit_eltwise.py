"""Elementwise ops, float and integer: binary arithmetic with broadcasting, activations,
and the float↔integer boundary (QuantizeLinear, DequantizeLinear, integer requantization).

The float kernels take the operation as a field: an enum value of ``edgec_kernels.h``,
emitted by name (``BINARY_OPS``, ``UNARY_OPS``), so a table entry without its C case does
not compile.
"""

from __future__ import annotations

import re

import numpy as np

from edgec.backends.c.emit_common import (
    INF,
    activation_bounds,
    broadcast_operands,
    call_elementwise,
    call_table,
    int_sources,
    suffix,
)
from edgec.backends.c.emit_fast import emit_add_fast
from edgec.backends.c.int_checks import (
    check_binary as check_int_binary,
)
from edgec.backends.c.int_checks import (
    check_clip,
    check_int8_only,
    check_requantize,
    checked,
    same_dtype,
)
from edgec.backends.c.lowering import Emitter, Lowering
from edgec.backends.c.program import Symbol
from edgec.backends.c.rounding import float_bits, rescale_operands
from edgec.ir.graph import Node
from edgec.ops import get_op
from edgec.ops.integer import integer_params, run_integer
from edgec.ops.integer.common import check_rounding
from edgec.ops.integer.elementwise import add_float_terms, add_xnnpack_terms, mul_float_scale
from edgec.ops.integer.tables import SIGMOID_TABLE_UINT16


def _enum(op_type: str) -> Symbol:
    """``LeakyRelu`` → ``EDGEC_LEAKY_RELU``."""
    return Symbol("EDGEC_" + re.sub(r"(?<=[a-z])(?=[A-Z])", "_", op_type).upper())


BINARY_OPS = {op: _enum(op) for op in ("Add", "Sub", "Mul", "Div", "Max", "Min", "PRelu")}
BINARY_OPS["Sum"] = BINARY_OPS["Add"]  # of two inputs
UNARY_OPS = {
    op: _enum(op)
    for op in (
        "Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Elu",
        "Selu", "Softplus", "Softsign", "Neg", "Abs", "Exp", "Log", "Sqrt", "Erf", "Reciprocal",
        "Pow",
    )
}  # fmt: skip
VARIADIC = ("Max", "Min", "Sum")  # any number of inputs: emit_math.py's emitter


# ---- float ---------------------------------------------------------------------------------------
def emit_binary(lw: Lowering, node: Node) -> None:
    out = node.outputs[0]
    layout, refs, loop, strides = broadcast_operands(lw, node, node.inputs, out)
    dst = lw.write(out, layout)
    lo, hi = activation_bounds(node)
    fields = {
        "op": BINARY_OPS[node.op_type],
        "dims": loop,
        "a_stride": list(strides[0]),
        "b_stride": list(strides[1]),
        "act_min": lo,
        "act_max": hi,
    }
    lw.call(
        "edgec_binary_f32",
        "edgec_binary_f32_t",
        fields,
        refs,
        [dst],
        node.name,
        node.op_type,
        {"eltwise_f32.c"},
    )


def check_binary(node: Node) -> str | None:
    if len(node.inputs) != 2:
        return "exactly two inputs"
    if all(v.is_const for v in node.inputs):
        return "constant inputs (fold first)"
    return None


def emit_unary(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    layout = lw.stored_layout(x)
    src, dst = lw.read(x, layout), lw.write(y, layout)
    params = {"alpha": 0.0, "beta": 0.0, "min": -INF, "max": INF}
    if node.op_type == "Clip":
        lo, hi = get_op("Clip").bounds(
            node, [None, *(v.const if v is not None else None for v in node.inputs[1:])]
        )
        params.update(min=-INF if lo is None else lo, max=INF if hi is None else hi)
    elif node.op_type == "Pow":
        params["alpha"] = float(node.inputs[1].const.reshape(-1)[0])
    elif node.op_type in ("LeakyRelu", "Elu", "HardSigmoid", "Selu"):
        op = get_op(node.op_type)
        for key, attr in (("alpha", "alpha"), ("beta", "beta"), ("beta", "gamma")):
            if attr in op.attributes:
                params[key] = float(op.attr(node, attr))
    fields = {"op": UNARY_OPS[node.op_type], "size": x.size, **params}
    lw.call(
        "edgec_unary_f32",
        "edgec_unary_f32_t",
        fields,
        [src],
        [dst],
        node.name,
        node.op_type,
        {"eltwise_f32.c"},
    )


def check_unary(node: Node) -> str | None:
    if node.op_type == "Clip" and any(v is not None and not v.is_const for v in node.inputs[1:]):
        return "bounds must be constant"
    if node.op_type == "Pow":
        b = node.inputs[1]
        if not b.is_const or b.const.size != 1 or node.inputs[0].shape != node.outputs[0].shape:
            return "the exponent must be a constant scalar"
    return None


# ---- float ↔ integer boundary --------------------------------------------------------------------
QUANT_SUFFIX = {np.dtype(np.int8): "s8", np.dtype(np.int16): "s16", np.dtype(np.uint8): "u8"}


def _scalar_params(node: Node) -> tuple[float, int]:
    scale = node.inputs[1].const.reshape(-1)[0]
    zp = node.input(2).const.reshape(-1)[0] if node.input(2) is not None else 0
    return float(scale), int(zp)


def emit_quantize(lw: Lowering, node: Node) -> None:
    dtype = QUANT_SUFFIX[np.dtype(node.outputs[0].dtype)]
    _emit_quant_conversion(lw, node, f"edgec_quantize_f32_{dtype}")


def emit_dequantize(lw: Lowering, node: Node) -> None:
    dtype = QUANT_SUFFIX[np.dtype(node.inputs[0].dtype)]
    _emit_quant_conversion(lw, node, f"edgec_dequantize_{dtype}_f32")


def _emit_quant_conversion(lw: Lowering, node: Node, kernel: str) -> None:
    """float ↔ integer with a per-tensor scale and zero point (same layout both sides)."""
    x, y = node.inputs[0], node.outputs[0]
    layout = lw.stored_layout(x)
    src, dst = lw.read(x, layout), lw.write(y, layout)
    scale, zp = _scalar_params(node)
    lw.call(
        kernel,
        "edgec_quantize_t",
        {"size": x.size, "scale": scale, "zero_point": zp},
        [src],
        [dst],
        node.name,
        node.op_type,
        {"quant_f32.c"},
    )


def check_qdq(node: Node) -> str | None:
    if node.inputs[1].const is None or node.inputs[1].const.size != 1:
        return "only per-tensor parameters on activations"
    int_side = node.outputs[0] if node.op_type == "QuantizeLinear" else node.inputs[0]
    if np.dtype(int_side.dtype) not in QUANT_SUFFIX:
        return f"{int_side.dtype} data"
    return None


# ---- integer -------------------------------------------------------------------------------------
def emit_int_binary(lw: Lowering, node: Node) -> None:
    out = node.outputs[0]
    p = integer_params(node)
    layout, refs, loop, strides = broadcast_operands(lw, node, node.inputs, out)
    dst = lw.write(out, layout)
    fields = {
        "dims": loop,
        "a_stride": list(strides[0]),
        "b_stride": list(strides[1]),
        "a_zero_point": p.input1_zero_point,
        "b_zero_point": p.input2_zero_point,
        "output_zero_point": p.output_zero_point,
        "act_min": p.act_min,
        "act_max": p.act_max,
    }
    if node.op_type == "Add" and emit_add_fast(lw, node, p, refs, dst, loop, strides):
        return
    mode = check_rounding(lw.rounding, out.dtype)
    if node.op_type == "Add" and mode == "float":
        ratio_a, ratio_b, fixed = add_float_terms(p)
        fields.update(a_scale=ratio_a, b_scale=ratio_b, offset=fixed)
    elif node.op_type == "Add" and mode == "litert":
        m_a, m_b, shift, bias = add_xnnpack_terms(p)
        fields.update(a_mult=m_a, b_mult=m_b, out_mult=bias, out_shift=shift)
    elif node.op_type == "Add":
        fields.update(
            left_shift=p.left_shift,
            a_mult=p.input1_multiplier,
            a_shift=p.input1_shift,
            b_mult=p.input2_multiplier,
            b_shift=p.input2_shift,
            out_mult=p.output_multiplier,
            out_shift=p.output_shift,
        )
    elif mode != "tflm":
        fields.update(out_mult=int(float_bits(mul_float_scale(p))), out_shift=0)
    else:
        fields.update(out_mult=p.multiplier, out_shift=p.shift)
    op = node.op_type.lower()
    lw.call(
        f"edgec_{op}_{suffix(out)}",
        f"edgec_{op}_int_t",
        fields,
        refs,
        [dst],
        node.name,
        node.op_type,
        int_sources("eltwise_int.c"),
    )


def int8_table(lw: Lowering, node: Node) -> bool:
    """In an optimized build, an int8 → int8 function of one input as the 256 outputs of its
    integer reference (edgec_lut_s8: one load per element instead of the fixed-point
    evaluation; bit-exact by construction). False where it does not apply."""
    x, y = node.inputs[0], node.outputs[0]
    if not (lw.optimized and x.dtype == np.int8 and y.dtype == np.int8):
        return False
    every = np.arange(-128, 128, dtype=np.int8)
    (table,) = run_integer(node, [every], integer_params(node, lw.rounding), lw.rounding)
    call_table(lw, node, table, f"{node.name} table of its 256 outputs")
    return True


def emit_sigmoid_like(lw: Lowering, node: Node) -> None:
    if int8_table(lw, node):
        return
    p = integer_params(node)
    sfx = suffix(node.outputs[0])
    table = None
    if sfx == "s16":
        table = lw.weight(SIGMOID_TABLE_UINT16.astype(np.uint16), "TFLite sigmoid table")
    fields = {
        "input_zero_point": p.input_zero_point,
        "input_mult": p.input_multiplier,
        "input_left_shift": p.input_left_shift,
        "input_range_radius": p.input_range_radius,
        "table": table,
    }
    name = "logistic" if node.op_type == "Sigmoid" else "tanh"
    call_elementwise(
        lw, node, f"edgec_{name}_{sfx}", "edgec_sigmoid_int_t", fields, "sigmoid_int.c"
    )


def emit_hard_swish(lw: Lowering, node: Node) -> None:
    if int8_table(lw, node):
        return
    p = integer_params(node)
    fields = {
        "input_zero_point": p.input_zero_point,
        "output_zero_point": p.output_zero_point,
        "output_mult": p.output_multiplier,
        "output_exponent": p.output_exponent,
        "reluish_mult": p.reluish_multiplier,
        "reluish_exponent": p.reluish_exponent,
    }
    call_elementwise(
        lw, node, "edgec_hard_swish_s8", "edgec_hard_swish_s8_t", fields, "eltwise_int.c"
    )


def emit_leaky_relu(lw: Lowering, node: Node) -> None:
    if int8_table(lw, node):
        return
    p = integer_params(node)
    fields = {
        "input_zero_point": p.input_zero_point,
        "output_zero_point": p.output_zero_point,
        "identity_mult": p.identity_multiplier,
        "identity_shift": p.identity_shift,
        "alpha_mult": p.alpha_multiplier,
        "alpha_shift": p.alpha_shift,
    }
    sfx = suffix(node.outputs[0])
    call_elementwise(
        lw, node, f"edgec_leaky_relu_{sfx}", "edgec_leaky_relu_int_t", fields, "eltwise_int.c"
    )


def emit_clamp(lw: Lowering, node: Node) -> None:
    rescale, (lo, hi) = integer_params(node)
    mult, shift = rescale_operands(rescale, lw.rounding) if rescale else (0, 0)
    fields = {
        "requantize": int(rescale is not None),
        "input_zero_point": rescale.input_zero_point if rescale else 0,
        "output_zero_point": rescale.output_zero_point if rescale else 0,
        "mult": mult,
        "shift": shift,
        "act_min": lo,
        "act_max": hi,
    }
    sfx = suffix(node.outputs[0])
    call_elementwise(lw, node, f"edgec_clamp_{sfx}", "edgec_clamp_int_t", fields, "eltwise_int.c")


def emit_requantize(lw: Lowering, node: Node) -> None:
    """An integer → integer QuantizeLinear (TFLite QUANTIZE between integer tensors)."""
    p = integer_params(node)
    x, y = node.inputs[0], node.outputs[0]
    mult, shift = rescale_operands(p, lw.rounding)
    fields = {
        "input_zero_point": p.input_zero_point,
        "output_zero_point": p.output_zero_point,
        "mult": mult,
        "shift": shift,
    }
    kernel = f"edgec_requantize_{suffix(x)}_{suffix(y)}"
    call_elementwise(lw, node, kernel, "edgec_requantize_int_t", fields, "eltwise_int.c")


def emit_lookup_table(lw: Lowering, node: Node) -> None:
    """An int8 elementwise op as onnxruntime's table of its float function (rounding float)."""
    table = integer_params(node, lw.rounding).table
    call_table(lw, node, table, f"{node.name} lookup table (onnxruntime's)")


def check_lookup_table(node: Node) -> str | None:
    x, y = node.inputs[0], node.outputs[0]
    if not np.dtype(x.dtype) == np.dtype(y.dtype) == np.dtype(np.int8):
        return "int8 only"
    if x.quant is None or y.quant is None or x.quant.axis is not None:
        return "activations must be quantized per tensor"
    return None


_binary, _unary_f = Emitter(emit_binary, check_binary), Emitter(emit_unary, check_unary)
FLOAT_EMITTERS = {
    **{op: _binary for op in BINARY_OPS if op not in VARIADIC},
    **{op: _unary_f for op in UNARY_OPS},
}
BOUNDARY_EMITTERS = {
    "QuantizeLinear": Emitter(emit_quantize, check_qdq),
    "DequantizeLinear": Emitter(emit_dequantize, check_qdq),
}
_int_binary = Emitter(emit_int_binary, checked(check_int_binary))
_sigmoid = Emitter(emit_sigmoid_like, checked(same_dtype))
_clamp = Emitter(emit_clamp, checked(check_clip))
INT_EMITTERS = {
    "Add": _int_binary,
    "Mul": _int_binary,
    "Sigmoid": _sigmoid,
    "Tanh": _sigmoid,
    "HardSwish": Emitter(emit_hard_swish, checked(check_int8_only)),
    "LeakyRelu": Emitter(emit_leaky_relu, checked(same_dtype)),
    "Relu": _clamp,
    "Clip": _clamp,
    # Reached only for an integer input (the float → int QuantizeLinear is a boundary kernel).
    "QuantizeLinear": Emitter(emit_requantize, checked(check_requantize)),
}
# rounding "float": the int8 ops onnxruntime runs as a table of their float function
_table = Emitter(emit_lookup_table, check_lookup_table)
FLOAT_ROUNDING_EMITTERS = {op: _table for op in ("Sigmoid", "Tanh", "HardSwish", "LeakyRelu")}
