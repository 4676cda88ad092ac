"""edgec's integer kernels against TensorFlow Lite Micro, bit for bit (tolerance 0).

Each case writes a one-op (or PAD/QUANTIZE + op) .tflite model with the drawn shapes,
quantization and options, runs it in the TFLM host interpreter and compares with the numpy
kernel fed the same integers in ONNX layout. hypothesis draws the cases (derandomized,
bounded counts); tensor data comes from a numpy generator seeded by the draw. The float
rounding variants are compared with onnxruntime's QLinear kernels at the end.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from conftest import shared_path
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tflite_builder import (
    ACT,
    OP,
    PADDING,
    ModelBuilder,
    run_numpy_kernels,
    run_tflm,
    schema,
    single_op,
)

from edgec.errors import QuantizationError
from edgec.ops.integer import activations as act
from edgec.ops.integer import elementwise as ew
from edgec.ops.integer import linear, pooling
from edgec.ops.integer import softmax as sm

CASES = settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FEW = settings(CASES, max_examples=80)

seeds = st.integers(0, 2**32 - 1)
dtypes = st.sampled_from(["int8", "int16"])
# fused activation: (TFLite enum, float bounds)
ACTIVATIONS = [
    (ACT.NONE, (None, None)),
    (ACT.RELU, (0.0, None)),
    (ACT.RELU6, (0.0, 6.0)),
    (ACT.RELU_N1_TO_1, (-1.0, 1.0)),
]
activations = st.sampled_from(ACTIVATIONS)


def nhwc(x):
    return np.ascontiguousarray(np.moveaxis(x, 1, -1))


def nchw(x):
    return np.ascontiguousarray(np.moveaxis(x, -1, 1))


def log_scale(draw, low=-9.0, high=-1.0) -> float:
    return float(np.float32(2.0 ** draw(st.floats(low, high))))


def zero_point(draw, dtype) -> int:
    return 0 if dtype == "int16" else draw(st.integers(-128, 127))


def random_int(rng, shape, dtype):
    info = np.iinfo(dtype)
    return rng.integers(info.min, int(info.max) + 1, size=shape, dtype=dtype)


def t(shape, dtype, scale=None, zp=0, data=None, axis=0):
    """A tensor spec for the model builder."""
    return dict(shape=list(shape), dtype=dtype, scale=scale, zero_point=zp, data=data, axis=axis)


def assert_equal(ours, ref):
    assert ours.dtype == ref.dtype and ours.shape == ref.shape
    diff = np.abs(ours.astype(np.int64) - ref.astype(np.int64))
    assert diff.max(initial=0) == 0, (
        f"{(diff > 0).sum()} of {diff.size} values differ, max {diff.max()}"
    )


def test_tflm_runner_reproduces_kws_reference_outputs():
    """Sanity check of the harness: the KWS model in TFLM gives the stored reference outputs."""
    model = shared_path("models", "kws_dscnn", "kws_ref_model.tflite").read_bytes()
    data = shared_path("data", "kws01")
    expected = np.load(data / "tflm_int8_outputs.npy")
    files = sorted(data.glob("*.bin"))[:10]
    for index, path in enumerate(files):
        x = np.fromfile(path, np.int8).reshape(1, 49, 10, 1)
        np.testing.assert_array_equal(run_tflm(model, [x])[0][0], expected[index])


# ---------------------------------------------------------------------------- conv


def same_pads(size, kernel, stride, dilation):
    effective = dilation * (kernel - 1) + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def conv_case(draw, dtype, depthwise: bool):
    rng = np.random.default_rng(draw(seeds))
    group = 1 if depthwise else draw(st.sampled_from([1, 1, 2, 3]))
    c = draw(st.integers(1, 6)) * group
    mult = draw(st.integers(1, 3)) if depthwise else 1
    o = c * mult if depthwise else draw(st.integers(1, 4)) * group
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    h = draw(st.integers(dh * (kh - 1) + 1, 10))
    w = draw(st.integers(dw * (kw - 1) + 1, 10))
    s_in, zp_in = log_scale(draw), zero_point(draw, dtype)
    s_w = np.float32(2.0 ** rng.uniform(-9, -4, o))
    ratio = 2.0 ** draw(st.floats(0.0, 10.0))  # s_out / (s_in * max s_w): effective scale < 1
    s_out = float(np.float32(s_in * s_w.max() * ratio))
    zp_out = zero_point(draw, dtype)
    x = random_int(rng, (1, c, h, w), getattr(np, dtype))
    wt = rng.integers(-127, 128, (o, 1 if depthwise else c // group, kh, kw), dtype=np.int8)
    # 16x8 takes int64 bias (the converter's choice) or, except depthwise, int32 bias and a
    # 32-bit accumulator; without bias TFLM accumulates 16x8 in 64 bits. int8: int32 bias.
    has_bias = draw(st.booleans())
    wide = dtype == "int16" and (depthwise or not has_bias or draw(st.booleans()))
    bias_type = np.int64 if wide else np.int32
    bias = rng.integers(-5000, 5000, o).astype(bias_type) if has_bias else None
    fused = draw(activations)
    return dict(
        rng=rng,
        c=c,
        o=o,
        mult=mult,
        group=group,
        wide=wide,
        k=(kh, kw),
        s=(sh, sw),
        d=(dh, dw),
        h=h,
        w=w,
        s_in=s_in,
        zp_in=zp_in,
        s_w=s_w,
        s_out=s_out,
        zp_out=zp_out,
        x=x,
        wt=wt,
        bias=bias,
        fused=fused,
        dtype=dtype,
    )


def build_conv_model(case, depthwise, padding, explicit_pads):
    """CONV_2D / DEPTHWISE_CONV_2D, preceded by PAD (zero point fill) for explicit pads."""
    dt = getattr(np, case["dtype"])
    b = ModelBuilder()
    n, c, h, w = case["x"].shape
    x_in = b.tensor([n, h, w, c], dt, scale=case["s_in"], zero_point=case["zp_in"])
    conv_in = x_in
    top, left, bottom, right = explicit_pads
    if any(explicit_pads):
        paddings = np.array([[0, 0], [top, bottom], [left, right], [0, 0]], np.int32)
        conv_in = b.tensor(
            [n, h + top + bottom, w + left + right, c],
            dt,
            scale=case["s_in"],
            zero_point=case["zp_in"],
        )
        b.operator(OP.PAD, [x_in, b.tensor([4, 2], np.int32, data=paddings)], [conv_in])
    o, (kh, kw) = case["o"], case["k"]
    if depthwise:
        weights = b.tensor(
            [1, kh, kw, o],
            np.int8,
            scale=case["s_w"],
            zero_point=np.zeros(o, int),
            data=case["wt"].transpose(1, 2, 3, 0),
            axis=3,
        )
    else:
        weights = b.tensor(
            [o, kh, kw, c // case["group"]],
            np.int8,
            scale=case["s_w"],
            zero_point=np.zeros(o, int),
            data=case["wt"].transpose(0, 2, 3, 1),
        )
    inputs = [conv_in, weights]
    if case["bias"] is not None:
        bias_scale = np.float32(case["s_in"]) * case["s_w"]
        inputs.append(
            b.tensor(
                [o],
                case["bias"].dtype,
                scale=bias_scale,
                zero_point=np.zeros(o, int),
                data=case["bias"],
            )
        )
    return b, inputs, x_in


def run_conv(case, depthwise: bool, use_same: bool, pads):
    (sh, sw), (dh, dw), (kh, kw) = case["s"], case["d"], case["k"]
    h, w = case["h"], case["w"]
    if use_same:
        pt, pb = same_pads(h, kh, sh, dh)
        pl, pr = same_pads(w, kw, sw, dw)
        conv_pads, explicit = (pt, pl, pb, pr), (0, 0, 0, 0)
    else:
        conv_pads, explicit = pads, pads
    b, inputs, x_in = build_conv_model(case, depthwise, None, explicit)
    oh = (h + conv_pads[0] + conv_pads[2] - dh * (kh - 1) - 1) // sh + 1
    ow = (w + conv_pads[1] + conv_pads[3] - dw * (kw - 1) - 1) // sw + 1
    dt = getattr(np, case["dtype"])
    out = b.tensor([1, oh, ow, case["o"]], dt, scale=case["s_out"], zero_point=case["zp_out"])
    padding = PADDING.SAME if use_same else PADDING.VALID
    common = dict(
        padding=padding,
        strideW=sw,
        strideH=sh,
        dilationWFactor=dw,
        dilationHFactor=dh,
        fusedActivationFunction=case["fused"][0],
    )
    if depthwise:
        options = schema.DepthwiseConv2DOptionsT(depthMultiplier=case["mult"], **common)
        b.operator(OP.DEPTHWISE_CONV_2D, inputs, [out], options)
    else:
        b.operator(OP.CONV_2D, inputs, [out], schema.Conv2DOptionsT(**common))
    ref = nchw(run_tflm(b.build([x_in], [out]), [nhwc(case["x"])])[0])
    params = linear.conv_params(
        case["s_in"],
        case["zp_in"],
        case["s_w"],
        case["s_out"],
        case["zp_out"],
        dtype=case["dtype"],
        strides=case["s"],
        pads=conv_pads,
        dilations=case["d"],
        group=case["c"] if depthwise else case["group"],
        activation=case["fused"][1],
        wide=case["wide"],
    )
    assert_equal(linear.conv2d(case["x"], case["wt"], case["bias"], params), ref)


@CASES
@given(st.data(), dtypes, st.booleans())
def test_conv2d(data, dtype, use_same):
    case = conv_case(data.draw, dtype, depthwise=False)
    pads = tuple(data.draw(st.integers(0, 2)) for _ in range(4))
    run_conv(case, depthwise=False, use_same=use_same, pads=pads)


@CASES
@given(st.data(), dtypes, st.booleans())
def test_depthwise_conv2d(data, dtype, use_same):
    case = conv_case(data.draw, dtype, depthwise=True)
    pads = tuple(data.draw(st.integers(0, 2)) for _ in range(4))
    run_conv(case, depthwise=True, use_same=use_same, pads=pads)


# ---------------------------------------------------------------------------- fully connected


@CASES
@given(st.data(), dtypes, st.booleans())
def test_fully_connected(data, dtype, per_channel):
    draw = data.draw
    per_channel = per_channel and dtype == "int8"  # TFLM: per-channel FC is int8 only
    rng = np.random.default_rng(draw(seeds))
    batch, k, o = draw(st.integers(1, 4)), draw(st.integers(1, 40)), draw(st.integers(1, 12))
    s_in, zp_in, zp_out = log_scale(draw), zero_point(draw, dtype), zero_point(draw, dtype)
    s_w = np.float32(2.0 ** rng.uniform(-9, -4, o if per_channel else 1))
    s_out = float(np.float32(s_in * s_w.max() * 2.0 ** draw(st.floats(0.0, 10.0))))
    dt = getattr(np, dtype)
    x = random_int(rng, (batch, k), dt)
    wt = rng.integers(-127, 128, (o, k), dtype=np.int8)
    has_bias = draw(st.booleans())  # 16x8: int64 or int32 bias; none -> 64-bit accumulator
    wide = dtype == "int16" and (not has_bias or draw(st.booleans()))
    bias = rng.integers(-5000, 5000, o).astype(np.int64 if wide else np.int32) if has_bias else None
    fused = draw(activations)
    zeros = np.zeros(s_w.size, int)
    bias_spec = t((o,), bias.dtype, np.float32(s_in) * s_w, zeros, bias) if has_bias else None
    model = single_op(
        OP.FULLY_CONNECTED,
        [t((batch, k), dt, s_in, zp_in), t((o, k), np.int8, s_w, zeros, wt), bias_spec],
        [t((batch, o), dt, s_out, zp_out)],
        schema.FullyConnectedOptionsT(fusedActivationFunction=fused[0]),
    )
    ref = run_tflm(model, [x])[0]
    params = linear.fully_connected_params(
        s_in, zp_in, s_w, s_out, zp_out, dtype=dtype, activation=fused[1], wide=wide
    )
    assert_equal(linear.fully_connected(x, wt, bias, params), ref)


# ---------------------------------------------------------------------------- add, mul


def broadcast_shapes(draw):
    shape = [draw(st.integers(1, 4)) for _ in range(4)]
    other = [d if draw(st.integers(0, 2)) else 1 for d in shape]
    return (shape, other) if draw(st.booleans()) else (other, shape)


@CASES
@given(st.data(), dtypes, st.sampled_from(["add", "mul"]))
def test_add_mul(data, dtype, op):
    draw = data.draw
    rng = np.random.default_rng(draw(seeds))
    shape_a, shape_b = broadcast_shapes(draw)
    dt = getattr(np, dtype)
    s1, s2 = log_scale(draw, -8, 0), log_scale(draw, -8, 0)
    zp1, zp2, zp_out = (zero_point(draw, dtype) for _ in range(3))
    if op == "add":
        s_out = float(np.float32(max(s1, s2) * 2.0 ** draw(st.floats(-2.0, 4.0))))
    else:
        s_out = float(np.float32(s1 * s2 * 2.0 ** draw(st.floats(3.0, 12.0))))
    a, b = random_int(rng, shape_a, dt), random_int(rng, shape_b, dt)
    fused = draw(activations)
    out_shape = np.broadcast_shapes(tuple(shape_a), tuple(shape_b))
    options = (schema.AddOptionsT if op == "add" else schema.MulOptionsT)(
        fusedActivationFunction=fused[0]
    )
    model = single_op(
        OP.ADD if op == "add" else OP.MUL,
        [t(shape_a, dt, s1, zp1), t(shape_b, dt, s2, zp2)],
        [t(out_shape, dt, s_out, zp_out)],
        options,
    )
    ref = run_tflm(model, [a, b])[0]
    derive, kernel = (ew.add_params, ew.add) if op == "add" else (ew.mul_params, ew.mul)
    params = derive(s1, zp1, s2, zp2, s_out, zp_out, dtype=dtype, activation=fused[1])
    assert_equal(kernel(a, b, params), ref)


# ---------------------------------------------------------------------------- pooling, mean


@CASES
@given(st.data(), dtypes, st.sampled_from(["avg", "max"]), st.booleans())
def test_pool(data, dtype, kind, use_same):
    draw = data.draw
    rng = np.random.default_rng(draw(seeds))
    c, kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(kh, 11)), draw(st.integers(kw, 11))
    s, zp = log_scale(draw), zero_point(draw, dtype)
    dt = getattr(np, dtype)
    x = random_int(rng, (1, c, h, w), dt)
    if use_same:
        (pt, pb), (pl, pr) = same_pads(h, kh, sh, 1), same_pads(w, kw, sw, 1)
    else:
        pt = pb = pl = pr = 0
    oh, ow = (h + pt + pb - kh) // sh + 1, (w + pl + pr - kw) // sw + 1
    fused = draw(activations)
    options = schema.Pool2DOptionsT(
        padding=PADDING.SAME if use_same else PADDING.VALID,
        strideW=sw,
        strideH=sh,
        filterWidth=kw,
        filterHeight=kh,
        fusedActivationFunction=fused[0],
    )
    opcode = OP.AVERAGE_POOL_2D if kind == "avg" else OP.MAX_POOL_2D
    model = single_op(opcode, [t((1, h, w, c), dt, s, zp)], [t((1, oh, ow, c), dt, s, zp)], options)
    ref = nchw(run_tflm(model, [nhwc(x)])[0])
    params = pooling.pool_params(
        s,
        zp,
        s,
        zp,
        (kh, kw),
        strides=(sh, sw),
        pads=(pt, pl, pb, pr),
        dtype=dtype,
        activation=fused[1],
    )
    ours = pooling.avg_pool(x, params) if kind == "avg" else pooling.max_pool(x, params)
    assert_equal(ours, ref)


def test_avg_pool_counting_padding_is_a_rounded_mean_of_the_padded_window():
    """ONNX count_include_pad=1 (not a TFLM option): padding counts as the zero point and the
    sum is divided by the full window, rounded half away from zero as TFLM rounds."""
    rng = np.random.default_rng(3)
    x = random_int(rng, (1, 2, 5, 4), np.int8)
    zp = -7
    params = pooling.pool_params(
        0.1, zp, 0.1, zp, (3, 3), strides=(2, 1), pads=(1, 1, 2, 0), count_include_pad=True
    )
    padded = np.pad(x.astype(int), ((0, 0), (0, 0), (1, 2), (1, 0)), constant_values=zp)
    out = pooling.avg_pool(x, params)
    for index in np.ndindex(out.shape):
        n, c, i, j = index
        total = Fraction(int(padded[n, c, 2 * i : 2 * i + 3, j : j + 3].sum()), 9)
        expected = math.floor(abs(total) + Fraction(1, 2)) * (1 if total >= 0 else -1)
        assert out[index] == expected


@CASES
@given(st.data(), dtypes, st.booleans(), st.booleans())
def test_mean(data, dtype, same_quantization, keepdims):
    """MEAN over NHWC axes; the kernel is layout-agnostic (GlobalAveragePool = NCHW (2, 3))."""
    draw = data.draw
    rng = np.random.default_rng(draw(seeds))
    shape = (1, draw(st.integers(1, 12)), draw(st.integers(1, 12)), draw(st.integers(1, 6)))
    axes = draw(st.sampled_from([(1, 2), (2, 1), (3,), (1,), (2, 3)]))
    s_in, zp_in = log_scale(draw), zero_point(draw, dtype)
    if same_quantization:
        s_out, zp_out = s_in, zp_in
    else:
        s_out = float(np.float32(s_in * 2.0 ** draw(st.floats(-3.0, 3.0))))
        zp_out = zero_point(draw, dtype)
    dt = getattr(np, dtype)
    x = random_int(rng, shape, dt)
    out_shape = np.mean(x, axis=axes, keepdims=keepdims).shape
    model = single_op(
        OP.MEAN,
        [t(shape, dt, s_in, zp_in), t((len(axes),), np.int32, data=np.array(axes, np.int32))],
        [t(out_shape, dt, s_out, zp_out)],
        schema.ReducerOptionsT(keepDims=keepdims),
    )
    count = int(np.prod([shape[a] for a in axes]))
    params = pooling.mean_params(s_in, zp_in, s_out, zp_out, count, dtype=dtype)
    assert_equal(pooling.mean(x, axes, params, keepdims=keepdims), run_tflm(model, [x])[0])


# ---------------------------------------------------------------------------- softmax


@CASES
@given(st.data(), st.sampled_from([("int8", "int8"), ("int8", "int16"), ("int16", "int16")]))
def test_softmax(data, types):
    draw = data.draw
    rng = np.random.default_rng(draw(seeds))
    in_type, out_type = types
    rows, depth = draw(st.integers(1, 4)), draw(st.integers(1, 40))
    s_in = log_scale(draw, -8, -1) if in_type == "int8" else log_scale(draw, -13, -8)
    zp_in = zero_point(draw, in_type)
    beta = draw(st.sampled_from([1.0, 0.5, 2.0]))
    x = random_int(rng, (rows, depth), getattr(np, in_type))
    s_out, zp_out = sm.OUTPUT_QUANTIZATION[(in_type, out_type)]
    model = single_op(
        OP.SOFTMAX,
        [t((rows, depth), getattr(np, in_type), s_in, zp_in)],
        [t((rows, depth), getattr(np, out_type), s_out, zp_out)],
        schema.SoftmaxOptionsT(beta=beta),
    )
    ref = run_tflm(model, [x])[0]
    params = sm.softmax_params(s_in, beta, dtype=in_type, output_dtype=out_type)
    assert_equal(sm.softmax(x, params), ref)


# ---------------------------------------------------------------------------- activations


@CASES
@given(st.data(), dtypes, st.sampled_from(["logistic", "tanh"]))
def test_logistic_tanh(data, dtype, kind):
    draw = data.draw
    rng = np.random.default_rng(draw(seeds))
    if dtype == "int8":
        s_in, zp_in = log_scale(draw, -8, -1), zero_point(draw, dtype)
        s_out, zp_out = act.INT8_OUTPUT[kind]
    else:  # power-of-two scales (the fast path) and general scales (the multiplier path)
        exponent = draw(st.integers(-15, -10))
        s_in = 2.0**exponent if draw(st.booleans()) else log_scale(draw, -15, -10)
        zp_in, s_out, zp_out = 0, 2.0**-15, 0
    dt = getattr(np, dtype)
    x = random_int(rng, (2, 50), dt)
    opcode = OP.LOGISTIC if kind == "logistic" else OP.TANH
    model = single_op(opcode, [t((2, 50), dt, s_in, zp_in)], [t((2, 50), dt, s_out, zp_out)])
    ref = run_tflm(model, [x])[0]
    params = act.sigmoid_like_params(kind, s_in, zp_in, s_out, zp_out, dtype=dtype)
    ours = act.logistic(x, params) if kind == "logistic" else act.tanh(x, params)
    assert_equal(ours, ref)


@CASES
@given(st.data())
def test_hard_swish(data):
    draw = data.draw
    rng = np.random.default_rng(draw(seeds))
    s_in, zp_in = log_scale(draw, -8, 0), zero_point(draw, "int8")
    s_out, zp_out = (
        float(np.float32(s_in * 2.0 ** draw(st.floats(-1.0, 3.0)))),
        zero_point(draw, "int8"),
    )
    x = np.arange(-128, 128, dtype=np.int8).reshape(2, 128)
    x = np.concatenate([x, random_int(rng, (2, 128), np.int8)])
    model = single_op(
        OP.HARD_SWISH, [t(x.shape, np.int8, s_in, zp_in)], [t(x.shape, np.int8, s_out, zp_out)]
    )
    ref = run_tflm(model, [x])[0]
    assert_equal(act.hard_swish(x, act.hard_swish_params(s_in, zp_in, s_out, zp_out)), ref)


@CASES
@given(st.data(), dtypes)
def test_leaky_relu(data, dtype):
    draw = data.draw
    rng = np.random.default_rng(draw(seeds))
    s_in, zp_in, zp_out = log_scale(draw, -8, 0), zero_point(draw, dtype), zero_point(draw, dtype)
    s_out = float(np.float32(s_in * 2.0 ** draw(st.floats(-1.0, 2.0))))
    alpha = float(np.float32(draw(st.sampled_from([0.01, 0.1, 0.2, 0.3, 0.5, -0.25, 1.5]))))
    dt = getattr(np, dtype)
    x = random_int(rng, (3, 64), dt)
    model = single_op(
        OP.LEAKY_RELU,
        [t(x.shape, dt, s_in, zp_in)],
        [t(x.shape, dt, s_out, zp_out)],
        schema.LeakyReluOptionsT(alpha=alpha),
    )
    ref = run_tflm(model, [x])[0]
    params = act.leaky_relu_params(s_in, zp_in, alpha, s_out, zp_out, dtype=dtype)
    assert_equal(act.leaky_relu(x, params), ref)


@CASES
@given(st.data(), dtypes)
def test_relu_and_relu6(data, dtype):
    draw = data.draw
    rng = np.random.default_rng(draw(seeds))
    s_in, zp_in, zp_out = log_scale(draw, -8, 0), zero_point(draw, dtype), zero_point(draw, dtype)
    s_out = float(np.float32(s_in * 2.0 ** draw(st.floats(-1.0, 2.0))))
    dt = getattr(np, dtype)
    x = random_int(rng, (3, 64), dt)
    model = single_op(OP.RELU, [t(x.shape, dt, s_in, zp_in)], [t(x.shape, dt, s_out, zp_out)])
    params = act.relu_params(s_in, zp_in, s_out, zp_out, dtype=dtype)
    assert_equal(act.relu(x, params), run_tflm(model, [x])[0])
    s6 = log_scale(draw, -6, -1)  # RELU6 keeps the quantization: a clamp to [q(0), q(6)]
    model = single_op(OP.RELU6, [t(x.shape, dt, s6, zp_in)], [t(x.shape, dt, s6, zp_in)])
    bounds = act.activation_range(dtype, s6, zp_in, 0.0, 6.0)
    assert_equal(act.clamp(x, *bounds), run_tflm(model, [x])[0])


# ---------------------------------------------------------------------------- data movement


@FEW
@given(st.data(), dtypes)
def test_pad(data, dtype):
    draw = data.draw
    rng = np.random.default_rng(draw(seeds))
    shape = [draw(st.integers(1, 4)) for _ in range(4)]
    pads = [(draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(4)]
    s, zp = log_scale(draw), zero_point(draw, dtype)
    dt = getattr(np, dtype)
    x = random_int(rng, shape, dt)
    out_shape = [d + a + b for d, (a, b) in zip(shape, pads)]
    model = single_op(
        OP.PAD,
        [t(shape, dt, s, zp), t((4, 2), np.int32, data=np.array(pads, np.int32))],
        [t(out_shape, dt, s, zp)],
    )
    assert_equal(ew.pad(x, pads, zp), run_tflm(model, [x])[0])


@CASES
@given(
    st.data(),
    st.sampled_from([("int8", "int8"), ("int16", "int16"), ("int8", "int16"), ("int16", "int8")]),
)
def test_requantize(data, types):
    draw = data.draw
    rng = np.random.default_rng(draw(seeds))
    in_type, out_type = types
    s_in, zp_in = log_scale(draw), zero_point(draw, in_type)
    s_out = float(np.float32(s_in * 2.0 ** draw(st.floats(-4.0, 6.0))))
    zp_out = zero_point(draw, out_type)
    x = random_int(rng, (4, 32), getattr(np, in_type))
    model = single_op(
        OP.QUANTIZE,
        [t(x.shape, getattr(np, in_type), s_in, zp_in)],
        [t(x.shape, getattr(np, out_type), s_out, zp_out)],
    )
    params = ew.requantize_params(s_in, zp_in, s_out, zp_out, out_type)
    assert_equal(ew.requantize(x, params), run_tflm(model, [x])[0])


@FEW
@given(st.data(), dtypes)
def test_concat_requantizes_differing_inputs(data, dtype):
    """TFLite concatenates raw values; inputs with other parameters pass a QUANTIZE first."""
    draw = data.draw
    rng = np.random.default_rng(draw(seeds))
    dt = getattr(np, dtype)
    axis = draw(st.integers(0, 3))
    s_out, zp_out = log_scale(draw), zero_point(draw, dtype)
    b = ModelBuilder()
    arrays, quant, concat_inputs, graph_inputs = [], [], [], []
    for _ in range(draw(st.integers(1, 4))):
        shape = [2, 3, 2, 3]
        shape[axis] = draw(st.integers(1, 3))
        same = draw(st.booleans())
        s = s_out if same else float(np.float32(s_out * 2.0 ** draw(st.floats(-2.0, 2.0))))
        zp = zp_out if same else zero_point(draw, dtype)
        x = random_int(rng, shape, dt)
        index = b.tensor(shape, dt, scale=s, zero_point=zp)
        graph_inputs.append(index)
        if not same:
            requantized = b.tensor(shape, dt, scale=s_out, zero_point=zp_out)
            b.operator(OP.QUANTIZE, [index], [requantized])
            index = requantized
        concat_inputs.append(index)
        arrays.append(x)
        quant.append((s, zp))
    out_shape = list(np.concatenate(arrays, axis=axis).shape)
    out = b.tensor(out_shape, dt, scale=s_out, zero_point=zp_out)
    b.operator(OP.CONCATENATION, concat_inputs, [out], schema.ConcatenationOptionsT(axis=axis))
    ref = run_tflm(b.build(graph_inputs, [out]), arrays)[0]
    assert_equal(ew.concat(arrays, quant, (s_out, zp_out), axis), ref)


@FEW
@given(st.data(), dtypes)
def test_quantize_dequantize_transpose(data, dtype):
    draw = data.draw
    rng = np.random.default_rng(draw(seeds))
    s, zp = log_scale(draw, -8, 0), zero_point(draw, dtype)
    dt = getattr(np, dtype)
    values = (rng.standard_normal((4, 16)) * s * 60).astype(np.float32)
    values[0, :8] = (np.arange(8) - 4 + 0.5) * np.float32(s)  # exact halves: the rounding rule
    model = single_op(OP.QUANTIZE, [t(values.shape, np.float32)], [t(values.shape, dt, s, zp)])
    quantized = run_tflm(model, [values])[0]
    assert_equal(ew.quantize_tflm(values, s, zp, dtype), quantized)
    model = single_op(OP.DEQUANTIZE, [t(values.shape, dt, s, zp)], [t(values.shape, np.float32)])
    np.testing.assert_array_equal(ew.dequantize(quantized, s, zp), run_tflm(model, [quantized])[0])
    x = random_int(rng, (2, 3, 4, 5), dt)
    perm = draw(st.permutations([0, 1, 2, 3]))
    model = single_op(
        OP.TRANSPOSE,
        [t(x.shape, dt, s, zp), t((4,), np.int32, data=np.array(perm, np.int32))],
        [t(np.transpose(x, perm).shape, dt, s, zp)],
    )
    assert_equal(ew.transpose(x, perm), run_tflm(model, [x])[0])


def test_parameter_errors_are_reported_up_front():
    with pytest.raises(QuantizationError):
        linear.conv_params(0.1, 3, [0.01], 0.1, 3, dtype="int16")  # int16 zero point must be 0
    with pytest.raises(QuantizationError):
        act.sigmoid_like_params("logistic", 0.1, 0, 0.01, -128)  # output scale must be 1/256
    with pytest.raises(QuantizationError):
        ew.add_params(0.1, 0, 0.1, 0, 1e-9, 0)  # output multiplier >= 1
    with pytest.raises(QuantizationError):
        linear.conv_params(0.1, 0, [-0.01], 0.1, 0)  # negative scale


# ---------------------------------------------------------------------------- exhaustive inputs
# Every int16 (or every int8 pair) at once: the multiplier derivation (float32 vs double
# ratios, the reduced int64 multiplier) decides a few of these outputs, so a wrong formula
# cannot pass by luck.

ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16).reshape(-1, 1)
INT8_PAIRS = (
    np.stack(np.meshgrid(np.arange(-128, 128), np.arange(-128, 128)), -1)
    .reshape(-1, 2)
    .astype(np.int8)
)


@pytest.mark.parametrize("trial", range(6))
def test_exhaustive_inputs_pin_the_multiplier_derivation(trial):
    rng = np.random.default_rng(1000 + trial)
    s1, s2 = (float(np.float32(2 ** rng.uniform(-6, -1))) for _ in range(2))
    x, spec = ALL_INT16, t(ALL_INT16.shape, np.int16, s1, 0)
    s_out = float(np.float32(s1 * 2 ** rng.uniform(-1, 4)))
    out = t(x.shape, np.int16, s_out, 0)
    ref = run_tflm(single_op(OP.QUANTIZE, [spec], [out]), [x])[0]
    assert_equal(ew.requantize(x, ew.requantize_params(s1, 0, s_out, 0, "int16")), ref)
    ref = run_tflm(single_op(OP.RELU, [spec], [out]), [x])[0]
    assert_equal(act.relu(x, act.relu_params(s1, 0, s_out, 0, dtype="int16")), ref)
    alpha = float(np.float32(rng.choice([0.1, 0.3, -0.3])))
    ref = run_tflm(
        single_op(OP.LEAKY_RELU, [spec], [out], schema.LeakyReluOptionsT(alpha=alpha)), [x]
    )[0]
    assert_equal(
        act.leaky_relu(x, act.leaky_relu_params(s1, 0, alpha, s_out, 0, dtype="int16")), ref
    )
    other = np.full_like(x, rng.integers(1000, 30000))
    for op, derive, kernel, s_o in [
        (OP.ADD, ew.add_params, ew.add, max(s1, s2) * 2 ** rng.uniform(0, 2)),
        (OP.MUL, ew.mul_params, ew.mul, s1 * s2 * 2 ** rng.uniform(8, 14)),
    ]:
        s_o = float(np.float32(s_o))
        model = single_op(op, [spec, t(x.shape, np.int16, s2, 0)], [t(x.shape, np.int16, s_o, 0)])
        assert_equal(
            kernel(x, other, derive(s1, 0, s2, 0, s_o, 0, dtype="int16")),
            run_tflm(model, [x, other])[0],
        )
    # FC over every int8 pair: per-tensor int8 and 16x8 with each accumulator width.
    s_w = np.float32([2 ** rng.uniform(-9, -4)])
    wt = np.array([[127, 1]], np.int8)
    for dtype, inputs, bias in [
        ("int8", INT8_PAIRS, np.zeros(1, np.int32)),
        ("int16", INT8_PAIRS.astype(np.int16) * 255, np.zeros(1, np.int32)),
        ("int16", INT8_PAIRS.astype(np.int16) * 255, np.zeros(1, np.int64)),
    ]:
        dt = getattr(np, dtype)
        s_o = float(
            np.float32(
                s1 * s_w[0] * 2 ** (rng.uniform(6, 10) if dtype == "int8" else rng.uniform(14, 18))
            )
        )
        model = single_op(
            OP.FULLY_CONNECTED,
            [
                t(inputs.shape, dt, s1, 0),
                t((1, 2), np.int8, s_w, [0], wt),
                t((1,), bias.dtype, np.float32(s1) * s_w, [0], bias),
            ],
            [t((inputs.shape[0], 1), dt, s_o, 0)],
            schema.FullyConnectedOptionsT(),
        )
        params = linear.fully_connected_params(
            s1, 0, s_w, s_o, 0, dtype=dtype, wide=bias.dtype == np.int64
        )
        assert_equal(linear.fully_connected(inputs, wt, bias, params), run_tflm(model, [inputs])[0])


# ---------------------------------------------------------------------------- real models


MODELS = [
    "kws_dscnn/kws_ref_model.tflite",
    "ic_resnet8/pretrainedResnet_quant.tflite",
    "vww_mobilenet/vww_96_int8.tflite",
    "ad_autoencoder/ad01_int8.tflite",
    "hello_world_sine/hello_world_int8.tflite",
]


def run_litert(model: bytes, inputs) -> np.ndarray:
    """LiteRT with its default CPU path (XNNPACK delegate, builtin kernels elsewhere)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model)
    interpreter.allocate_tensors()
    for detail, value in zip(interpreter.get_input_details(), inputs):
        interpreter.set_tensor(detail["index"], value)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


@pytest.mark.parametrize("name", MODELS)
def test_real_models_through_the_kernels(name):
    """Whole TFLite-quantized models, op by op through the numpy kernels: equal to TFLM in
    'tflm' rounding and to LiteRT in 'litert' rounding."""
    model = shared_path("models", *name.split("/")).read_bytes()
    shape = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model, 0))
    shape = shape.subgraphs[0].tensors[shape.subgraphs[0].inputs[0]].shape
    rng = np.random.default_rng(7)
    for _ in range(3):
        x = rng.integers(-128, 128, shape, dtype=np.int8)
        assert_equal(run_numpy_kernels(model, [x], "tflm")[0], run_tflm(model, [x])[0])
        assert_equal(run_numpy_kernels(model, [x], "litert")[0], run_litert(model, [x]))


def test_kws_samples_match_stored_tflm_and_litert_outputs():
    model = shared_path("models", "kws_dscnn", "kws_ref_model.tflite").read_bytes()
    data = shared_path("data", "kws01")
    tflm = np.load(data / "tflm_int8_outputs.npy")
    litert = np.load(data / "litert_xnnpack_int8_outputs.npy")
    for index, path in enumerate(sorted(data.glob("*.bin"))[:25]):
        x = np.fromfile(path, np.int8).reshape(1, 49, 10, 1)
        assert_equal(run_numpy_kernels(model, [x], "tflm")[0][0], tflm[index])
        assert_equal(run_numpy_kernels(model, [x], "litert")[0][0], litert[index])


@CASES
@given(st.data(), st.sampled_from(["add", "mul", "avg_pool", "conv", "fully_connected"]))
def test_litert_rounding_matches_litert_single_ops(data, op):
    draw = data.draw
    rng = np.random.default_rng(draw(seeds))
    s1, s2 = log_scale(draw, -6, 0), log_scale(draw, -6, 0)
    z1, z2, zo = (zero_point(draw, "int8") for _ in range(3))
    fused = draw(activations)
    if op in ("add", "mul"):
        shape = [1, draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 32))]
        a, b = random_int(rng, shape, np.int8), random_int(rng, shape, np.int8)
        ratio = 2.0 ** draw(st.floats(-1.0, 2.0) if op == "add" else st.floats(3.0, 8.0))
        so = float(np.float32((max(s1, s2) if op == "add" else s1 * s2) * ratio))
        options = (schema.AddOptionsT if op == "add" else schema.MulOptionsT)(
            fusedActivationFunction=fused[0]
        )
        model = single_op(
            OP.ADD if op == "add" else OP.MUL,
            [t(shape, np.int8, s1, z1), t(shape, np.int8, s2, z2)],
            [t(shape, np.int8, so, zo)],
            options,
        )
        derive, kernel = (ew.add_params, ew.add) if op == "add" else (ew.mul_params, ew.mul)
        ours = kernel(a, b, derive(s1, z1, s2, z2, so, zo, activation=fused[1]), rounding="litert")
        assert_equal(ours, run_litert(model, [a, b]))
    elif op == "avg_pool":
        k = draw(st.integers(1, 8))
        x = random_int(rng, (1, draw(st.integers(1, 16)), k, k), np.int8)
        options = schema.Pool2DOptionsT(
            padding=PADDING.VALID,
            strideW=k,
            strideH=k,
            filterWidth=k,
            filterHeight=k,
            fusedActivationFunction=fused[0],
        )
        model = single_op(
            OP.AVERAGE_POOL_2D,
            [t(nhwc(x).shape, np.int8, s1, z1)],
            [t((1, 1, 1, x.shape[1]), np.int8, s1, z1)],
            options,
        )
        params = pooling.pool_params(s1, z1, s1, z1, (k, k), strides=(k, k), activation=fused[1])
        assert_equal(
            pooling.avg_pool(x, params, rounding="litert"), nchw(run_litert(model, [nhwc(x)]))
        )
    else:
        o, k = draw(st.integers(1, 16)), draw(st.integers(1, 64))
        s_w = np.float32(2.0 ** rng.uniform(-9, -4, o))
        s_out = float(np.float32(s1 * s_w.max() * 2.0 ** draw(st.floats(2.0, 10.0))))
        bias = rng.integers(-3000, 3000, o).astype(np.int32)
        zeros = np.zeros(o, int)
        bias_spec = t((o,), np.int32, np.float32(s1) * s_w, zeros, bias)
        if op == "conv":
            x = random_int(rng, (1, k, 3, 3), np.int8)
            wt = rng.integers(-127, 128, (o, k, 1, 1), dtype=np.int8)
            model = single_op(
                OP.CONV_2D,
                [
                    t((1, 3, 3, k), np.int8, s1, z1),
                    t((o, 1, 1, k), np.int8, s_w, zeros, wt.transpose(0, 2, 3, 1)),
                    bias_spec,
                ],
                [t((1, 3, 3, o), np.int8, s_out, zo)],
                schema.Conv2DOptionsT(
                    padding=PADDING.VALID,
                    strideW=1,
                    strideH=1,
                    dilationWFactor=1,
                    dilationHFactor=1,
                    fusedActivationFunction=fused[0],
                ),
            )
            params = linear.conv_params(s1, z1, s_w, s_out, zo, activation=fused[1])
            ours = linear.conv2d(x, wt, bias, params, rounding="litert")
            assert_equal(ours, nchw(run_litert(model, [nhwc(x)])))
        else:
            x = random_int(rng, (2, k), np.int8)
            wt = rng.integers(-127, 128, (o, k), dtype=np.int8)
            model = single_op(
                OP.FULLY_CONNECTED,
                [t((2, k), np.int8, s1, z1), t((o, k), np.int8, s_w, zeros, wt), bias_spec],
                [t((2, o), np.int8, s_out, zo)],
                schema.FullyConnectedOptionsT(fusedActivationFunction=fused[0]),
            )
            params = linear.fully_connected_params(s1, z1, s_w, s_out, zo, activation=fused[1])
            ours = linear.fully_connected(x, wt, bias, params, rounding="litert")
            assert_equal(ours, run_litert(model, [x]))


# ---------------------------------------------------------------------------- float rounding


def run_ort(node, feeds: dict, consts: dict, out_dtype) -> np.ndarray:
    """One onnxruntime node (graph optimizations off), constants as initializers."""
    import onnxruntime as ort
    from onnx import helper, numpy_helper

    graph = helper.make_graph(
        [node],
        "g",
        [
            helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
            for n, v in feeds.items()
        ],
        [
            helper.make_tensor_value_info(
                "y", helper.np_dtype_to_tensor_dtype(np.dtype(out_dtype)), None
            )
        ],
        [numpy_helper.from_array(np.asarray(v), n) for n, v in consts.items()],
    )
    opsets = [helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)]
    model = helper.make_model(graph, opset_imports=opsets, ir_version=10)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return session.run(None, feeds)[0]


def quant_consts(prefix, scale, zp):
    return {f"{prefix}s": np.asarray(scale, np.float32), f"{prefix}z": np.asarray(zp, np.int8)}


@CASES
@given(st.data(), st.sampled_from(["conv", "matmul"]))
def test_float_rounding_matches_onnxruntime_qlinear_conv_matmul(data, op):
    from onnx import helper

    draw = data.draw
    rng = np.random.default_rng(draw(seeds))
    o, per_channel = draw(st.integers(1, 8)), draw(st.booleans())
    s_in, zp_in, zp_out = log_scale(draw), zero_point(draw, "int8"), zero_point(draw, "int8")
    s_w = np.float32(2.0 ** rng.uniform(-9, -4, o if per_channel else 1))
    s_out = float(np.float32(s_in * s_w.max() * 2.0 ** draw(st.floats(0.0, 10.0))))
    w_consts = {
        "ws": s_w if per_channel else s_w[0],
        "wz": np.zeros(o, np.int8) if per_channel else np.int8(0),
    }
    consts = {**quant_consts("x", s_in, zp_in), **quant_consts("y", s_out, zp_out), **w_consts}
    names = ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"]
    if op == "conv":
        c, k, group = draw(st.integers(1, 4)), draw(st.integers(1, 3)), 1
        x = random_int(rng, (1, c, draw(st.integers(k, 8)), draw(st.integers(k, 8))), np.int8)
        wt = rng.integers(-127, 128, (o, c, k, k), dtype=np.int8)
        bias = rng.integers(-3000, 3000, o).astype(np.int32)
        pads, strides = (
            [draw(st.integers(0, k - 1)) for _ in range(4)],
            [draw(st.integers(1, 2))] * 2,
        )
        node = helper.make_node(
            "QLinearConv", [*names, "b"], ["y"], pads=pads, strides=strides, group=group
        )
        ref = run_ort(node, {"x": x}, {**consts, "w": wt, "b": bias}, np.int8)
        params = linear.conv_params(s_in, zp_in, s_w, s_out, zp_out, strides=strides, pads=pads)
        assert_equal(linear.conv2d(x, wt, bias, params, rounding="float"), ref)
    else:
        k = draw(st.integers(1, 48))
        x = random_int(rng, (draw(st.integers(1, 4)), k), np.int8)
        wt = rng.integers(-127, 128, (o, k), dtype=np.int8)
        ref = run_ort(
            helper.make_node("QLinearMatMul", names, ["y"]),
            {"x": x},
            {**consts, "w": wt.T.copy()},
            np.int8,
        )
        params = linear.fully_connected_params(s_in, zp_in, s_w, s_out, zp_out)
        assert_equal(linear.fully_connected(x, wt, None, params, rounding="float"), ref)


@CASES
@given(
    st.data(), st.sampled_from(["QLinearAdd", "QLinearMul", "QLinearAveragePool", "QLinearConcat"])
)
def test_float_rounding_matches_onnxruntime_contrib_ops(data, op):
    from onnx import helper

    draw = data.draw
    rng = np.random.default_rng(draw(seeds))
    s1, s2 = log_scale(draw, -6, 0), log_scale(draw, -6, 0)
    z1, z2, zo = (zero_point(draw, "int8") for _ in range(3))
    ms = dict(domain="com.microsoft")
    if op in ("QLinearAdd", "QLinearMul"):
        shape_a, shape_b = broadcast_shapes(draw)
        a, b = random_int(rng, shape_a, np.int8), random_int(rng, shape_b, np.int8)
        ratio = 2.0 ** draw(st.floats(-1.0, 2.0) if op == "QLinearAdd" else st.floats(3.0, 8.0))
        so = float(np.float32((max(s1, s2) if op == "QLinearAdd" else s1 * s2) * ratio))
        consts = {
            **quant_consts("a", s1, z1),
            **quant_consts("b", s2, z2),
            **quant_consts("y", so, zo),
        }
        node = helper.make_node(op, ["a", "as", "az", "b", "bs", "bz", "ys", "yz"], ["y"], **ms)
        ref = run_ort(node, {"a": a, "b": b}, consts, np.int8)
        derive, kernel = (ew.add_params, ew.add) if op == "QLinearAdd" else (ew.mul_params, ew.mul)
        assert_equal(kernel(a, b, derive(s1, z1, s2, z2, so, zo), rounding="float"), ref)
    elif op == "QLinearAveragePool":
        h, w = draw(st.integers(2, 9)), draw(st.integers(2, 9))
        kh, kw = draw(st.integers(1, h)), draw(st.integers(1, w))
        pads = [
            draw(st.integers(0, kh - 1)),
            draw(st.integers(0, kw - 1)),
            draw(st.integers(0, kh - 1)),
            draw(st.integers(0, kw - 1)),
        ]
        strides, include = [draw(st.integers(1, 2)), draw(st.integers(1, 2))], draw(st.booleans())
        x = random_int(rng, (1, draw(st.integers(1, 4)), h, w), np.int8)
        so = float(np.float32(s1 * 2.0 ** draw(st.floats(-1.0, 1.0))))
        node = helper.make_node(
            op,
            ["x", "xs", "xz", "ys", "yz"],
            ["y"],
            kernel_shape=[kh, kw],
            pads=pads,
            strides=strides,
            count_include_pad=int(include),
            **ms,
        )
        ref = run_ort(
            node, {"x": x}, {**quant_consts("x", s1, z1), **quant_consts("y", so, zo)}, np.int8
        )
        params = pooling.pool_params(
            s1, z1, so, zo, (kh, kw), strides=strides, pads=pads, count_include_pad=include
        )
        assert_equal(pooling.avg_pool(x, params, rounding="float"), ref)
    else:
        arrays = [random_int(rng, (1, 2, 3, draw(st.integers(1, 3))), np.int8) for _ in range(3)]
        quant = [(s1, z1), (s2, z2), (s1, zo)]
        feeds, consts, names = {}, quant_consts("y", s1, zo), ["ys", "yz"]
        for i, (x, (s, z)) in enumerate(zip(arrays, quant)):
            feeds[f"x{i}"] = x
            consts.update(quant_consts(f"q{i}", s, z))
            names += [f"x{i}", f"q{i}s", f"q{i}z"]
        ref = run_ort(helper.make_node(op, names, ["y"], axis=3, **ms), feeds, consts, np.int8)
        assert_equal(ew.concat(arrays, quant, (s1, zo), 3, rounding="float"), ref)
