"""Resize: nearest (an index gather, any dtype) and bilinear, float (onnxruntime's weights)
and integer (TFLite's RESIZE_BILINEAR, Q10 weights). Both bilinear kernels read per-axis
tables made at compile time: the low and high source index of every output row and column
and their weights, so every coordinate mode is the same kernel."""

from __future__ import annotations

import numpy as np

from edgec.backends.c import layout as L
from edgec.backends.c.emit_common import suffix
from edgec.backends.c.emit_move import check_resize, emit_resize
from edgec.backends.c.int_checks import checked
from edgec.backends.c.lowering import Emitter, Lowering
from edgec.ir.graph import Node
from edgec.ops import get_op
from edgec.ops.integer import integer_params

F32 = np.float32


def _linear(node: Node) -> bool:
    return get_op("Resize").attr(node, "mode") == "linear"


def _spatial_tables(node: Node) -> list[tuple]:
    """Per spatial axis (H then W; H of a 1-d resize is one row): the float tables."""
    x, y = node.inputs[0], node.outputs[0]
    op = get_op("Resize")
    scales = node.input(2).const if node.input(2) is not None else None
    sizes = node.input(3).const if node.input(3) is not None else None
    factors = {a: s for a, _, s in op.resized_axes(node, x.shape, scales, sizes)}
    tables = []
    for axis in range(2, len(x.shape)):
        n_in, n_out = x.shape[axis], y.shape[axis]
        if axis in factors:
            tables.append(op.linear_weights(node, n_in, n_out, factors[axis]))
        else:
            same = np.arange(n_in)
            tables.append((same, same, np.ones(n_in, F32), np.zeros(n_in, F32)))
    if len(tables) == 1:
        tables.insert(0, (np.zeros(1), np.zeros(1), np.ones(1, F32), np.zeros(1, F32)))
    return tables


def _geometry(node: Node) -> dict:
    x, y = node.inputs[0], node.outputs[0]
    xm, ym = L.memory_shape(x.shape, L.CHANNELS_LAST), L.memory_shape(y.shape, L.CHANNELS_LAST)
    return {
        "batch": x.shape[0],
        "in_h": xm[1] if len(xm) == 4 else 1,
        "in_w": xm[-2],
        "channels": x.shape[1],
        "out_h": ym[1] if len(ym) == 4 else 1,
        "out_w": ym[-2],
    }


def _index(lw: Lowering, values, what: str):
    return lw.weight(np.asarray(values, np.int32), what)


def emit_bilinear(lw: Lowering, node: Node) -> None:
    (h_low, h_high, h_wl, h_wh), (w_low, w_high, w_wl, w_wh) = _spatial_tables(node)
    fields = {
        **_geometry(node),
        "h_low": _index(lw, h_low, "low source row"),
        "h_high": _index(lw, h_high, "high source row"),
        "w_low": _index(lw, w_low, "low source column"),
        "w_high": _index(lw, w_high, "high source column"),
        "h_weight": lw.weight(np.stack([h_wl, h_wh], 1).astype(F32), "row weights (low, high)"),
        "w_weight": lw.weight(np.stack([w_wl, w_wh], 1).astype(F32), "column weights"),
    }
    x, y = node.inputs[0], node.outputs[0]
    src, dst = lw.read(x, L.CHANNELS_LAST), lw.write(y, L.CHANNELS_LAST)
    lw.call(
        "edgec_resize_bilinear_f32",
        "edgec_resize_bilinear_f32_t",
        fields,
        [src],
        [dst],
        node.name,
        node.op_type,
        {"resize_f32.c"},
    )


def emit_int_bilinear(lw: Lowering, node: Node) -> None:
    p = integer_params(node)
    fields = {
        **_geometry(node),
        "h_low": _index(lw, p.rows.low, "low source row"),
        "h_high": _index(lw, p.rows.high, "high source row"),
        "w_low": _index(lw, p.cols.low, "low source column"),
        "w_high": _index(lw, p.cols.high, "high source column"),
        "h_frac": _index(lw, p.rows.frac, "Q10 weight of the high row"),
        "w_frac": _index(lw, p.cols.frac, "Q10 weight of the high column"),
    }
    x, y = node.inputs[0], node.outputs[0]
    src, dst = lw.read(x, L.CHANNELS_LAST), lw.write(y, L.CHANNELS_LAST)
    lw.call(
        f"edgec_resize_bilinear_{suffix(y)}",
        "edgec_resize_bilinear_int_t",
        fields,
        [src],
        [dst],
        node.name,
        node.op_type,
        {"resize_int.c"},
    )


def emit_float(lw: Lowering, node: Node) -> None:
    (emit_bilinear if _linear(node) else emit_resize)(lw, node)


def emit_int(lw: Lowering, node: Node) -> None:
    (emit_int_bilinear if _linear(node) else emit_resize)(lw, node)


_int_check = checked(check_resize)


def check_int(node: Node) -> str | None:
    x = node.inputs[0]
    if not _linear(node) and (x.quant is None or not np.issubdtype(x.dtype, np.integer)):
        return check_resize(node)  # a nearest gather of any unquantized data
    return _int_check(node)


def check_float(node: Node) -> str | None:
    reason = check_resize(node)
    if reason is None and _linear(node) and node.inputs[0].dtype != np.float32:
        return f"linear mode on {node.inputs[0].dtype}"
    return reason


FLOAT_EMITTERS = {"Resize": Emitter(emit_float, check_float)}
INT_EMITTERS = {"Resize": Emitter(emit_int, check_int)}
