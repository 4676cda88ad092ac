"""The integer references of the attention ops against TFLite, bit for bit (tolerance 0).

BATCH_MATMUL (int8 and 16x8, broadcast batch dims) and SOFTMAX on any axis run in TensorFlow
Lite Micro's host interpreter (the ``tflite-micro`` wheel); TFLM has no GELU kernel, so GELU's
256-entry table is checked against LiteRT's builtin kernel (``ai-edge-litert``), the kernel
TFLite defines it by. edgec's own integer LayerNorm has no TFLite twin: its fixed-point
inverse square root is checked against exact arithmetic, and the layer against the float
formula within its rounding.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from tflite_builder import OP, run_tflm, schema, single_op

from edgec.ops.integer import layernorm as ln
from edgec.ops.integer import lut
from edgec.ops.integer import matmul as mm
from edgec.ops.integer import softmax as sm
from tests.test_int_kernels import (
    CASES,
    FEW,
    assert_equal,
    log_scale,
    random_int,
    seeds,
    t,
    zero_point,
)

dtypes = st.sampled_from(["int8", "int16"])


def batch_shapes(draw) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """[..., M, K] and [..., K, N] with 0-2 batch dims that broadcast (TFLM: rank <= 5)."""
    m, k, n = draw(st.integers(1, 6)), draw(st.integers(1, 24)), draw(st.integers(1, 9))
    rank = draw(st.integers(0, 2))
    batch = [draw(st.integers(1, 3)) for _ in range(rank)]
    a_batch = [d if draw(st.booleans()) else 1 for d in batch]
    b_batch = [d if draw(st.booleans()) else 1 for d in batch]
    b_batch = b_batch[draw(st.integers(0, len(b_batch))) :]  # B may have fewer dims
    return (*a_batch, m, k), (*b_batch, k, n)


@CASES
@given(st.data(), dtypes)
def test_batch_matmul_matches_tflm(data, dtype):
    draw = data.draw
    rng = np.random.default_rng(draw(seeds))
    a_shape, b_shape = batch_shapes(draw)
    dt = getattr(np, dtype)
    s_a, s_b = log_scale(draw, -8, -2), log_scale(draw, -8, -2)
    z_a, z_b, z_out = (zero_point(draw, dtype) for _ in range(3))
    ratio = 2.0 ** draw(st.floats(-4.0, 8.0))  # s_out / (s_a * s_b)
    s_out = float(np.float32(s_a * s_b * ratio * math.sqrt(a_shape[-1])))
    a, b = random_int(rng, a_shape, dt), random_int(rng, b_shape, dt)
    out_shape = np.matmul(np.zeros(a_shape), np.zeros(b_shape)).shape
    model = single_op(
        OP.BATCH_MATMUL,
        [t(a_shape, dt, s_a, z_a), t(b_shape, dt, s_b, z_b)],
        [t(out_shape, dt, s_out, z_out)],
        schema.BatchMatMulOptionsT(adjX=False, adjY=False),
    )
    params = mm.batch_matmul_params(s_a, z_a, s_b, z_b, s_out, z_out, dtype=dtype)
    assert_equal(mm.batch_matmul(a, b, params), run_tflm(model, [a, b])[0])


@FEW
@given(st.data(), st.sampled_from([("int8", "int8"), ("int8", "int16"), ("int16", "int16")]))
def test_softmax_on_any_axis_matches_tflm_on_the_last(data, types):
    """TFLite's SOFTMAX normalizes the last axis: the reference over axis k equals TFLM's on
    the tensor with axis k moved last (and back)."""
    draw = data.draw
    rng = np.random.default_rng(draw(seeds))
    in_type, out_type = types
    shape = tuple(draw(st.integers(1, 6)) for _ in range(draw(st.integers(2, 4))))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    s_in = log_scale(draw, -8, -1) if in_type == "int8" else log_scale(draw, -13, -8)
    zp_in = zero_point(draw, in_type)
    x = random_int(rng, shape, getattr(np, in_type))
    moved = np.ascontiguousarray(np.moveaxis(x, axis, -1))
    s_out, zp_out = sm.OUTPUT_QUANTIZATION[(in_type, out_type)]
    model = single_op(
        OP.SOFTMAX,
        [t(moved.shape, getattr(np, in_type), s_in, zp_in)],
        [t(moved.shape, getattr(np, out_type), s_out, zp_out)],
        schema.SoftmaxOptionsT(beta=1.0),
    )
    ref = np.moveaxis(run_tflm(model, [moved])[0], -1, axis)
    params = sm.softmax_params(s_in, dtype=in_type, output_dtype=out_type)
    assert_equal(sm.softmax(x, params, axis=axis), ref)


def run_litert(model: bytes, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


@FEW
@given(st.data(), st.booleans())
def test_gelu_table_matches_litert_on_every_int8_value(data, approximate):
    draw = data.draw
    s_in, s_out = log_scale(draw, -8, 0), log_scale(draw, -8, 0)
    z_in, z_out = zero_point(draw, "int8"), zero_point(draw, "int8")
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    model = single_op(
        OP.GELU,
        [t(x.shape, np.int8, s_in, z_in)],
        [t(x.shape, np.int8, s_out, z_out)],
        schema.GeluOptionsT(approximate=approximate),
    )
    params = lut.lut_params(lambda v: lut.gelu_f32(v, approximate), s_in, z_in, s_out, z_out)
    assert_equal(lut.lookup(x, params), run_litert(model, x))


def test_inverse_square_root_is_tflites_newton_raphson():
    """1 / sqrt(v) ~ r * 2**(e - 31) within 2e-6 relative, over the whole input range."""
    v = np.unique(np.concatenate([np.arange(2, 5000), 2 ** np.arange(2, 31) - 1, [2**30 + 12345]]))
    r, e = ln.inv_sqrt_multiplier_exp(v)
    approx = r.astype(np.float64) * 2.0 ** (e - 31.0)
    np.testing.assert_allclose(approx * np.sqrt(v.astype(np.float64)), 1.0, rtol=2e-6)
    assert (e <= 0).all() and (r < 2**31).all()
    r, e = ln.inv_sqrt_multiplier_exp(np.array([0, 1]))
    assert r.tolist() == [2**31 - 1] * 2 and e.tolist() == [0, 0]


@FEW
@given(st.data(), dtypes)
def test_integer_layernorm_is_within_one_output_step_of_the_float_formula(data, dtype):
    """Integer LayerNorm = the float formula (with the quantized gamma and beta) within one
    output step for int8, two for int16 (whose last requantization, TFLite's int64 one, has
    a 15-bit multiplier: 2**-16 of full scale is half an int16 step)."""
    draw = data.draw
    rng = np.random.default_rng(draw(seeds))
    rows, size = draw(st.integers(1, 6)), draw(st.integers(2, 300))
    dt = getattr(np, dtype)
    s_x = log_scale(draw, -9, -3) if dtype == "int8" else log_scale(draw, -14, -9)
    z_x = zero_point(draw, dtype)
    x = random_int(rng, (rows, size), dt)
    gamma = rng.uniform(-1.5, 1.5, size)
    beta = rng.normal(0, 0.5, size)
    eps = float(draw(st.sampled_from([1e-5, 1e-3])))
    real = (x.astype(np.float64) - z_x) * s_x
    centered = real - real.mean(1, keepdims=True)
    ref = centered / np.sqrt((centered**2).mean(1, keepdims=True) + eps) * gamma + beta
    limit = 127 if dtype == "int8" else 32767
    s_y = float(np.float32(np.abs(ref).max() / limit * 1.1))
    s_g = np.float32(np.abs(gamma).max() / 32767)
    g_q = np.rint(gamma / s_g).astype(np.int16)
    bits = ln.fraction_bits(s_g, s_y)
    while np.abs(beta).max() / (float(s_g) * 2.0**-bits) >= 2**30:  # as PTQ stores it
        bits -= 1
    s_b = np.float32(float(s_g) * 2.0**-bits)
    b_q = np.rint(beta / s_b).astype(np.int32)
    params = ln.layer_norm_params(s_x, z_x, s_g, s_b, s_y, 0, size, eps, dtype=dtype)
    y = ln.layer_norm(x, g_q, b_q, params).astype(np.float64)
    # the float formula with the quantized gamma and beta, in output steps
    want = (centered / np.sqrt((centered**2).mean(1, keepdims=True) + eps)) * (g_q * s_g)
    want = (want + b_q * float(s_b)) / s_y
    assert np.abs(y - np.clip(want, -limit - 1, limit)).max() <= (1.0 if dtype == "int8" else 2.0)
