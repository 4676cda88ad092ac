"""LSTM and GRU: one kernel call per node runs the whole sequence (recurrent_f32.c,
recurrent_int.c). The gate products are matrix-vector products per step and batch entry; in
optimized builds they run on the fast matrix kernels (fast_f32_gemm.c, fast_gemm.c) over
weights packed at compile time, chosen through the kernels' ``product`` function pointer.

The running state lives in a buffer of its own: scratch, or in a stateful build a buffer
that persists across ``model_run`` calls, which ``model_reset`` sets to the initial state.
"""

from __future__ import annotations

import numpy as np

from edgec.backends.c import layout as L
from edgec.backends.c.emit_float_fast import pack_blocks
from edgec.backends.c.lowering import Emitter, Lowering
from edgec.backends.c.program import Struct, Symbol
from edgec.ir.graph import Node, Value
from edgec.ops import get_op
from edgec.ops.recurrent import RecurrentShape

FAST_F32_SOURCES = {"fast_f32_gemm.c", "fast_f32_common.h", "edgec_kernels_f32_fast.h"}


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


_float = Emitter(emit_float, check_float)
FLOAT_EMITTERS = {"LSTM": _float, "GRU": _float}
INT_EMITTERS: dict[str, Emitter] = {}
