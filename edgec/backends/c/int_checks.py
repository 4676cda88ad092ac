"""Checks of integer nodes for the C backend: which variants the integer kernels cover.

Each check returns None or a short reason; ``lower.check_supported`` collects them so all
unsupported nodes are reported at once. The parameter derivation of the numpy reference
(:func:`edgec.ops.integer.integer_params`) runs here too, so its errors surface up front.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from edgec.backends.c import layout as L
from edgec.errors import EdgecError
from edgec.ir.graph import Node, Value
from edgec.ops.integer import elementwise as ew
from edgec.ops.integer import integer_params
from edgec.ops.integer.int4 import WEIGHT_DTYPES
from edgec.ops.integer.nodes import mean_axes, scale_zp

SUFFIX = {np.dtype(np.int8): "s8", np.dtype(np.int16): "s16"}
LAYOUTS = (L.CHANNELS_LAST, L.LOGICAL)


def _activation_reason(node: Node, values: list[Value]) -> str | None:
    out = node.outputs[0]
    if np.dtype(out.dtype) not in SUFFIX:
        return f"{out.dtype} output (int8 and int16 only)"
    for v in values:
        if v.is_const:
            continue
        if np.dtype(v.dtype) not in SUFFIX:
            return f"{v.dtype} input (int8 and int16 only)"
        if v.quant is None or v.quant.axis is not None:
            return "activations must be quantized per tensor"
    return None


def _params_reason(node: Node) -> str | None:
    try:
        integer_params(node)
    except EdgecError as exc:
        return str(exc).splitlines()[0]
    return None


def checked(extra: Callable[[Node], str | None] | None = None):
    """A check: dtypes, the parameter derivation, then an op-specific rule."""

    def check(node: Node) -> str | None:
        acts = [v for v in node.inputs if v is not None]
        reason = _activation_reason(node, acts[:1] if node.op_type in _FIRST_INPUT_ONLY else acts)
        if reason is None and extra is not None:
            reason = extra(node)
        return reason or _params_reason(node)

    return check


_FIRST_INPUT_ONLY = {
    "Conv", "ConvTranspose", "Gemm", "MatMul", "Clip", "ReduceMean", "QuantizeLinear",
}  # fmt: skip


def same_dtype(node: Node) -> str | None:
    x, y = node.inputs[0], node.outputs[0]
    return None if x.dtype == y.dtype else f"{x.dtype} input with {y.dtype} output"


def _check_weights(node: Node) -> str | None:
    w, b = node.inputs[1], node.input(2)
    if not w.is_const or w.dtype not in WEIGHT_DTYPES:
        return "weights must be constant int8 or int4"
    if b is not None:
        if not b.is_const:
            return "bias must be constant"
        wide_ok = node.outputs[0].dtype == np.int16
        if b.dtype not in (np.int32, np.int64) or (b.dtype == np.int64 and not wide_ok):
            return f"{b.dtype} bias with {node.outputs[0].dtype} activations"
    return same_dtype(node)


def check_conv(node: Node) -> str | None:
    if len(node.inputs[0].shape) not in (3, 4):
        return "only 1-d and 2-d convolution"
    return _check_weights(node)


def check_fc(node: Node) -> str | None:
    w = node.inputs[1]
    if node.inputs[0].is_const or not w.is_const or len(w.shape) != 2:
        return "B must be a constant matrix and A an activation"
    c = node.input(2)
    if c is not None and c.is_const and c.const.ndim == 2 and c.const.shape[0] != 1:
        return "C must be a constant row vector"
    return _check_weights(node)


def check_binary(node: Node) -> str | None:
    if len(node.inputs) != 2 or all(v.is_const for v in node.inputs):
        return "two inputs, at least one an activation"
    if any(v.dtype != node.outputs[0].dtype or v.quant is None for v in node.inputs):
        return "both inputs quantized with the output's type"
    return None


def check_spatial(node: Node) -> str | None:
    if len(node.inputs[0].shape) not in (3, 4):
        return "only 1-d and 2-d pooling"
    dil = node.attrs.get("dilations")
    if dil and any(d != 1 for d in dil):
        return "dilated pooling"
    if len(node.outputs) > 1 and node.outputs[1].users:
        return "the MaxPool Indices output"
    return same_dtype(node)


def check_mean(node: Node) -> str | None:
    reason = same_dtype(node)
    if reason:
        return reason
    axes = node.input(1)
    if node.op_type == "ReduceMean" and axes is not None and not axes.is_const:
        return "axes must be constant"
    if not any(mean_plan(node, a, b) for a in LAYOUTS for b in LAYOUTS):
        return "the reduced axes are not contiguous in memory"
    return None


def check_softmax(node: Node) -> str | None:
    return None if len(node.inputs[0].shape) >= 1 else "scalar input"


def check_int8_only(node: Node) -> str | None:
    return None if node.outputs[0].dtype == np.int8 else "int8 only"


def check_clip(node: Node) -> str | None:
    if any(v is not None and not v.is_const for v in node.inputs[1:]):
        return "bounds must be constant"
    return same_dtype(node)


def check_requantize(node: Node) -> str | None:
    scale, zp = node.input(1), node.input(2)
    if not scale.is_const or (zp is not None and not zp.is_const) or scale.const.size != 1:
        return "per-tensor constant scale and zero point"
    return None


def check_concat(node: Node) -> str | None:
    y = node.outputs[0]
    for v in node.inputs:
        if v.dtype != y.dtype or v.quant is None or v.quant.axis is not None:
            return "every input quantized per tensor with the output's type"
        try:
            concat_requant(v, y)
        except EdgecError as exc:
            return str(exc).splitlines()[0]
    return None


def mean_plan(node: Node, in_layout: str, out_layout: str) -> tuple[int, int, int] | None:
    """(outer, count, inner) when the reduced axes are one contiguous run in ``in_layout``'s
    memory and the kept axes land in ``out_layout``'s memory order; else None."""
    x, y = node.inputs[0], node.outputs[0]
    axes = set(mean_axes(node))
    rank = len(x.shape)
    mem = [a for a in L.to_memory_perm(rank, in_layout) if x.shape[a] != 1]
    run = [i for i, a in enumerate(mem) if a in axes]
    if run and run[-1] - run[0] + 1 != len(run):
        return None
    kept = [a for a in mem if a not in axes]
    # Output axis of each kept input axis (reduced axes stay as 1s when keepdims).
    keep_dims = len(y.shape) == rank
    to_out = {a: (a if keep_dims else a - sum(1 for r in axes if r < a)) for a in range(rank)}
    out_mem = [a for a in L.to_memory_perm(len(y.shape), out_layout) if y.shape[a] != 1]
    if [to_out[a] for a in kept] != out_mem:
        return None
    start = run[0] if run else len(mem)
    end = run[-1] + 1 if run else len(mem)
    outer = math.prod(x.shape[a] for a in mem[:start])
    count = math.prod(x.shape[a] for a in mem[start:end])
    return outer, count, math.prod(x.shape[a] for a in mem[end:])


def concat_requant(v: Value, y: Value):
    """Requantization parameters of one Concat input, or None when it is copied as is."""
    scale, zp = scale_zp(v)
    out_scale, out_zp = scale_zp(y)
    if float(np.float32(scale)) == float(np.float32(out_scale)) and zp == out_zp:
        return None
    return ew.requantize_params(scale, zp, out_scale, out_zp, y.dtype)
