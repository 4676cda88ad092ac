"""Integer MatMul of two activations: TFLite's BATCH_MATMUL (TFLM reference semantics).

Both operands are quantized per tensor. int8: int32 sums of (a - za) * (b - zb), then
MultiplyByQuantizedMultiplier by s_a * s_b / s_out (double), plus the output zero point,
clamped to int8. int16 (16x8 mode): zero points 0, int64 sums and the int64
MultiplyByQuantizedMultiplier. Batch dimensions broadcast as numpy's matmul (TFLM: rank
at most 5). ``rounding`` "float"/"litert" rescale in float32 as onnxruntime's QLinearMatMul.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgec.errors import QuantizationError
from edgec.ops.integer import fixedpoint as fp
from edgec.ops.integer.common import (
    Requant,
    as_int,
    check_dtype,
    check_rounding,
    check_zero_point,
    int_range,
    scales_array,
)


@dataclass(frozen=True)
class BatchMatMulParams:
    """The zero points of both operands and the output requantization."""

    dtype: np.dtype
    a_zero_point: int
    b_zero_point: int
    requant: Requant


def batch_matmul_params(
    a_scale: float,
    a_zero_point: int,
    b_scale: float,
    b_zero_point: int,
    output_scale: float,
    output_zero_point: int,
    *,
    dtype="int8",
) -> BatchMatMulParams:
    """As TFLM's BatchMatMulPrepare: double(s_a) * double(s_b) / double(s_out) ->
    QuantizeMultiplier; the clamp is the whole type (BATCH_MATMUL fuses no activation)."""
    dtype = check_dtype(dtype)
    for zp in (a_zero_point, b_zero_point, output_zero_point):
        check_zero_point(dtype, zp)
    s_a, s_b, s_out = (scales_array(s)[0] for s in (a_scale, b_scale, output_scale))
    real = float(s_a) * float(s_b) / float(s_out)
    multiplier, shift = fp.quantize_multiplier(real)
    if not -31 <= shift <= (7 if dtype == np.dtype(np.int16) else 30):
        raise QuantizationError(f"MatMul scale ratio {real:.3g} is out of range")
    lo, hi = int_range(dtype)
    requant = Requant(
        multiplier=np.array([multiplier], np.int64),
        shift=np.array([shift], np.int64),
        scale=np.array([(s_a * s_b) / s_out], np.float32),
        zero_point=int(output_zero_point),
        act_min=lo,
        act_max=hi,
        wide=dtype == np.dtype(np.int16),
    )
    return BatchMatMulParams(dtype, int(a_zero_point), int(b_zero_point), requant)


def batch_matmul(a, b, params: BatchMatMulParams, rounding: str = "tflm") -> np.ndarray:
    """Integer ``a @ b`` (numpy matmul shapes: [..., M, K] @ [..., K, N]; 1-d operands as
    numpy takes them)."""
    p = params
    a = as_int(a, p.dtype) - p.a_zero_point
    b = as_int(b, p.dtype) - p.b_zero_point
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise QuantizationError(f"MatMul inner dims differ: {a.shape} @ {b.shape}")
    # every product and partial sum is an integer below 2**53: exact in float64
    acc = np.rint(np.matmul(a.astype(np.float64), b.astype(np.float64))).astype(np.int64)
    if not p.requant.wide:
        acc = fp.wrap_int32(acc)
    rounding = check_rounding(rounding, p.dtype)
    out = p.requant.apply(acc, acc.ndim - 1, rounding)
    return out.astype(p.dtype)
