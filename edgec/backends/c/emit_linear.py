"""Convolutions and fully connected layers, float and integer.

An integer layer has several kernels; which one runs is an ordered list of variants, each
with its applicability test: the first that applies emits the layer. Every variant is
bit-exact with the portable kernel (TFLite Micro's loops), which always applies last.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from edgec.backends.c import emit_compact, emit_entropy, emit_int4, emit_lut, emit_mve
from edgec.backends.c import layout as L
from edgec.backends.c.emit_attention import FLOAT_MATMUL, INT_MATMUL, either, is_batched
from edgec.backends.c.emit_common import (
    activation_bounds,
    bias_ref,
    conv_weights_layout,
    dims,
    fc_operands,
    int_sources,
    is_depthwise,
    requant_fields,
    spatial_rank_check,
    suffix,
    window_fields,
    zero_points,
)
from edgec.backends.c.emit_fast import (
    GEMM_SOURCES,
    FastRequant,
    doubled_bias,
    dw_stream,
    emit_conv_fast,
    fast_requant,
    fast_sources,
    folded_bias,
    gemm_fields,
    quad_fields,
    quad_stream,
)
from edgec.backends.c.int_checks import check_conv as check_int_conv
from edgec.backends.c.int_checks import check_fc as check_int_fc
from edgec.backends.c.int_checks import checked
from edgec.backends.c.lowering import Emitter, Lowering
from edgec.backends.c.overlap import conv_lag
from edgec.ir.graph import Node
from edgec.ops import get_op
from edgec.ops.integer import integer_params
from edgec.ops.integer.int4 import is_int4
from edgec.ops.integer.nodes import fc_layout


# ---- float --------------------------------------------------------------------------------------
def emit_conv(lw: Lowering, node: Node) -> None:
    x, w, y = node.inputs[0], node.inputs[1], node.outputs[0]
    b = node.input(2)
    depthwise = is_depthwise(node)
    src, dst = lw.read(x, L.CHANNELS_LAST), lw.write(y, L.CHANNELS_LAST)
    lo, hi = activation_bounds(node)
    fields = {
        "in": dims(x.shape),
        "out": dims(y.shape),
        **window_fields(node, x, tuple(w.shape[2:])),
        "act_min": lo,
        "act_max": hi,
        "weights": lw.weight(
            conv_weights_layout(w.const.astype(np.float32), depthwise), f"{node.name} weights"
        ),
        "bias": lw.weight(b.const.astype(np.float32), f"{node.name} bias")
        if b is not None
        else None,
    }
    if depthwise:
        fields["multiplier"] = y.shape[1] // x.shape[1]
        kernel, struct = "edgec_dwconv_f32", "edgec_dwconv_f32_t"
    else:
        fields["groups"] = node.attrs.get("group", 1)
        kernel, struct = "edgec_conv_f32", "edgec_conv_f32_t"
    macs = get_op("Conv").macs(node)
    lw.call(kernel, struct, fields, [src], [dst], node.name, node.op_type, {"conv_f32.c"}, macs)


def check_conv(node: Node) -> str | None:
    if not node.inputs[1].is_const or (node.input(2) is not None and not node.inputs[2].is_const):
        return "weights must be constant"
    return spatial_rank_check(node)


def emit_fc(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    weights, bias = fc_operands(node)
    src, dst = lw.read(x, L.LOGICAL), lw.write(y, L.LOGICAL)
    lo, hi = activation_bounds(node)
    fields = {
        "batches": math.prod(x.shape[:-1]),
        "in_features": x.shape[-1],
        "out_features": y.shape[-1],
        "act_min": lo,
        "act_max": hi,
        "weights": lw.weight(weights.astype(np.float32), f"{node.name} weights"),
        "bias": lw.weight(bias.astype(np.float32), f"{node.name} bias")
        if bias is not None
        else None,
    }
    macs = get_op(node.op_type).macs(node)
    lw.call(
        "edgec_fc_f32", "edgec_fc_f32_t", fields, [src], [dst], node.name, node.op_type,
        {"fc_f32.c"}, macs,
    )  # fmt: skip


def check_fc(node: Node) -> str | None:
    a, b = node.inputs[0], node.inputs[1]
    if a.is_const or not b.is_const or len(b.shape) != 2:
        return "B must be a constant matrix and A an activation"
    if node.op_type == "Gemm":
        if get_op("Gemm").attr(node, "transA"):
            return "transA on an activation"
        c = node.input(2)
        if c is not None and (not c.is_const or (c.const.ndim == 2 and c.const.shape[0] != 1)):
            return "C must be a constant row vector"
    return None


# ---- integer: the layer as the variants see it ---------------------------------------------------
@dataclass
class IntLayer:
    """An integer Conv, Gemm or MatMul with its parameters, weights and buffers, computed
    once for every variant's test."""

    lw: Lowering
    node: Node
    src: str
    dst: str
    weights: np.ndarray  # conv: [o][kh][kw][i] (depthwise [kh][kw][c]); fc: [out][in]
    bias: np.ndarray | None
    geometry: dict | None = None  # convolutions only

    @cached_property
    def p(self):
        # the same in every lowering of a compile; the node is kept with its parameters so
        # that its id cannot be reused by a node made later (tiling makes some per lowering)
        key = ("integer_params", id(self.node))
        node, params = self.lw.memo.get(key, (None, None))
        if node is not self.node:
            params = integer_params(self.node)
            self.lw.memo[key] = (self.node, params)
        return params

    @property
    def sfx(self) -> str:
        return suffix(self.node.outputs[0])

    @property
    def channels(self) -> int:
        return self.node.outputs[0].shape[1] if self.geometry else self.weights.shape[0]

    @property
    def depthwise(self) -> bool:
        return self.geometry is not None and is_depthwise(self.node)

    @property
    def group(self) -> int:
        return self.p.group if self.geometry is not None else 1

    @property
    def pointwise(self) -> bool:
        g = self.geometry
        pads = ("pad_top", "pad_left", "pad_bottom", "pad_right")
        return g["kh"] == g["kw"] == 1 and not any(g[k] for k in pads)

    @property
    def in_place(self) -> bool:
        """Planned over its input (overlap.py models the kernels that may run it). Not a
        depthwise layer with channels beyond whole blocks of four: the DSP kernel runs a 3x3
        row's blocks first and its leftover channels after, out of the modelled order."""
        if self.node.name not in self.lw.in_place or self.sfx != "s8":
            return False
        return not (self.depthwise and self.channels % 4)

    @property
    def lean(self) -> bool:
        """Must run without scratch memory (it would grow the arena)."""
        return self.node.name in self.lw.lean

    @property
    def int4(self) -> bool:
        """4-bit weights (emit_int4.py)."""
        return is_int4(self.node.inputs[1].dtype)

    @property
    def dense_int8(self) -> bool:
        """An int8 matrix product of groups 1 (the fast GEMM and the compact kernels)."""
        return self.sfx == "s8" and not self.depthwise and self.group == 1

    @cached_property
    def folded(self) -> np.ndarray | None:
        """Bias + input offset x weight sums: rows are [o][kh][kw][i] (sum each row) or,
        depthwise, [kh][kw][c] (sum each column)."""
        w = self.weights
        rows = w.reshape(-1, self.channels).T if self.depthwise else w.reshape(self.channels, -1)
        return folded_bias(rows, self.bias, self.p.input_zero_point)

    @cached_property
    def requant(self) -> FastRequant | None:
        return fast_requant(self.p.requant, self.channels, self.lw.rounding)

    @cached_property
    def reach(self) -> np.ndarray:
        """Per output channel, the most its sum of products can add: 128 * sum |weights|."""
        w = np.abs(self.weights.astype(np.int64))
        sums = (
            w.reshape(-1, self.channels).sum(0)
            if self.depthwise
            else w.reshape(self.channels, -1).sum(1)
        )
        return 128 * sums

    @cached_property
    def bias2(self) -> np.ndarray | None:
        """The doubled folded bias of the DSP kernels (None: a doubled sum could overflow);
        the same for every tile of a layer and every lowering of a compile (``lw.memo``)."""
        key = ("bias2", id(self.node.inputs[1]), id(self.node.outputs[0].quant))
        if key not in self.lw.memo:
            self.lw.memo[key] = doubled_bias(self.folded, self.reach, self.p.requant)
        return self.lw.memo[key]

    @property
    def mve(self) -> bool:
        """The target core runs the Helium kernels (mve_*.c), else the DSP ones (fast_*.c)."""
        return self.lw.core == "mve"

    @property
    def fast_fits(self) -> bool:
        """The optimized kernels' bias (doubled, for the DSP kernels) and requantization fit."""
        bias = self.folded if self.mve else self.bias2
        return self.lw.optimized and bias is not None and self.requant is not None

    @cached_property
    def compact_conv(self) -> emit_compact.Compact | None:
        """Sparse or clustered weights where that pays (the choice is recorded either way)."""
        return emit_compact.choose_conv(
            self.lw, self.node, self.p, self.weights, self.bias, self.pointwise
        )

    @cached_property
    def entropy(self) -> emit_entropy.Entropy | None:
        """Huffman-coded weights where they are the smallest form (--weight-storage smallest)."""
        return emit_entropy.choose(self)

    @cached_property
    def compact_fc(self) -> emit_compact.Compact | None:
        return emit_compact.choose_fc(self.lw, self.node, self.p, self.weights, self.bias)

    def conv_shapes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        x, y = self.node.inputs[0], self.node.outputs[0]
        fields_in, fields_out = dims(x.shape).fields, dims(y.shape).fields
        return tuple(fields_in[k] for k in "nhwc"), tuple(fields_out[k] for k in "nhwc")

    def plan_in_place(self, pixels: int = 1) -> None:
        """Place the output over the input at the lag the kernel's loop order allows."""
        lag = conv_lag(*self.conv_shapes(), self.geometry, pixels=pixels)
        self.lw.program.buffers[self.dst].overlap = (self.src, lag)


@dataclass(frozen=True)
class Variant:
    """One kernel for a layer: ``applies`` tests it, ``emit`` lowers the layer with it."""

    name: str
    applies: Callable[[IntLayer], bool]
    emit: Callable[[IntLayer], None]


# ---- integer convolution -------------------------------------------------------------------------
def _conv_fast(layer: IntLayer, in_place: bool = False) -> None:
    if in_place:  # two pixels at a time (DSP: with scratch for the widened rows)
        layer.plan_in_place(pixels=2)
    if layer.mve:
        emit_mve.emit_conv(
            layer.lw, layer.node, layer.p, layer.geometry, layer.weights, layer.folded,
            layer.requant, layer.src, layer.dst, layer.pointwise,
        )  # fmt: skip
        return
    emit_conv_fast(
        layer.lw, layer.node, layer.p, layer.geometry, layer.weights, layer.bias2,
        layer.requant, layer.src, layer.dst, layer.pointwise, in_place=in_place,
    )  # fmt: skip


def _conv_fields(layer: IntLayer, bias) -> dict:
    x, y = layer.node.inputs[0], layer.node.outputs[0]
    return {
        "in": dims(x.shape),
        "out": dims(y.shape),
        **layer.geometry,
        **zero_points(layer.node, layer.p),
        "weights": layer.lw.weight(layer.weights, f"{layer.node.name} weights"),
        "bias": bias,
    }


def _call_conv(layer: IntLayer, kernel: str, struct: str, fields: dict, sources: set[str]):
    node = layer.node
    macs = get_op("Conv").macs(node)
    layer.lw.call(
        kernel, struct, fields, [layer.src], [layer.dst], node.name, "Conv", sources, macs
    )


def _conv_fast_depthwise(layer: IntLayer) -> None:
    """Pixel by pixel with the taps in registers; no working memory, so it may run in place."""
    lw, node, p, g = layer.lw, layer.node, layer.p, layer.geometry
    if layer.in_place:
        layer.plan_in_place()
    if layer.mve:
        emit_mve.emit_depthwise(
            lw, node, p, g, layer.weights, layer.folded, layer.requant, layer.src, layer.dst
        )
        return
    fields = _dw_fast_fields(layer)
    fields["stream"] = lw.weight(
        dw_stream(layer.weights, layer.bias2, layer.requant), f"{node.name} weights and constants"
    )
    sources = fast_sources("fast_dwconv.c")
    _call_conv(layer, "edgec_dwconv_fast_s8", "edgec_dwconv_fast_s8_t", fields, sources)


def _dw_fast_fields(layer: IntLayer) -> dict:
    """edgec_dwconv_fast_s8_t's fields but the stream."""
    lw, node, p, g = layer.lw, layer.node, layer.p, layer.geometry
    x, y = node.inputs[0], node.outputs[0]
    padded = any(g[k] for k in ("pad_top", "pad_left", "pad_bottom", "pad_right"))
    return {
        "in": dims(x.shape),
        "out": dims(y.shape),
        **{k: v for k, v in g.items() if k not in ("pad_bottom", "pad_right")},
        "act_min": int(p.requant.act_min),
        "act_max": int(p.requant.act_max),
        # what taps in the padding read: the input zero point for every channel (flash)
        "padding": lw.weight(
            np.full(layer.channels, p.input_zero_point, np.int8), f"{node.name} padding"
        )
        if padded
        else None,
    }


def _conv_portable(layer: IntLayer) -> None:
    """TFLite Micro's reference loops (any variant of int8 or 16x8)."""
    lw, node, p, sfx = layer.lw, layer.node, layer.p, layer.sfx
    if layer.in_place:
        layer.plan_in_place()
    fields = _conv_fields(layer, None)
    fields["bias"] = bias_ref(lw, node, layer.bias, layer.channels, sfx == "s16")
    fields.update(requant_fields(lw, node, p.requant, layer.channels))
    if layer.depthwise:
        fields["depth_multiplier"] = layer.channels // node.inputs[0].shape[1]
        kernel, struct = f"edgec_dwconv_{sfx}", f"edgec_dwconv_{sfx}_t"
    else:
        fields["groups"] = p.group
        kernel, struct = f"edgec_conv_{sfx}", f"edgec_conv_{sfx}_t"
        if layer.pointwise and p.group == 1 and sfx == "s8":
            kernel = "edgec_conv_1x1_s8"
    _call_conv(layer, kernel, struct, fields, int_sources("conv_int.c"))


# 4-bit weights: the optimized kernels where they apply, else the portable one
INT4_CONV_VARIANTS = (
    Variant(
        "int4 GEMM",
        lambda c: (
            c.int4 and c.dense_int8 and not c.in_place and not c.lean and emit_int4.gemm_applies(c)
        ),
        emit_int4.emit_fast_gemm,
    ),
    # the int8 depthwise kernel's stream decoded into scratch (DSP cores)
    Variant(
        "int4 depthwise, int8 stream",
        lambda c: emit_int4.depthwise_applies(c) and not c.lean and not c.mve and c.fast_fits,
        lambda c: emit_int4.emit_stream_depthwise(c, _dw_fast_fields(c)),
    ),
    # the weights decoded into scratch first (int16 pairs, as the int8 depthwise kernel's)
    Variant(
        "int4 depthwise, decoded",
        lambda c: emit_int4.depthwise_applies(c) and not c.lean and c.channels >= 4,
        lambda c: emit_int4.emit_fast_depthwise(c, wide=True),
    ),
    Variant("int4 depthwise", emit_int4.depthwise_applies, emit_int4.emit_fast_depthwise),
    Variant("int4 portable", lambda c: c.int4, emit_int4.emit_portable),
)

CONV_VARIANTS = (
    Variant("entropy-coded weights", lambda c: c.entropy is not None, emit_entropy.emit),
    *INT4_CONV_VARIANTS,
    # over its own input, two pixels at a time (its widened rows need scratch)
    Variant(
        "fast, in place",
        lambda c: c.in_place and c.dense_int8 and not c.lean and c.fast_fits,
        lambda c: _conv_fast(c, in_place=True),
    ),
    # clustered weights (one table) through the int4 GEMM's table loops
    Variant(
        "clustered, table loops",
        lambda c: not c.in_place and c.dense_int8 and not c.lean and emit_int4.clustered_applies(c),
        emit_int4.emit_clustered_gemm,
    ),
    Variant(
        "compact weights",
        lambda c: not c.in_place and c.dense_int8 and c.compact_conv is not None,
        lambda c: emit_compact.emit_conv(
            c.lw, c.node, c.p, c.compact_conv, c.geometry, c.src, c.dst, c.pointwise
        ),
    ),
    # im2col needs scratch: a layer that must run lean takes the portable kernel
    Variant(
        "fast GEMM",
        lambda c: not c.in_place and c.dense_int8 and (c.pointwise or not c.lean) and c.fast_fits,
        _conv_fast,
    ),
    # depth multiplier 1 only; no working memory, so it may run in place
    Variant(
        "fast depthwise",
        lambda c: (
            c.sfx == "s8"
            and c.depthwise
            and c.channels == c.node.inputs[0].shape[1]
            and c.fast_fits
        ),
        _conv_fast_depthwise,
    ),
    Variant("portable", lambda c: True, _conv_portable),
)


def emit_int_conv(lw: Lowering, node: Node) -> None:
    x, w, y = node.inputs[0], node.inputs[1], node.outputs[0]
    src, dst = lw.read(x, L.CHANNELS_LAST), lw.write(y, L.CHANNELS_LAST)
    layer = IntLayer(
        lw,
        node,
        src,
        dst,
        weights=conv_weights_layout(w.const.astype(np.int8), is_depthwise(node)),
        bias=node.input(2).const if node.input(2) is not None else None,
        geometry=window_fields(node, x, tuple(w.shape[2:])),
    )
    if layer.in_place and layer.dense_int8 and not layer.int4:
        layer.compact_conv  # noqa: B018 - records the storage choice (memory.json) in place too
    next(v for v in CONV_VARIANTS if v.applies(layer)).emit(layer)


# ---- integer fully connected ---------------------------------------------------------------------
def _fc_fast(layer: IntLayer) -> None:
    lw, node, p = layer.lw, layer.node, layer.p
    rows = math.prod(node.inputs[0].shape[:-1])
    if layer.mve:
        emit_mve.emit_fc(
            lw, node, p, layer.weights, layer.folded, layer.requant, layer.src, layer.dst, rows
        )
        return
    gemm = gemm_fields(lw, node, p, layer.weights, layer.bias2, layer.requant, rows=rows)
    lw.call(
        "edgec_fc_fast_s8", "edgec_gemm_s8_t", gemm.fields, [layer.src], [layer.dst], node.name,
        node.op_type, GEMM_SOURCES, macs=get_op(node.op_type).macs(node),
    )  # fmt: skip


def _fc_one_row_applies(layer: IntLayer) -> bool:
    """One row at a time, four channels per pass: a batch of one on a DSP core."""
    n, k = layer.weights.shape
    rows = math.prod(layer.node.inputs[0].shape[:-1])
    return (
        layer.sfx == "s8" and layer.fast_fits and not layer.mve
        and rows == 1 and n % 4 == 0 and k % 4 == 0
    )  # fmt: skip


def _fc_fast_one_row(layer: IntLayer) -> None:
    lw, node, p = layer.lw, layer.node, layer.p
    stream = quad_stream(layer.weights, layer.bias2 // 2, layer.requant)
    fields = quad_fields(lw, node, p, stream, "weights and constants")
    lw.call(
        "edgec_fc1_fast_s8", "edgec_gemm_s8_t", fields, [layer.src], [layer.dst], node.name,
        node.op_type, GEMM_SOURCES, macs=get_op(node.op_type).macs(node),
    )  # fmt: skip


def _fc_portable(layer: IntLayer) -> None:
    lw, node, p, sfx = layer.lw, layer.node, layer.p, layer.sfx
    n = layer.weights.shape[0]
    fields = {
        "batches": math.prod(node.inputs[0].shape[:-1]),
        "in_features": node.inputs[0].shape[-1],
        "out_features": n,
        **zero_points(node, p),
        "weights": lw.weight(layer.weights, f"{node.name} weights"),
        "bias": bias_ref(lw, node, layer.bias, n, sfx == "s16"),
        **requant_fields(lw, node, p.requant, n),
    }
    lw.call(
        f"edgec_fc_{sfx}", f"edgec_fc_{sfx}_t", fields, [layer.src], [layer.dst], node.name,
        node.op_type, int_sources("fc_int.c"), macs=get_op(node.op_type).macs(node),
    )  # fmt: skip


FC_VARIANTS = (
    Variant("entropy-coded weights", lambda c: c.entropy is not None, emit_entropy.emit),
    Variant(
        "int4 GEMM",
        lambda c: c.int4 and c.sfx == "s8" and not c.lean and emit_int4.gemm_applies(c),
        emit_int4.emit_fast_gemm,
    ),
    Variant("int4 portable", lambda c: c.int4, emit_int4.emit_portable),
    Variant(
        "clustered, one row, four channels",
        lambda c: c.sfx == "s8" and not c.lean and emit_lut.one_row_applies(c),
        emit_lut.emit_one_row,
    ),
    # clustered weights (one table) through the int4 GEMM's table loops
    Variant(
        "clustered, table loops",
        lambda c: c.sfx == "s8" and not c.lean and emit_int4.clustered_applies(c),
        emit_int4.emit_clustered_gemm,
    ),
    Variant(
        "compact weights",
        lambda c: c.sfx == "s8" and c.compact_fc is not None,
        lambda c: emit_compact.emit_fc(c.lw, c.node, c.p, c.compact_fc, c.src, c.dst),
    ),
    Variant("fast, one row, four channels", _fc_one_row_applies, _fc_fast_one_row),
    Variant("fast GEMM", lambda c: c.sfx == "s8" and c.fast_fits, _fc_fast),
    Variant("portable", lambda c: True, _fc_portable),
)


def emit_int_fc(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    transpose, _ = fc_layout(node)
    weights = node.inputs[1].const
    weights = np.ascontiguousarray(weights.T if transpose else weights).astype(np.int8)
    bias = node.input(2).const if node.input(2) is not None else None  # MatMul may carry one
    src, dst = lw.read(x, L.LOGICAL), lw.write(y, L.LOGICAL)
    layer = IntLayer(lw, node, src, dst, weights, bias)
    next(v for v in FC_VARIANTS if v.applies(layer)).emit(layer)


_conv, _fc = Emitter(emit_conv, check_conv), Emitter(emit_fc, check_fc)
# MatMul: a fully connected layer when B is a constant matrix, else emit_attention's product
FLOAT_EMITTERS = {"Conv": _conv, "Gemm": _fc, "MatMul": either(is_batched, FLOAT_MATMUL, _fc)}
_int_conv, _int_fc = (
    Emitter(emit_int_conv, checked(check_int_conv)),
    Emitter(emit_int_fc, checked(check_int_fc)),
)
INT_EMITTERS = {
    "Conv": _int_conv,
    "Gemm": _int_fc,
    "MatMul": either(is_batched, INT_MATMUL, _int_fc),
}
