"""int8 functions by a 256-entry table, as TFLite's LUTPopulate fills it (GELU).

For every int8 input q the table holds ``clamp(round(f(s_in * (q - zp_in)) / s_out) +
zp_out)``, computed in float32 the way TFLite's Prepare does (``round`` halves away from
zero). The kernel is one lookup per element.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgec.ops.integer import fixedpoint as fp
from edgec.ops.integer.common import as_int, check_zero_point, scales_array

F32 = np.float32
_ERFC = np.frompyfunc(math.erfc, 1, 1)
_TANH = np.frompyfunc(math.tanh, 1, 1)
SQRT_2_OVER_PI = F32(1.12837916709551257390 * 0.70710678118654752440)


def _libm(fn, x: np.ndarray) -> np.ndarray:
    """A libm float function (erfcf, tanhf): the double result rounded to float32."""
    return fn(x.astype(np.float64)).astype(np.float64).astype(F32)


def gelu_f32(x: np.ndarray, approximate: bool) -> np.ndarray:
    """TFLite's GeluTransform / GeluTransformApproximate in float32."""
    x = x.astype(F32)
    if approximate:
        inner = SQRT_2_OVER_PI * (x + F32(0.044715) * x * x * x)
        return F32(0.5) * x * (F32(1.0) + _libm(_TANH, inner))
    # 0.5 x erfc(-x / sqrt 2): no cancellation for large negative x
    return F32(0.5) * x * _libm(_ERFC, x * F32(-0.70710678118654752440))


@dataclass(frozen=True)
class LutParams:
    """The table, indexed by q + 128."""

    table: np.ndarray  # int8 [256]


def lut_params(
    fn, input_scale: float, input_zero_point: int, output_scale: float, output_zero_point: int
) -> LutParams:
    """LUTPopulate<int8_t>: the table of ``fn`` (a float32 function of a float32 array)."""
    check_zero_point(np.int8, input_zero_point)
    check_zero_point(np.int8, output_zero_point)
    s_in, s_out = scales_array(input_scale)[0], scales_array(output_scale)[0]
    q = np.arange(-128, 128, dtype=np.int64)
    dequantized = s_in * (q - int(input_zero_point)).astype(F32)
    inverse = F32(1.0) / s_out
    with np.errstate(over="ignore", invalid="ignore"):
        rescaled = fp.round_half_away(fn(dequantized) * inverse)
        quantized = np.clip(rescaled + int(output_zero_point), -(2**31), 2**31 - 1)
    return LutParams(np.clip(quantized, -128, 127).astype(np.int8))


def lookup(x, params: LutParams) -> np.ndarray:
    return params.table[as_int(x, np.int8) + 128]
