"""Post-training quantization: observers, weight quantization, whole models, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from edgec.compiler import CompileOptions, prepare_graph
from edgec.data import Dataset
from edgec.errors import QuantizationError
from edgec.frontend import load_model
from edgec.interp import Interpreter
from edgec.ops.quant import quantize
from edgec.passes import fold
from edgec.quantize.observers import TensorStats, choose_range, expected_error
from edgec.quantize.ptq import (
    PTQConfig,
    activation_params,
    quantize_float_graph,
    quantize_weights,
)
from tests.conftest import shared_path

KWS_SCALE, KWS_ZP = 0.5847029089927673, 83


def observed(values: np.ndarray) -> TensorStats:
    stats = TensorStats()
    stats.update_range(values)
    stats.update_histogram(values)
    return stats


def test_minmax_is_the_observed_range_including_zero():
    stats = observed(np.array([0.5, 2.0, 3.0]))
    assert choose_range(stats, "minmax") == (0.0, 3.0)


def test_percentile_clips_rare_outliers(rng):
    values = np.concatenate([rng.normal(0, 1, 100_000), [1000.0]])
    lo, hi = choose_range(observed(values), "percentile", percentile=99.9)
    assert -5 < lo < -2 and 2 < hi < 5  # the 0.05 % tails of N(0, 1) lie near ±3.3


def test_mse_range_beats_minmax_under_outliers(rng):
    values = np.concatenate([rng.normal(0, 1, 50_000), [200.0, -150.0]])
    stats = observed(values)
    edges = np.linspace(*stats.bounds(), 2049)
    centers = (edges[:-1] + edges[1:]) / 2
    chosen = choose_range(stats, "mse")
    assert expected_error(stats.histogram, centers, *chosen, 256) < expected_error(
        stats.histogram, centers, *stats.bounds(), 256
    )


def test_entropy_keeps_the_bulk_of_a_relu_distribution(rng):
    values = np.maximum(rng.normal(0, 1, 100_000), 0)
    lo, hi = choose_range(observed(values), "entropy")
    assert lo == 0.0 and 1.5 < hi <= values.max()


@pytest.mark.parametrize("method", ["minmax", "percentile", "mse", "entropy"])
def test_all_zero_tensor_is_quantized_so_that_zero_is_exact(method):
    # A dead ReLU is 0 on every calibration sample: any scale holds its one value exactly.
    stats = observed(np.zeros(1000))
    assert stats.extra["all_zero"]
    lo, hi = choose_range(stats, method)
    assert lo == 0.0 and hi > 0.0
    params = activation_params(stats, "int8", PTQConfig(method=method))
    assert params.zero_point == -128 and params.scale > 0  # real 0 is the code -128


def test_weights_are_symmetric_per_channel(rng):
    w = rng.normal(size=(4, 3, 2, 2)) * np.array([1, 10, 0.1, 0])[:, None, None, None]
    q, scales = quantize_weights(w, 0, per_channel=True)
    assert q.dtype == np.int8 and np.abs(q).max() <= 127
    for c in range(3):
        assert scales[c] == pytest.approx(np.abs(w[c]).max() / 127)
        assert np.abs(q[c]).max() == 127
    assert np.all(q[3] == 0)  # an all-zero channel stays exact
    assert np.abs(q * scales[:, None, None, None] - w).max() <= scales.max() / 2 + 1e-12


@pytest.fixture(scope="module")
def kws_setup():
    folder = shared_path("data", "kws01")
    files = sorted(folder.glob("*.bin"))[:300]
    x = np.stack([np.fromfile(f, dtype=np.int8).reshape(1, 1, 49, 10) for f in files])
    x_float = ((x.astype(np.float32) - KWS_ZP) * np.float32(KWS_SCALE)).astype(np.float32)
    graph = fold(load_model(shared_path("models", "kws_dscnn", "kws_ref_model_float32.onnx")))
    return graph, x, x_float


def top1(graph, samples):
    run = Interpreter(graph)
    name, out = graph.inputs[0].name, graph.outputs[0].name
    return np.array([run.run({name: s})[out].argmax() for s in samples])


def test_kws_int8_agrees_with_float_on_held_out_samples(kws_setup):
    graph, x, x_float = kws_setup
    name = graph.inputs[0].name
    calib = Dataset({name: x_float[:200]}, None, [str(i) for i in range(200)])
    model = quantize_float_graph(
        graph, calib, PTQConfig(method="percentile", input_params={name: (KWS_SCALE, KWS_ZP)})
    )
    q = model.graph
    assert q.inputs[0].dtype == np.int8 and float(q.inputs[0].quant.scale) == pytest.approx(
        KWS_SCALE
    )
    agreement = np.mean(top1(q, x[200:]) == top1(graph, x_float[200:]))
    assert agreement >= 0.97


def test_int16x8_is_closer_to_float_than_int8(kws_setup):
    graph, _, x_float = kws_setup
    name = graph.inputs[0].name
    calib = Dataset({name: x_float[:100]}, None, [str(i) for i in range(100)])
    reference = Interpreter(graph)
    errors = {}
    for mode in ("int8", "int16x8"):
        q = quantize_float_graph(graph, calib, PTQConfig(mode=mode, float_io=True)).graph
        assert q.inputs[0].dtype == np.float32 and q.outputs[0].dtype == np.float32
        run = Interpreter(q)
        err = [
            run.run({name: s})[q.outputs[0].name] - reference.run({name: s})[graph.outputs[0].name]
            for s in x_float[200:230]
        ]
        errors[mode] = float(np.sqrt(np.mean(np.square(err))))
        if mode == "int16x8":
            dtypes = {n.outputs[0].dtype.name for n in q.nodes if n.op_type == "Conv"}
            assert dtypes == {"int16"}
    assert errors["int16x8"] < errors["int8"] / 2


def test_auto_moves_layers_below_the_threshold_to_16x8(kws_setup):
    graph, _, x_float = kws_setup
    name = graph.inputs[0].name
    calib = Dataset({name: x_float[:50]}, None, [str(i) for i in range(50)])
    model = quantize_float_graph(graph, calib, PTQConfig(mode="auto", sqnr_threshold_db=25.0))
    low = {n for n, db in model.layer_sqnr.items() if db < 25.0}
    assert low, "the threshold was chosen so that some layers fall below it"
    assert {n for n, p in model.precision.items() if p == "int16"} == low
    # A tensor read at both precisions passes through a requantizing QuantizeLinear.
    assert any(
        n.op_type == "QuantizeLinear" and n.inputs[0].quant is not None for n in model.graph.nodes
    )


def test_compile_options_path_reads_raw_bins_with_their_parameters(tmp_path, kws_setup):
    _, x, _ = kws_setup
    options = CompileOptions(
        quantize="int8",
        calib=str(shared_path("data", "kws01")),
        calib_samples=40,
        calib_dtype="int8",
        data_scale=KWS_SCALE,
        data_zero_point=KWS_ZP,
    )
    q = prepare_graph(shared_path("models", "kws_dscnn", "kws_ref_model_float32.onnx"), options)
    assert int(q.inputs[0].quant.zero_point) == KWS_ZP
    out = Interpreter(q).run({q.inputs[0].name: x[250]})
    assert out[q.outputs[0].name].dtype == np.int8


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda d: np.savez(d / "c.npz", x=np.zeros((5, 3), np.float32)), "does not fit"),
        (lambda d: np.savez(d / "c.npz", x=np.full((5, 1, 1, 49, 10), np.nan, np.float32)), "NaN"),
        (lambda d: (d / "empty").mkdir(), "no .npy or .bin"),
    ],
)
def test_bad_calibration_data_is_a_quantization_error(tmp_path, make, match):
    make(tmp_path)
    target = tmp_path / "empty" if (tmp_path / "empty").exists() else tmp_path / "c.npz"
    options = CompileOptions(quantize="int8", calib=str(target))
    with pytest.raises(QuantizationError, match=match):
        prepare_graph(shared_path("models", "kws_dscnn", "kws_ref_model_float32.onnx"), options)


def test_fewer_samples_than_asked_is_an_error(tmp_path):
    np.savez(tmp_path / "c.npz", x=np.zeros((3, 1, 1, 49, 10), np.float32))
    options = CompileOptions(quantize="int8", calib=str(tmp_path / "c.npz"), calib_samples=10)
    with pytest.raises(QuantizationError, match="10 samples asked for, 3 available"):
        prepare_graph(shared_path("models", "kws_dscnn", "kws_ref_model_float32.onnx"), options)


def test_quantizing_an_already_quantized_model_is_refused(tmp_path):
    np.savez(tmp_path / "c.npz", x=np.zeros((3, 1, 1, 49, 10), np.int8))
    options = CompileOptions(quantize="int8", calib=str(tmp_path / "c.npz"))
    with pytest.raises(Exception, match="already quantized"):
        prepare_graph(shared_path("models", "kws_dscnn", "kws_ref_model_int8_qdq.onnx"), options)


def test_quantize_input_helper_matches_onnx_rounding():
    x = np.array([0.5, 1.5, 2.5, -0.5, 300.0], np.float32)
    q = quantize(x, np.float32(1.0), np.int64(0), np.int8)
    assert q.tolist() == [0, 2, 2, 0, 127]  # half to even, saturated
