"""The optimized int8 kernels for Helium cores (``mve_*.c``: Cortex-M55/M85): their weight
layouts, prepared at compile time, and their calls. Every kernel is bit-exact with the
portable one; the layer's folded bias and requantization (emit_fast) must fit or the
portable kernel runs it."""

from __future__ import annotations

import numpy as np

from edgec.backends.c.emit_common import FIXEDPOINT, dims
from edgec.backends.c.emit_fast import FastRequant
from edgec.backends.c.lowering import Lowering
from edgec.backends.c.program import Struct
from edgec.ir.graph import Node
from edgec.ops import get_op

GEMM_SOURCES = {"mve_gemm.c", "mve_common.h", "fast_im2col.h", "edgec_dsp.h", FIXEDPOINT}
DW_SOURCES = {"mve_dwconv.c", "mve_common.h", FIXEDPOINT}


def quad_stream(rows: np.ndarray, folded: np.ndarray, rq: FastRequant) -> np.ndarray:
    """mve_gemm.c's stream: per four channels (zero rows beyond n) their biases, per group of
    16 k (zeros beyond k) each channel's 16 weights, their multipliers and negated shifts."""
    n, k = rows.shape
    padded = np.pad(rows.astype(np.int8), ((0, -n % 4), (0, -k % 16)))
    quads, groups = padded.shape[0] // 4, padded.shape[1] // 16
    body = padded.reshape(quads, 4, groups, 16).transpose(0, 2, 1, 3).reshape(quads, -1)
    per_quad = [
        _padded(folded, 4, np.int32).reshape(quads, 4),
        np.ascontiguousarray(body).view("<i4"),
        _padded(rq.multiplier, 4, np.int32).reshape(quads, 4),
        -(_padded(rq.shift, 4, np.int32) + 1).reshape(quads, 4),
    ]
    return np.hstack(per_quad).reshape(-1).astype(np.int32)


def _padded(values: np.ndarray, multiple: int, dtype) -> np.ndarray:
    values = np.asarray(values)
    return np.pad(values, (0, -len(values) % multiple)).astype(dtype)


def gemm_fields(
    lw: Lowering, node: Node, p, weights: np.ndarray, folded: np.ndarray, rq: FastRequant, rows=0
) -> Struct:
    """``edgec_gemm_mve_s8_t``; ``rows`` only for a fully connected layer."""
    n = weights.shape[0]
    matrix = weights.reshape(n, -1)
    stream = quad_stream(matrix, folded, rq)
    return Struct(
        {
            "rows": rows,
            "k": int(matrix.shape[1]),
            "n": n,
            "zero_point": int(p.requant.zero_point),
            "act_min": int(p.requant.act_min),
            "act_max": int(p.requant.act_max),
            "stream": lw.weight(stream, f"{node.name} weights and constants"),
        }
    )


def emit_conv(lw, node, p, geometry, weights, folded, rq, src, dst, pointwise) -> None:
    """A convolution of groups 1 (1x1 in place, else through two im2col rows); its loop order
    lets it run over its own input (overlap.py, two pixels at a time)."""
    x, y = node.inputs[0], node.outputs[0]
    gemm = gemm_fields(lw, node, p, weights, folded, rq)
    fields = {
        "in": dims(x.shape),
        "out": dims(y.shape),
        **{k: v for k, v in geometry.items() if k not in ("pad_bottom", "pad_right")},
        "input_zero_point": int(p.input_zero_point),
        "gemm": gemm,
    }
    outputs = [dst]
    if not pointwise:
        outputs.append(lw.scratch(node, 2 * gemm.fields["k"], "im2col rows"))
    kernel = "edgec_conv_1x1_mve_s8" if pointwise else "edgec_conv_mve_s8"
    lw.call(
        kernel, "edgec_conv_mve_s8_t", fields, [src], outputs, node.name, node.op_type,
        GEMM_SOURCES, macs=get_op("Conv").macs(node),
    )  # fmt: skip


def emit_fc(lw, node, p, weights, folded, rq, src, dst, rows: int) -> None:
    fields = gemm_fields(lw, node, p, weights, folded, rq, rows=rows).fields
    lw.call(
        "edgec_fc_mve_s8", "edgec_gemm_mve_s8_t", fields, [src], [dst], node.name, node.op_type,
        GEMM_SOURCES, macs=get_op(node.op_type).macs(node),
    )  # fmt: skip


def lanes(values: np.ndarray, dtype) -> np.ndarray:
    """Per-channel values per block of eight in the order 0, 2, 4, 6, 1, 3, 5, 7 (zeros beyond
    the last channel): the depthwise kernel's even and odd lanes."""
    blocks = _padded(values, 8, np.int64).reshape(-1, 8)
    return np.concatenate([blocks[:, 0::2], blocks[:, 1::2]], axis=1).reshape(-1).astype(dtype)


SUMS_ORDER = np.array([0, 4, 8, 12, 2, 6, 10, 14, 1, 5, 9, 13, 3, 7, 11, 15])


def dw16_stream(weights: np.ndarray, folded, rq: FastRequant, blocks: int) -> np.ndarray:
    """edgec_dw16_mve's stream (nine taps): per block of 16 channels the biases in the order
    of its four sums (SUMS_ORDER), each tap's 16 weights, the multipliers, the negated
    shifts (-r)."""
    taps = weights.reshape(9, -1).astype(np.int8)
    records = []
    for b in range(blocks):
        channels = 16 * b + SUMS_ORDER
        body = np.ascontiguousarray(taps[:, 16 * b : 16 * b + 16]).reshape(-1).view("<i4")
        mult, shift = rq.multiplier[channels], rq.shift[channels].astype(np.int64)
        records += [folded[channels], body, mult, -(shift + 1)]
    return np.concatenate([np.asarray(r, np.int64) for r in records]).astype(np.int32)


def emit_depthwise(lw: Lowering, node: Node, p, geometry, weights, folded, rq, src, dst):
    """Depthwise, depth multiplier 1, weights [kh][kw][c]; no working memory. A 3x3 window's
    channels in blocks of 16 from the stream (assembly), the rest (eight at a time) from their
    own arrays."""
    x, y, name = node.inputs[0], node.outputs[0], node.name
    channels = y.shape[1]
    taps = weights.reshape(-1, channels)
    blocks = channels // 16 if taps.shape[0] == 9 else 0
    start = 16 * blocks
    padded = any(geometry[k] for k in ("pad_top", "pad_left", "pad_bottom", "pad_right"))
    padding = np.full(channels, p.input_zero_point, np.int8)
    rest = start < channels

    def rest_array(values, dtype, what):
        return lw.weight(lanes(values[start:], dtype), f"{name} {what}") if rest else None

    fields = {
        "in": dims(x.shape),
        "out": dims(y.shape),
        **{k: v for k, v in geometry.items() if k not in ("pad_bottom", "pad_right")},
        "zero_point": int(p.requant.zero_point),
        "act_min": int(p.requant.act_min),
        "act_max": int(p.requant.act_max),
        "padding": lw.weight(padding, f"{name} padding") if padded else None,
        "stream": lw.weight(dw16_stream(weights, folded, rq, blocks), f"{name} weights, constants")
        if blocks
        else None,
        "rest_weights": lw.weight(
            np.ascontiguousarray(taps[:, start:]).astype(np.int8), f"{name} weights"
        )
        if rest
        else None,
        "rest_bias": rest_array(folded, np.int32, "bias + input offset x sums"),
        "rest_mult": rest_array(rq.multiplier, np.int32, "multipliers"),
        "rest_shift": rest_array(rq.shift, np.uint8, "shifts (-shift - 1)"),
    }
    lw.call(
        "edgec_dwconv_mve_s8", "edgec_dwconv_mve_s8_t", fields, [src], [dst], name, "Conv",
        DW_SOURCES, macs=get_op("Conv").macs(node),
    )  # fmt: skip
