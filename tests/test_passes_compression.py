"""Magnitude pruning and weight clustering keep the graph valid and do what they claim.

A small float CNN built here (3x3 and 1x1 convolutions, a depthwise one, Gemm and MatMul)
is pruned (per layer and globally) and, once quantized to int8, clustered. The structure
is checked against numpy (which weights are zero, how many distinct values remain), and
the results must still run: exported to ONNX, in onnxruntime, with the same outputs as the
reference executor; the clustered int8 model compiles to C whose host build is bit-exact
with the integer reference and stores the clustered layers as 4-bit indices.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgec.compiler import CompileOptions, compile_model, prepare_graph
from edgec.errors import EdgecError
from edgec.frontend import load_model
from edgec.harness.validate import ValidateOptions, validate
from edgec.interp import Interpreter
from edgec.ir import to_onnx
from edgec.passes import fold
from edgec.passes.base import run_passes
from edgec.passes.magnitude_prune import MagnitudePrune, parse_magnitude_spec, prunable
from edgec.passes.weight_clustering import ClusterWeights, clusterable, parse_cluster_spec
from edgec.quantize.export import to_qdq
from tests.conftest import needs_tools

INPUT = (1, 3, 8, 8)


def small_cnn(seed: int = 0) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    shapes = {
        "w1": (8, 3, 3, 3),
        "w2": (12, 8, 1, 1),
        "wd": (12, 1, 3, 3),  # depthwise: never pruned nor clustered
        "wf": (10, 192),  # Gemm transB=1
        "wm": (10, 7),  # MatMul [K, N]
    }
    arrays = {n: rng.normal(0, 0.5, s).astype(np.float32) for n, s in shapes.items()}
    arrays.update(
        {"b1": rng.normal(0, 0.1, 8), "b2": rng.normal(0, 0.1, 12), "bf": rng.normal(0, 0.1, 10)}
    )
    inits = [numpy_helper.from_array(np.asarray(a, np.float32), n) for n, a in arrays.items()]
    inits.append(numpy_helper.from_array(np.array([1, -1], np.int64), "flat"))
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2"),
        helper.make_node(
            "Conv", ["c2", "wd"], ["c3"], name="dw", group=12, strides=[2, 2], pads=[1, 1, 1, 1]
        ),
        helper.make_node("Reshape", ["c3", "flat"], ["f"]),  # [1, 192]
        helper.make_node("Gemm", ["f", "wf", "bf"], ["g"], name="fc", transB=1),
        helper.make_node("Relu", ["g"], ["rg"]),
        helper.make_node("MatMul", ["rg", "wm"], ["y"], name="mm"),
    ]
    graph = helper.make_graph(
        nodes,
        "small",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(INPUT))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def layer_weights(graph) -> dict[str, np.ndarray]:
    return {
        n.name: n.inputs[1].const for n in graph.nodes if n.op_type in ("Conv", "Gemm", "MatMul")
    }


def runs_like_the_reference(graph, rng, rtol=1e-4, atol=1e-5):
    """Export to ONNX; onnxruntime equals the reference executor on random inputs."""
    model = to_onnx(graph)
    onnx.checker.check_model(model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    interp = Interpreter(graph)
    for _ in range(3):
        x = rng.uniform(-2, 2, INPUT).astype(np.float32)
        (got,) = session.run(None, {"x": x})
        want = interp.run({"x": x})[graph.outputs[0].name]
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


@pytest.mark.parametrize("sparsity", [0.3, 0.75])
def test_layer_pruning_zeroes_the_smallest_weights_of_each_layer(sparsity, rng):
    graph = fold(load_model(small_cnn()))
    before = layer_weights(graph)
    pruning = MagnitudePrune(sparsity)
    graph = run_passes(graph, [pruning], fixed_point=False)
    after = layer_weights(graph)
    assert np.array_equal(after["dw"], before["dw"])  # depthwise untouched
    for name in ("conv1", "conv2", "fc", "mm"):
        w, p = before[name], after[name]
        zero = p == 0
        assert zero.sum() == round(sparsity * w.size)
        assert np.abs(w[zero]).max() <= np.abs(w[~zero]).min()  # the smallest went
        assert np.array_equal(p[~zero], w[~zero])  # the rest are unchanged
    assert [r["node"] for r in pruning.report] == ["conv1", "conv2", "fc", "mm"]
    runs_like_the_reference(graph, rng)
    # idempotent: a second run changes nothing
    assert not MagnitudePrune(sparsity).run(graph).changed


def test_global_pruning_uses_one_threshold_on_rms_normalized_magnitudes(rng):
    graph = fold(load_model(small_cnn()))
    before = layer_weights(graph)
    graph = run_passes(graph, [MagnitudePrune(0.6, "global")], fixed_point=False)
    after = layer_weights(graph)
    names = ("conv1", "conv2", "fc", "mm")
    scores = {n: np.abs(before[n]) / np.sqrt(np.mean(before[n] ** 2)) for n in names}
    dropped = np.concatenate([scores[n][after[n] == 0] for n in names])
    kept = np.concatenate([scores[n][after[n] != 0] for n in names])
    assert dropped.size == round(0.6 * (dropped.size + kept.size))
    assert dropped.max() <= kept.min()
    runs_like_the_reference(graph, rng)


def test_specs_are_checked():
    assert parse_magnitude_spec("magnitude:0.5") == (0.5, "layer")
    assert parse_magnitude_spec("magnitude:0.9:global") == (0.9, "global")
    for bad in ("magnitude", "magnitude:1.5", "magnitude:x", "magnitude:0.5:row", "size:0.5"):
        with pytest.raises(EdgecError, match="--prune"):
            parse_magnitude_spec(bad)
    assert parse_cluster_spec("16") == (16, "layer")
    assert parse_cluster_spec("8:channel") == (8, "channel")
    for bad in ("1", "17", "x", "8:row"):
        with pytest.raises(EdgecError, match="--cluster"):
            parse_cluster_spec(bad)


@pytest.fixture(scope="module")
def model_and_data(tmp_path_factory):
    work = tmp_path_factory.mktemp("compress")
    onnx.save(small_cnn(), work / "small.onnx")
    rng = np.random.default_rng(3)
    np.savez(work / "calib.npz", x=rng.uniform(-2, 2, (32, *INPUT)).astype(np.float32))
    np.savez(work / "data.npz", x=rng.uniform(-2, 2, (8, *INPUT)).astype(np.float32))
    return work


@pytest.mark.parametrize("scope", ["layer", "channel"])
def test_clustering_leaves_at_most_k_values_and_a_valid_int8_graph(model_and_data, scope, rng):
    work = model_and_data
    options = CompileOptions(quantize="int8", calib=str(work / "calib.npz"))
    quantized = prepare_graph(work / "small.onnx", options)
    before = {n.name: n.inputs[1].const for n in quantized.nodes if clusterable(n)}
    clustering = ClusterWeights(4, scope)
    graph = run_passes(quantized.copy(), [clustering], fixed_point=False)
    after = {n.name: n.inputs[1].const for n in graph.nodes if n.name in before}
    assert sorted(before) == ["conv1", "conv2", "fc", "mm"]  # not the depthwise
    for name, w in after.items():
        axis = 1 if name == "mm" else 0
        rows = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
        if scope == "layer":
            assert np.unique(w).size <= 4 < np.unique(before[name]).size
        else:
            assert max(np.unique(r).size for r in rows) <= 4
        # each weight moved to a centre no farther than another of the remaining values
        old = np.moveaxis(before[name], axis, 0).reshape(rows.shape).astype(np.int64)
        for r_old, r_new in zip(old, rows):
            table = np.unique(r_new if scope == "channel" else w).astype(np.int64)
            nearest = np.abs(r_old[:, None] - table[None, :]).min(axis=1)
            assert np.array_equal(np.abs(r_old - r_new), nearest)
    # valid: the QDQ export loads in onnxruntime and reads back to the same integer graph
    model = to_onnx(to_qdq(graph))
    onnx.checker.check_model(model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    from edgec.quantize.qdq import lower_qdq

    again = fold(lower_qdq(fold(load_model(model))))
    a, b = Interpreter(graph), Interpreter(again)
    x0 = graph.inputs[0]
    for _ in range(3):
        x = rng.integers(-128, 128, size=x0.shape).astype(x0.dtype)
        ref = a.run({x0.name: x})[graph.outputs[0].name]
        assert np.array_equal(ref, b.run({x0.name: x})[again.outputs[0].name])
        (ort_out,) = session.run(None, {x0.name: x})
        # onnxruntime rescales in float: within one step of TFLM's integer rounding
        assert np.abs(ort_out.astype(np.int64) - ref.astype(np.int64)).max() <= 1


def test_compile_clusters_and_stores_4_bit_indices_bit_exactly(model_and_data):
    work = model_and_data
    common = dict(quantize="int8", calib=str(work / "calib.npz"), kernels="optimized", force=True)
    plain = compile_model(work / "small.onnx", work / "plain", CompileOptions(**common))
    result = compile_model(
        work / "small.onnx",
        work / "clustered",
        CompileOptions(cluster="8", weight_storage="small", **common),  # flash first
    )
    report = json.loads((result.out_dir / "clustering.json").read_text())
    assert report["calibrated"] and report["calibration"]["samples"] == 32
    assert all(layer["distinct_after"] <= 8 for layer in report["layers"])
    storage = {s["node"]: s for s in result.manifest.weight_storage}
    # the FC (192 x 10) and conv2 (8 x 12) pay for a table; conv1's 27 x 8 pays too
    assert storage["fc"]["storage"] == "clustered"
    # two codes a byte (192 -> 96 per output) and the table loops' 16-entry table
    # (fast_int4_gemm.c), which holds the FC's distinct values
    assert len(np.unique(_fc_codes(result))) <= 16
    assert storage["fc"]["stored_bytes"] == 10 * 96 + 16
    assert result.weight_bytes < plain.weight_bytes
    for out in (result.out_dir, plain.out_dir):
        checked = validate(out, ValidateOptions(data=str(work / "data.npz"), device="host"))
        assert checked["bit_exact"] == checked["samples"] == 8


def _fc_codes(result):
    fc = next(n for n in result.graph.nodes if n.name == "fc")
    return fc.inputs[1].const


def test_clustering_a_float_model_and_pruning_an_int8_one_are_refused(model_and_data):
    work = model_and_data
    with pytest.raises(EdgecError, match="no int8 Conv/Gemm/MatMul"):
        compile_model(work / "small.onnx", work / "f", CompileOptions(cluster="8", force=True))
    onnx.save(
        to_onnx(to_qdq(prepare_graph(work / "small.onnx", quantized_options(work)))),
        work / "q.onnx",
    )
    with pytest.raises(EdgecError, match="cannot be pruned: prune its float original"):
        compile_model(work / "q.onnx", work / "p", CompileOptions(prune="magnitude:0.5"))


def quantized_options(work) -> CompileOptions:
    return CompileOptions(quantize="int8", calib=str(work / "calib.npz"))


def test_prunable_and_clusterable_skip_depthwise():
    graph = fold(load_model(small_cnn()))
    assert [n.name for n in graph.nodes if prunable(n)] == ["conv1", "conv2", "fc", "mm"]


def test_refit_on_calibration_data_moves_only_survivors_and_cuts_the_error(rng):
    from edgec.compress.weights import prune_magnitude
    from edgec.data import Dataset

    teacher = fold(load_model(small_cnn()))
    x = np.random.default_rng(9).uniform(-2, 2, (330, *INPUT)).astype(np.float32)
    calib = Dataset({"x": x[:300]}, None, [str(i) for i in range(300)])
    plain, _ = prune_magnitude(teacher.copy(), "magnitude:0.75")
    refit, report = prune_magnitude(teacher.copy(), "magnitude:0.75", calib)
    assert report["refit_on_calibration_data"]
    for name, w in layer_weights(refit).items():
        assert np.array_equal(w == 0, layer_weights(plain)[name] == 0), name  # same zeros
    runs_like_the_reference(refit, rng)

    def error(graph):  # on samples the refit did not see
        run, ref = Interpreter(graph), Interpreter(teacher)
        return sum(
            float(np.sum((run.run({"x": s})["y"] - ref.run({"x": s})["y"]) ** 2)) for s in x[300:]
        )

    # random weights and inputs leave the survivors little to exploit (real models gain
    # more: mnist-8 at 80 % sparsity keeps its accuracy only with the refit, bench/)
    assert error(refit) < 0.9 * error(plain)


@needs_tools("qemu-system-arm", "arm-none-eabi-gcc")
def test_compact_layers_on_the_emulated_cortex_m4_are_bit_exact(model_and_data):
    """Pruned (sparse storage) and clustered (4-bit) builds: the firmware links, is smaller,
    and the device answers as the integer reference does."""
    work = model_and_data
    common = dict(quantize="int8", calib=str(work / "calib.npz"), force=True, target="mps2-an386")
    builds = {
        "dense": CompileOptions(prune="magnitude:0.85", weight_storage="dense", **common),
        # "small": compact wherever it saves flash ("auto" keeps dense where that runs faster)
        "sparse": CompileOptions(prune="magnitude:0.85", weight_storage="small", **common),
        "clustered": CompileOptions(cluster="4", weight_storage="small", **common),
    }
    reports = {}
    for name, options in builds.items():
        result = compile_model(work / "small.onnx", work / f"fw_{name}", options)
        kinds = {s["storage"] for s in result.manifest.weight_storage}
        assert kinds == ({"dense"} if name == "dense" else {name}), (name, kinds)
        reports[name] = validate(
            result.out_dir, ValidateOptions(data=str(work / "data.npz"), device="emulator")
        )
        assert reports[name]["bit_exact"] == reports[name]["samples"] == 8
    flash = {name: r["memory"]["flash_bytes"] for name, r in reports.items()}
    assert flash["sparse"] < flash["dense"], flash


def test_bad_compression_options_are_one_line_errors(model_and_data, capsys):
    from edgec.cli import main

    work = model_and_data
    for option in (["--prune", "magnitude:1.2"], ["--cluster", "32"]):
        code = main(["compile", str(work / "small.onnx"), "-o", str(work / "bad"), *option])
        err = capsys.readouterr().err
        assert code != 0 and err.count("\n") == 1 and err.startswith("edgec: error: --")


def test_table_refit_lowers_the_output_error_over_the_input_covariance():
    from edgec.passes.weight_clustering import cluster_rows, refit_table

    rng = np.random.default_rng(4)
    rows = rng.integers(-127, 128, (12, 40)).astype(np.int8)
    rows[:, :8] = 0  # pruned inputs: the zero centre must stay
    mix = rng.normal(size=(40, 40))
    covariance = mix @ mix.T / 40 + np.diag(rng.uniform(0, 5, 40))  # correlated inputs
    scales = rng.uniform(0.5, 2.0, 12)
    kmeans = cluster_rows(rows, np.ones(rows.shape), 6, "layer")
    refit = refit_table(rows, kmeans, scales, covariance)

    def error(c):
        d = (c.astype(np.float64) - rows) * scales[:, None]
        return float(np.einsum("ok,kl,ol->", d, covariance, d))

    assert np.unique(refit).size <= 6 and 0 in np.unique(refit)
    assert np.all(refit[:, :8] == 0)
    assert error(refit) < error(kmeans)
