"""A clustered fully connected layer on one row, four channels per pass (fast_lut_fc1.c):
the clustered counterpart of the dense one-row kernel (emit_linear's "fast, one row, four
channels"), listed before fast_int4_gemm.c's table loops in ``FC_VARIANTS``.
"""

from __future__ import annotations

import math

import numpy as np

from edgec.backends.c import emit_int4
from edgec.backends.c.emit_common import fast_sources
from edgec.backends.c.emit_fast import quad_fields, quad_stream
from edgec.ops import get_op

KERNEL = "edgec_fc1_lut_fast_s8"
SOURCES = fast_sources("fast_lut_fc1.c")
PAIRS_BYTES = 1024  # the expanded table in scratch
TABLE_LOOPS = ("edgec_conv_lut_fast_s8", "edgec_fc_lut_fast_s8")  # fast_int4_gemm.c


def one_row_applies(layer) -> bool:
    """A one-row FC stored clustered with one table, n a multiple of 4, on a DSP core,
    unless an earlier layer already runs fast_int4_gemm.c's table loops: they take this
    layer too (about 7 % more instructions than this kernel, which would add about 1.6 KB
    of code: KWS's 64x12 classifier after its clustered convolutions)."""
    rows = math.prod(layer.node.inputs[0].shape[:-1])
    return (
        layer.geometry is None
        and layer.lw.core == "dsp"
        and rows == 1
        and layer.weights.shape[0] % 4 == 0
        and emit_int4.clustered_applies(layer)
        and not any(call.kernel in TABLE_LOOPS for call in layer.lw.program.calls)
    )


def code_bytes(index: np.ndarray) -> np.ndarray:
    """Codes [n][k] (< 16) → [n][4 * groups] bytes: per group g of eight k, byte j holds the
    codes of k 8g + j (low nibble) and 8g + j + 4 (high nibble); k padded with code 0 (the
    widened row reads 0 there)."""
    n, k = index.shape
    groups = -(-k // 8)
    padded = np.zeros((n, 8 * groups), np.int64)
    padded[:, :k] = index
    halves = padded.reshape(n, groups, 2, 4)
    return (halves[:, :, 0] | halves[:, :, 1] << 4).reshape(n, 4 * groups).astype(np.uint8)


def emit_one_row(layer) -> None:
    """edgec_fc1_lut_fast_s8: the quad stream (biases, codes, requantization) of the codes,
    the 16-entry table; its memory.json entry (written by emit_compact's choice) names it."""
    lw, node, p = layer.lw, layer.node, layer.p
    compact = layer.compact_fc
    table = compact.storage.arrays["table"].astype(np.int64)
    codes = code_bytes(np.searchsorted(table, layer.weights))
    stream = quad_stream(codes.view(np.int8), layer.bias2 // 2, layer.requant)
    padded = np.zeros(16, np.int8)
    padded[: table.size] = table
    fields = quad_fields(lw, node, p, stream, "weights (clustered codes) and constants")
    fields["table"] = lw.weight(padded, f"{node.name} weights (clustered table)")
    scratch = lw.scratch(node, 4 * codes.shape[1] + PAIRS_BYTES, "widened row, expanded table")
    lw.call(
        KERNEL, "edgec_gemm_w4_s8_t", fields, [layer.src], [layer.dst, scratch], node.name,
        node.op_type, SOURCES, macs=get_op(node.op_type).macs(node),
    )  # fmt: skip
    entry = next(e for e in reversed(lw.program.weight_storage) if e["node"] == node.name)
    entry.update(kernel=KERNEL, stored_bytes=int(codes.nbytes) + padded.nbytes)
