"""Convolutions and fully connected layers with 4-bit weights (``--weight-bits 4``): their
flash layouts and kernel calls (int4_int.c, fast_int4.c; formats in edgec_kernels_int4.h).

``emit_linear`` lists these as the first variants of ``CONV_VARIANTS`` / ``FC_VARIANTS``:
an int4 layer takes the optimized matrix-product or depthwise kernel where it applies, else
the portable kernel (which also serves 16x8 layers). Every int4 layer is recorded in
``Program.weight_storage`` (memory.json) as storage "int4".
"""

from __future__ import annotations

import math

import numpy as np

from edgec.backends.c.emit_common import (
    bias_ref,
    dims,
    fast_sources,
    int_sources,
    per_channel,
    requant_fields,
    zero_points,
)
from edgec.backends.c.emit_fast import dw_stream
from edgec.backends.c.program import Struct
from edgec.ops import get_op
from edgec.ops.integer.fixedpoint import right_shift_requant_params
from edgec.ops.integer.int4 import pack_nibbles

DW_MAX_TAPS = 25  # W4_DW_MAX_TAPS in fast_int4.c
DW_ORDER = (0, 1, 4, 5, 2, 3, 6, 7)  # the channel each nibble of a depthwise word holds
SOURCES = {"int4_int.c"}
FAST_SOURCES = fast_sources("fast_int4.c") | {"mve_common.h"}
GEMM_SOURCES = fast_sources("fast_int4_gemm.c") | {"edgec_im2col.h", "mve_common.h"}


def words(nibbles: np.ndarray) -> np.ndarray:
    """[..., 8] values in [-8, 7] → uint32 words, value i in bits 4i..4i+3."""
    v = (np.asarray(nibbles, np.int64) & 15).astype(np.uint64)
    return (v << (4 * np.arange(8, dtype=np.uint64))).sum(axis=-1).astype(np.uint32)


def gemm_words(matrix: np.ndarray) -> np.ndarray:
    """Weights [n][k] as rows of words of eight nibbles, zero-padded to a multiple of 8."""
    n, k = matrix.shape
    padded = np.zeros((n, -(-k // 8) * 8), np.int64)
    padded[:, :k] = matrix
    return words(padded.reshape(n, -1, 8))


def dw_words(weights: np.ndarray) -> np.ndarray:
    """Depthwise weights [kh][kw][c] as words [c / 8][taps]: per block of eight channels
    and tap, the channels in ``DW_ORDER`` (the pairs SXTB16 makes, after a masked shift)."""
    taps = weights.reshape(-1, weights.shape[-1]).astype(np.int64)
    c8 = -(-taps.shape[1] // 8) * 8
    padded = np.zeros((taps.shape[0], c8), np.int64)
    padded[:, : taps.shape[1]] = taps
    blocks = padded.reshape(taps.shape[0], c8 // 8, 8).transpose(1, 0, 2)  # [block][tap][8]
    return words(blocks[..., list(DW_ORDER)])


def record(layer, kernel: str, stored: int) -> None:
    """The layer's entry in memory.json's weight_storage."""
    n = layer.channels
    layer.lw.program.weight_storage.append(
        {
            "node": layer.node.name,
            "op": layer.node.op_type,
            "n": n,
            "k": int(layer.weights.size // n),
            "kernel": kernel,
            "storage": "int4",
            "dense_bytes": int(layer.weights.size),
            "stored_bytes": int(stored),
            "table_stride": 0,
            "candidates": {},
            "density": float(np.count_nonzero(layer.weights)) / max(1, layer.weights.size),
        }
    )


def _call(layer, kernel: str, struct: str, fields: dict, outputs: list[str], sources: set[str]):
    node = layer.node
    op = "Conv" if layer.geometry is not None else node.op_type
    layer.lw.call(
        kernel, struct, fields, [layer.src], outputs, node.name, node.op_type, sources,
        macs=get_op(op).macs(node),
    )  # fmt: skip


def gemm_applies(layer) -> bool:
    """fast_int4_gemm.c's doubled bias and requantization (the int8 kernels') fit."""
    return layer.lw.optimized and layer.bias2 is not None and layer.requant is not None


def fast_applies(layer) -> bool:
    """fast_int4.c's folded bias fits (any requantization scale does, with a non-negative
    multiplier)."""
    multipliers = np.asarray(layer.p.requant.multiplier)
    return (
        layer.lw.optimized
        and layer.lw.rounding == "tflm"  # fast_int4.c requantizes in TFLM's fixed point
        and layer.folded is not None
        and bool((multipliers >= 0).all())
    )


def depthwise_applies(layer) -> bool:
    """An int8 depthwise layer (multiplier 1) of at most DW_MAX_TAPS taps for fast_int4.c."""
    return (
        layer.int4
        and layer.sfx == "s8"
        and layer.depthwise
        and layer.channels == layer.node.inputs[0].shape[1]
        and layer.geometry["kh"] * layer.geometry["kw"] <= DW_MAX_TAPS
        and fast_applies(layer)
    )


def requantization(layer) -> tuple[np.ndarray, int]:
    """(rows [n][3], the zero point left to add) of the optimized kernels' requantization:
    the table of ``right_shift_requant_params`` where every channel's scale fits it, else that table
    without the zero point, with plain rows (multiplier, max(shift, 0), -1 - max(-shift, 0))
    for the channels of scale 1/4 or more (fast_int4.c's w4_requant)."""
    requant, n = layer.p.requant, layer.channels
    m, s = per_channel(requant.multiplier, n), per_channel(requant.shift, n)
    zero_point = int(requant.zero_point)
    table = right_shift_requant_params(m, s, zero_point)
    if table is not None:
        return table, 0
    table = right_shift_requant_params(m, s)
    if table is not None:
        return table, zero_point
    plain = (s > -2) & (m != 0)
    rows = right_shift_requant_params(np.where(plain, 0, m), np.where(plain, -2, s))
    rows[plain] = np.stack([m, np.maximum(s, 0), -1 - np.maximum(-s, 0)], axis=1)[plain]
    return rows.astype(np.int32), int(requant.zero_point)


def gemm_stream(words: np.ndarray, bias2: np.ndarray, rq) -> np.ndarray:
    """edgec_gemm_w4_s8_t's stream: per channel its weight words [n][groups], doubled bias,
    multiplier and shift word r1 | K << 16 (emit_fast.FastRequant)."""
    rr = (rq.shift.astype(np.int64) | (rq.k & 0xFFFF) << 16).astype(np.uint32).view(np.int32)
    columns = [words.view(np.int32), bias2, rq.multiplier, rr]
    return np.hstack([np.asarray(c, np.int32).reshape(len(words), -1) for c in columns])


def code_words(matrix: np.ndarray, table: np.ndarray) -> np.ndarray:
    """A clustered matrix's codes (indices into ``table``) as the weight words of
    fast_int4_gemm.c: per group of eight k, byte j holds the codes of k j and j + 4."""
    index = np.searchsorted(table, matrix)
    n, k = index.shape
    padded = np.zeros((n, -(-k // 8) * 8), np.int64)
    padded[:, :k] = index
    groups = padded.reshape(n, -1, 8)[..., [0, 4, 1, 5, 2, 6, 3, 7]]
    return words(groups)


def _gemm(layer, rows: int, table: np.ndarray | None = None) -> Struct:
    """The gemm struct of int4 weights, or with ``table`` of clustered ones (their codes)."""
    lw, node, p = layer.lw, layer.node, layer.p
    matrix = layer.weights.reshape(layer.channels, -1)
    if table is None:
        weights = gemm_words(matrix)
        record(layer, "", weights.nbytes)
        what, table_ref = "weights (int4)", None
    else:
        weights = code_words(matrix, table)
        what = "weights (clustered codes)"
        padded = np.zeros(16, np.int8)
        padded[: table.size] = table
        table_ref = lw.weight(padded, f"{node.name} weights (clustered table)")
    stream = gemm_stream(weights, layer.bias2, layer.requant)
    return Struct(
        {
            "rows": rows,
            "k": matrix.shape[1],
            "n": matrix.shape[0],
            "act_min": int(p.requant.act_min),
            "act_max": int(p.requant.act_max),
            "stream": lw.weight(stream.reshape(-1), f"{node.name} {what} and constants"),
            "table": table_ref,
        }
    )


def _wide_bytes(k: int) -> int:
    return 64 * -(-k // 8)  # EDGEC_W4_WIDE_BYTES


PAIRS_BYTES = 1024  # a clustered layer's expanded table in scratch


def emit_fast_gemm(layer, table: np.ndarray | None = None) -> str:
    """A groups-1 convolution or a fully connected layer: edgec_*_w4_fast_s8 (with
    ``table``: clustered weights). Returns the kernel."""
    lw, node = layer.lw, layer.node
    k = int(layer.weights.size // layer.channels)
    wide = _wide_bytes(k) + (PAIRS_BYTES if table is not None else 0)
    if layer.geometry is None:
        gemm = _gemm(layer, math.prod(node.inputs[0].shape[:-1]), table)
        kernel = "edgec_fc_lut_fast_s8" if table is not None else "edgec_fc_w4_fast_s8"
        scratch = lw.scratch(node, wide, "widened rows")
        _call(layer, kernel, "edgec_gemm_w4_s8_t", gemm.fields, [layer.dst, scratch], GEMM_SOURCES)
    else:
        geometry = {
            key: v for key, v in layer.geometry.items() if key not in ("pad_bottom", "pad_right")
        }
        x, y = node.inputs[0], node.outputs[0]
        conv = {"in": dims(x.shape), "out": dims(y.shape), **geometry}
        conv["input_zero_point"] = int(layer.p.input_zero_point)
        kernel = "edgec_conv_lut_fast_s8" if table is not None else "edgec_conv_w4_fast_s8"
        fields = {"conv": Struct(conv), "gemm": _gemm(layer, 0, table)}
        rows = 0 if layer.pointwise else -(-k // 4) * 4
        scratch = lw.scratch(node, wide + rows, "widened rows, im2col row")
        _call(layer, kernel, "edgec_conv_w4_fast_s8_t", fields, [layer.dst, scratch], GEMM_SOURCES)
    if table is None:
        layer.lw.program.weight_storage[-1]["kernel"] = kernel
    return kernel


def clustered_applies(layer) -> bool:
    """A layer stored clustered with one table (emit_compact's choice) whose doubled bias and
    requantization fit fast_int4_gemm.c, on a DSP core (not Helium), with scratch."""
    compact = layer.compact_conv if layer.geometry is not None else layer.compact_fc
    return (
        compact is not None
        and compact.storage.kind == "clustered"
        and compact.storage.table_stride == 0
        and not layer.mve
        and gemm_applies(layer)
    )


def emit_clustered_gemm(layer) -> None:
    """The clustered layer through fast_int4_gemm.c's table loops; its memory.json entry
    (written by emit_compact's choice) names the kernel."""
    compact = layer.compact_conv if layer.geometry is not None else layer.compact_fc
    kernel = emit_fast_gemm(layer, compact.storage.arrays["table"].astype(np.int64))
    entry = next(
        e for e in reversed(layer.lw.program.weight_storage) if e["node"] == layer.node.name
    )
    # the codes as whole words (k padded to a multiple of 8) and the 16-entry table
    entry.update(kernel=kernel, stored_bytes=layer.channels * 4 * -(-compact.k // 8) + 16)


def _window(layer) -> dict:
    x, y = layer.node.inputs[0], layer.node.outputs[0]
    return {"in": dims(x.shape), "out": dims(y.shape), **layer.geometry}


def emit_fast_depthwise(layer, wide: bool = False) -> None:
    """Depthwise, depth multiplier 1: edgec_dwconv_w4_fast_s8 (no working memory), or with
    ``wide`` edgec_dwconv_w4_wide_s8 (the weights decoded into scratch for the int8 kernel)."""
    lw, node, p = layer.lw, layer.node, layer.p
    if layer.in_place:
        layer.plan_in_place()
    table, zero_point = requantization(layer)
    conv = {**_window(layer), "depth_multiplier": 1}
    conv.update(input_zero_point=int(p.input_zero_point), output_zero_point=zero_point)
    conv.update(act_min=int(p.requant.act_min), act_max=int(p.requant.act_max))
    conv.update(weights=None, out_mult=None, out_shift=None)
    conv["bias"] = lw.weight(layer.folded, f"{node.name} bias + input offset x weight sums")
    packed = dw_words(layer.weights)
    fields = {
        "conv": Struct(conv),
        "padding": lw.weight(
            np.full(layer.channels, p.input_zero_point, np.int8), f"{node.name} padding"
        ),
        "requant": lw.weight(table, f"{node.name} requantization"),
        "plain_rows": int((table[:, 2] < 0).sum()),
        "packed": lw.weight(packed, f"{node.name} weights (int4)"),
    }
    kernel = "edgec_dwconv_w4_wide_s8" if wide else "edgec_dwconv_w4_fast_s8"
    record(layer, kernel, packed.nbytes)
    outputs, sources = [layer.dst], FAST_SOURCES
    if wide:
        taps, c = layer.geometry["kh"] * layer.geometry["kw"], layer.channels
        outputs.append(lw.scratch(node, taps * (c // 4 * 8), "decoded weights"))
    _call(layer, kernel, "edgec_dwconv_w4_fast_s8_t", fields, outputs, sources)


def stream_parts(stream: np.ndarray, taps: int) -> tuple[np.ndarray, np.ndarray]:
    """The int8 depthwise stream (emit_fast.dw_stream) as (its constant words [blocks][10],
    one byte per weight word [blocks][2 * taps]: the halves / 2 as low and high nibble)."""
    records = stream.reshape(-1, 10 + 2 * taps)
    constants = np.hstack([records[:, :4], records[:, 4 + 2 * taps :]])
    weights = (
        np.ascontiguousarray(records[:, 4 : 4 + 2 * taps]).view(np.int16).astype(np.int64) // 2
    )  # [lo, hi]
    nibbles = (weights[:, 0::2] & 15) | (weights[:, 1::2] & 15) << 4
    return constants.astype(np.int32), nibbles.astype(np.uint8)


def emit_stream_depthwise(layer, fields: dict) -> None:
    """Depthwise, depth multiplier 1, on a DSP core: edgec_dwconv_w4_stream_s8 writes the
    int8 kernel's stream into scratch from nibbles and constants (fast_int4_stream.c)."""
    lw, node = layer.lw, layer.node
    if layer.in_place:
        layer.plan_in_place()
    taps = layer.geometry["kh"] * layer.geometry["kw"]
    stream = dw_stream(layer.weights, layer.bias2, layer.requant)
    constants, nibbles = stream_parts(stream, taps)
    fields = {
        "conv": Struct({**fields, "stream": None}),
        "nibbles": lw.weight(nibbles.reshape(-1), f"{node.name} weights (int4)"),
        "constants": lw.weight(constants.reshape(-1), f"{node.name} biases, requantization"),
    }
    kernel = "edgec_dwconv_w4_stream_s8"
    record(layer, kernel, nibbles.nbytes)
    scratch = lw.scratch(node, stream.nbytes, "int8 depthwise stream")
    sources = fast_sources("fast_int4_stream.c") | fast_sources("fast_dwconv.c")
    _call(layer, kernel, f"{kernel}_t", fields, [layer.dst, scratch], sources)


def emit_portable(layer) -> None:
    """Any int4 layer (int8 or 16x8): the reference loops reading nibbles (int4_int.c)."""
    lw, node, p, sfx = layer.lw, layer.node, layer.p, layer.sfx
    n = layer.channels
    base = {
        **zero_points(node, p),
        "weights": None,
        "bias": bias_ref(lw, node, layer.bias, n, sfx == "s16"),
        **requant_fields(lw, node, p.requant, n),
    }
    if layer.geometry is None:
        x = node.inputs[0]
        base.update(batches=math.prod(x.shape[:-1]), in_features=x.shape[-1], out_features=n)
        kernel, key = f"edgec_fc_w4_{sfx}", "fc"
    elif layer.depthwise:
        if layer.in_place:
            layer.plan_in_place()
        base.update(_window(layer), depth_multiplier=n // node.inputs[0].shape[1])
        kernel, key = f"edgec_dwconv_w4_{sfx}", "conv"
    else:
        if layer.in_place:
            layer.plan_in_place()
        base.update(_window(layer), groups=layer.group)
        kernel, key = f"edgec_conv_w4_{sfx}", "conv"
    packed = pack_nibbles(layer.weights)
    fields = {key: Struct(base), "packed": lw.weight(packed, f"{node.name} weights (int4)")}
    record(layer, kernel, packed.nbytes)
    _call(layer, kernel, f"{kernel}_t", fields, [layer.dst], int_sources("int4_int.c"))
