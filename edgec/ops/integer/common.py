"""Shared pieces of the integer kernels: integer ranges, activation clamps, requantization."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgec.errors import QuantizationError
from edgec.ops.integer import fixedpoint as fp

# "tflm": TFLM's integer fixed point (the default). "float": float32 rescale with round half
# to even, as onnxruntime's QLinear kernels (QLinearConv/MatMul/Add/Mul/AveragePool/Concat).
# "litert": LiteRT's default CPU path, op by op: XNNPACK's float32 requantization for Conv,
# FC and Mul, XNNPACK's integer Add, TFLite's builtin (= TFLM) kernels for the rest.
ROUNDINGS = ("tflm", "float", "litert")

# Activation tensors: int8 (asymmetric) or int16 (symmetric, zero point 0, the 16x8 mode).
DTYPES = {"int8": np.int8, "int16": np.int16}


def int_range(dtype) -> tuple[int, int]:
    """(min, max) of an integer dtype."""
    info = np.iinfo(np.dtype(dtype))
    return int(info.min), int(info.max)


def check_rounding(rounding: str, dtype=None) -> str:
    """Validate ``rounding``; returns the mode an op of ``dtype`` actually uses (LiteRT runs
    16x8 ops in its builtin kernels, which are TFLM's)."""
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding must be one of {ROUNDINGS}, got {rounding!r}")
    if rounding == "litert" and dtype is not None and np.dtype(dtype) == np.dtype(np.int16):
        return "tflm"
    return rounding


def check_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.int8), np.dtype(np.int16)):
        raise QuantizationError(f"integer kernels take int8 or int16 activations, not {dtype}")
    return dtype


def quantize_scalar(value: float, scale: float, zero_point: int) -> int:
    """TFLite's Quantize() of one float in Prepare: zero_point + roundf(value / scale), float32."""
    quotient = np.float32(value) / np.float32(scale)
    rounded = float(fp.round_half_away(quotient))
    if not -(2.0**31) <= rounded <= 2.0**31 - 1:
        raise QuantizationError(f"{value} / {scale} overflows int32")
    return int(zero_point) + int(rounded)


def activation_range(
    dtype, scale: float, zero_point: int, low: float | None = None, high: float | None = None
) -> tuple[int, int]:
    """Quantized clamp bounds of a fused activation (CalculateActivationRangeQuantized).

    Relu is (0, None), Relu6 (0, 6), ReluN1To1 (-1, 1), Clip(a, b) (a, b), no activation
    (None, None); bounds are quantized with float32 ``roundf`` and intersected with the
    dtype's range.
    """
    qmin, qmax = int_range(dtype)
    act_min = qmin if low is None else max(qmin, quantize_scalar(low, scale, zero_point))
    act_max = qmax if high is None else min(qmax, quantize_scalar(high, scale, zero_point))
    if act_min > act_max:
        raise QuantizationError(f"empty activation range [{low}, {high}] at scale {scale}")
    return act_min, act_max


@dataclass(frozen=True)
class Requant:
    """How an integer accumulator becomes an output value, per output channel.

    ``multiplier``/``shift`` (TFLM) and ``scale`` (float mode: the float32 effective scale)
    are 1-D arrays of length 1 (per tensor) or the channel count. ``wide`` selects the
    int64-accumulator variant of MultiplyByQuantizedMultiplier (16x8 with int64 bias).
    """

    multiplier: np.ndarray
    shift: np.ndarray
    scale: np.ndarray
    zero_point: int
    act_min: int
    act_max: int
    wide: bool = False

    def apply(self, acc: np.ndarray, channel_axis: int, rounding: str = "tflm") -> np.ndarray:
        """Requantize ``acc`` (int64 array) whose channels lie along ``channel_axis``."""
        check_rounding(rounding)
        rounding = "float" if rounding == "litert" else rounding
        shape = [1] * acc.ndim
        shape[channel_axis] = -1

        def per_channel(values: np.ndarray) -> np.ndarray:
            return values.reshape(shape) if values.size > 1 else values.reshape(())

        if rounding == "float":
            out = fp.requantize_float(
                acc, per_channel(self.scale), self.zero_point, self.act_min, self.act_max
            )
        elif self.wide:
            out = fp.multiply_by_quantized_multiplier_int64(
                acc, per_channel(self.multiplier), per_channel(self.shift)
            )
            out = out + self.zero_point
        else:
            out = fp.multiply_by_quantized_multiplier(
                fp.wrap_int32(acc), per_channel(self.multiplier), per_channel(self.shift)
            )
            out = out + self.zero_point
        return np.clip(out, self.act_min, self.act_max)


def as_int(x, dtype) -> np.ndarray:
    """Check that ``x`` is an integer array of ``dtype``; returns it as int64."""
    x = np.asarray(x)
    if x.dtype != np.dtype(dtype):
        raise QuantizationError(f"expected a {np.dtype(dtype)} tensor, got {x.dtype}")
    return x.astype(np.int64)


def scales_array(scale) -> np.ndarray:
    """Scales as a 1-D float32 array; every scale must be positive and finite."""
    scales = np.atleast_1d(np.asarray(scale, np.float32)).ravel()
    if not np.all(np.isfinite(scales)) or np.any(scales <= 0):
        raise QuantizationError(f"scales must be positive and finite: {scales}")
    return scales


def check_zero_point(dtype, zero_point: int) -> int:
    """Zero points lie in the dtype's range; int16 activations are symmetric (zero point 0)."""
    qmin, qmax = int_range(dtype)
    zero_point = int(zero_point)
    if not qmin <= zero_point <= qmax:
        raise QuantizationError(f"zero point {zero_point} outside the {np.dtype(dtype)} range")
    if np.dtype(dtype) == np.dtype(np.int16) and zero_point != 0:
        raise QuantizationError("int16 activations are symmetric: zero point must be 0")
    return zero_point
