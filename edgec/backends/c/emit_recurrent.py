"""LSTM and GRU: one kernel call per node runs the whole sequence (recurrent_f32.c,
recurrent_int.c). The gate products are matrix-vector products per step and batch entry; in
optimized builds they run on the fast matrix kernels (fast_f32_gemm.c, fast_matrix.c) over
weights packed at compile time, chosen through the kernels' ``product`` function pointer.

The running state lives in a buffer of its own: scratch, or in a stateful build a buffer
that persists across ``model_run`` calls, which ``model_reset`` sets to the initial state.
"""

from __future__ import annotations

import numpy as np

from edgec.backends.c import layout as L
from edgec.backends.c.emit_common import fast_sources, int_sources, per_channel
from edgec.backends.c.emit_fast import folded_bias
from edgec.backends.c.emit_float_fast import pack_blocks
from edgec.backends.c.lowering import Emitter, Lowering
from edgec.backends.c.program import Struct, Symbol
from edgec.errors import EdgecError
from edgec.ir.graph import Node, Value
from edgec.ops import get_op
from edgec.ops.integer import integer_params
from edgec.ops.integer.fixedpoint import right_shift_requant_params
from edgec.ops.integer.tables import SIGMOID_TABLE_UINT16
from edgec.ops.recurrent import RecurrentShape

FAST_F32_SOURCES = {"fast_f32_gemm.c", "fast_f32_common.h", "edgec_kernels_f32_fast.h"}
MATRIX_SOURCES = fast_sources("fast_matrix.c") | {"mve_common.h"}


def pair_layout(rows: np.ndarray) -> np.ndarray:
    """Weights [n][k] in edgec_matrix_fast_s8's order: per pair of rows, their first
    k4 = k - k % 4 values interleaved in groups of four, then the k % 4 last of each row; an
    odd last row as it is."""
    n, k = rows.shape
    k4, pairs = k - k % 4, n // 2
    pair = rows[: 2 * pairs].reshape(pairs, 2, k)
    groups = pair[:, :, :k4].reshape(pairs, 2, k4 // 4, 4).transpose(0, 2, 1, 3)
    tails = pair[:, :, k4:].reshape(pairs, 2 * (k - k4))
    blocks = np.concatenate([groups.reshape(pairs, 2 * k4), tails], axis=1)
    return np.concatenate([blocks.reshape(-1), rows[2 * pairs :].reshape(-1)])


def used(lw: Lowering, value: Value | None) -> bool:
    """Whether an output is read (by a node or as a graph output)."""
    return value is not None and (bool(value.users) or lw.graph.is_output(value))


def node_outputs(lw: Lowering, node: Node, count: int) -> list[str | None]:
    """Buffers of the node's outputs Y, Y_h (, Y_c): None where an output is absent or unread."""
    names = []
    for index in range(count):
        value = node.outputs[index] if index < len(node.outputs) else None
        names.append(lw.write(value, L.LOGICAL) if used(lw, value) else None)
    return names


def dims_fields(s: RecurrentShape, stateful: bool) -> Struct:
    return Struct(
        {
            "steps": s.steps,
            "batch": s.batch,
            "inputs": s.inputs,
            "hidden": s.hidden,
            "directions": s.directions,
            "layout": s.layout,
            "reverse": int(s.reverse),
            "stateful": int(stateful),
        }
    )


def state_operand(lw: Lowering, node: Node, index: int, dtype=None) -> str | None:
    """An initial state: a constant (flash), an activation (arena) or None (zeros)."""
    value = node.input(index)
    if value is None:
        return None
    if value.is_const:
        data = value.const if dtype is None else value.const.astype(dtype)
        return lw.weight(np.ascontiguousarray(data), f"{node.name} initial state").name
    return lw.read(value, L.LOGICAL)


def state_buffer(lw: Lowering, node: Node, nbytes: int) -> str:
    """The running state: persistent in a stateful build, else scratch."""
    if lw.stateful:
        return lw.persistent(node, nbytes, "recurrent state")
    return lw.scratch(node, nbytes, "recurrent state")


# ---- float ---------------------------------------------------------------------------------------
def gate_matrices(node: Node) -> dict[str, list[tuple[np.ndarray, np.ndarray | None]]]:
    """Per direction, the (rows, bias) of input_fc, recurrent_fc and candidate_fc (see
    edgec_kernels_recurrent.h for which biases go where)."""
    op = get_op(node.op_type)
    s = op.node_shape(node)
    g, h = op.gates, s.hidden
    w, r = node.inputs[1].const.astype(np.float32), node.inputs[2].const.astype(np.float32)
    b = node.input(3)
    bias = np.zeros((s.directions, 2 * g * h), np.float32) if b is None else b.const
    found: dict[str, list] = {"input_fc": [], "recurrent_fc": [], "candidate_fc": []}
    for d in range(s.directions):
        wb, rb = bias[d, : g * h].astype(np.float32), bias[d, g * h :].astype(np.float32)
        if node.op_type == "LSTM":
            found["input_fc"].append((w[d], wb + rb))
            found["recurrent_fc"].append((r[d], None))
            continue
        if op.attr(node, "linear_before_reset"):
            outside = np.concatenate([rb[: 2 * h], np.zeros(h, np.float32)])
            found["input_fc"].append((w[d], wb + outside))
            found["recurrent_fc"].append((r[d], np.concatenate([np.zeros(2 * h), rb[2 * h :]])))
        else:
            found["input_fc"].append((w[d], wb + rb))
            found["recurrent_fc"].append((r[d][: 2 * h], None))
            found["candidate_fc"].append((r[d][2 * h :], None))
    return found


def matrix_fields(lw: Lowering, node: Node, what: str, rows, bias, fast: bool) -> Struct:
    data = pack_blocks(rows) if fast else np.ascontiguousarray(rows, np.float32)
    return Struct(
        {
            "k": rows.shape[1],
            "n": rows.shape[0],
            "weights": lw.weight(data, f"{node.name} {what} weights"),
            "bias": None
            if bias is None
            else lw.weight(np.asarray(bias, np.float32), f"{node.name} {what} bias"),
        }
    )


EMPTY_MATRIX = Struct({"k": 0, "n": 0, "weights": None, "bias": None})


def emit_float(lw: Lowering, node: Node) -> None:
    op = get_op(node.op_type)
    s = op.node_shape(node)
    fast = lw.optimized
    fields = {"dims": dims_fields(s, lw.stateful), "clip": float(op.clip(node) or 0.0)}
    fields["linear_before_reset"] = (
        int(op.attr(node, "linear_before_reset")) if node.op_type == "GRU" else 0
    )
    peephole = node.input(7) if node.op_type == "LSTM" else None
    fields["peephole"] = (
        lw.weight(peephole.const.astype(np.float32), f"{node.name} peepholes")
        if peephole is not None
        else None
    )
    for what, entries in gate_matrices(node).items():
        structs = [matrix_fields(lw, node, what, rows, bias, fast) for rows, bias in entries]
        fields[what] = [*structs, EMPTY_MATRIX, EMPTY_MATRIX][:2]
    fields["product"] = Symbol("edgec_matrix_fast_f32" if fast else "edgec_matrix_f32")
    x = lw.read(node.inputs[0], L.LOGICAL)
    states = [state_operand(lw, node, i, np.float32) for i in op.state_inputs()]
    outputs = node_outputs(lw, node, len(op.state_inputs()) + 1)
    state_floats = len(states) * s.directions * s.batch * s.hidden
    state = state_buffer(lw, node, 4 * state_floats)
    work = lw.scratch(node, 4 * (2 * op.gates * s.hidden + 2 * s.hidden), "gate products")
    kernel = f"edgec_{node.op_type.lower()}_f32"
    sources = {"recurrent_f32.c"} | (FAST_F32_SOURCES if fast else set())
    lw.call(
        kernel, "edgec_rnn_f32_t", fields, [x, *states], [*outputs, state, work], node.name,
        node.op_type, sources, macs=op.macs(node),
    )  # fmt: skip
    if lw.stateful:
        lw.reset(kernel.replace("_f32", "_reset_f32"), states, state)


def check_float(node: Node) -> str | None:
    weights = [node.input(i) for i in (1, 2, 3)]
    if node.op_type == "LSTM":
        weights.append(node.input(7))
    if any(v is not None and not v.is_const for v in weights):
        return "W, R, B and P must be constant"
    return None


# ---- integer -------------------------------------------------------------------------------
def integer_matrices(node: Node, p) -> dict[str, list[tuple[np.ndarray, np.ndarray, int]]]:
    """Per direction, the (rows, bias, input zero point) of input_fc, recurrent_fc and
    candidate_fc: B holds bias_x then bias_h (ops/integer/recurrent.py)."""
    op = get_op(node.op_type)
    s = op.node_shape(node)
    rows = op.gates * s.hidden
    w, r = node.inputs[1].const, node.inputs[2].const
    b = node.input(3)
    bias = np.zeros((s.directions, 2 * rows), np.int64) if b is None else b.const
    zp_x, zp_h = p.input_fc.input_zero_point, p.hidden_zero_point
    split = rows if node.op_type == "LSTM" or p.linear_before_reset else 2 * s.hidden
    found: dict[str, list] = {"input_fc": [], "recurrent_fc": [], "candidate_fc": []}
    for d in range(s.directions):
        bias_x, bias_h = bias[d, :rows], bias[d, rows:]
        found["input_fc"].append((w[d], bias_x, zp_x))
        found["recurrent_fc"].append((r[d][:split], bias_h[:split], zp_h))
        if split < rows:
            found["candidate_fc"].append((r[d][split:], bias_h[split:], zp_h))
    return found


def int_matrix(lw: Lowering, node: Node, what: str, entry, wide: bool, fast: bool) -> Struct:
    rows, bias, zero_point = entry
    rows = np.ascontiguousarray(rows, np.int8)
    fields = {"k": rows.shape[1], "n": rows.shape[0], "input_zero_point": 0}
    name = f"{node.name} {what}"
    if wide:
        fields.update(bias=None, bias64=lw.weight(np.asarray(bias, np.int64), f"{name} bias"))
    else:
        folded = folded_bias(rows, bias, zero_point)
        if folded is None:  # the portable loop takes the offset itself
            fields["input_zero_point"] = int(zero_point)
            folded = np.asarray(bias, np.int32)
        fields.update(bias=lw.weight(folded, f"{name} bias + input offset x weight sums"))
        fields["bias64"] = None
    if fast and rows.shape[1] % 4:  # zero columns: whole groups of four for the fast loops
        rows = np.pad(rows, ((0, 0), (0, -rows.shape[1] % 4)))
        fields["k"] = rows.shape[1]
    data = pair_layout(rows) if fast else rows
    fields["weights"] = lw.weight(data, f"{name} weights")
    return Struct(
        {k: fields[k] for k in ("k", "n", "input_zero_point", "weights", "bias", "bias64")}
    )


def fast_int(node: Node, matrices: dict) -> bool:
    """The fast matrix kernel needs every product's input offset folded into its bias."""
    return all(
        folded_bias(np.asarray(rows, np.int8), bias, zp) is not None
        for entries in matrices.values()
        for rows, bias, zp in entries
    )


EMPTY_INT_MATRIX = Struct(
    {"k": 0, "n": 0, "input_zero_point": 0, "weights": None, "bias": None, "bias64": None}
)


def rescale_fields(rescale) -> Struct:
    """edgec_rescale_t, with edgec_fp_mbqm_right's constants where they apply."""
    fields = {"multiplier": int(rescale.multiplier), "shift": int(rescale.shift)}
    table = right_shift_requant_params(rescale.multiplier, rescale.shift)
    fields["fast"] = int(table is not None)
    fields["round_hi"], fields["shift_hi"] = (0, 0) if table is None else map(int, table[1:])
    return Struct(fields)


def emit_int(lw: Lowering, node: Node) -> None:
    op = get_op(node.op_type)
    s = op.node_shape(node)
    p = integer_params(node)
    wide = p.dtype == np.dtype(np.int16)
    matrices = integer_matrices(node, p)
    fast = lw.optimized and not wide and fast_int(node, matrices)
    h = s.hidden
    rnn = {
        "dims": dims_fields(s, lw.stateful),
        "hidden_zero_point": p.hidden_zero_point,
        "clip": p.clip,
    }
    structs = {}
    for what, entries in matrices.items():
        built = [int_matrix(lw, node, what, e, wide, fast) for e in entries]
        structs[what] = [*built, EMPTY_INT_MATRIX, EMPTY_INT_MATRIX][:2]
    rnn.update(input_fc=structs["input_fc"], recurrent_fc=structs["recurrent_fc"])
    rnn["product"] = None if wide else Symbol("edgec_matrix_fast_s8" if fast else "edgec_matrix_s8")
    for side, fc in (("input", p.input_fc), ("recurrent", p.recurrent_fc)):
        rows = op.gates * h
        mult, shift = per_channel(fc.multiplier, rows), per_channel(fc.shift, rows)
        table = None if wide else right_shift_requant_params(mult, shift)
        if table is not None:  # the faster form, which needs no multipliers and shifts
            what = f"{node.name} {side} requantization"
            rnn.update({f"{side}_mult": None, f"{side}_shift": None})
        else:
            rnn[f"{side}_mult"] = lw.weight(mult, f"{node.name} multipliers")
            rnn[f"{side}_shift"] = lw.weight(shift, f"{node.name} shifts")
        rnn[f"{side}_rq"] = None if table is None else lw.weight(table, what)
    rnn["table"] = lw.weight(SIGMOID_TABLE_UINT16.astype(np.uint16), "TFLite sigmoid table")
    if node.op_type == "LSTM":
        fields = {
            "rnn": Struct(rnn),
            "forget_cell": rescale_fields(p.forget_mul),
            "input_cell": rescale_fields(p.input_mul),
            "output_hidden": rescale_fields(p.output_mul),
            "cell_tanh_mult": p.cell_tanh.input_multiplier,
            "cell_tanh_shift": p.cell_tanh.input_left_shift,
        }
    else:
        fields = {
            "rnn": Struct(rnn),
            "linear_before_reset": int(p.linear_before_reset),
            "candidate_fc": structs["candidate_fc"],
            "reset": rescale_fields(p.reset_mul),
            "update": rescale_fields(p.update_mul),
            "candidate": rescale_fields(p.candidate_mul),
        }
    act = np.dtype(p.dtype)
    states = [state_operand(lw, node, op.initial_h)]
    state_bytes = s.directions * s.batch * h * act.itemsize
    if node.op_type == "LSTM":
        states.append(state_operand(lw, node, 6))
        state_bytes += s.directions * s.batch * h * 2
    x = lw.read(node.inputs[0], L.LOGICAL)
    outputs = node_outputs(lw, node, len(states) + 1)
    state = state_buffer(lw, node, state_bytes)
    padded = s.inputs + (-s.inputs % 4 if fast else 0)  # the input row the fast loops read
    work_bytes = (12 if wide else 8) * op.gates * h + 2 * h + padded
    work = lw.scratch(node, work_bytes, "gate products")
    sfx = "s16" if wide else "s8"
    kernel = f"edgec_{node.op_type.lower()}_{sfx}"
    sources = int_sources("recurrent_int.c")
    sources |= MATRIX_SOURCES if fast else set()
    struct = f"edgec_{node.op_type.lower()}_int_t"
    lw.call(
        kernel, struct, fields, [x, *states], [*outputs, state, work], node.name, node.op_type,
        sources, macs=op.macs(node),
    )  # fmt: skip
    if lw.stateful:
        lw.reset(f"edgec_{node.op_type.lower()}_reset_{sfx}", states, state)


def check_int(node: Node) -> str | None:
    x = node.inputs[0]
    if x.dtype not in (np.dtype(np.int8), np.dtype(np.int16)) or x.quant is None:
        return "X must be an int8 or int16 quantized activation"
    reason = check_float(node)
    if reason is not None:
        return reason
    try:
        integer_params(node)
    except EdgecError as exc:
        return str(exc).splitlines()[0]
    return None


_float = Emitter(emit_float, check_float)
FLOAT_EMITTERS = {"LSTM": _float, "GRU": _float}
_int = Emitter(emit_int, check_int)
INT_EMITTERS = {"LSTM": _int, "GRU": _int}
