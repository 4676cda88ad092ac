"""TFLite's fixed-point requantization as TVM expressions, step for step as
``edgec/quantize/fixedpoint.py`` (the audited numpy helpers) computes it.

Every value is an int64 expression holding an int32 quantity, as in the numpy helpers, so
the same formulas give the same bits; ``tests/test_tvm_integer.py`` checks these against
the numpy helpers on edge and random values.
"""

from __future__ import annotations

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


def i64(value):
    """``value`` (a Python int or an expression) as an int64 expression."""
    from tvm import tirx

    if isinstance(value, int):
        return tirx.const(value, "int64")
    value = as_expr(value)
    return value if dtype_of(value) == "int64" else tirx.Cast("int64", value)


def as_expr(value):
    """A tensor element (``t[i, j]``) as a plain expression."""
    return value.asobject() if hasattr(value, "asobject") else value


def dtype_of(expr) -> str:
    """The dtype of a TIR expression (TVM 0.27 keeps it in the expression's type)."""
    return str(as_expr(expr).ty.dtype)


def let(value, body):
    """``body(value)``: the formulas below name an operand once and use it several times."""
    return body(i64(value))


def _select(cond, a, b):
    from tvm import tirx

    return tirx.Select(cond, i64(a), i64(b))


def srdhm(a, b):
    """gemmlowp SaturatingRoundingDoublingHighMul of int32 quantities."""
    from tvm import tirx

    def with_ab(a, b):
        def with_product(ab):
            nudged = ab + _select(ab >= 0, 1 << 30, 1 - (1 << 30))
            high = tirx.truncdiv(nudged, i64(1 << 31))  # C division truncates
            return _select(tirx.all(a == b, a == INT32_MIN), INT32_MAX, high)

        return let(a * b, with_product)

    return let(a, lambda a: let(b, lambda b: with_ab(a, b)))


def rounding_divide_by_pot(x, exponent):
    """gemmlowp RoundingDivideByPOT: ties away from zero; ``exponent`` in [0, 31]."""

    def body(x, e):
        mask = (i64(1) << e) - i64(1)
        threshold = (mask >> i64(1)) + _select(x < 0, 1, 0)
        return (x >> e) + _select((x & mask) > threshold, 1, 0)

    return let(x, lambda x: let(exponent, lambda e: body(x, e)))


def multiply_by_quantized_multiplier(x, multiplier, shift):
    """TFLite MultiplyByQuantizedMultiplier (double rounding) of an int32 ``x``;
    ``multiplier`` and ``shift`` are ints, or expressions (per-channel loads) of a
    non-negative multiplier."""
    from tvm import te

    zero = i64(0)
    if _is_int(multiplier) and _is_int(shift):
        multiplier, shift = int(multiplier), int(shift)
        shifted = i64(x) << i64(max(shift, 0)) if shift > 0 else i64(x)
        result = rounding_divide_by_pot(srdhm(shifted, abs(multiplier)), max(-shift, 0))
        return let(result, lambda r: zero - r) if multiplier < 0 else result
    shifted = i64(x) << te.max(i64(shift), zero)
    return rounding_divide_by_pot(srdhm(shifted, multiplier), te.max(zero - i64(shift), zero))


def _is_int(value) -> bool:
    import numpy as np

    return isinstance(value, (int, np.integer))


def wrap_int32(x):
    """Two's-complement wrap of an int64 expression to int32 (kept in int64)."""
    from tvm import tirx

    return tirx.Cast("int64", tirx.Cast("int32", i64(x)))


def clamp(x, low: int, high: int):
    from tvm import te

    return te.min(te.max(i64(x), i64(low)), i64(high))


def requantize_float(acc, scale, zero_point: int, low: int, high: int):
    """float32(acc) * scale, clamped to [low - zp, high - zp], rounded half to even, + zp:
    onnxruntime's MlasRequantizeOutput (``fixedpoint.requantize_float``)."""
    from tvm import te, tirx

    value = tirx.Cast("float32", acc) * scale
    lo = tirx.const(float(low - zero_point), "float32")
    hi = tirx.const(float(high - zero_point), "float32")
    rounded = tirx.nearbyint(te.min(te.max(value, lo), hi))
    return tirx.Cast("int64", rounded) + i64(zero_point)


# ---- gemmlowp's reciprocal, for the int8 Softmax --------------------------------------------


def rounding_half_sum(a, b):
    """(a + b) / 2 rounded to nearest, ties away from zero."""
    from tvm import tirx

    return let(i64(a) + i64(b), lambda t: tirx.truncdiv(t + _select(t >= 0, 1, -1), i64(2)))


def saturating_rounding_multiply_by_pot(x, exponent: int):
    """x * 2**exponent, saturating (exponent > 0) or rounding (exponent < 0)."""
    if exponent == 0:
        return i64(x)
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1

    def body(x):
        result = _select(x > threshold, INT32_MAX, wrap_int32(x << i64(exponent)))
        return _select(x < -threshold, INT32_MIN, result)

    return let(x, body)


def reciprocal_stages(total, x_integer_digits: int):
    """TFLite GetReciprocal of each element of the positive int32 tensor ``total``: the F0
    reciprocal, one tensor-expression stage per Newton step (nested in one expression, the
    steps would grow exponentially), and num_bits_over_unit."""
    from tvm import te, tirx

    def stage(fn, name):
        return te.compute(total.shape, lambda *i: fn(i), name=name)

    headroom = stage(lambda i: i64(tirx.clz(tirx.Cast("uint32", i64(total[i])))), "headroom")
    bits = stage(lambda i: i64(x_integer_digits) - headroom[i], "bits_over_unit")

    def shifted(i):  # x scaled to [1, 2) and reduced by one: F0 in [0, 1)
        value = ((i64(total[i]) << headroom[i]) & i64(0xFFFFFFFF)) - i64(1 << 31)
        return rounding_half_sum(wrap_int32(value), INT32_MAX)

    half = stage(shifted, "half_denominator")
    # One primitive per stage: TVM's simplifier is slow on deeply nested selects.
    x = stage(lambda i: srdhm(half[i], -1010580540), "newton_start")
    x = stage(lambda i: wrap_int32(i64(1515870810) + x[i]), "newton0")
    for step in range(1, 4):
        product = stage(lambda i, x=x: srdhm(half[i], x[i]), f"newton{step}_product")
        one_minus = stage(lambda i, p=product: wrap_int32(i64(1 << 29) - p[i]), f"newton{step}_err")
        update = stage(lambda i, x=x, e=one_minus: srdhm(x[i], e[i]), f"newton{step}_update")
        x = stage(
            lambda i, x=x, u=update: wrap_int32(
                x[i] + saturating_rounding_multiply_by_pot(u[i], 2)
            ),
            f"newton{step}",
        )
    reciprocal = stage(lambda i: saturating_rounding_multiply_by_pot(x[i], 1), "reciprocal")
    return reciprocal, bits


def multiply_by_quantized_multiplier_right(x, multiplier, round_hi, shift_hi):
    """``multiply_by_quantized_multiplier(x, m, shift) + zero_point`` of an int32 ``x`` as an
    int32 expression, for the rows of ``fixedpoint.right_shift_requant_params`` (m >= 0,
    shift <= -2): floor((x*m + N) / 2**32) >> (r - 1), N's high word round_hi - [x < 0], its
    low word c = 2**30 | (x & 2**31) (``fixedpoint.multiply_by_quantized_multiplier_right``).

    Only the 64-bit product is wide (a sign-extending 32x32 multiply: ``vpmuldq``, ``smull``):
    floor((x*m + c) / 2**32) is its high word plus the carry of c into it, which is
    ``low >= 2**32 - c`` unsigned, i.e. ``low ^ 2**31 >= c`` signed. Everything else runs in
    int32 lanes, without overflow (|high| <= 2**30, |round_hi| < 2**30); on AVX-512 this is
    half the instructions of the same formula in int64 lanes."""
    from tvm import tirx

    x = _i32(x)
    sign = tirx.const(INT32_MIN, "int32")
    product = i64(x) * i64(multiplier)
    high = tirx.Cast("int32", product >> i64(32))
    low = tirx.Cast("int32", product) ^ sign
    c = (x & sign) | tirx.const(1 << 30, "int32")
    carry = tirx.Cast("int32", low >= c)
    negative = x >> tirx.const(31, "int32")  # -1 or 0
    return ((high + carry) + (_i32(round_hi) + negative)) >> _i32(shift_hi)


def _i32(value):
    """``value`` (a Python int, or an int32 / int64 expression holding an int32) as int32."""
    from tvm import tirx

    if isinstance(value, int):
        return tirx.const(value, "int32")
    value = as_expr(value)
    return value if dtype_of(value) == "int32" else tirx.Cast("int32", value)


def clamp32(x, low: int, high: int):
    """``clamp`` of an int32 expression, in int32."""
    from tvm import te

    return te.min(te.max(_i32(x), _i32(low)), _i32(high))
