"""The integer references of the ops issue 15 added, against TensorFlow Lite Micro bit for bit.

As tests/test_int_kernels.py: each case writes a one-op (or PAD + op) .tflite model with the
drawn shapes, quantization and options, runs it in the TFLM host interpreter and compares
with edgec's numpy kernel fed the same integers in ONNX layout (tolerance 0). Where edgec
extends TFLite (a depthwise transposed convolution, count_include_pad, the ONNX-only
coordinate modes), the test checks the cases TFLite can express.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper
from onnx_cases import make_model
from test_int_kernels import (
    CASES,
    assert_equal,
    log_scale,
    nchw,
    nhwc,
    random_int,
    seeds,
    t,
    zero_point,
)
from tflite_builder import OP, PADDING, ModelBuilder, run_tflm, schema, single_op

from edgec.frontend import load_model
from edgec.interp import Interpreter
from edgec.ops.integer import linear, pooling, unary
from edgec.ops.integer import resize as qresize

SOME = settings(CASES, max_examples=30)
FEW_TFLM = settings(CASES, max_examples=40)


# ---- ArgMax / ArgMin ---------------------------------------------------------------------------
def onnx_reference(model: onnx.ModelProto, feeds: dict) -> np.ndarray:
    graph = load_model(model)
    return Interpreter(graph).run(feeds)[graph.outputs[0].name]


@SOME
@given(st.data(), st.sampled_from(["int8", "int16"]), st.sampled_from(["ArgMax", "ArgMin"]))
def test_arg_max_min_compare_raw_integers(data, dtype, op):
    """ARG_MAX / ARG_MIN on int8 (and int16, beyond TFLM) give numpy's first extreme index;
    the ONNX node run by edgec's reference on the integer tensor equals TFLM's."""
    draw = data.draw
    rng = np.random.default_rng(draw(seeds))
    shape = [draw(st.integers(1, 5)) for _ in range(draw(st.integers(1, 4)))]
    axis = draw(st.integers(0, len(shape) - 1))
    dt = getattr(np, dtype)
    x = rng.integers(-3, 3, shape).astype(dt)  # few values: ties
    node = helper.make_node(op, ["x"], ["y"], axis=axis, keepdims=0)
    ours = onnx_reference(make_model([node], {"x": x}, ["y"]), {"x": x})
    if dtype == "int8":
        opcode, options = {
            "ArgMax": (OP.ARG_MAX, schema.ArgMaxOptionsT),
            "ArgMin": (OP.ARG_MIN, schema.ArgMinOptionsT),
        }[op]
        out_shape = [d for i, d in enumerate(shape) if i != axis]
        model = single_op(
            opcode,
            [t(shape, dt, 0.1, 3), t((1,), np.int32, data=np.array([axis], np.int32))],
            [t(out_shape, np.int32)],
            options(outputType=schema.TensorType.INT32),
        )
        np.testing.assert_array_equal(ours, run_tflm(model, [x])[0].astype(np.int64))
    expected = (np.argmax if op == "ArgMax" else np.argmin)(x, axis=axis)
    np.testing.assert_array_equal(ours, expected)


# ---- AveragePool: count_include_pad with a ceil-mode overhang ------------------------------------
def _ceil_overhang_geometry(draw):
    """(input size, declared pads, kernel, stride, output, overhang) along one axis, with an
    overhang of 0 or 1 (what TFLite's SAME padding of the padded input reproduces)."""
    k, s = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    out, overhang = draw(st.integers(1, 5)), draw(st.integers(0, 1))
    padded = (out - 1) * s + k - overhang
    if padded < 1:
        return 0, (0, 0), k, s, out, overhang, False
    before = draw(st.integers(0, min(k - 1, padded - 1)))
    after = draw(st.integers(0, min(k - 1, padded - before - 1)))
    size = padded - before - after
    ok = size >= 1 and -(-padded // s) == out and (out - 1) * s < size + before
    return size, (before, after), k, s, out, overhang, ok


@CASES
@given(st.data())
def test_avg_pool_count_include_pad_with_ceil_overhang_is_pad_then_tflite_pool(data):
    """ONNX AveragePool(count_include_pad=1, ceil_mode=1) in int8 is TFLite's PAD with the zero
    point by the declared pads, then AVERAGE_POOL_2D (whose SAME padding here is the ceil-mode
    overhang at the end, excluded from the count)."""
    draw = data.draw
    rng = np.random.default_rng(draw(seeds))
    h, (pt, pb), kh, sh, oh, eh, ok_h = _ceil_overhang_geometry(draw)
    w, (pl, pr), kw, sw, ow, ew, ok_w = _ceil_overhang_geometry(draw)
    if not (ok_h and ok_w):
        return
    c = draw(st.integers(1, 4))
    s, zp = log_scale(draw), zero_point(draw, "int8")
    x = random_int(rng, (1, c, h, w), np.int8)
    b = ModelBuilder()
    xin = b.tensor((1, h, w, c), np.int8, scale=s, zero_point=zp)
    padded = b.tensor((1, h + pt + pb, w + pl + pr, c), np.int8, scale=s, zero_point=zp)
    pads = np.array([[0, 0], [pt, pb], [pl, pr], [0, 0]], np.int32)
    b.operator(OP.PAD, [xin, b.tensor((4, 2), np.int32, data=pads)], [padded])
    out = b.tensor((1, oh, ow, c), np.int8, scale=s, zero_point=zp)
    options = schema.Pool2DOptionsT(
        padding=PADDING.SAME, strideW=sw, strideH=sh, filterWidth=kw, filterHeight=kh
    )
    b.operator(OP.AVERAGE_POOL_2D, [padded], [out], options)
    ref = nchw(run_tflm(b.build([xin], [out]), [nhwc(x)])[0])
    params = pooling.pool_params(
        s, zp, s, zp, (kh, kw), strides=(sh, sw), pads=(pt, pl, pb + eh, pr + ew),
        count_include_pad=True, overhang=(eh, ew),
    )  # fmt: skip
    assert_equal(pooling.avg_pool(x, params), ref)


# ---- TRANSPOSE_CONV ------------------------------------------------------------------------------
@CASES
@given(st.data(), st.sampled_from(["int8", "int16"]), st.booleans())
def test_transpose_conv(data, dtype, same):
    draw = data.draw
    rng = np.random.default_rng(draw(seeds))
    cin, cout = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    if same:
        oh, ow = h * sh, w * sw
        pad_h = max((-(-oh // sh) - 1) * sh + kh - oh, 0) // 2
        pad_w = max((-(-ow // sw) - 1) * sw + kw - ow, 0) // 2
    else:
        oh, ow = (h - 1) * sh + kh, (w - 1) * sw + kw
        pad_h = pad_w = 0
    dt = getattr(np, dtype)
    s_in, zp_in = log_scale(draw), zero_point(draw, dtype)
    s_out, zp_out = log_scale(draw, -6, 1), zero_point(draw, dtype)
    s_w = np.float32(2.0 ** rng.uniform(-9, -4, size=cout)).astype(np.float32)
    weights = random_int(rng, (cout, kh, kw, cin), np.int8)  # TFLite OHWI
    bias_type = np.int64 if dtype == "int16" else np.int32
    bias = rng.integers(-(2**12), 2**12, size=cout).astype(bias_type)
    x = random_int(rng, (1, cin, h, w), dt)
    model = single_op(
        OP.TRANSPOSE_CONV,
        [
            t((4,), np.int32, data=np.array([1, oh, ow, cout], np.int32)),
            t(weights.shape, np.int8, s_w, 0, data=weights),
            t((1, h, w, cin), dt, s_in, zp_in),
            t((cout,), bias_type, s_w * np.float32(s_in), 0, data=bias),
        ],
        [t((1, oh, ow, cout), dt, s_out, zp_out)],
        schema.TransposeConvOptionsT(
            padding=PADDING.SAME if same else PADDING.VALID, strideH=sh, strideW=sw
        ),
    )
    ref = nchw(run_tflm(model, [nhwc(x)])[0])
    params = linear.conv_transpose_params(
        s_in, zp_in, s_w, s_out, zp_out, strides=(sh, sw), dilations=(1, 1),
        begin=(pad_h, pad_w), out=(oh, ow), dtype=dtype,
    )  # fmt: skip
    onnx_weights = np.ascontiguousarray(weights.transpose(3, 0, 1, 2))  # [C_in, O, kh, kw]
    assert_equal(linear.conv_transpose2d(x, onnx_weights, bias, params), ref)


def test_grouped_transpose_conv_is_the_transpose_conv_of_each_group():
    """TFLite has no grouped TRANSPOSE_CONV: a group is the ungrouped one on its channels."""
    rng = np.random.default_rng(5)
    x = random_int(rng, (1, 6, 3, 4), np.int8)
    w = random_int(rng, (6, 2, 3, 3), np.int8)  # 3 groups, 2 outputs each
    s_w = np.float32(2.0 ** rng.uniform(-9, -4, size=6)).astype(np.float32)
    geometry = {"strides": (2, 1), "dilations": (1, 2), "begin": (1, 0), "out": (6, 7)}
    grouped = linear.conv_transpose_params(0.05, 3, s_w, 0.2, -4, group=3, **geometry)
    got = linear.conv_transpose2d(x, w, None, grouped)
    for g in range(3):
        one = linear.conv_transpose_params(0.05, 3, s_w[2 * g : 2 * g + 2], 0.2, -4, **geometry)
        part = linear.conv_transpose2d(x[:, 2 * g : 2 * g + 2], w[2 * g : 2 * g + 2], None, one)
        assert_equal(got[:, 2 * g : 2 * g + 2], part)


# ---- RESIZE_BILINEAR -----------------------------------------------------------------------------
TFLITE_FLAGS = {  # ONNX coordinate mode → (align_corners, half_pixel_centers)
    "asymmetric": (False, False),
    "align_corners": (True, False),
    "half_pixel": (False, True),
    "pytorch_half_pixel": (False, True),
}


@CASES
@given(st.data(), st.sampled_from(sorted(TFLITE_FLAGS)))
def test_resize_bilinear(data, mode):
    draw = data.draw
    rng = np.random.default_rng(draw(seeds))
    c, h, w = draw(st.integers(1, 4)), draw(st.integers(1, 6)), draw(st.integers(1, 6))
    oh, ow = draw(st.integers(2, 13)), draw(st.integers(2, 13))
    s, zp = log_scale(draw), zero_point(draw, "int8")
    x = random_int(rng, (draw(st.integers(1, 2)), c, h, w), np.int8)
    align, half = TFLITE_FLAGS[mode]
    model = single_op(
        OP.RESIZE_BILINEAR,
        [t(nhwc(x).shape, np.int8, s, zp), t((2,), np.int32, data=np.array([oh, ow], np.int32))],
        [t((x.shape[0], oh, ow, c), np.int8, s, zp)],
        schema.ResizeBilinearOptionsT(alignCorners=align, halfPixelCenters=half),
    )
    ref = nchw(run_tflm(model, [nhwc(x)])[0])
    scales = (np.float32(oh) / np.float32(h), np.float32(ow) / np.float32(w))
    params = qresize.bilinear_params(mode, (h, w), (oh, ow), scales)
    assert_equal(qresize.resize_bilinear(x, params), ref)


@pytest.mark.parametrize("mode", sorted(TFLITE_FLAGS))
def test_resize_bilinear_integer_steps_by_hand(mode):
    """One row of 4 pixels doubled: the Q10 positions and the half-away rounding."""
    x = np.array([[[[-100, 20, 21, 127]]]], np.int8)
    params = qresize.bilinear_params(mode, (1, 4), (1, 8), (1.0, 2.0))
    got = qresize.resize_bilinear(x, params)[0, 0, 0].tolist()
    expected = {
        # positions i / 2: 0, 0.5, 1, 1.5 (20.5 rounds to 21), ...; past the last: 127
        "asymmetric": [-100, -40, 20, 21, 21, 74, 127, 127],
        # positions i / 2 - 0.25 (the first clamps to 0); 47.5 and 100.5 round up
        "half_pixel": [-100, -70, -10, 20, 21, 48, 101, 127],
        "pytorch_half_pixel": [-100, -70, -10, 20, 21, 48, 101, 127],
        # positions i * 439 / 1024 (scale_10 = 3075 // 7): 0.43 -> -48.55, 0.86 -> 2.89, ...
        "align_corners": [-100, -49, 3, 20, 21, 36, 82, 127],
    }[mode]
    assert got == expected


# ---- elementwise math ----------------------------------------------------------------------------
@CASES
@given(st.data(), st.sampled_from(["int8", "int16"]))
def test_abs(data, dtype):
    draw = data.draw
    rng = np.random.default_rng(draw(seeds))
    s_in, zp_in = log_scale(draw), zero_point(draw, dtype)
    same = draw(st.booleans())
    s_out = s_in if same else float(np.float32(s_in * 2.0 ** draw(st.floats(-2.0, 2.0))))
    zp_out = zero_point(draw, dtype)
    dt = getattr(np, dtype)
    x = random_int(rng, (3, 40), dt)
    model = single_op(OP.ABS, [t(x.shape, dt, s_in, zp_in)], [t(x.shape, dt, s_out, zp_out)])
    params = unary.abs_params(s_in, zp_in, s_out, zp_out, dtype=dtype)
    assert_equal(unary.abs_(x, params), run_tflm(model, [x])[0])


@CASES
@given(st.data(), st.sampled_from(["int8", "int16"]), st.sampled_from(["max", "min"]))
def test_max_min_requantize_then_compare(data, dtype, kind):
    """MAXIMUM / MINIMUM of inputs quantized otherwise than the output: QUANTIZE first."""
    draw = data.draw
    rng = np.random.default_rng(draw(seeds))
    dt = getattr(np, dtype)
    s_out, zp_out = log_scale(draw), zero_point(draw, dtype)
    b = ModelBuilder()
    arrays, graph_inputs, operands, requants = [], [], [], []
    for shape in ([2, 3, 4], [3, 4] if draw(st.booleans()) else [2, 3, 4]):
        same = draw(st.booleans())
        s = s_out if same else float(np.float32(s_out * 2.0 ** draw(st.floats(-2.0, 2.0))))
        zp = zp_out if same else zero_point(draw, dtype)
        index = b.tensor(shape, dt, scale=s, zero_point=zp)
        graph_inputs.append(index)
        if not same:
            requantized = b.tensor(shape, dt, scale=s_out, zero_point=zp_out)
            b.operator(OP.QUANTIZE, [index], [requantized])
            index = requantized
        operands.append(index)
        arrays.append(random_int(rng, shape, dt))
        requants.append(unary.requant_to((s, zp), (s_out, zp_out), dtype))
    out = b.tensor([2, 3, 4], dt, scale=s_out, zero_point=zp_out)
    b.operator(OP.MAXIMUM if kind == "max" else OP.MINIMUM, operands, [out])
    ref = run_tflm(b.build(graph_inputs, [out]), arrays)[0]
    assert_equal(unary.extreme(arrays, requants, kind == "min", dtype), ref)


@CASES
@given(st.data(), st.integers(2, 5))
def test_sum_of_inputs_is_add_and_add_n(data, count):
    """Sum of two inputs is TFLite's ADD (any quantization); of several with equal scales and
    zero point 0 it is TFLM's ADD_N (whose int8 kernel adds one extra -zero_point term
    otherwise, and needs equal input parameters)."""
    draw = data.draw
    rng = np.random.default_rng(draw(seeds))
    shape = [2, 3, 5]
    s_out, zp_out = log_scale(draw, -6, 0), zero_point(draw, "int8")
    if count == 2:
        quant = [(log_scale(draw, -8, -2), zero_point(draw, "int8")) for _ in range(2)]
        opcode = OP.ADD
    else:
        s = log_scale(draw, -8, -2)
        quant, opcode = [(s, 0)] * count, OP.ADD_N
    xs = [random_int(rng, shape, np.int8) for _ in range(count)]
    model = single_op(
        opcode,
        [t(shape, np.int8, s, zp) for s, zp in quant],
        [t(shape, np.int8, s_out, zp_out)],
        schema.AddOptionsT() if count == 2 else None,
    )
    params = unary.add_n_params(quant, (s_out, zp_out))
    assert_equal(unary.add_n(xs, params), run_tflm(model, xs)[0])


@FEW_TFLM
@given(st.data(), st.sampled_from(["int8", "int16"]))
def test_where_is_select_v2(data, dtype):
    draw = data.draw
    rng = np.random.default_rng(draw(seeds))
    dt = getattr(np, dtype)
    s, zp = log_scale(draw), zero_point(draw, dtype)
    cond = rng.integers(0, 2, (3, 1)).astype(bool)
    x, y = random_int(rng, (2, 3, 4), dt), random_int(rng, (3, 4), dt)
    model = single_op(
        OP.SELECT_V2,
        [t(cond.shape, np.bool_, data=cond), t(x.shape, dt, s, zp), t(y.shape, dt, s, zp)],
        [t((2, 3, 4), dt, s, zp)],
    )
    assert_equal(unary.where(cond, x, y, [None, None], dtype), run_tflm(model, [x, y])[0])


def test_tables_are_tflite_lut_populate():
    """The int8 table of a function is TFLite's LUTPopulate: pinned by TFLM's ELU (whose int8
    kernel is such a table) on all 256 inputs, for a few quantizations."""
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    for s_in, zp_in, s_out, zp_out in [
        (0.05, 3, 0.02, 60),
        (0.1, -20, 0.03, -100),
        (0.01, 0, 0.01, 0),
    ]:
        model = single_op(
            OP.ELU, [t(x.shape, np.int8, s_in, zp_in)], [t(x.shape, np.int8, s_out, zp_out)]
        )
        table = unary.lut_table(
            lambda v: np.where(v < 0, np.expm1(v), v), s_in, zp_in, s_out, zp_out
        )
        assert_equal(unary.lookup(x, table), run_tflm(model, [x])[0])


@FEW_TFLM
@given(st.data())
def test_reflect_pad_is_mirror_pad(data):
    draw = data.draw
    rng = np.random.default_rng(draw(seeds))
    shape = [draw(st.integers(2, 4)) for _ in range(4)]
    pads = [(draw(st.integers(0, d - 1)), draw(st.integers(0, d - 1))) for d in shape]
    x = random_int(rng, shape, np.int8)
    out_shape = [d + a + b for d, (a, b) in zip(shape, pads)]
    model = single_op(
        OP.MIRROR_PAD,
        [t(shape, np.int8, 0.1, 2), t((4, 2), np.int32, data=np.array(pads, np.int32))],
        [t(out_shape, np.int8, 0.1, 2)],
        schema.MirrorPadOptionsT(mode=schema.MirrorPadMode.REFLECT),
    )
    node = helper.make_node("Pad", ["x", "p"], ["y"], mode="reflect")
    onnx_pads = np.array([a for a, _ in pads] + [b for _, b in pads], np.int64)
    ours = onnx_reference(make_model([node], {"x": x}, ["y"], {"p": onnx_pads}), {"x": x})
    assert_equal(ours, run_tflm(model, [x])[0])


@pytest.mark.parametrize("op", ["DepthToSpace", "SpaceToDepth"])
@pytest.mark.parametrize("block", [2, 3])
def test_depth_to_space_is_tflite_order(op, block):
    """ONNX DepthToSpace (DCR) and SpaceToDepth move int8 values as TFLite's ops do."""
    rng = np.random.default_rng(block)
    shape = (1, 2 * block * block, 2, 3) if op == "DepthToSpace" else (1, 2, 2 * block, block)
    x = random_int(rng, shape, np.int8)
    node = helper.make_node(op, ["x"], ["y"], blocksize=block)
    ours = onnx_reference(make_model([node], {"x": x}, ["y"]), {"x": x})
    if op == "DepthToSpace":
        opcode, options = OP.DEPTH_TO_SPACE, schema.DepthToSpaceOptionsT(blockSize=block)
    else:
        opcode, options = OP.SPACE_TO_DEPTH, schema.SpaceToDepthOptionsT(blockSize=block)
    model = single_op(
        opcode, [t(nhwc(x).shape, np.int8, 0.1, 0)], [t(nhwc(ours).shape, np.int8, 0.1, 0)], options
    )
    assert_equal(ours, nchw(run_tflm(model, [nhwc(x)])[0]))
