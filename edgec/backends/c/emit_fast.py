"""The optimized int8 kernels (``fast_*.c``: DSP assembly on Cortex-M4/M7/M33, Helium on the
M55): their weight layouts, prepared at compile time, and their calls.

They fold the input offset into the bias and requantize with a precomputed table; both must
fit (``folded_bias``, ``fast_requant`` return None when they do not) or the portable kernel
runs the layer instead, bit-exact either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgec.backends.c.emit_common import dims, fast_sources, per_channel, suffix
from edgec.backends.c.lowering import Lowering
from edgec.backends.c.program import Struct
from edgec.backends.c.rounding import float_bits, float_requant
from edgec.ir.graph import Node
from edgec.ops import get_op
from edgec.ops.integer.common import check_rounding
from edgec.ops.integer.elementwise import add_float_terms, add_xnnpack_terms
from edgec.ops.integer.fixedpoint import (
    doubled_requant_params,
    multiply_by_quantized_multiplier,
    right_shift_requant_params,
)


def folded_bias(weights: np.ndarray, bias, input_zero_point: int) -> np.ndarray | None:
    """bias + input_offset * sum_k w[o][k] (the fast kernels' inner loop skips the offset);
    None when that does not fit int32 (the portable kernel then runs the layer)."""
    rows = weights.astype(np.int64)
    folded = -int(input_zero_point) * rows.sum(axis=1)
    if bias is not None:
        folded = folded + np.broadcast_to(np.asarray(bias, np.int64).reshape(-1), folded.shape)
    limit = 2**31 - 1 - 255 * 127 * rows.shape[1]  # room for the sum of products
    if np.abs(folded).max(initial=0) > limit:
        return None
    return folded.astype(np.int32)


GEMM_SOURCES = fast_sources("fast_gemm.c") | {"fast_im2col.h"}


# ---- the DSP kernels' record streams (fast_gemm.c, fast_dwconv.c describe them) -----------
DOUBLED_LIMIT = 2**30 - 1  # the doubled sums (edgec_fp_requant2) must stay within int32


def doubled_bias(folded: np.ndarray | None, reach: np.ndarray, requant) -> np.ndarray | None:
    """2 * the folded bias for the DSP kernels' doubled sums, which must stay below 2**31:
    |bias| + reach < 2**30 for every channel (reach: the most its sum of products can add,
    128 * the sum of its |weights|). A channel beyond that whose output is one value over its
    whole range (a huge bias, a tiny scale: a dead channel) gets a small bias with the same
    output; else None (the portable kernel runs the layer)."""
    if folded is None:
        return None
    bias = folded.astype(np.int64)
    reach = np.broadcast_to(np.asarray(reach, np.int64), bias.shape)
    for o in np.flatnonzero(np.abs(bias) + reach > DOUBLED_LIMIT):
        fixed = _same_output_bias(int(bias[o]), int(reach[o]), requant, o)
        if fixed is None:
            return None
        bias[o] = fixed
    return (2 * bias).astype(np.int32)


def _same_output_bias(bias: int, reach: int, requant, channel: int) -> int | None:
    """A bias within the doubled limit whose outputs over [b - reach, b + reach] are the one
    output of the channel's whole range around ``bias``; None if the range has two outputs."""
    m, shift = (
        int(np.asarray(a).reshape(-1)[channel % np.size(a)])
        for a in (requant.multiplier, requant.shift)
    )
    lo, hi = int(requant.act_min), int(requant.act_max)

    def out(x: int) -> int:
        x = max(min(x, 2**31 - 1), -(2**31))
        value = int(multiply_by_quantized_multiplier(np.int64(x), m, shift)) + int(
            requant.zero_point
        )
        return min(max(value, lo), hi)

    target = out(bias - reach)
    if out(bias + reach) != target:
        return None
    room = DOUBLED_LIMIT - reach
    if room < 0:
        return None
    left, right = -room, room  # the smallest b in range with out(b - reach) >= target
    if out(right - reach) < target:
        return None
    while left < right:
        mid = (left + right) // 2
        if out(mid - reach) >= target:
            right = mid
        else:
            left = mid + 1
    return left if out(left - reach) == target == out(left + reach) else None


@dataclass(frozen=True)
class FastRequant:
    """edgec_fp_requant2's constants: per channel the multiplier and r - 1, K = 2 zp + 1."""

    multiplier: np.ndarray  # int32 [n]
    shift: np.ndarray  # uint8 [n]: r - 1
    k: int


def fast_requant(requant, channels: int, rounding: str = "tflm") -> FastRequant | None:
    """The layer's requantization for the optimized kernels; None when a channel's scale is
    1/2 or more, or negative, or the build's rounding is not TFLM's (the kernels requantize in
    its fixed point): the portable kernel then runs the layer."""
    if float_requant(rounding, np.int8):
        return None
    params = doubled_requant_params(
        per_channel(requant.multiplier, channels),
        per_channel(requant.shift, channels),
        int(requant.zero_point),
    )
    return None if params is None else FastRequant(*params)


def _words(data: np.ndarray) -> np.ndarray:
    """int8 bytes, rows of a multiple of 4, as little-endian int32 words."""
    return np.ascontiguousarray(data.astype(np.int8)).view("<i4")


def _shift_words(shift: np.ndarray, k: int) -> np.ndarray:
    """r1[a] | r1[b] << 8 | K << 16 for consecutive pairs of channels (the last alone)."""
    shift = shift.astype(np.int64)
    first, second = shift[0::2], np.zeros(len(shift[0::2]), np.int64)
    second[: len(shift[1::2])] = shift[1::2]
    return (first | second << 8 | (k & 0xFFFF) << 16).astype(np.uint32).view(np.int32)


def _pad_k(rows: np.ndarray) -> np.ndarray:
    return np.pad(rows.astype(np.int8), ((0, 0), (0, -rows.shape[1] % 4)))


def pair_stream(rows: np.ndarray, bias2: np.ndarray, rq: FastRequant) -> np.ndarray:
    """edgec_gemm_s8_t's stream: per pair of channels their doubled biases, their weights in
    interleaved groups of four (k padded to a multiple of 4 with zeros), multipliers, and
    the shift word; an odd last channel's record alone."""
    n = rows.shape[0]
    padded = _pad_k(rows)
    k4, pairs = padded.shape[1], n // 2
    rr = _shift_words(rq.shift, rq.k)
    body = padded[: 2 * pairs].reshape(pairs, 2, k4 // 4, 4).transpose(0, 2, 1, 3)
    records = np.hstack(
        [
            bias2[: 2 * pairs].reshape(pairs, 2),
            _words(body.reshape(pairs, 2 * k4)),
            rq.multiplier[: 2 * pairs].reshape(pairs, 2),
            rr[:pairs].reshape(pairs, 1),
        ]
    ).reshape(-1)
    if n % 2:
        odd = [bias2[-1:], _words(padded[-1:]).reshape(-1), rq.multiplier[-1:], rr[-1:]]
        records = np.concatenate([records, *odd])
    return records.astype(np.int32)


def quad_stream(rows: np.ndarray, folded: np.ndarray, rq: FastRequant) -> np.ndarray:
    """edgec_fc1_fast_s8's stream (n, k multiples of 4): per four channels their biases (not
    doubled), per group of four k the four rows' words, the multipliers, two shift words."""
    n, k = rows.shape
    quads = n // 4
    body = rows.astype(np.int8).reshape(quads, 4, k // 4, 4).transpose(0, 2, 1, 3)
    records = np.hstack(
        [
            folded.reshape(quads, 4),
            _words(body.reshape(quads, 4 * k)),
            rq.multiplier.reshape(quads, 4),
            _shift_words(rq.shift, rq.k).reshape(quads, 2),
        ]
    )
    return records.reshape(-1).astype(np.int32)


def quad_fields(lw: Lowering, node: Node, p, stream: np.ndarray, what: str) -> dict:
    """The struct fields of a one-row, four-channel kernel (edgec_fc1_fast_s8 and its
    clustered twin) around its quad ``stream``."""
    n, k = node.outputs[0].shape[-1], node.inputs[0].shape[-1]
    return {
        "rows": 1,
        "k": k,
        "n": n,
        "act_min": int(p.requant.act_min),
        "act_max": int(p.requant.act_max),
        "stream": lw.weight(stream, f"{node.name} {what}"),
    }


def dw_stream(weights: np.ndarray, bias2: np.ndarray, rq: FastRequant) -> np.ndarray:
    """edgec_dwconv_fast_s8_t's stream from the weights [kh][kw][c]: per block of four
    channels (zeros beyond the last), the doubled biases, per pair of taps the channels'
    (2 w[t], 2 w[t+1]) int16 pairs, an odd last tap's (c0, c2), (c1, c3) pairs, the
    multipliers and two shift words."""
    taps = weights.reshape(-1, weights.shape[-1]).astype(np.int64)  # [t][c]
    channels = taps.shape[1]
    pad = -channels % 4
    taps = 2 * np.pad(taps, ((0, 0), (0, pad)))
    blocks, count = taps.shape[1] // 4, taps.shape[0]
    quad = taps.reshape(count, blocks, 4).transpose(1, 0, 2)  # [block][t][j]
    pairs = count // 2
    words = [np.pad(bias2.astype(np.int64), (0, pad)).reshape(blocks, 4)]
    if pairs:
        low, high = quad[:, 0 : 2 * pairs : 2], quad[:, 1 : 2 * pairs : 2]
        words.append(((low & 0xFFFF) | (high << 16)).reshape(blocks, 4 * pairs))
    if count % 2:
        last = quad[:, -1]
        words.append(
            np.stack(
                [last[:, 0] & 0xFFFF | last[:, 2] << 16, last[:, 1] & 0xFFFF | last[:, 3] << 16], 1
            )
        )
    words.append(np.pad(rq.multiplier.astype(np.int64), (0, pad)).reshape(blocks, 4))
    shift = np.pad(rq.shift, (0, pad))
    words.append(_shift_words(shift, rq.k).astype(np.int64).reshape(blocks, 2))
    return np.hstack(words).reshape(-1).astype(np.uint32).view(np.int32).copy()


def gemm_fields(
    lw: Lowering, node: Node, p, weights: np.ndarray, bias2: np.ndarray, rq: FastRequant, rows=0
) -> Struct:
    """``edgec_gemm_s8_t`` over the pair stream; ``rows`` only for a fully connected layer
    (a convolution's rows are its output pixels)."""
    n = weights.shape[0]
    matrix = weights.reshape(n, -1)
    return Struct(
        {
            "rows": rows,
            "k": int(matrix.shape[1]),
            "n": n,
            "act_min": int(p.requant.act_min),
            "act_max": int(p.requant.act_max),
            "stream": lw.weight(
                pair_stream(matrix, bias2, rq), f"{node.name} weights and constants"
            ),
        }
    )


def input_dies(lw: Lowering, node: Node, src: str) -> bool:
    """Whether the node is the only reader of its input's buffer (not the model's input buffer
    or an output, not shared with another value): the kernel may then widen rows over the
    input rows it has read."""
    x, buf = node.inputs[0], lw.program.buffers[src]
    alone = lw.graph.consumers(x) == [node] and not lw.graph.is_output(x)
    return alone and buf.alias_of is None and buf.first >= 0


def emit_conv_fast(lw, node, p, geometry, weights, bias2, rq, src, dst, pointwise, in_place=False):
    x, y = node.inputs[0], node.outputs[0]
    gemm = gemm_fields(lw, node, p, weights, bias2, rq)
    fields = {
        "in": dims(x.shape),
        "out": dims(y.shape),
        **{k: v for k, v in geometry.items() if k not in ("pad_bottom", "pad_right")},
        "input_zero_point": int(p.input_zero_point),
        "input_dies": int(not in_place and input_dies(lw, node, src)),
        "gemm": gemm,
    }
    outputs = [dst]
    kernel = "edgec_conv_1x1_fast_s8" if pointwise else "edgec_conv_fast_s8"
    k = gemm.fields["k"]
    k4 = -(-k // 4) * 4
    wide = 4 * k4  # the two widened rows
    rows = 0 if pointwise else 2 * k4  # two im2col rows, each padded to a multiple of 4
    pixels = int(np.prod(y.shape)) // y.shape[1]
    # where the output's tail is too short for the widened rows (its last pixels), they go
    # over the input the layer has read if it dies here; else the rows are split as they
    # come (slower): more than an eighth of the pixels so gets scratch for them
    without_room = 0 if fields["input_dies"] else (wide // gemm.fields["n"] + 2) / pixels
    if in_place:  # the output's tail holds input: the widened rows need their own room
        outputs.append(lw.scratch(node, wide + rows, "widened rows, im2col rows"))
        kernel = kernel.replace("_fast_s8", "_fast_inplace_s8")
    elif without_room > 1 / 8 and node.name not in lw.lean:
        outputs.append(lw.scratch(node, wide + rows, "widened rows, im2col rows"))
        kernel = kernel.replace("_fast_s8", "_fast_wide_s8")
    elif not pointwise:
        outputs.append(lw.scratch(node, rows, "im2col rows"))
    lw.call(
        kernel,
        "edgec_conv_fast_s8_t",
        fields,
        [src],
        outputs,
        node.name,
        node.op_type,
        GEMM_SOURCES,
        macs=get_op("Conv").macs(node),
    )


def _add_tables(p, rounding: str):
    """edgec_add_fast_s8's tables, requantization row (or None) and shift: TFLM's rescaled
    operands; onnxruntime's float32 terms (the constant in b's); XNNPACK's products (the
    bias in a's), each as the reference computes them."""
    q = np.arange(-128, 128, dtype=np.int64)
    mode = check_rounding(rounding, p.dtype)
    if mode == "float":
        ratio_a, ratio_b, fixed = add_float_terms(p)
        a_terms = q.astype(np.float32) * ratio_a
        b_terms = fixed + q.astype(np.float32) * ratio_b
        return float_bits(a_terms), float_bits(b_terms), None, 0
    if mode == "litert":
        m_a, m_b, shift, bias = add_xnnpack_terms(p)
        return (bias + q * m_a).astype(np.int32), (q * m_b).astype(np.int32), None, shift

    def table(zero_point, multiplier, shift):
        rescaled = (q - int(zero_point)) << int(p.left_shift)
        return multiply_by_quantized_multiplier(rescaled, multiplier, shift).astype(np.int32)

    a_table = table(p.input1_zero_point, p.input1_multiplier, p.input1_shift)
    b_table = table(p.input2_zero_point, p.input2_multiplier, p.input2_shift)
    requant = right_shift_requant_params(p.output_multiplier, p.output_shift, p.output_zero_point)
    return a_table, b_table, requant, p.output_shift


def emit_add_fast(lw: Lowering, node: Node, p, refs, dst, loop, strides) -> bool:
    """int8 Add of two operands of the output's shape (a residual connection) in the
    optimized build: each operand's rescaled value, (q - zp) << left_shift requantized, is
    a function of its 256 values, tabulated here with the reference's own arithmetic."""
    out = node.outputs[0]
    if not lw.optimized or suffix(out) != "s8" or loop[:3] != [1, 1, 1]:
        return False
    if any(tuple(s) != (0, 0, 0, 1) for s in strides):
        return False
    a_table, b_table, requant, out_shift = _add_tables(p, lw.rounding)
    fields = {
        "size": loop[3],
        "act_min": p.act_min,
        "act_max": p.act_max,
        "a_table": lw.weight(a_table, f"{node.name} first operand rescaled"),
        "b_table": lw.weight(b_table, f"{node.name} second operand rescaled"),
        "requant": None if requant is None else lw.weight(requant, f"{node.name} requantization"),
        "output_zero_point": p.output_zero_point,
        "out_mult": p.output_multiplier,
        "out_shift": out_shift,
    }
    lw.elementwise_in_place(node.name, refs, dst)
    lw.call(
        "edgec_add_fast_s8",
        "edgec_add_fast_s8_t",
        fields,
        refs,
        [dst],
        node.name,
        node.op_type,
        fast_sources("fast_add.c"),
    )
    return True
