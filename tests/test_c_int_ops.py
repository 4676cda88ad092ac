"""The generated C of the integer ops issue 15 added against edgec's integer reference, bit for
bit (whose numerics tests/test_int_ops_tflm.py checks against TFLite Micro).

As tests/test_c_int_kernels.py: hypothesis draws one-op quantized graphs (derandomized and
bounded), every case of an example is built into one sanitized host binary
(``-fsanitize=address,undefined``, ``-Wall -Wextra -Werror``) and must equal the reference.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgec.ir.graph import FusedActivation, Graph, Value
from edgec.ops.shapes import infer_shapes
from tests.c_cases import random_int
from tests.test_c_int_kernels import (
    BATCH,
    INT,
    _bias,
    act,
    const,
    run_drawn,
    scale_of,
    seeds,
    single_op,
    zp_of,
)

FUSED = [None, FusedActivation("Relu")]


def draw_conv_transpose(draw, dtype: str, index: int):
    seed = draw(seeds)
    rng = np.random.default_rng(seed)
    kind = ["general", "depthwise", "1d", "grouped"][index % 4]
    c = draw(st.integers(1, 5))
    group = {"depthwise": c, "grouped": 1}.get(kind, 1)
    if kind == "grouped":
        group, c = 2, 2 * c
    per_group = 1 if kind == "depthwise" else draw(st.integers(1, 4))
    o = per_group * group
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    # crops that leave at least one output pixel: begin + end below the kernel's extent
    extent = [(kk - 1) * d + 1 for kk, d in zip(k, dil)]
    begin = [draw(st.integers(0, e - 1)) for e in extent]
    pads = [*begin, *(draw(st.integers(0, e - 1 - b)) for e, b in zip(extent, begin))]
    out_pad = [draw(st.integers(0, s - 1)) for s in stride]
    h, w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    weights = random_int(rng, (c, per_group, *k), np.int8)
    attrs = {
        "strides": list(stride),
        "dilations": list(dil),
        "pads": pads,
        "output_padding": out_pad,
        "group": group,
    }
    shape = (1, c, h, w)
    if kind == "1d":
        shape, weights = (1, c, w), weights[:, :, 0, :]
        attrs = {
            "strides": [stride[1]],
            "dilations": [dil[1]],  # the pads were drawn under the width's dilation
            "pads": [pads[1], pads[3]],
            "group": group,
        }
    s_in, s_out = scale_of(draw), scale_of(draw, -6, 2)
    # per output channel: axis 1 for group 1, axis 0 for depthwise, per tensor otherwise
    axis = 1 if group == 1 else (0 if kind == "depthwise" else None)
    count = o if axis is not None else 1
    s_w = np.float32(2.0 ** rng.uniform(-9, -4, size=count)).astype(np.float32)
    wide = index % 2 == 0
    bias = None if draw(st.integers(0, 3)) == 0 else _bias(rng, o, dtype, wide)
    inputs = [
        act(shape, dtype, s_in, zp_of(draw, dtype)),
        const("w", weights, s_w if axis is not None else s_w[0], axis=axis),
    ]
    if bias is not None:
        inputs.append(const("b", bias, np.broadcast_to(s_w * np.float32(s_in), (o,)), axis=0))
    fused = draw(st.sampled_from(FUSED))
    graph = single_op("ConvTranspose", inputs, dtype, s_out, zp_of(draw, dtype), attrs, fused)
    return graph, seed


@pytest.mark.parametrize("dtype", ["int8", "int16"])
@BATCH
@given(data=st.data())
def test_conv_transpose(dtype, data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("convt")
    run_drawn(lambda d, i: draw_conv_transpose(d, dtype, i), data, folder)


COORDINATES = ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"]


def draw_resize(draw, dtype: str, index: int):
    seed = draw(seeds)
    mode = COORDINATES[index % len(COORDINATES)]
    rank = 4 if index % 5 else 3
    spatial = [draw(st.integers(2, 6)) for _ in range(rank - 2)]  # 0.5 leaves a pixel
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 5)), *spatial)
    s, zp = scale_of(draw), zp_of(draw, dtype)
    attrs = {"mode": "linear", "coordinate_transformation_mode": mode}
    if draw(st.booleans()):
        sizes = [*shape[:2], *(draw(st.integers(1, 11)) for _ in spatial)]
        scale_input, size_input = None, const("sizes", np.array(sizes, np.int64))
    else:
        factors = [1.0, 1.0, *(draw(st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0])) for _ in spatial)]
        scale_input, size_input = const("scales", np.array(factors, np.float32)), None
    inputs = [act(shape, dtype, s, zp), None, scale_input, size_input]
    while inputs[-1] is None:
        inputs.pop()
    return single_op("Resize", inputs, dtype, s, zp, attrs), seed


@pytest.mark.parametrize("dtype", ["int8", "int16"])
@BATCH
@given(data=st.data())
def test_resize_bilinear(dtype, data, tmp_path_factory):
    run_drawn(lambda d, i: draw_resize(d, dtype, i), data, tmp_path_factory.mktemp("resize"))


def draw_avg_pool_ceil(draw, dtype: str, index: int):
    """AveragePool with ceil_mode windows overhanging the declared pads, counting pads or not."""
    seed = draw(seeds)
    k = [draw(st.integers(1, 4)), draw(st.integers(1, 4))]
    strides = [draw(st.integers(1, 3)), draw(st.integers(1, 3))]
    pads = [draw(st.integers(0, kk - 1)) for kk in (*k, *k)]
    shape = (1, draw(st.integers(1, 4)), draw(st.integers(k[0], 9)), draw(st.integers(k[1], 9)))
    attrs = {
        "kernel_shape": k,
        "strides": strides,
        "pads": pads,
        "ceil_mode": 1,
        "count_include_pad": int(index % 3 != 0),
    }
    s, zp = scale_of(draw), zp_of(draw, dtype)
    return single_op("AveragePool", [act(shape, dtype, s, zp)], dtype, s, zp, attrs), seed


@pytest.mark.parametrize("dtype", ["int8", "int16"])
@BATCH
@given(data=st.data())
def test_avg_pool_ceil_mode_counting_pads(dtype, data, tmp_path_factory):
    run_drawn(lambda d, i: draw_avg_pool_ceil(d, dtype, i), data, tmp_path_factory.mktemp("avg"))


def draw_arg_reduce(draw, dtype: str, index: int):
    """ArgMax / ArgMin reading the integer tensor (int64 index out, not quantized)."""
    seed = draw(seeds)
    rank = draw(st.integers(1, 4))
    shape = tuple(draw(st.integers(1, 5)) for _ in range(rank))
    g = Graph("case")
    x = g.add_value(act(shape, dtype, scale_of(draw), zp_of(draw, dtype)))
    y = Value("y", None, None)
    attrs = {
        "axis": draw(st.integers(-rank, rank - 1)),
        "keepdims": draw(st.integers(0, 1)),
        "select_last_index": draw(st.integers(0, 1)),
    }
    g.add_node(["ArgMax", "ArgMin"][index % 2], [x], [y], attrs, name="op")
    g.inputs, g.outputs = [x], [y]
    infer_shapes(g)
    return g, seed


@pytest.mark.parametrize("dtype", ["int8", "int16"])
@BATCH
@given(data=st.data())
def test_arg_reduce(dtype, data, tmp_path_factory):
    run_drawn(lambda d, i: draw_arg_reduce(d, dtype, i), data, tmp_path_factory.mktemp("arg"))


TABLE_OPS = ["Exp", "Log", "Sqrt", "Erf", "Reciprocal", "Neg", "Elu", "HardSigmoid", "Pow"]
MATH_OPS = ["table", "Abs", "Max", "Min", "Sum", "Mean", "Where", "Pad"]


def _quantized(draw, shape, dtype, name):
    return act(shape, dtype, scale_of(draw, -8, -2), zp_of(draw, dtype), name)


def draw_math(draw, dtype: str, index: int):
    seed = draw(seeds)
    rng = np.random.default_rng(seed)
    kind = MATH_OPS[index % len(MATH_OPS)]
    shape = tuple(draw(st.integers(1, 4)) for _ in range(draw(st.integers(1, 4))))
    s_out, zp_out = scale_of(draw, -8, -1), zp_of(draw, dtype)
    if kind == "table":
        op = draw(st.sampled_from(TABLE_OPS))
        inputs = [_quantized(draw, shape, "int8", "x")]
        if op == "Pow":
            inputs.append(const("e", np.array(draw(st.sampled_from([2.0, 0.5, 3.0])), np.float32)))
        return single_op(op, inputs, "int8", s_out, zp_of(draw, "int8")), seed
    if kind == "Abs":
        return single_op("Abs", [_quantized(draw, shape, dtype, "x")], dtype, s_out, zp_out), seed
    if kind in ("Max", "Min", "Sum", "Mean"):
        count = draw(st.integers(1, 3 if dtype == "int16" else 4))
        shapes = [shape] + [
            tuple(d if draw(st.booleans()) else 1 for d in shape) for _ in range(count - 1)
        ]
        inputs = [_quantized(draw, s, dtype, f"x{i}") for i, s in enumerate(shapes)]
        return single_op(kind, inputs, dtype, s_out, zp_out), seed
    if kind == "Where":
        condition = const("c", rng.integers(0, 2, shape[-1:]).astype(bool))
        x = _quantized(draw, shape, dtype, "x")
        if draw(st.booleans()):
            y = _quantized(draw, shape, dtype, "y")
        else:  # a constant, quantized as the quantizer does
            y = act((1,), dtype, scale_of(draw, -8, -2), zp_of(draw, dtype), "y")
            y.const = random_int(rng, (1,), INT[dtype])
        return single_op("Where", [condition, x, y], dtype, s_out, zp_out), seed
    x = _quantized(draw, shape, dtype, "x")
    pads = np.array([draw(st.integers(0, d - 1)) for d in shape * 2], np.int64)
    mode = draw(st.sampled_from(["reflect", "edge", "wrap"]))
    q = x.quant
    return single_op(
        "Pad", [x, const("p", pads)], dtype, q.scale, q.zero_point, {"mode": mode}
    ), seed


@pytest.mark.parametrize("dtype", ["int8", "int16"])
@BATCH
@given(data=st.data())
def test_elementwise_math(dtype, data, tmp_path_factory):
    run_drawn(lambda d, i: draw_math(d, dtype, i), data, tmp_path_factory.mktemp("math"))
