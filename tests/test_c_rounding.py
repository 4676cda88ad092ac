"""``--rounding float`` and ``litert`` in the C backend: the generated C of integer nodes
against edgec's integer reference in that rounding, bit for bit (the reference itself is
checked against onnxruntime and LiteRT in tests/test_int_kernels.py and
tests/test_onnxruntime_models.py). The cases are tests/test_c_int_kernels.py's draws (int8
and 16x8 mixed in one build), the ops whose float-rounding form is another algorithm
(onnxruntime's lookup tables and QLinearSoftmax) with any output quantization, and layers
whose power-of-two scales put many values exactly halfway (where the modes' rounding
differs)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgec.ir.graph import QuantParams
from tests.c_cases import random_int, run_cases
from tests.test_c_int_kernels import (
    BATCH,
    act,
    const,
    draw_binary,
    draw_concat_pad,
    draw_conv,
    draw_fc,
    draw_pool,
    draw_softmax,
    draw_unary,
    prepare,
    run_drawn,
    scale_of,
    seeds,
    single_op,
    zp_of,
)

ROUNDINGS = ["float", "litert"]
ONE = settings(BATCH, max_examples=1)  # each example is a sanitized C build


def mixed(*draws):
    """Case i: draw i % len(draws), int8 and int16 alternating."""

    def draw(d, i):
        dtype = "int8" if (i // len(draws)) % 2 == 0 else "int16"
        return draws[i % len(draws)](d, dtype, i // len(draws))

    return draw


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("kernels", ["portable", "optimized"])
@ONE
@given(data=st.data())
def test_conv_and_fc(rounding, kernels, data, tmp_path_factory):
    run_drawn(mixed(draw_conv, draw_fc), data, tmp_path_factory.mktemp("linear"), kernels, rounding)


@pytest.mark.parametrize("rounding", ROUNDINGS)
@ONE
@given(data=st.data())
def test_elementwise_pool_concat(rounding, data, tmp_path_factory):
    draw = mixed(draw_binary, draw_unary, draw_pool, draw_concat_pad)
    run_drawn(draw, data, tmp_path_factory.mktemp("eltwise"), "portable", rounding)


TABLE_OPS = ["Sigmoid", "Tanh", "HardSwish", "LeakyRelu", "Softmax"]


def draw_onnxruntime_form(draw, index: int):
    """int8 ops that rounding "float" runs as onnxruntime does, any output quantization, and
    optimized residual Adds (their tables)."""
    seed = draw(seeds)
    op = (*TABLE_OPS, "Add")[index % (len(TABLE_OPS) + 1)]
    rank = draw(st.integers(1, 4))
    shape = tuple(draw(st.integers(1, 6)) for _ in range(rank))
    x = act(shape, "int8", scale_of(draw, -7, 1), zp_of(draw, "int8"))
    inputs, attrs = [x], {}
    if op == "LeakyRelu":
        attrs = {"alpha": float(np.float32(draw(st.sampled_from([0.01, 0.2, -0.3]))))}
    elif op == "Softmax":
        attrs = {"axis": draw(st.integers(-rank, rank - 1))}
    elif op == "Add":
        shape = (1, *shape[1:]) if rank == 4 else (1, 3, *shape[-2:])
        x = act(shape, "int8", scale_of(draw, -8, 0), zp_of(draw, "int8"))
        inputs = [x, act(shape, "int8", scale_of(draw, -8, 0), zp_of(draw, "int8"), "b")]
    s_out = scale_of(draw, -9, 0)
    return single_op(op, inputs, "int8", s_out, zp_of(draw, "int8"), attrs), seed


@pytest.mark.parametrize("rounding", ROUNDINGS)
@ONE
@given(data=st.data())
def test_onnxruntime_forms_and_optimized_add(rounding, data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tables")
    run_drawn(draw_onnxruntime_form, data, folder, "optimized", rounding)


@ONE
@given(data=st.data())
def test_softmax_litert(data, tmp_path_factory):
    """LiteRT's Softmax is TFLite's builtin (TFLM's numerics) in every type."""
    types = [("int8", "int8"), ("int16", "int16")]
    run_drawn(
        lambda d, i: draw_softmax(d, types[i % 2], i),
        data,
        tmp_path_factory.mktemp("softmax"),
        "portable",
        "litert",
    )


def halfway_cases(rounding: str) -> list:
    """Power-of-two scales: products land exactly halfway between integers often."""
    rng = np.random.default_rng(5)
    x = act((1, 4, 5, 5), "int8", 2.0**-4, 3)
    cases = []
    w = const("w", random_int(rng, (6, 4, 3, 3), np.int8), np.full(6, 2.0**-3, np.float32), 0)
    cases.append(single_op("Conv", [x, w], "int8", 2.0**-1, -2, {"pads": [1, 1, 1, 1]}))
    fc_w = const("w", random_int(rng, (4, 5), np.int8), np.float32(2.0**-3))
    cases.append(single_op("MatMul", [act((3, 4), "int16", 2.0**-8, 0), fc_w], "int16", 2.0**-6, 0))
    b = act((1, 4, 5, 5), "int8", 2.0**-3, -1, "b")
    cases.append(single_op("Add", [x, b], "int8", 2.0**-3, 5))
    cases.append(single_op("Mul", [x, b], "int8", 2.0**-5, 7))
    cases.append(single_op("GlobalAveragePool", [x], "int8", 2.0**-4, 1))
    pool = {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [0, 0, 1, 1]}
    cases.append(single_op("AveragePool", [x], "int8", 2.0**-4, 3, pool))
    requant = [const("s", np.array(2.0**-3, np.float32)), const("z", np.array(0, np.int8))]
    cases.append(single_op("QuantizeLinear", [x, *requant], "int8", 2.0**-3, 0))
    for graph in cases:
        for v in graph.values():
            if v.quant is not None and v.quant.axis is None and not v.is_const:
                v.quant = QuantParams(np.float32(v.quant.scale), v.quant.zero_point, v.dtype)
    prepared = [prepare(graph, seed, rounding) for seed, graph in enumerate(cases)]
    assert all(p is not None for p in prepared)
    return prepared


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_halfway_values_round_as_the_mode_says(rounding, tmp_path):
    run_cases(halfway_cases(rounding), tmp_path, "optimized", rounding=rounding)
