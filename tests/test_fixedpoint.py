"""edgec.ops.integer.fixedpoint against independent references written here.

The references use Python's unbounded integers and fractions, from the mathematical
definitions (round half up for SRDHM, half away from zero for the rounding shift), not from
the code under test; the edge cases are the ones TFLite documents: multiplier normalization,
shifts -31..30, the INT32_MIN * INT32_MIN saturation, ties on negative values.
"""

from __future__ import annotations

import math
import subprocess
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgec.backends.c.build import run_compiler
from edgec.errors import QuantizationError
from edgec.ops.integer import fixedpoint as fp
from edgec.resources import templates_dir
from tests.conftest import needs_tools

FAST = settings(max_examples=400, derandomize=True, deadline=None, database=None)
int32s = st.integers(fp.INT32_MIN, fp.INT32_MAX)


def ref_quantize_multiplier(real: float) -> tuple[int, int]:
    """real = m * 2**(s - 31), m in [2**30, 2**31) rounded half away from zero, exactly."""
    if real == 0:
        return 0, 0
    exact = Fraction(real)
    sign = -1 if exact < 0 else 1
    exact = abs(exact)
    shift = 0
    while exact >= 1:
        exact /= 2
        shift += 1
    while exact < Fraction(1, 2):
        exact *= 2
        shift -= 1
    scaled = exact * 2**31
    m = math.floor(scaled + Fraction(1, 2))
    if m == 2**31:
        m, shift = 2**30, shift + 1
    if shift < -31:
        return 0, 0
    return sign * m, shift


def ref_srdhm(a: int, b: int) -> int:
    if a == b == fp.INT32_MIN:
        return fp.INT32_MAX
    return math.floor(Fraction(a * b, 2**31) + Fraction(1, 2))  # ties toward +infinity


def ref_rounding_shift(x: int, exponent: int) -> int:
    if exponent == 0:
        return x
    magnitude = (abs(x) + (1 << (exponent - 1))) >> exponent  # ties away from zero
    return magnitude if x >= 0 else -magnitude


def ref_mbqm(x: int, m: int, shift: int) -> int:
    sign = -1 if m < 0 else 1
    shifted = x * 2 ** max(shift, 0)
    return sign * ref_rounding_shift(ref_srdhm(shifted, abs(m)), max(-shift, 0))


# ------------------------------------------------------------------- quantize_multiplier


@pytest.mark.parametrize(
    ("real", "expected"),
    [
        (0.5, (1 << 30, 0)),
        (1.0, (1 << 30, 1)),
        (0.75, (3 << 29, 0)),
        (1.0 - 2.0**-40, (1 << 30, 1)),  # rounds up to 2**31: halved, shift + 1
        (2.0**-31, (1 << 30, -30)),
        (2.0**-32 * 0.9, (0, 0)),  # below 2**-32: flushed to zero
        (0.0, (0, 0)),
        (-0.25, (-(1 << 30), -1)),
    ],
)
def test_quantize_multiplier_edge_cases(real, expected):
    assert fp.quantize_multiplier(real) == expected == ref_quantize_multiplier(real)


@FAST
@given(st.floats(2.0**-40, 2.0**20, allow_nan=False, allow_infinity=False))
def test_quantize_multiplier_matches_exact_rounding(real):
    multiplier, shift = fp.quantize_multiplier(real)
    assert (multiplier, shift) == ref_quantize_multiplier(real)
    if multiplier:
        assert 1 << 30 <= multiplier < 1 << 31
        assert abs(multiplier * 2.0 ** (shift - 31) / real - 1) <= 2.0**-30


def test_quantize_multipliers_vectorized_and_nonfinite_rejected():
    reals = np.array([0.1, 0.2, 3.0, 1e-12])
    mult, shift = fp.quantize_multipliers(reals)
    assert list(zip(mult.tolist(), shift.tolist())) == [ref_quantize_multiplier(r) for r in reals]
    for bad in (float("nan"), float("inf")):
        with pytest.raises(QuantizationError):
            fp.quantize_multiplier(bad)
        with pytest.raises(QuantizationError):
            fp.quantize_multipliers(np.array([0.5, bad]))


@FAST
@given(
    st.lists(
        st.floats(-(2.0**20), 2.0**20, allow_nan=False, allow_infinity=False)
        | st.sampled_from([0.0, 1.0 - 2.0**-40, -(1.0 - 2.0**-40), 2.0**-32 * 0.9, 2.0**-31]),
        min_size=1,
        max_size=12,
    )
)
def test_quantize_multipliers_equal_the_scalar_form(reals):
    """The vectorized form, element for element the scalar one (TFLite's QuantizeMultiplier)."""
    mult, shift = fp.quantize_multipliers(np.array(reals).reshape(-1, 1))
    assert mult.shape == shift.shape == (len(reals), 1)
    pairs = list(zip(mult.ravel().tolist(), shift.ravel().tolist()))
    assert pairs == [fp.quantize_multiplier(r) for r in reals]


# ------------------------------------------------------------------- SRDHM and the rounding shift


def test_srdhm_saturates_only_int32_min_squared():
    assert fp.saturating_rounding_doubling_high_mul(fp.INT32_MIN, fp.INT32_MIN) == fp.INT32_MAX
    assert fp.saturating_rounding_doubling_high_mul(fp.INT32_MIN, fp.INT32_MAX) == -fp.INT32_MAX
    assert fp.saturating_rounding_doubling_high_mul(fp.INT32_MAX, fp.INT32_MAX) == fp.INT32_MAX - 1


def test_ties_round_up_in_srdhm_and_away_from_zero_in_the_shift():
    # 5 * 2**30 / 2**31 = 2.5 -> 3; -2.5 -> -2 (SRDHM rounds ties toward +infinity)
    assert fp.saturating_rounding_doubling_high_mul([5, -5], 1 << 30).tolist() == [3, -2]
    # 6 / 4 = 1.5 -> 2 and -1.5 -> -2 (the rounding shift rounds ties away from zero)
    assert fp.rounding_divide_by_pot([6, -6, 5, -5], 2).tolist() == [2, -2, 1, -1]
    # the two roundings compound: 5 * 0.25 = 1.25 becomes 2 ("double rounding", as TFLM)
    assert fp.multiply_by_quantized_multiplier(5, 1 << 30, -1) == 2


@FAST
@given(int32s, int32s)
def test_srdhm_matches_reference(a, b):
    assert fp.saturating_rounding_doubling_high_mul(a, b) == ref_srdhm(a, b)


@FAST
@given(int32s, st.integers(0, 31))
def test_rounding_divide_by_pot_matches_reference(x, exponent):
    assert fp.rounding_divide_by_pot(x, exponent) == ref_rounding_shift(x, exponent)


@FAST
@given(st.data(), st.integers(-31, 30), st.integers(1 << 30, fp.INT32_MAX), st.booleans())
def test_multiply_by_quantized_multiplier_matches_reference(data, shift, multiplier, negative):
    limit = fp.INT32_MAX >> max(shift, 0)
    x = data.draw(st.integers(-limit, limit))
    m = -multiplier if negative else multiplier
    assert fp.multiply_by_quantized_multiplier(x, m, shift) == ref_mbqm(x, m, shift)


def test_multiply_by_quantized_multiplier_broadcasts_per_channel():
    x = np.arange(-6, 6).reshape(2, 3, 2)
    multipliers, shifts = np.array([1 << 30, 3 << 29, fp.INT32_MAX]), np.array([-1, 0, -31])
    out = fp.multiply_by_quantized_multiplier(
        x, multipliers.reshape(1, 3, 1), shifts.reshape(1, 3, 1)
    )
    expected = [
        [[ref_mbqm(int(v), int(multipliers[c]), int(shifts[c])) for v in x[b, c]] for c in range(3)]
        for b in range(2)
    ]
    assert out.tolist() == expected


@pytest.mark.parametrize(
    ("x", "multiplier", "shift"),
    [
        (2**31, 1 << 30, 0),  # x beyond int32
        (1, fp.INT32_MIN, 0),  # -INT32_MIN is not an int32
        (1, 1 << 30, 31),  # shift above 30
        (1, 1 << 30, -32),  # shift below -31
        (1 << 20, 1 << 30, 12),  # x << shift overflows int32
    ],
)
def test_out_of_range_arguments_raise(x, multiplier, shift):
    with pytest.raises(ValueError):
        fp.multiply_by_quantized_multiplier(x, multiplier, shift)


# ------------------------------------------------------------------- the int64 variant (16x8)


def ref_mbqm_int64(x: int, m: int, shift: int) -> int:
    reduced = 0x7FFF if m >= 0x7FFF0000 else (m + (1 << 15)) >> 16
    value = math.floor(Fraction(x * reduced, 2 ** (15 - shift)) + Fraction(1, 2))
    return (value + 2**31) % 2**32 - 2**31  # the C cast to int32 wraps


@FAST
@given(st.integers(-(1 << 47), (1 << 47) - 1), st.integers(0, fp.INT32_MAX), st.integers(-31, 7))
def test_int64_multiplier_matches_reference(x, multiplier, shift):
    assert fp.multiply_by_quantized_multiplier_int64(x, multiplier, shift) == ref_mbqm_int64(
        x, multiplier, shift
    )


def test_int64_multiplier_rejects_out_of_range():
    for args in [(1 << 47, 1, 0), (1, -1, 0), (1, 1, 8), (1, 1, -32)]:
        with pytest.raises(ValueError):
            fp.multiply_by_quantized_multiplier_int64(*args)


# ------------------------------------------------------------------- float requantization


def test_float_requantization_rounds_half_to_even_after_float32_scaling():
    acc = np.array([5, 7, -5, -7, 1000, -1000])
    out = fp.requantize_float(acc, 0.5, 0, -128, 127)
    assert out.tolist() == [2, 4, -2, -4, 127, -128]  # 2.5 -> 2, 3.5 -> 4, clamped ends
    assert fp.requantize_float([3], 0.5, 10, -128, 127).tolist() == [12]  # 1.5 -> 2, then + zp


@FAST
@given(st.integers(-(1 << 24), 1 << 24), st.floats(2.0**-20, 2.0**-4))
def test_float_requantization_matches_python_rounding(acc, scale):
    value = float(np.float32(np.float32(acc) * np.float32(scale)))
    expected = min(max(round(value) + 3, -128), 127)  # Python's round is half to even
    assert fp.requantize_float([acc], scale, 3, -128, 127).tolist() == [expected]


# ------------------------------------------------------------------- gemmlowp functions


def q(value: float, integer_bits: int) -> np.ndarray:
    return np.array([round(value * 2 ** (31 - integer_bits))])


@pytest.mark.parametrize("value", [0.0, -0.01, -0.25, -0.5, -1.0, -2.5, -7.9, -15.0, -31.0])
def test_exp_on_negative_values_is_close_to_exp(value):
    result = fp.exp_on_negative_values(q(value, 5), 5)[0] / 2**31
    assert abs(result - math.exp(value)) < 2e-9 + 5e-7 * math.exp(value)  # gemmlowp: ~1e-7


@pytest.mark.parametrize("value", [-7.5, -3.0, -1.0, -0.1, 0.0, 0.1, 0.5, 2.0, 7.9])
def test_logistic_and_tanh_are_close_to_the_functions(value):
    assert abs(fp.logistic(q(value, 4), 4)[0] / 2**31 - 1 / (1 + math.exp(-value))) < 5e-7
    assert abs(fp.tanh(q(value, 4), 4)[0] / 2**31 - math.tanh(value)) < 5e-7


@pytest.mark.parametrize("value", [1.0, 1.5, 3.0, 100.0, 4000.0])
def test_get_reciprocal(value):
    raw, bits_over_unit = fp.get_reciprocal(q(value, 12), 12)
    assert abs(raw[0] / 2**31 * 2.0 ** -bits_over_unit[0] - 1 / value) < 1e-8 / value


def test_helpers_reproduce_c_integer_semantics():
    assert fp.wrap_int32(2**31).tolist() == fp.INT32_MIN
    assert fp.wrap_int16([32768, -32769]).tolist() == [-32768, 32767]
    assert fp.trunc_div([-7, 7, -7], [2, -2, -2]).tolist() == [-3, -3, 3]
    assert fp.round_half_away([0.5, -0.5, 1.5, -2.5, 0.49999997]).tolist() == [1, -1, 2, -3, 0]
    assert fp.count_leading_zeros32([0, 1, 2**31 - 1, -1]).tolist() == [32, 31, 1, 0]
    assert fp.rounding_half_sum([1, -1, 2], [2, -2, 2]).tolist() == [2, -2, 2]
    assert fp.saturating_rounding_multiply_by_pot([1 << 29, -(1 << 29), 3], 2).tolist() == [
        fp.INT32_MAX,
        fp.INT32_MIN,
        12,
    ]


# ------------------------------------------ the optimized kernels' requantization (shift <= -2)

EDGE_X = sorted(
    {fp.INT32_MIN, fp.INT32_MIN + 1, fp.INT32_MAX, fp.INT32_MAX - 1, 0}
    | {sign * ((1 << k) + d) for k in range(31) for d in (-1, 0, 1) for sign in (1, -1)}
)
EDGE_M = [0, 1 << 30, (1 << 30) + 1, 3 << 29, fp.INT32_MAX - 1, fp.INT32_MAX]


def right_edge_grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (x, multiplier, shift) of the edge values, shift -31..-2: ties of both roundings
    (x * m a multiple of 2**30, x = +-2**k) at every shift, and the int32 extremes."""
    x, m, s = np.meshgrid(EDGE_X, EDGE_M, np.arange(-31, -1), indexing="ij")
    return x.ravel(), m.ravel(), s.ravel()


@FAST
@given(
    int32s,
    st.one_of(st.just(0), st.integers(1 << 30, fp.INT32_MAX)),
    st.integers(-31, -2),
    st.integers(-128, 127),
)
def test_right_shift_requantization_matches_reference(x, multiplier, shift, zero_point):
    params = fp.right_shift_requant_params(multiplier, shift, zero_point)
    if params is None:  # the zero point times 2**(r-1) would overflow the high word
        assert abs(zero_point) * 2 ** (-shift - 1) + 2 ** (-shift - 2) >= 2**30 - 1
        return
    result = fp.multiply_by_quantized_multiplier_right(x, params)
    assert result == ref_mbqm(x, multiplier, shift) + zero_point


@pytest.mark.parametrize("zero_point", [0, -128, 127, 5])
def test_right_shift_requantization_on_every_edge_value(zero_point):
    x, m, s = right_edge_grid()
    keep = s >= -22  # where every int8 zero point fits the high word
    x, m, s = x[keep], m[keep], s[keep]
    params = fp.right_shift_requant_params(m, s, zero_point)
    expected = fp.multiply_by_quantized_multiplier(x, m, s) + zero_point
    assert (fp.multiply_by_quantized_multiplier_right(x, params) == expected).all()


def test_right_shift_requant_params_refuse_what_they_cannot_do():
    assert fp.right_shift_requant_params([1 << 30, 1 << 30], [-2, -1]) is None
    assert fp.right_shift_requant_params(-(1 << 30), -5) is None
    assert fp.right_shift_requant_params(1 << 30, -24, -128) is None  # 128 * 2**23 + 2**22
    assert fp.right_shift_requant_params(1 << 30, -23, -128) is not None
    # a zero multiplier works with any shift (its result is 0)
    assert fp.right_shift_requant_params([0, 1 << 30], [3, -9]).tolist() == [
        [0, 1, 1],
        [1 << 30, 1 << 7, 8],
    ]


def run_c(tmp_path, source: str, *defines: str) -> list[int]:
    """Build a C program against the kernels' headers (sanitized), run it, read its ints."""
    (tmp_path / "t.c").write_text(source)
    kernels = templates_dir() / "c" / "kernels"
    run_compiler(
        [
            "cc",
            "-std=c99",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-fsanitize=address,undefined",
            "-fno-sanitize-recover=all",
            *defines,
            f"-I{kernels}",
            "t.c",
            "-o",
            "t",
        ],
        cwd=tmp_path,
    )
    out = subprocess.run([str(tmp_path / "t")], capture_output=True, text=True, check=True).stdout
    return [int(v) for v in out.split()]


# The 64-bit product as the compiler makes it, and as the cores without a long multiply
# (Cortex-M0) compose it from four 16 x 16 products (EDGEC_NO_LONG_MULTIPLY).
PRODUCTS = {"native": (), "composed": ("-DEDGEC_NO_LONG_MULTIPLY=1",)}


@needs_tools("cc")
@pytest.mark.parametrize("product", list(PRODUCTS))
def test_c_srdhm_is_the_reference(tmp_path, product):
    pairs = [(a, b) for a in EDGE_X[::3] for b in EDGE_X[1::3]]
    rows = ",\n".join(f"{{{a}, {b}}}" for a, b in pairs)
    got = run_c(
        tmp_path,
        '#include <stdio.h>\n#include "edgec_fixedpoint.h"\n'
        f"static const int32_t rows[][2] = {{\n{rows}\n}};\n"
        "int main(void) {\n"
        "    for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; ++i)\n"
        '        printf("%ld\\n", (long)edgec_fp_srdhm(rows[i][0], rows[i][1]));\n'
        "    return 0;\n}\n",
        *PRODUCTS[product],
    )
    assert got == [ref_srdhm(a, b) for a, b in pairs]


@needs_tools("cc")
@pytest.mark.parametrize("product", list(PRODUCTS))
def test_c_right_shift_requantization_is_the_reference(tmp_path, product):
    """edgec_fp_mbqm_right (the C the optimized kernels inline) on the host compiler, with
    the sanitizers, over the edge grid: equal to the numpy reference everywhere."""
    x, m, s = right_edge_grid()
    # the most negative zero point where it fits the high word, else 0
    order = np.argsort(s, kind="stable")
    x, m, s = x[order], m[order], s[order]
    zero_point = np.where(s >= -22, -128, 0)
    shifts = np.unique(s)
    params = np.concatenate(
        [fp.right_shift_requant_params(m[s == k], k, -128 if k >= -22 else 0) for k in shifts]
    )
    rows = ",\n".join(
        f"{{{a}, {p[0]}, {p[1]}, {p[2]}}}" for a, p in zip(x.tolist(), params.tolist())
    )
    got = run_c(
        tmp_path,
        '#include <stdio.h>\n#include "edgec_fixedpoint.h"\n'
        f"static const int32_t rows[][4] = {{\n{rows}\n}};\n"
        "int main(void) {\n"
        "    for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; ++i)\n"
        '        printf("%ld\\n", (long)edgec_fp_mbqm_right(rows[i][0], rows[i][1], rows[i][2],'
        " rows[i][3]));\n    return 0;\n}\n",
        *PRODUCTS[product],
    )
    expected = fp.multiply_by_quantized_multiplier(x, m, s) + zero_point
    assert got == expected.tolist()


# ---------------------------------------- the doubled-accumulator requantization (shift <= -1)

ACC_EDGE = sorted(
    {-(1 << 30), (1 << 30) - 1, 0}
    | {sign * ((1 << k) + d) for k in range(30) for d in (-1, 0, 1) for sign in (1, -1)}
)


def doubled_edge_grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (acc, multiplier, shift) of the edge values, |acc| < 2**30, shift -31..-1."""
    x, m, s = np.meshgrid(ACC_EDGE, EDGE_M, np.arange(-31, 0), indexing="ij")
    return x.ravel(), m.ravel(), s.ravel()


@FAST
@given(
    st.integers(-(1 << 30), (1 << 30) - 1),
    st.integers(0, fp.INT32_MAX),
    st.integers(-31, -1),
    st.integers(-128, 127),
)
def test_doubled_requantization_matches_reference(x, multiplier, shift, zero_point):
    m, r1, k = fp.doubled_requant_params(multiplier, shift, zero_point)
    assert fp.requant_doubled(2 * x, m, r1, k) == ref_mbqm(x, multiplier, shift) + zero_point


@pytest.mark.parametrize("zero_point", [0, -128, 127, 5])
def test_doubled_requantization_on_every_edge_value(zero_point):
    x, m, s = doubled_edge_grid()
    mult, r1, k = fp.doubled_requant_params(m, s, zero_point)
    expected = fp.multiply_by_quantized_multiplier(x, m, s) + zero_point
    assert (fp.requant_doubled(2 * x, mult, r1, k) == expected).all()


def test_doubled_requant_params_refuse_what_they_cannot_do():
    assert fp.doubled_requant_params([1 << 30, 1 << 30], [-2, 0]) is None
    assert fp.doubled_requant_params(-(1 << 30), -5) is None
    m, r1, k = fp.doubled_requant_params([0, 1 << 30], [-1, -9], -3)
    assert m.tolist() == [0, 1 << 30] and r1.tolist() == [0, 8] and k == -5


@needs_tools("cc")
@pytest.mark.parametrize("product", list(PRODUCTS))
def test_c_doubled_requantization_is_the_reference(tmp_path, product):
    """edgec_fp_requant2 on the host compiler, with the sanitizers, over the edge grid (the
    64-bit product native and composed from 16 x 16 ones, as on the Cortex-M0)."""
    x, m, s = doubled_edge_grid()
    zero_point = np.where(np.arange(x.size) % 2 == 0, -128, 127)
    mult, r1, _ = fp.doubled_requant_params(m, s)
    rows = ",\n".join(
        f"{{{2 * a}, {b}, {c}, {2 * z + 1}}}"
        for a, b, c, z in zip(x.tolist(), mult.tolist(), r1.tolist(), zero_point.tolist())
    )
    got = run_c(
        tmp_path,
        '#include <stdio.h>\n#include "edgec_fixedpoint.h"\n'
        f"static const int32_t rows[][4] = {{\n{rows}\n}};\n"
        "int main(void) {\n"
        "    for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; ++i)\n"
        '        printf("%ld\\n", (long)edgec_fp_requant2(rows[i][0], rows[i][1], rows[i][2],'
        " rows[i][3]));\n    return 0;\n}\n",
        *PRODUCTS[product],
    )
    expected = fp.multiply_by_quantized_multiplier(x, m, s) + zero_point
    assert got == expected.tolist()
