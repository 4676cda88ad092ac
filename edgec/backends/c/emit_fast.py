"""The optimized int8 kernels (``fast_*.c``: DSP assembly on Cortex-M4/M7/M33, Helium on the
M55): their weight layouts, prepared at compile time, and their calls.

They fold the input offset into the bias and requantize with a precomputed table; both must
fit (``folded_bias``, ``fast_requant`` return None when they do not) or the portable kernel
runs the layer instead, bit-exact either way.
"""

from __future__ import annotations

import numpy as np

from edgec.backends.c.emit_common import dims, fast_sources, per_channel, suffix
from edgec.backends.c.lowering import Lowering
from edgec.backends.c.program import Struct
from edgec.backends.c.rounding import float_bits, float_requant, linear_requant
from edgec.ir.graph import Node
from edgec.ops import get_op
from edgec.ops.integer.common import check_rounding
from edgec.ops.integer.elementwise import add_float_terms, add_xnnpack_terms
from edgec.ops.integer.fixedpoint import (
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


def dw_wide_weights(weights: np.ndarray) -> np.ndarray:
    """Depthwise weights [kh][kw][c] as edgec_dwconv_fast_s8's words: per block of four
    channels and per tap, (w0 | w2 << 16) and (w1 | w3 << 16) (int16 halves, what SXTB16
    makes of four inputs); the c % 4 last channels are left out (the int8 array has them)."""
    taps = weights.reshape(-1, weights.shape[-1]).astype(np.int64)  # [tap][c]
    blocks = taps.shape[1] // 4
    quads = taps[:, : 4 * blocks].reshape(taps.shape[0], blocks, 4).transpose(1, 0, 2)
    even = (quads[..., 0] & 0xFFFF) | (quads[..., 2] << 16)
    odd = (quads[..., 1] & 0xFFFF) | (quads[..., 3] << 16)
    words = np.stack([even, odd], axis=-1)  # [block][tap][2]
    return words.astype(np.int32) if blocks else np.zeros(2, np.int32)


def gemm_pair_layout(rows: np.ndarray) -> np.ndarray:
    """Weights [n][k] in the order edgec_gemm_s8_t reads them: per pair of rows, their first
    k4 = k - k % 4 values interleaved in groups of four (one LDRD loads both rows' group),
    then the k % 4 last of each row; an odd last row stays as it is."""
    n, k = rows.shape
    k4, pairs = k - k % 4, n // 2
    pair = rows[: 2 * pairs].reshape(pairs, 2, k)
    groups = pair[:, :, :k4].reshape(pairs, 2, k4 // 4, 4).transpose(0, 2, 1, 3)
    tails = pair[:, :, k4:].reshape(pairs, 2 * (k - k4))
    blocks = np.concatenate([groups.reshape(pairs, 2 * k4), tails], axis=1)
    return np.concatenate([blocks.reshape(-1), rows[2 * pairs :].reshape(-1)])


def fast_requant(requant, channels: int, rounding: str = "tflm") -> tuple[np.ndarray, int] | None:
    """The fast kernels' requantization table (multiplier, 2**(r-2) + zero point * 2**(r-1),
    r-1 per channel) and the zero point left to add: 0 when the table holds it, else (the
    high word has no room for it) a table without it. None when a channel's scale is 1/4 or
    more: the portable kernel then runs the layer. Under a float rounding the rows are (the
    float32 scale's bits, the zero point, 0), for every scale."""
    if float_requant(rounding, np.int8):
        mult, _ = linear_requant(requant, channels, rounding, np.int8)
        zero = np.full(channels, int(requant.zero_point), np.int32)
        return np.stack([mult, zero, np.zeros(channels, np.int32)], axis=-1), 0
    m = per_channel(requant.multiplier, channels)
    s = per_channel(requant.shift, channels)
    zero_point = int(requant.zero_point)
    table = right_shift_requant_params(m, s, zero_point)
    if table is not None:
        return table, 0
    table = right_shift_requant_params(m, s)
    return None if table is None else (table, zero_point)


def gemm_fields(
    lw: Lowering,
    node: Node,
    p,
    weights: np.ndarray,
    folded: np.ndarray,
    requant: tuple[np.ndarray, int],
    rows: int = 0,
) -> Struct:
    """``edgec_gemm_s8_t``; ``rows`` only for a fully connected layer (a convolution's rows
    are its output pixels)."""
    n = weights.shape[0]
    return Struct(
        {
            "rows": rows,
            "k": int(weights.size // n),
            "n": n,
            "output_zero_point": requant[1],  # what the table leaves to add
            "act_min": int(p.requant.act_min),
            "act_max": int(p.requant.act_max),
            "weights": lw.weight(gemm_pair_layout(weights.reshape(n, -1)), f"{node.name} weights"),
            "bias": lw.weight(folded, f"{node.name} bias + input offset x weight sums"),
            "requant": lw.weight(requant[0], f"{node.name} requantization"),
        }
    )


def emit_conv_fast(
    lw, node, p, geometry, weights, folded, requant, src, dst, pointwise, in_place=False
):
    x, y = node.inputs[0], node.outputs[0]
    if not pointwise:  # im2col rows padded to a multiple of 4 (zero weights): the fast path
        rows = weights.reshape(weights.shape[0], -1)
        weights = np.pad(rows, ((0, 0), (0, -rows.shape[1] % 4)))
    gemm = gemm_fields(lw, node, p, weights, folded, requant)
    fields = {
        "in": dims(x.shape),
        "out": dims(y.shape),
        **{k: v for k, v in geometry.items() if k not in ("pad_bottom", "pad_right")},
        "input_zero_point": int(p.input_zero_point),
        "gemm": gemm,
    }
    outputs = [dst]
    kernel = "edgec_conv_1x1_fast_s8" if pointwise else "edgec_conv_fast_s8"
    k = gemm.fields["k"]
    if in_place:  # the output's tail holds input: the widened rows need their own room
        rows = 0 if pointwise else 2 * k
        outputs.append(lw.scratch(node, 4 * k + rows, "widened rows, im2col rows"))
        kernel = kernel.replace("_fast_s8", "_fast_inplace_s8")
    elif not pointwise:  # two im2col rows
        outputs.append(lw.scratch(node, 2 * k, "im2col rows"))
    lw.call(
        kernel,
        "edgec_conv_fast_s8_t",
        fields,
        [src],
        outputs,
        node.name,
        node.op_type,
        fast_sources("fast_gemm.c"),
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
