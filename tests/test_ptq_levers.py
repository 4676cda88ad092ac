"""The PTQ levers (quantize/lattice.py, correct.py, ranges.py, the im2col bias correction)
do what they claim, measured against the float reference executor on small models."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgec.data import Dataset
from edgec.frontend import load_model
from edgec.interp import Interpreter
from edgec.ops.quant import dequantize, quantize
from edgec.passes import fold
from edgec.passes.refit import replace_input
from edgec.quantize.correct import mean_rows, rounding_shift
from edgec.quantize.lattice import input_grid
from edgec.quantize.ptq import PTQConfig, quantize_float_graph
from edgec.quantize.rounding import round_weights

SHAPE = (1, 4, 9, 7)
NO_LEVERS = dict(input_grid=False, empirical_bias=False, range_search="none")


def _stored(array) -> np.ndarray:
    array = np.asarray(array)
    return array if array.dtype == np.int64 else array.astype(np.float32)


def model(nodes, inits, out_shape=None):
    graph = helper.make_graph(
        nodes,
        "levers",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(SHAPE))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
        [numpy_helper.from_array(_stored(a), n) for n, a in inits.items()],
    )
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    return fold(load_model(onnx_model))


def two_convs(seed: int = 0):
    """3x3 stride-2 padded convolution then a 3x3 padded one, no activation: each output
    is the pre-activation the bias corrections aim at."""
    rng = np.random.default_rng(seed)
    inits = {
        "w1": rng.normal(0, 0.4, (6, 4, 3, 3)),
        "b1": rng.normal(0, 0.1, 6),
        "w2": rng.normal(0, 0.3, (5, 6, 3, 3)),
        "b2": rng.normal(0, 0.1, 5),
    }
    nodes = [
        helper.make_node(
            "Conv", ["x", "w1", "b1"], ["c1"], name="c1", pads=[1] * 4, strides=[2, 2]
        ),
        helper.make_node("Conv", ["c1", "w2", "b2"], ["y"], name="c2", pads=[1] * 4),
    ]
    return model(nodes, inits)


def dataset(graph, samples: np.ndarray) -> Dataset:
    return Dataset({graph.inputs[0].name: samples}, None, [str(i) for i in range(len(samples))])


def outputs(graph, samples: np.ndarray) -> np.ndarray:
    """Outputs of ``graph`` over ``samples`` (dequantized when integer), [N, ...]."""
    run = Interpreter(graph)
    inp, out = graph.inputs[0], graph.outputs[0]
    found = []
    for s in samples:
        feed = (
            s
            if inp.quant is None
            else quantize(s, inp.quant.scale, inp.quant.zero_point, inp.dtype)
        )
        y = run.run({inp.name: feed})[out.name]
        if out.quant is not None:
            y = dequantize(y, out.quant.scale, out.quant.zero_point)
        found.append(np.asarray(y, np.float64))
    return np.stack(found)


def channel_shift(graph, quantized, samples) -> np.ndarray:
    """Per output channel, the mean of (quantized - float) over the samples and positions."""
    diff = outputs(quantized, samples) - outputs(graph, samples)
    return diff.mean(axis=tuple(i for i in range(diff.ndim) if i != 2))


def snr(graph, quantized, samples) -> float:
    ref = outputs(graph, samples)
    err = outputs(quantized, samples) - ref
    return float(10 * np.log10(np.sum(ref**2) / np.sum(err**2)))


def test_input_grid_recovers_the_parameters_of_int8_data(rng):
    q = rng.integers(-128, 101, (50, *SHAPE))
    scale = np.float32(0.5847029089927673)
    x = ((q.astype(np.float32) - 83) * scale).astype(np.float32)
    found = input_grid(x)
    assert found is not None and np.float32(found[0]) == scale
    # every value survives quantization exactly (onnx's QuantizeLinear/DequantizeLinear)
    back = dequantize(
        quantize(x, np.float32(found[0]), np.int64(found[1]), np.int8),
        np.float32(found[0]),
        np.int64(found[1]),
    )
    np.testing.assert_array_equal(back, x)
    assert input_grid(rng.normal(0, 1, (50, *SHAPE)).astype(np.float32)) is None
    assert input_grid(np.arange(300, dtype=np.float32)) is None  # more than 256 levels
    assert input_grid(np.arange(1, 300, 2, dtype=np.float32)) is None  # 0 not on the grid
    assert input_grid(np.array([0.0, 1.0], np.float32)) is None  # binary: too coarse a grid


def test_the_grid_is_the_quantized_models_input_parameters(rng):
    graph = two_convs()
    x = rng.integers(0, 200, (40, *SHAPE)).astype(np.float32) * np.float32(0.05)
    with_grid = quantize_float_graph(graph, dataset(graph, x), PTQConfig(method="percentile"))
    q = with_grid.graph.inputs[0].quant
    assert float(q.scale) == pytest.approx(0.05, rel=1e-6)
    assert float(
        dequantize(quantize(x, q.scale, q.zero_point, np.int8), q.scale, q.zero_point).max()
    ) == pytest.approx(float(x.max()))


def test_im2col_bias_correction_removes_the_mean_shift_of_weight_rounding(rng):
    """int16 activations leave the int8 weights' rounding the main error; the corrected
    biases remove its mean per channel (zero padding and strides counted)."""
    graph = two_convs(1)
    x = rng.uniform(0.5, 2.0, (64, *SHAPE)).astype(np.float32)  # a mean far from 0
    data = dataset(graph, x)
    shifts = {}
    for correct in (False, True):
        config = PTQConfig(mode="int16x8", method="minmax", bias_correction=correct, **NO_LEVERS)
        shifts[correct] = np.abs(
            channel_shift(graph, quantize_float_graph(graph, data, config).graph, x)
        )
    assert shifts[False].max() > 1e-3  # a shift to remove
    assert shifts[True].max() < shifts[False].max() / 10


def test_empirical_bias_correction_removes_the_mean_shift_of_int8_inputs(rng):
    """A heavy-tailed input clipped by its range (set to [0, 3]; the other tensors keep
    their whole range) shifts the layers' means; the analytic correction (weights only)
    leaves that shift, the empirical one removes it."""
    graph = two_convs(2)
    x = rng.lognormal(0, 1, (64, *SHAPE)).astype(np.float32)
    data = dataset(graph, x)
    clipped = {graph.inputs[0].name: (3.0 / 255, -128)}
    shifts = {}
    for empirical in (False, True):
        config = PTQConfig(
            method="minmax", input_params=clipped, **{**NO_LEVERS, "empirical_bias": empirical}
        )
        shifts[empirical] = np.abs(
            channel_shift(graph, quantize_float_graph(graph, data, config).graph, x)
        )
    assert shifts[False].max() > 0.05
    assert shifts[True].max() < shifts[False].max() / 10


def pooled_head(seed: int = 0):
    """Conv + ReLU, 9x7 average pool (its output keeps the conv's int8 grid), Gemm."""
    rng = np.random.default_rng(seed)
    inits = {
        "w": rng.normal(0, 0.5, (8, 4, 3, 3)),
        "b": rng.normal(0, 0.1, 8),
        "wf": rng.normal(0, 0.5, (3, 8)),
        "bf": rng.normal(0, 0.1, 3),
        "flat": np.array([1, -1]),
    }
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1] * 4),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("AveragePool", ["r"], ["p"], kernel_shape=[9, 7]),
        helper.make_node("Reshape", ["p", "flat"], ["f"]),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], name="fc", transB=1),
    ]
    return model(nodes, inits)


def test_range_search_narrows_a_pooled_tensor_and_lowers_the_output_error(rng):
    graph = pooled_head()
    x = rng.normal(0, 1, (64, *SHAPE)).astype(np.float32)
    data = dataset(graph, x)
    models = {}
    for search in ("none", "pooled"):
        config = PTQConfig(method="percentile", **{**NO_LEVERS, "range_search": search})
        models[search] = quantize_float_graph(graph, data, config).graph
    conv = {k: next(n for n in g.nodes if n.op_type == "Conv") for k, g in models.items()}
    assert float(conv["pooled"].outputs[0].quant.scale) < float(conv["none"].outputs[0].quant.scale)
    assert snr(graph, models["pooled"], x) > snr(graph, models["none"], x) + 1.0


def test_rounding_shift_is_the_mean_error_the_float_executor_measures(rng):
    """The analytic correction per im2col column equals the mean output change the rounded
    weights make in the float reference executor (zero padding, stride 2); per input
    channel alone it would miss the padding."""
    graph = two_convs(3)
    node = next(n for n in graph.nodes if n.name == "c1")
    w = node.inputs[1].const.astype(np.float64)
    q, scales = round_weights(w, 0, 8)
    rounded = graph.copy()
    target = next(n for n in rounded.nodes if n.name == "c1")
    replace_input(rounded, target, 1, (q * scales.reshape(-1, 1, 1, 1)).astype(np.float32))
    x = rng.uniform(0.5, 2.0, (32, *SHAPE)).astype(np.float32)
    before, after = Interpreter(graph), Interpreter(rounded)
    diff = [
        after.run({"x": s}, keep_all=True)["c1"] - before.run({"x": s}, keep_all=True)["c1"]
        for s in x
    ]
    measured = np.mean(diff, axis=(0, 1, 3, 4), dtype=np.float64)
    mean = x.astype(np.float64).mean(axis=0)  # [1, C, H, W]
    by_column = rounding_shift(node, q, scales, w, 0, mean_rows(node, mean))
    np.testing.assert_allclose(by_column, measured, rtol=1e-4, atol=1e-6)
    by_channel = rounding_shift(node, q, scales, w, 0, mean.mean(axis=(0, 2, 3)))
    assert np.max(np.abs(by_channel - measured)) > 10 * np.max(np.abs(by_column - measured))
