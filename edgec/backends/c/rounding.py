"""The kernels' requantization parameters for the build's rounding (``--rounding``).

The integer kernels requantize through the helpers at the end of ``edgec_fixedpoint.h``
(``edgec_requant``, ``edgec_requant_s16``, ``edgec_requant_onnxruntime``, ``edgec_rescale``),
whose arithmetic the generated ``EDGEC_ROUNDING`` selects at compile time. This module
writes their ``mult``/``shift`` operands to match: TFLM's multiplier and shift, or, where the
mode computes in float32, the float32 scale as its bit pattern (an int32 array of the same
size, so the parameter structs are the same in every mode). Every float number here is the
one the numpy reference (``edgec.ops.integer``) computes with, so the C is bit-exact with it.

A kernel author's part (see ARCHITECTURE.md): requantize through those helpers, never
``edgec_fp_mbqm`` directly, and emit their operands with the functions here.
"""

from __future__ import annotations

import numpy as np

from edgec.ops.integer.common import Requant, check_rounding

# edgec compile --rounding → the value of EDGEC_ROUNDING in edgec_fixedpoint.h
C_ROUNDING = {
    "tflm": "EDGEC_ROUNDING_TFLM",
    "float": "EDGEC_ROUNDING_FLOAT",
    "litert": "EDGEC_ROUNDING_LITERT",
}
_DEFAULT_LINE = "#define EDGEC_ROUNDING EDGEC_ROUNDING_TFLM"


def float_bits(values) -> np.ndarray:
    """float32 values as the int32 bit patterns ``edgec_fp_float`` reads back."""
    return np.array(values, dtype=np.float32).view(np.int32)


def fixedpoint_header(text: str, rounding: str) -> str:
    """``edgec_fixedpoint.h`` for a build of ``rounding``: its default line set to the mode."""
    check_rounding(rounding)
    if _DEFAULT_LINE not in text:
        raise RuntimeError("edgec_fixedpoint.h lost its EDGEC_ROUNDING line")
    return text.replace(_DEFAULT_LINE, f"#define EDGEC_ROUNDING {C_ROUNDING[rounding]}")


def float_requant(rounding: str, dtype) -> bool:
    """Whether a Conv/FC/MatMul accumulator of ``dtype`` output is requantized in float32
    (int8 in the float and LiteRT modes, 16x8 in the float mode: ``Requant.apply``)."""
    return check_rounding(rounding, dtype) != "tflm"


def linear_requant(
    requant: Requant, channels: int, rounding: str, dtype
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (mult, shift) of ``edgec_requant``/``edgec_requant_s16``."""
    if float_requant(rounding, dtype):
        scales = np.broadcast_to(np.asarray(requant.scale, np.float32).reshape(-1), (channels,))
        return float_bits(scales), np.zeros(channels, np.int32)
    mult = np.broadcast_to(np.asarray(requant.multiplier, np.int64).reshape(-1), (channels,))
    shift = np.broadcast_to(np.asarray(requant.shift, np.int64).reshape(-1), (channels,))
    return mult.astype(np.int32), shift.astype(np.int32)


def rescale_operands(params, rounding: str) -> tuple[int, int]:
    """(mult, shift) of ``edgec_rescale`` for ``RequantizeParams``: in the float mode the
    input and output scales (DequantizeLinear then QuantizeLinear)."""
    if check_rounding(rounding) == "float":
        s_in, s_out = params.scales
        return int(float_bits(s_in)), int(float_bits(s_out))
    return int(params.multiplier), int(params.shift)


def mean_operands(params, rounding: str) -> tuple[int, int]:
    """(mult, shift) of ``edgec_requant_onnxruntime`` for ``MeanParams``."""
    if check_rounding(rounding) == "float":
        return int(float_bits(params.scale)), 0
    return int(params.multiplier), int(params.shift)
