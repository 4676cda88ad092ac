"""Emitters for integer (int8 and 16x8) nodes: quantized IR nodes → TFLM-exact C kernels.

Every parameter comes from :func:`edgec.ops.integer.integer_params` — the same numbers the
numpy reference uses — so the generated C and the reference executor agree bit for bit.
The checks (``int_checks.py``) run that derivation too: a variant the kernels do not cover
is reported up front with the reason, together with every other unsupported node.
"""

from __future__ import annotations

import math

import numpy as np

from edgec.backends.c import layout as L
from edgec.backends.c.emit_float import (
    axis_split,
    broadcast_operands,
    conv_weights_layout,
    dims,
    is_depthwise,
    window_fields,
)
from edgec.backends.c.int_checks import (
    LAYOUTS,
    SUFFIX,
    check_binary,
    check_clip,
    check_concat,
    check_conv,
    check_fc,
    check_int8_only,
    check_mean,
    check_requantize,
    check_softmax,
    check_spatial,
    checked,
    concat_requant,
    mean_plan,
    same_dtype,
)
from edgec.backends.c.lower import Emitter, Lowering
from edgec.backends.c.overlap import conv_lag
from edgec.backends.c.program import Struct
from edgec.ir.graph import Node, Value
from edgec.ops import get_op
from edgec.ops.integer import fc_layout, integer_params, scale_zp
from edgec.quantize.fixedpoint import multiply_by_quantized_multiplier, right_shift_requant_params
from edgec.quantize.kernels.tables import SIGMOID_TABLE_UINT16

FIXEDPOINT = "edgec_fixedpoint.h"  # private header of the integer kernel sources


def _suffix(value: Value) -> str:
    return SUFFIX[np.dtype(value.dtype)]


def _sources(name: str) -> set[str]:
    return {name, FIXEDPOINT}


def _fast_sources(name: str) -> set[str]:
    """An optimized kernel's source with the private header the optimized kernels share."""
    return {name, "fast_common.h", "fast_scalar.h", "edgec_dsp.h", FIXEDPOINT}


# ---- helpers -----------------------------------------------------------------------------------
def _per_channel(values: np.ndarray, channels: int) -> np.ndarray:
    values = np.asarray(values, np.int64).reshape(-1)
    return np.broadcast_to(values, (channels,)).astype(np.int32)


def _requant_fields(lw: Lowering, node: Node, requant, channels: int) -> dict:
    return {
        "act_min": int(requant.act_min),
        "act_max": int(requant.act_max),
        "out_mult": lw.weight(
            _per_channel(requant.multiplier, channels), f"{node.name} multipliers"
        ),
        "out_shift": lw.weight(_per_channel(requant.shift, channels), f"{node.name} shifts"),
    }


def _bias(lw: Lowering, node: Node, bias: np.ndarray | None, channels: int, wide_type: bool):
    if bias is None:
        return None
    data = np.broadcast_to(np.asarray(bias).reshape(-1), (channels,))
    return lw.weight(data.astype(np.int64 if wide_type else np.int32), f"{node.name} bias")


def _zero_points(node: Node, params) -> dict:
    if node.outputs[0].dtype == np.int16:
        return {"wide": int(params.requant.wide)}
    return {
        "input_zero_point": int(params.input_zero_point),
        "output_zero_point": int(params.requant.zero_point),
    }


# ---- convolution and fully connected ---------------------------------------------------------
def emit_conv(lw: Lowering, node: Node) -> None:
    x, w, y = node.inputs[0], node.inputs[1], node.outputs[0]
    p = integer_params(node)
    sfx, channels = _suffix(y), y.shape[1]
    depthwise = is_depthwise(node)
    src, dst = lw.read(x, L.CHANNELS_LAST), lw.write(y, L.CHANNELS_LAST)
    geometry = window_fields(node, x, tuple(w.shape[2:]))
    weights = conv_weights_layout(w.const.astype(np.int8), depthwise)
    bias = node.input(2).const if node.input(2) is not None else None
    multiplier = channels // x.shape[1] if depthwise else 0
    pointwise = geometry["kh"] == geometry["kw"] == 1 and not any(
        geometry[k] for k in ("pad_top", "pad_left", "pad_bottom", "pad_right")
    )
    kernel, struct = (f"edgec_dwconv_{sfx}", f"edgec_dwconv_{sfx}_t") if depthwise else (None, None)
    sources = _sources("conv_int.c")
    bias_ref = None
    # planned over its input: the portable kernel, whose access order overlap.py models
    in_place = node.name in lw.in_place and sfx == "s8"
    if in_place:
        fields_in, fields_out = dims(x.shape).fields, dims(y.shape).fields
        shapes = tuple(fields_in[k] for k in "nhwc"), tuple(fields_out[k] for k in "nhwc")
        # fast, two pixels at a time, with scratch (a lean node does without: portable)
        if lw.optimized and not depthwise and p.group == 1 and node.name not in lw.lean:
            rows = weights.reshape(channels, -1)
            folded = _folded_bias(rows, bias, p.input_zero_point)
            requant = _fast_requant(p.requant, channels)
            if folded is not None and requant is not None:
                lw.program.buffers[dst].overlap = (src, conv_lag(*shapes, geometry, pixels=2))
                args = (geometry, weights, folded, requant, src, dst, pointwise)
                _emit_conv_fast(lw, node, p, *args, in_place=True)
                return
        lw.program.buffers[dst].overlap = (src, conv_lag(*shapes, geometry))
    elif sfx == "s8" and not depthwise and p.group == 1:
        from edgec.backends.c.emit_compact import try_conv

        if try_conv(lw, node, p, geometry, weights, bias, src, dst, pointwise):
            return
    fast_fits = multiplier == 1 if depthwise else p.group == 1
    # the fast depthwise kernel writes each output pixel while reading only its taps, as
    # the portable one does (overlap.conv_lag models both), and has no working memory
    if (not in_place or depthwise) and lw.optimized and sfx == "s8" and fast_fits:
        # The fast kernels fold the input offset over every tap into the bias. Weights are
        # [o][kh][kw][i] (sum each row) or, depthwise, [kh][kw][c] (sum each column).
        rows = weights.reshape(-1, channels).T if depthwise else weights.reshape(channels, -1)
        folded = _folded_bias(rows, bias, p.input_zero_point)
        requant = _fast_requant(p.requant, channels)
        fast = folded is not None and requant is not None
        # im2col needs scratch: a node that must run lean takes the portable kernel
        if fast and not depthwise and (pointwise or node.name not in lw.lean):
            _emit_conv_fast(lw, node, p, geometry, weights, folded, requant, src, dst, pointwise)
            return
        if fast and depthwise:
            bias_ref = lw.weight(folded, f"{node.name} bias + input offset x weight sums")
            kernel, sources = "edgec_dwconv_fast_s8", _fast_sources("fast_dwconv.c")
    fields = {
        "in": dims(x.shape),
        "out": dims(y.shape),
        **geometry,
        **_zero_points(node, p),
        "weights": lw.weight(weights, f"{node.name} weights"),
        "bias": bias_ref or _bias(lw, node, bias, channels, sfx == "s16"),
    }
    if kernel == "edgec_dwconv_fast_s8":  # the requant table replaces out_mult and out_shift
        fields.update(act_min=int(p.requant.act_min), act_max=int(p.requant.act_max))
        fields.update(out_mult=None, out_shift=None, output_zero_point=requant[1])
    else:
        fields.update(_requant_fields(lw, node, p.requant, channels))
    if kernel == "edgec_dwconv_fast_s8":
        fields["depth_multiplier"] = multiplier
        # what taps in the padding read: the input zero point for every channel (flash)
        padding = np.full(channels, p.input_zero_point, np.int8)
        fields = {
            "conv": Struct(fields),
            "padding": lw.weight(padding, f"{node.name} padding"),
            "requant": lw.weight(requant[0], f"{node.name} requantization"),
            "wide": lw.weight(_dw_wide_weights(weights), f"{node.name} weights split in pairs"),
        }
        struct = "edgec_dwconv_fast_s8_t"
    elif depthwise:
        fields["depth_multiplier"] = multiplier
    else:
        fields["groups"] = p.group
        kernel, struct = f"edgec_conv_{sfx}", f"edgec_conv_{sfx}_t"
        if pointwise and p.group == 1 and sfx == "s8":
            kernel = "edgec_conv_1x1_s8"
    macs = get_op("Conv").macs(node)
    lw.call(
        kernel,
        struct,
        fields,
        [src],
        [dst],
        node.name,
        node.op_type,
        sources,
        macs=macs,
    )


# ---- optimized int8 kernels (fast_*.c) ---------------------------------------------------------
def _folded_bias(weights: np.ndarray, bias, input_zero_point: int) -> np.ndarray | None:
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


def _dw_wide_weights(weights: np.ndarray) -> np.ndarray:
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


def _gemm_pair_layout(rows: np.ndarray) -> np.ndarray:
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


def _fast_requant(requant, channels: int) -> tuple[np.ndarray, int] | None:
    """The fast kernels' requantization table (multiplier, 2**(r-2) + zero point * 2**(r-1),
    r-1 per channel) and the zero point left to add: 0 when the table holds it, else (the
    high word has no room for it) a table without it. None when a channel's scale is 1/4 or
    more: the portable kernel then runs the layer."""
    m = _per_channel(requant.multiplier, channels)
    s = _per_channel(requant.shift, channels)
    zero_point = int(requant.zero_point)
    table = right_shift_requant_params(m, s, zero_point)
    if table is not None:
        return table, 0
    table = right_shift_requant_params(m, s)
    return None if table is None else (table, zero_point)


def _gemm_fields(
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
            "weights": lw.weight(_gemm_pair_layout(weights.reshape(n, -1)), f"{node.name} weights"),
            "bias": lw.weight(folded, f"{node.name} bias + input offset x weight sums"),
            "requant": lw.weight(requant[0], f"{node.name} requantization"),
        }
    )


def _emit_conv_fast(
    lw, node, p, geometry, weights, folded, requant, src, dst, pointwise, in_place=False
):
    x, y = node.inputs[0], node.outputs[0]
    if not pointwise:  # im2col rows padded to a multiple of 4 (zero weights): the fast path
        rows = weights.reshape(weights.shape[0], -1)
        weights = np.pad(rows, ((0, 0), (0, -rows.shape[1] % 4)))
    gemm = _gemm_fields(lw, node, p, weights, folded, requant)
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
        _fast_sources("fast_gemm.c"),
        macs=get_op("Conv").macs(node),
    )


def emit_fc(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    p = integer_params(node)
    sfx = _suffix(y)
    transpose, _ = fc_layout(node)
    weights = node.inputs[1].const
    weights = np.ascontiguousarray(weights.T if transpose else weights).astype(np.int8)
    out_features = weights.shape[0]
    bias = node.input(2).const if node.input(2) is not None else None  # MatMul may carry one
    src, dst = lw.read(x, L.LOGICAL), lw.write(y, L.LOGICAL)
    if sfx == "s8":
        from edgec.backends.c.emit_compact import try_fc

        if try_fc(lw, node, p, weights, bias, src, dst):
            return
    if lw.optimized and sfx == "s8":
        folded = _folded_bias(weights, bias, p.input_zero_point)
        requant = _fast_requant(p.requant, out_features)
        if folded is not None and requant is not None:
            rows = math.prod(x.shape[:-1])
            gemm = _gemm_fields(lw, node, p, weights, folded, requant, rows=rows)
            lw.call(
                "edgec_fc_fast_s8",
                "edgec_gemm_s8_t",
                gemm.fields,
                [src],
                [dst],
                node.name,
                node.op_type,
                _fast_sources("fast_gemm.c"),
                macs=get_op(node.op_type).macs(node),
            )
            return
    fields = {
        "batches": math.prod(x.shape[:-1]),
        "in_features": x.shape[-1],
        "out_features": out_features,
        **_zero_points(node, p),
        "weights": lw.weight(weights, f"{node.name} weights"),
        "bias": _bias(lw, node, bias, out_features, sfx == "s16"),
        **_requant_fields(lw, node, p.requant, out_features),
    }
    lw.call(
        f"edgec_fc_{sfx}",
        f"edgec_fc_{sfx}_t",
        fields,
        [src],
        [dst],
        node.name,
        node.op_type,
        _sources("fc_int.c"),
        macs=get_op(node.op_type).macs(node),
    )


# ---- elementwise -----------------------------------------------------------------------------
def emit_binary(lw: Lowering, node: Node) -> None:
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
    if node.op_type == "Add" and _emit_add_fast(lw, node, p, refs, dst, loop, strides):
        return
    if node.op_type == "Add":
        fields.update(
            left_shift=p.left_shift,
            a_mult=p.input1_multiplier,
            a_shift=p.input1_shift,
            b_mult=p.input2_multiplier,
            b_shift=p.input2_shift,
            out_mult=p.output_multiplier,
            out_shift=p.output_shift,
        )
    else:
        fields.update(out_mult=p.multiplier, out_shift=p.shift)
    op = node.op_type.lower()
    lw.call(
        f"edgec_{op}_{_suffix(out)}",
        f"edgec_{op}_int_t",
        fields,
        refs,
        [dst],
        node.name,
        node.op_type,
        _sources("eltwise_int.c"),
    )


def _emit_add_fast(lw: Lowering, node: Node, p, refs, dst, loop, strides) -> bool:
    """int8 Add of two operands of the output's shape (a residual connection) in the
    optimized build: each operand's rescaled value, (q - zp) << left_shift requantized, is
    a function of its 256 values, tabulated here with the reference's own arithmetic."""
    out = node.outputs[0]
    if not lw.optimized or _suffix(out) != "s8" or loop[:3] != [1, 1, 1]:
        return False
    if any(tuple(s) != (0, 0, 0, 1) for s in strides):
        return False
    q = np.arange(-128, 128, dtype=np.int64)

    def table(zero_point, multiplier, shift):
        rescaled = (q - int(zero_point)) << int(p.left_shift)
        return multiply_by_quantized_multiplier(rescaled, multiplier, shift).astype(np.int32)

    a_table = table(p.input1_zero_point, p.input1_multiplier, p.input1_shift)
    b_table = table(p.input2_zero_point, p.input2_multiplier, p.input2_shift)
    requant = right_shift_requant_params(p.output_multiplier, p.output_shift, p.output_zero_point)
    fields = {
        "size": loop[3],
        "act_min": p.act_min,
        "act_max": p.act_max,
        "a_table": lw.weight(a_table, f"{node.name} first operand rescaled"),
        "b_table": lw.weight(b_table, f"{node.name} second operand rescaled"),
        "requant": None if requant is None else lw.weight(requant, f"{node.name} requantization"),
        "output_zero_point": p.output_zero_point,
        "out_mult": p.output_multiplier,
        "out_shift": p.output_shift,
    }
    lw.call(
        "edgec_add_fast_s8",
        "edgec_add_fast_s8_t",
        fields,
        refs,
        [dst],
        node.name,
        node.op_type,
        _fast_sources("fast_add.c"),
    )
    return True


def _unary(lw: Lowering, node: Node, kernel: str, struct: str, fields: dict, source: str):
    x, y = node.inputs[0], node.outputs[0]
    layout = lw.stored_layout(x)
    src, dst = lw.read(x, layout), lw.write(y, layout)
    lw.call(
        kernel,
        struct,
        {"size": x.size, **fields},
        [src],
        [dst],
        node.name,
        node.op_type,
        _sources(source),
    )


def emit_sigmoid_like(lw: Lowering, node: Node) -> None:
    p = integer_params(node)
    sfx = _suffix(node.outputs[0])
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
    _unary(lw, node, f"edgec_{name}_{sfx}", "edgec_sigmoid_int_t", fields, "sigmoid_int.c")


def emit_hard_swish(lw: Lowering, node: Node) -> None:
    p = integer_params(node)
    fields = {
        "input_zero_point": p.input_zero_point,
        "output_zero_point": p.output_zero_point,
        "output_mult": p.output_multiplier,
        "output_exponent": p.output_exponent,
        "reluish_mult": p.reluish_multiplier,
        "reluish_exponent": p.reluish_exponent,
    }
    _unary(lw, node, "edgec_hard_swish_s8", "edgec_hard_swish_s8_t", fields, "eltwise_int.c")


def emit_leaky_relu(lw: Lowering, node: Node) -> None:
    p = integer_params(node)
    fields = {
        "input_zero_point": p.input_zero_point,
        "output_zero_point": p.output_zero_point,
        "identity_mult": p.identity_multiplier,
        "identity_shift": p.identity_shift,
        "alpha_mult": p.alpha_multiplier,
        "alpha_shift": p.alpha_shift,
    }
    sfx = _suffix(node.outputs[0])
    _unary(lw, node, f"edgec_leaky_relu_{sfx}", "edgec_leaky_relu_int_t", fields, "eltwise_int.c")


def emit_clamp(lw: Lowering, node: Node) -> None:
    rescale, (lo, hi) = integer_params(node)
    fields = {
        "requantize": int(rescale is not None),
        "input_zero_point": rescale.input_zero_point if rescale else 0,
        "output_zero_point": rescale.output_zero_point if rescale else 0,
        "mult": rescale.multiplier if rescale else 0,
        "shift": rescale.shift if rescale else 0,
        "act_min": lo,
        "act_max": hi,
    }
    sfx = _suffix(node.outputs[0])
    _unary(lw, node, f"edgec_clamp_{sfx}", "edgec_clamp_int_t", fields, "eltwise_int.c")


def emit_requantize(lw: Lowering, node: Node) -> None:
    """An integer → integer QuantizeLinear (TFLite QUANTIZE between integer tensors)."""
    p = integer_params(node)
    x, y = node.inputs[0], node.outputs[0]
    fields = {
        "input_zero_point": p.input_zero_point,
        "output_zero_point": p.output_zero_point,
        "mult": p.multiplier,
        "shift": p.shift,
    }
    kernel = f"edgec_requantize_{_suffix(x)}_{_suffix(y)}"
    _unary(lw, node, kernel, "edgec_requantize_int_t", fields, "eltwise_int.c")


# ---- softmax, pools, mean --------------------------------------------------------------------
def emit_softmax(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    p = integer_params(node)
    layout, src, outer, size, inner = axis_split(lw, x, get_op("Softmax").attr(node, "axis"))
    dst = lw.write(y, layout)
    tables = {"exp_table": None, "reciprocal_table": None}
    if p.exp_table is not None:
        tables = {
            "exp_table": lw.weight(p.exp_table.astype(np.int16), "softmax exp table"),
            "reciprocal_table": lw.weight(p.reciprocal_table.astype(np.int16), "softmax 1/(1+x)"),
        }
    fields = {
        "outer": outer,
        "axis_size": size,
        "inner": inner,
        "input_mult": p.input_multiplier,
        "input_left_shift": p.input_left_shift,
        "diff_min": p.diff_min,
        **tables,
    }
    sfx_in, sfx_out = _suffix(x), _suffix(y)
    kernel = f"edgec_softmax_{sfx_in}" + ("" if sfx_in == sfx_out else f"_{sfx_out}")
    lw.call(
        kernel,
        "edgec_softmax_int_t",
        fields,
        [src],
        [dst],
        node.name,
        node.op_type,
        _sources("softmax_int.c"),
    )


def emit_pool(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    p = integer_params(node)
    src, dst = lw.read(x, L.CHANNELS_LAST), lw.write(y, L.CHANNELS_LAST)
    top, left, bottom, right = p.pads
    fields = {
        "in": dims(x.shape),
        "out": dims(y.shape),
        "kh": p.kernel[0],
        "kw": p.kernel[1],
        "stride_h": p.strides[0],
        "stride_w": p.strides[1],
        "pad_top": top,
        "pad_left": left,
        "pad_bottom": bottom,
        "pad_right": right,
        "count_include_pad": int(p.count_include_pad),
        "input_zero_point": p.input_zero_point,
        "act_min": p.act_min,
        "act_max": p.act_max,
    }
    name = "avgpool" if node.op_type == "AveragePool" else "maxpool"
    lw.call(
        f"edgec_{name}_{_suffix(y)}",
        "edgec_pool_int_t",
        fields,
        [src],
        [dst],
        node.name,
        node.op_type,
        _sources("pool_int.c"),
    )


def emit_mean(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    p = integer_params(node)
    stored = L.normalize(len(x.shape), lw.stored_layout(x))
    options = [(a, b) for a in (stored, *LAYOUTS) for b in (stored, *LAYOUTS)]
    in_layout, out_layout = next(o for o in options if mean_plan(node, *o))
    outer, count, inner = mean_plan(node, in_layout, out_layout)
    src, dst = lw.read(x, in_layout), lw.write(y, out_layout)
    fields = {
        "outer": outer,
        "count": count,
        "inner": inner,
        "input_zero_point": p.input_zero_point,
        "output_zero_point": p.output_zero_point,
        "out_mult": p.multiplier,
        "out_shift": p.shift,
    }
    lw.call(
        f"edgec_mean_{_suffix(y)}",
        "edgec_mean_int_t",
        fields,
        [src],
        [dst],
        node.name,
        node.op_type,
        _sources("pool_int.c"),
    )


# ---- concat with requantization ----------------------------------------------------------------
def emit_concat(lw: Lowering, node: Node) -> None:
    y = node.outputs[0]
    axis = get_op("Concat").attr(node, "axis") % len(y.shape)
    layouts = {lw.stored_layout(v) for v in node.inputs if not v.is_const}
    layout = L.normalize(len(y.shape), layouts.pop() if len(layouts) == 1 else L.LOGICAL)
    mem_axis = L.to_memory_perm(len(y.shape), layout).index(axis)
    srcs, inner, flags, zps, mults, shifts = [], [], [], [], [], []
    for v in node.inputs:
        if v.is_const:
            srcs.append(lw.weight(L.to_memory(v.const, layout), f"input of {node.name}").name)
        else:
            srcs.append(lw.read(v, layout))
        inner.append(math.prod(L.memory_shape(v.shape, layout)[mem_axis:]))
        rq = concat_requant(v, y)
        flags.append(int(rq is not None))
        zps.append(rq.input_zero_point if rq else 0)
        mults.append(rq.multiplier if rq else 0)
        shifts.append(rq.shift if rq else 0)
    dst = lw.write(y, layout)

    def table(values, what):
        return lw.weight(np.array(values, np.int32), f"{what} of each input of {node.name}")

    fields = {
        "n_inputs": len(srcs),
        "outer": math.prod(L.memory_shape(y.shape, layout)[:mem_axis]),
        "output_zero_point": scale_zp(y)[1],
        "inner": table(inner, "elements per outer step"),
        "requantize": table(flags, "requantize flag"),
        "input_zero_point": table(zps, "zero point"),
        "mult": table(mults, "multiplier"),
        "shift": table(shifts, "shift"),
    }
    lw.call(
        f"edgec_concat_{_suffix(y)}",
        "edgec_concat_int_t",
        fields,
        srcs,
        [dst],
        node.name,
        node.op_type,
        _sources("eltwise_int.c"),
        variadic=True,
    )


_conv = Emitter(emit_conv, checked(check_conv))
_fc = Emitter(emit_fc, checked(check_fc))
_binary = Emitter(emit_binary, checked(check_binary))
_pool = Emitter(emit_pool, checked(check_spatial))
_mean = Emitter(emit_mean, checked(check_mean))
_sigmoid = Emitter(emit_sigmoid_like, checked(same_dtype))
_clamp = Emitter(emit_clamp, checked(check_clip))

INT_EMITTERS: dict[str, Emitter] = {
    "Conv": _conv,
    "Gemm": _fc,
    "MatMul": _fc,
    "Add": _binary,
    "Mul": _binary,
    "AveragePool": _pool,
    "MaxPool": _pool,
    "GlobalAveragePool": _mean,
    "ReduceMean": _mean,
    "Softmax": Emitter(emit_softmax, checked(check_softmax)),
    "Sigmoid": _sigmoid,
    "Tanh": _sigmoid,
    "HardSwish": Emitter(emit_hard_swish, checked(check_int8_only)),
    "LeakyRelu": Emitter(emit_leaky_relu, checked(same_dtype)),
    "Relu": _clamp,
    "Clip": _clamp,
    # Reached only for an integer input (the float → int QuantizeLinear is a boundary kernel).
    "QuantizeLinear": Emitter(emit_requantize, checked(check_requantize)),
    # Reached only when the byte-copying Concat of emit_move declines (differing quantization).
    "Concat": Emitter(emit_concat, checked(check_concat)),
}
