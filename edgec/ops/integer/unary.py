"""Integer elementwise math: lookup tables, Abs, Max/Min, Sum/Mean of several inputs, Where.

- **Tables** (Exp, Log, Sqrt, Erf, Reciprocal, Pow with a constant exponent, Neg): TFLite's
  int8 LUT kernels (``LUTPopulate``): for each of the 256 inputs, dequantize in float32,
  apply the function, ``round(y / s_out)`` (half away from zero) plus the output zero point,
  saturated. Outside the function's domain: ±inf saturates, NaN gives the zero point.
- **Abs**: TFLite ABS: ``|x - zp_in|``, rescaled by ``s_in / s_out`` when the scales differ.
- **Max / Min**: TFLite MAXIMUM / MINIMUM compare raw values of equally quantized tensors;
  an input quantized otherwise is requantized to the output first (TFLite's QUANTIZE, as
  the converter inserts it).
- **Sum / Mean**: TFLite ADD's arithmetic for any number of inputs: each input centred,
  shifted left by 20 (15 for int16), rescaled by ``s_i / (2 max s)``, summed, and the sum
  rescaled by ``2 max s / (2^20 s_out)`` (times ``1 / n`` for Mean). With two inputs it is
  ADD; with equal input scales and zero point 0 it is TFLM's ADD_N.
- **Where** (constant condition): TFLite SELECT_V2 on inputs requantized to the output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from edgec.errors import QuantizationError
from edgec.ops.integer import elementwise as ew
from edgec.ops.integer import fixedpoint as fp
from edgec.ops.integer.common import as_int, check_dtype, int_range, scales_array

F32 = np.float32


def lut_table(
    fn: Callable[[np.ndarray], np.ndarray],
    input_scale: float,
    input_zero_point: int,
    output_scale: float,
    output_zero_point: int,
) -> np.ndarray:
    """The int8 table of ``fn``, indexed by ``q + 128`` (TFLite's LUTPopulate<int8_t>)."""
    q = np.arange(-128, 128)
    real = scales_array(input_scale)[0] * (q - input_zero_point).astype(F32)
    with np.errstate(all="ignore"):
        value = np.asarray(fn(real.astype(np.float64))).astype(F32)
        rescaled = fp.round_half_away(value * (F32(1) / scales_array(output_scale)[0]))
    rescaled = np.where(np.isnan(rescaled), 0.0, rescaled)
    out = np.clip(rescaled + output_zero_point, -128, 127)
    return out.astype(np.int8)


def lookup(x, table: np.ndarray) -> np.ndarray:
    """Apply an int8 table to int8 data."""
    return table[as_int(x, np.int8).astype(np.int64) + 128]


@dataclass(frozen=True)
class AbsParams:
    dtype: np.dtype
    input_zero_point: int
    output_zero_point: int
    rescale: bool
    multiplier: int
    shift: int


def abs_params(input_scale, input_zero_point, output_scale, output_zero_point, dtype="int8"):
    """TFLM's PrepareAbsRsqrt: rescale when the float32 scales differ, by
    QuantizeMultiplier(s_in / s_out) (the quotient in double, as the tested TFLM build
    computes it: a float32 quotient differs at ties such as s_out = s_in * sqrt(2))."""
    dtype = check_dtype(dtype)
    s_in, s_out = scales_array(input_scale)[0], scales_array(output_scale)[0]
    multiplier, shift = fp.quantize_multiplier(float(s_in) / float(s_out))
    return AbsParams(
        dtype, int(input_zero_point), int(output_zero_point), bool(s_in != s_out), multiplier, shift
    )


def abs_(x, p: AbsParams) -> np.ndarray:
    value = np.abs(as_int(x, p.dtype).astype(np.int64) - p.input_zero_point)
    if p.rescale:
        value = fp.multiply_by_quantized_multiplier(value, p.multiplier, p.shift)
    return np.clip(value + p.output_zero_point, *int_range(p.dtype)).astype(p.dtype)


def to_output(x, params: ew.RequantizeParams | None) -> np.ndarray:
    """An operand in the output's quantization (requantized, or as it is)."""
    return np.asarray(x) if params is None else ew.requantize(x, params)


def requant_to(scale_zp_in: tuple, scale_zp_out: tuple, dtype) -> ew.RequantizeParams | None:
    """Requantization of an operand to the output (None when the parameters are equal)."""
    (s, zp), (s_out, zp_out) = scale_zp_in, scale_zp_out
    if F32(s) == F32(s_out) and int(zp) == int(zp_out):
        return None
    return ew.requantize_params(s, zp, s_out, zp_out, dtype)


def extreme(inputs: Sequence[np.ndarray], requants: Sequence, is_min: bool, dtype) -> np.ndarray:
    """Max or Min of operands brought to the output's quantization (broadcasting)."""
    dtype = check_dtype(dtype)
    fn = np.minimum if is_min else np.maximum
    out = to_output(as_int(inputs[0], dtype), requants[0])
    for x, rq in zip(inputs[1:], requants[1:]):
        out = fn(out, to_output(as_int(x, dtype), rq))
    return out.astype(dtype)


@dataclass(frozen=True)
class AddNParams:
    dtype: np.dtype
    zero_points: tuple[int, ...]
    multipliers: tuple[int, ...]
    shifts: tuple[int, ...]
    left_shift: int
    output_zero_point: int
    output_multiplier: int
    output_shift: int


# The rescaled inputs (at most 255 * 2^19 for int8, 2^29 for int16) sum within int32.
MAX_ADD_INPUTS = {np.dtype(np.int8): 8, np.dtype(np.int16): 3}


def add_n_params(
    inputs: Sequence[tuple[float, int]], output: tuple[float, int], dtype="int8", mean=False
) -> AddNParams:
    """TFLM CalculateOpDataAdd's derivation over every input (in double)."""
    dtype = check_dtype(dtype)
    if not 1 <= len(inputs) <= MAX_ADD_INPUTS[dtype]:
        raise QuantizationError(f"integer Sum/Mean of 1 to {MAX_ADD_INPUTS[dtype]} inputs")
    scales = [float(scales_array(s)[0]) for s, _ in inputs]
    s_out = float(scales_array(output[0])[0])
    left_shift = 15 if dtype == np.dtype(np.int16) else 20
    twice_max = 2 * max(scales)
    mults = [ew._smaller_than_one(s / twice_max, f"input {i}") for i, s in enumerate(scales)]
    real_out = twice_max / ((1 << left_shift) * s_out) / (len(inputs) if mean else 1)
    out_mult, out_shift = ew._smaller_than_one(real_out, "output")
    return AddNParams(
        dtype,
        tuple(int(zp) for _, zp in inputs),
        tuple(m for m, _ in mults),
        tuple(s for _, s in mults),
        left_shift,
        int(output[1]),
        out_mult,
        out_shift,
    )


def add_n(inputs: Sequence[np.ndarray], p: AddNParams) -> np.ndarray:
    total = 0
    for x, zp, m, s in zip(inputs, p.zero_points, p.multipliers, p.shifts):
        centered = (as_int(x, p.dtype).astype(np.int64) - zp) << p.left_shift
        total = total + fp.multiply_by_quantized_multiplier(centered, m, s)
    out = fp.multiply_by_quantized_multiplier(total, p.output_multiplier, p.output_shift)
    return np.clip(out + p.output_zero_point, *int_range(p.dtype)).astype(p.dtype)


def where(condition: np.ndarray, x, y, requants: Sequence, dtype) -> np.ndarray:
    dtype = check_dtype(dtype)
    a = to_output(as_int(x, dtype), requants[0])
    b = to_output(as_int(y, dtype), requants[1])
    return np.where(np.asarray(condition, bool), a, b).astype(dtype)
