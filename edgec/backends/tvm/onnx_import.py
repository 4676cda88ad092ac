"""Where relax's ONNX importer gives edgec's pipeline something it cannot schedule well.

``Clip`` is imported as two TOPI calls (``emit_te``): opaque to ``ConvertLayout``, which then
wraps every ReLU6 of a MobileNet in a pair of NHWC↔NCHW transposes that no fusion removes.
With constant bounds (every exported ReLU6) it is imported here as relax's own
``maximum``/``minimum`` with scalar constants instead: layout-agnostic, and fused into the
convolution's epilogue like a ReLU.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np


def _scalar(expr) -> float | None:
    """The value of a constant single-element float bound, else None."""
    from tvm.ir import Constant

    if not isinstance(expr, Constant):
        return None
    value = expr.value.numpy()
    if value.size != 1 or not np.issubdtype(value.dtype, np.floating):
        return None
    return float(value.reshape(()))


def _clip(x, low: float | None, high: float | None):
    from tvm import relax

    dtype = str(x.ty.dtype)
    out = x
    if low is not None and not math.isnan(low) and low != -math.inf:
        out = relax.op.maximum(out, relax.const(np.array(low, dtype), dtype))
    if high is not None and not math.isnan(high) and high != math.inf:
        out = relax.op.minimum(out, relax.const(np.array(high, dtype), dtype))
    return out


def _clip_converter(original):
    """relax's Clip converter, taking over where the bounds are float constants."""

    class Clip(original):
        @classmethod
        def _impl_v1(cls, bb, inputs, attr, params):
            if str(inputs[0].ty.dtype).startswith("float"):
                low = float(attr.get("min", -math.inf))
                return _clip(inputs[0], low, float(attr.get("max", math.inf)))
            return original._impl_v1(bb, inputs, attr, params)

        @classmethod
        def _impl_v11(cls, bb, inputs, attr, params):
            return cls._impl_v13(bb, inputs, attr, params)

        @classmethod
        def _impl_v13(cls, bb, inputs, attr, params):
            x = inputs[0]
            bounds = [inputs[i] if len(inputs) > i else None for i in (1, 2)]
            values = [None if b is None else _scalar(b) for b in bounds]
            constant = all(b is None or v is not None for b, v in zip(bounds, values))
            if constant and str(x.ty.dtype).startswith("float"):
                return _clip(x, *values)
            return original._impl_v13(bb, inputs, attr, params)

    return Clip


@contextmanager
def edgec_converters():
    """relax's ONNX importer with edgec's converters (unchanged if its private table moved)."""
    try:
        from tvm.relax.frontend.onnx import onnx_frontend as frontend

        table = frontend._get_convert_map
        original_clip = table()["Clip"]
    except (ImportError, AttributeError, KeyError, TypeError):
        yield
        return
    clip = _clip_converter(original_clip)

    def patched():
        converters = table()
        converters["Clip"] = clip
        return converters

    frontend._get_convert_map = patched
    try:
        yield
    finally:
        frontend._get_convert_map = table
