"""onnxruntime's int8 Softmax (QLinearSoftmax, com.microsoft), rounding "float".

A float table holds exp(x_scale * (bit_shift - d)) for every difference d = max - x in
[0, 255] (``bit_shift`` keeps the sum of a row below FLT_MAX); per row the terms are summed
in float32 in order, and each output is round_half_even(term * floor(1 / s_out) / sum) plus
the zero point, saturated to int8. (Note floor(1 / s_out): the output scale enters rounded
down to an integer, as onnxruntime does.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from edgec.errors import QuantizationError
from edgec.ops.integer.common import as_int, scales_array

FLOAT32_MAX = np.finfo(np.float32).max
RESERVE_BITS = 5.0  # onnxruntime's margin below FLT_MAX for float tables


@dataclass(frozen=True)
class OnnxruntimeSoftmaxParams:
    table: np.ndarray = field(repr=False)  # float32 [256] by d = row max - x
    output_multiplier: np.float32  # floor(1 / s_out)
    output_zero_point: int


def onnxruntime_softmax_params(
    input_scale: float, reduce_len: int, output_scale: float, output_zero_point: int
) -> OnnxruntimeSoftmaxParams:
    """The table and output factor of QLinearSoftmax over rows of ``reduce_len``."""
    if reduce_len < 1:
        raise QuantizationError("softmax over an empty axis")
    x_scale = float(scales_array(input_scale)[0])
    s_out = scales_array(output_scale)[0]
    headroom = float(FLOAT32_MAX / np.float32(reduce_len))  # float / size_t, in float
    bit_shift = max(0.0, math.log(headroom) - RESERVE_BITS) / x_scale
    table = np.array(
        [math.exp((float(255 - d) - 255 + bit_shift) * x_scale) for d in range(256)],
        np.float32,
    )
    table.flags.writeable = False
    return OnnxruntimeSoftmaxParams(
        table, np.floor(np.float32(1) / s_out).astype(np.float32), int(output_zero_point)
    )


def onnxruntime_softmax(x, params: OnnxruntimeSoftmaxParams, axis: int = -1) -> np.ndarray:
    """QLinearSoftmax of int8 ``x`` along ``axis``."""
    x = np.moveaxis(as_int(x, np.int8), axis, -1)
    terms = params.table[x.max(axis=-1, keepdims=True) - x]
    total = np.zeros(terms.shape[:-1], np.float32)
    for k in range(terms.shape[-1]):  # float32, in order, as onnxruntime's loop
        total = total + terms[..., k]
    with np.errstate(divide="ignore", invalid="ignore"):
        value = (terms * params.output_multiplier) / total[..., None]
    out = np.clip(np.rint(value).astype(np.int64) + params.output_zero_point, -128, 127)
    return np.moveaxis(out.astype(np.int8), -1, axis)
