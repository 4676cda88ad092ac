"""Optimized float32 kernels (templates/c/kernels/fast_f32_*.c) where they apply.

In an optimized build each float emitter first tries its fast variant here; a variant that
does not apply returns False and the portable kernel (the op family's emitter) is emitted
instead (``with_fast_variants``, applied by lower.py to the float table).
Weights are packed at compile time in blocks of 8 output channels, k-major, so the kernels
load the 8 weights of one reduction step at once (edgec_kernels_f32_fast.h); no padding.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from edgec.backends.c import emit_pool as pool_family
from edgec.backends.c import layout as L
from edgec.backends.c.emit_attention import batch_fields, call_matmul, is_batched
from edgec.backends.c.emit_common import (
    activation_bounds,
    broadcast_operands,
    dims,
    fc_operands,
    is_depthwise,
    window_fields,
)
from edgec.backends.c.emit_eltwise import BINARY_OPS
from edgec.backends.c.lowering import Emitter, Lowering
from edgec.backends.c.program import Struct
from edgec.ir.graph import Node
from edgec.ops import get_op

BLOCK = 8  # output channels per packed weight block
HEADERS = {"fast_f32_common.h", "edgec_kernels_f32_fast.h"}
ACT_NONE, ACT_RELU, ACT_CLAMP = 0, 1, 2
FAST_BINARY = ("Add", "Sub", "Mul", "Max", "Min", "Sum")


def _sources(name: str) -> set[str]:
    return {name, *HEADERS}


def act_fields(node: Node) -> dict:
    """The fused activation as the fast kernels' clamp kind and bounds."""
    lo, hi = activation_bounds(node)
    kind = ACT_NONE if (lo, hi) == (-math.inf, math.inf) else ACT_CLAMP
    if (lo, hi) == (0.0, math.inf):
        kind = ACT_RELU
    return {"act": kind, "act_min": lo, "act_max": hi}


def pack_blocks(rows: np.ndarray) -> np.ndarray:
    """[out][k] → the full blocks [out // 8][k][8], then the rest [k][out % 8] (flat)."""
    out, k = rows.shape
    full = out // BLOCK * BLOCK
    blocks = rows[:full].reshape(-1, BLOCK, k).transpose(0, 2, 1).reshape(-1)
    return np.concatenate([blocks, rows[full:].T.reshape(-1)]).astype(np.float32)


def bias_ref(lw: Lowering, bias: np.ndarray | None, what: str):
    return None if bias is None else lw.weight(bias.astype(np.float32), what)


def gemm_fields(lw: Lowering, node: Node, rows: np.ndarray, bias: np.ndarray | None) -> Struct:
    return Struct(
        {
            "k": rows.shape[1],
            "out_c": rows.shape[0],
            **act_fields(node),
            "weights": lw.weight(pack_blocks(rows), f"{node.name} weights"),
            "bias": bias_ref(lw, bias, f"{node.name} bias"),
        }
    )


def emit_conv(lw: Lowering, node: Node) -> bool:
    x, w, y = node.inputs[0], node.inputs[1], node.outputs[0]
    depthwise = is_depthwise(node)
    if depthwise and y.shape[1] != x.shape[1]:
        return False  # channel multiplier > 1: the portable kernel
    if not depthwise and node.attrs.get("group", 1) != 1:
        return False
    weights = w.const.astype(np.float32)
    weights = weights[:, :, None, :] if weights.ndim == 3 else weights
    b = node.input(2)
    bias = b.const.astype(np.float32) if b is not None else None
    geometry = window_fields(node, x, tuple(w.shape[2:]))
    pads = [geometry.pop(k) for k in ("pad_top", "pad_left", "pad_bottom", "pad_right")]
    geometry.update(pad_top=pads[0], pad_left=pads[1])
    common = {"in": dims(x.shape), "out": dims(y.shape), **geometry}
    macs = get_op("Conv").macs(node)
    if depthwise:
        taps = weights[:, 0].reshape(weights.shape[0], -1)  # [c][kh * kw]
        fields = {
            **common,
            **act_fields(node),
            "weights": lw.weight(pack_blocks(taps), f"{node.name} weights"),
            "bias": bias_ref(lw, bias, f"{node.name} bias"),
        }
        src, dst = lw.read(x, L.CHANNELS_LAST), lw.write(y, L.CHANNELS_LAST)
        lw.call(
            "edgec_dwconv_fast_f32",
            "edgec_dwconv_fast_f32_t",
            fields,
            [src],
            [dst],
            node.name,
            node.op_type,
            _sources("fast_f32_dwconv.c"),
            macs=macs,
        )
        return True
    pointwise = weights.shape[2:] == (1, 1) and not any(pads)
    if not pointwise and node.name in lw.lean:
        return False  # no room for the im2col rows: the portable kernel
    rows = weights.transpose(0, 2, 3, 1).reshape(weights.shape[0], -1)  # OHWI rows
    fields = {**common, "gemm": gemm_fields(lw, node, rows, bias)}
    src, dst = lw.read(x, L.CHANNELS_LAST), lw.write(y, L.CHANNELS_LAST)
    outputs = [dst]
    if not pointwise:
        outputs.append(lw.scratch(node, 2 * 4 * rows.shape[1], "im2col rows"))
    lw.call(
        "edgec_conv_1x1_fast_f32" if pointwise else "edgec_conv_fast_f32",
        "edgec_conv_fast_f32_t",
        fields,
        [src],
        outputs,
        node.name,
        node.op_type,
        _sources("fast_f32_gemm.c"),
        macs=macs,
    )
    return True


def emit_fc(lw: Lowering, node: Node) -> bool:
    """A fully connected layer as a 1x1 convolution over its batch rows (read in place)."""
    x, y = node.inputs[0], node.outputs[0]
    weights, bias = fc_operands(node)
    rows = np.asarray(weights, np.float32)
    bias = None if bias is None else np.asarray(bias, np.float32)
    batches = math.prod(x.shape[:-1])
    one = {"kh": 1, "kw": 1, "stride_h": 1, "stride_w": 1, "dil_h": 1, "dil_w": 1}
    fields = {
        "in": Struct({"n": 1, "h": 1, "w": batches, "c": rows.shape[1]}),
        "out": Struct({"n": 1, "h": 1, "w": batches, "c": rows.shape[0]}),
        **one,
        "pad_top": 0,
        "pad_left": 0,
        "gemm": gemm_fields(lw, node, rows, bias),
    }
    src, dst = lw.read(x, L.LOGICAL), lw.write(y, L.LOGICAL)
    lw.call(
        "edgec_conv_1x1_fast_f32",
        "edgec_conv_fast_f32_t",
        fields,
        [src],
        [dst],
        node.name,
        node.op_type,
        _sources("fast_f32_gemm.c"),
        macs=get_op(node.op_type).macs(node),
    )
    return True


def emit_matmul(lw: Lowering, node: Node) -> bool:
    """A product of two activations: each batch's B packed into scratch (not for a lean
    node, which runs the portable kernel); a constant B matrix: the fully connected layer."""
    if not is_batched(node):
        return emit_fc(lw, node)
    if node.name in lw.lean:
        return False
    fields = batch_fields(node)
    outputs = [lw.write(node.outputs[0], L.LOGICAL)]
    outputs.append(lw.scratch(node, 4 * fields["k"] * fields["n"], "packed right operand"))
    sources = _sources("fast_f32_gemm.c")
    call_matmul(lw, node, "edgec_matmul_fast_f32", "edgec_matmul_f32_t", fields, outputs, sources)
    return True


def _retargeted(portable: Callable[[Lowering, Node], None], rename: Callable[[dict], str]):
    """The portable emitter's call, with its parameters, run by the fast kernel that
    ``rename(fields)`` names (in fast_f32_eltwise.c)."""

    def emit(lw: Lowering, node: Node) -> bool:
        portable(lw, node)
        call = lw.program.calls[-1]
        call.kernel = rename(call.fields)
        lw.program.kernel_sources |= _sources("fast_f32_eltwise.c")
        return True

    return emit


def _pool_kernel(f: dict) -> str:
    whole = (f["kh"], f["kw"]) == (f["in"].fields["h"], f["in"].fields["w"])
    no_pads = not any(f[k] for k in ("pad_top", "pad_left", "pad_bottom", "pad_right"))
    if "avgpool" in f["kernel"] and whole and no_pads:
        return "edgec_global_avgpool_fast_f32"
    return f["kernel"].replace("_f32", "_fast_f32")


def emit_pool(lw: Lowering, node: Node) -> bool:
    def rename(fields: dict) -> str:
        return _pool_kernel({**fields, "kernel": lw.program.calls[-1].kernel})

    return _retargeted(pool_family.emit_pool, rename)(lw, node)


def emit_softmax(lw: Lowering, node: Node) -> bool:
    """Softmax only: log-softmax stays portable (the fast kernel links no logf)."""
    fast = _retargeted(pool_family.emit_softmax, lambda _: "edgec_softmax_fast_f32")
    return node.op_type == "Softmax" and fast(lw, node)


def emit_binary(lw: Lowering, node: Node) -> bool:
    """Same-shape operands, or a constant scalar second operand: one loop per operator."""
    a, b = node.inputs[0], node.inputs[1] if len(node.inputs) == 2 else None
    out = node.outputs[0]
    if b is None or node.op_type not in FAST_BINARY or a.is_const or a.shape != out.shape:
        return False
    scalar = b.is_const and b.const.size == 1
    if not scalar and b.shape != out.shape:
        return False
    layout, refs, _, _ = broadcast_operands(lw, node, [a, b], out)
    dst = lw.write(out, layout)
    fields = {
        "op": BINARY_OPS[node.op_type],
        "size": out.size,
        "b_stride": 0 if scalar else 1,
        **act_fields(node),
    }
    lw.call(
        "edgec_binary_fast_f32",
        "edgec_binary_fast_f32_t",
        fields,
        refs,
        [dst],
        node.name,
        node.op_type,
        _sources("fast_f32_eltwise.c"),
    )
    return True


FAST: dict[str, Callable[[Lowering, Node], bool]] = {
    "Conv": emit_conv,
    "Gemm": emit_fc,
    "MatMul": emit_matmul,
    "MaxPool": emit_pool,
    "AveragePool": emit_pool,
    "GlobalAveragePool": emit_pool,
    "GlobalMaxPool": emit_pool,
    "Softmax": emit_softmax,
    **{op: emit_binary for op in FAST_BINARY},
}


def with_fast_variants(table: dict[str, Emitter]) -> dict[str, Emitter]:
    """``table`` with each op that has a fast variant trying it first in optimized builds."""

    def chain(fast, portable):
        def emit(lw: Lowering, node: Node) -> None:
            if not (lw.optimized and fast(lw, node)):
                portable(lw, node)

        return emit

    return {
        op: Emitter(chain(FAST[op], em.emit), em.check) if op in FAST else em
        for op, em in table.items()
    }
