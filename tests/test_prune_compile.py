"""Compression through ``compile``: int8 C bit-exact with the integer reference, the graph
in TVM, ``compression.json``, the command line's errors, and KWS pruned for real."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import needs_tools, shared_path
from prune_graphs import correlated_samples, depthwise, mlp_graph, residual

from edgec.cli import main
from edgec.compiler import CompileOptions, compile_model
from edgec.frontend import load_model
from edgec.harness.validate import ValidateOptions, validate
from edgec.interp import Interpreter
from edgec.ir import save_onnx, to_onnx


def write_data(path, data) -> str:
    (name,) = data.inputs
    np.savez(path, x=data.inputs[name])
    return str(path)


@pytest.mark.parametrize(
    ("build", "extra"),
    [
        (residual, {"prune": "channels:0.5"}),
        (depthwise, {"prune": "channels:0.25", "lowrank": "rank:2"}),
        (mlp_graph, {"lowrank": "energy:0.95"}),
        # 4-bit weights: optimized rounding aiming at the model before compression
        (residual, {"prune": "channels:0.5", "weight_bits": 4}),
        # tiled by default, two outputs written over one input: the block layout refused
        (depthwise, {"prune": "channels:0.25", "lowrank": "rank:2", "weight_bits": 4}),
    ],
    ids=[
        "residual-prune",
        "depthwise-prune-lowrank",
        "mlp-lowrank",
        "residual-prune-4bit",
        "depthwise-prune-lowrank-4bit",
    ],
)
def test_compressed_int8_c_is_bit_exact_with_the_integer_reference(tmp_path, build, extra):
    graph = build()
    model = tmp_path / "model.onnx"
    save_onnx(graph, model)
    calib = write_data(tmp_path / "calib.npz", correlated_samples(graph, 48, seed=1))
    test = write_data(tmp_path / "test.npz", correlated_samples(graph, 20, seed=2))
    options = CompileOptions(quantize="int8", calib=calib, **extra)
    result = compile_model(model, tmp_path / "out", options)
    report = json.loads((result.out_dir / "compression.json").read_text())
    totals = report["totals"]
    assert totals["params"][1] < totals["params"][0]
    first = report["passes"][0]["layers"]
    assert any(r["params"][1] is not None and r["params"][1] < r["params"][0] for r in first)
    assert sum(r["macs"][1] or 0 for r in report["passes"][-1]["layers"]) == totals["macs"][1]
    assert totals["macs"][1] < totals["macs"][0]
    assert [p["pass"].split()[0] for p in report["passes"]] == [
        k.replace("_", "-") for k in ("prune", "lowrank") if k in extra
    ]
    checked = validate(result.out_dir, ValidateOptions(data=test, device="host", progress=False))
    assert checked["bit_exact"] == checked["samples"] == 20


@needs_tools("qemu-system-arm", "arm-none-eabi-gcc")
def test_pruned_int8_model_is_bit_exact_on_the_emulated_board(tmp_path):
    graph = depthwise()
    model = tmp_path / "model.onnx"
    save_onnx(graph, model)
    calib = write_data(tmp_path / "calib.npz", correlated_samples(graph, 32, seed=1))
    test = write_data(tmp_path / "test.npz", correlated_samples(graph, 5, seed=2))
    options = CompileOptions(quantize="int8", calib=calib, prune="channels:0.5")
    result = compile_model(model, tmp_path / "out", options)
    checked = validate(
        result.out_dir, ValidateOptions(data=test, device="emulator", progress=False)
    )
    assert checked["bit_exact"] == checked["samples"] == 5


@pytest.mark.parametrize(
    ("build", "args"),
    [
        (residual, ["--prune", "channels:0.5"]),
        (mlp_graph, ["--lowrank", "rank:6"]),
        (depthwise, ["--prune", "magnitude:0.5"]),
    ],
    ids=["channels", "lowrank", "magnitude"],
)
def test_compressed_graph_compiles_through_tvm_unchanged_in_numerics(tmp_path, build, args):
    """``--backend tvm`` runs the compressed graph as the reference executor and onnxruntime
    do (within the TVM backend's float bound), through ``edgec validate`` on this computer."""
    from tvm_helpers import ATOL, RTOL, onnxruntime_outputs, validate_cli

    graph = build()
    model = tmp_path / "model.onnx"
    save_onnx(graph, model)
    calib = write_data(tmp_path / "calib.npz", correlated_samples(graph, 32, seed=1))
    test = correlated_samples(graph, 10, seed=2)
    data = write_data(tmp_path / "test.npz", test)
    out = tmp_path / "out"
    command = ["compile", str(model), "-o", str(out), "--backend", "tvm", "--target", "host"]
    assert main([*command, "--calib", calib, *args]) == 0
    assert (out / ("pruning.json" if "magnitude" in args[1] else "compression.json")).is_file()
    status, report, saved = validate_cli(out, data, "host")
    assert status == 0, report.get("error")
    assert report["vs_graph_tolerance"]["samples_within"] == 10
    # independently: the graph edgec handed to TVM, in onnxruntime and in the reference executor
    (name,) = test.inputs
    expected = onnxruntime_outputs(out / "reference.onnx", {name: test.inputs[name]})
    device = np.load(saved).reshape(expected.shape)
    np.testing.assert_allclose(device, expected, rtol=RTOL, atol=ATOL)
    compressed = load_model(out / "reference.onnx")
    want = np.stack(
        [Interpreter(compressed).run(test.sample(i))[compressed.outputs[0].name] for i in range(10)]
    )
    np.testing.assert_allclose(device, want.reshape(expected.shape), rtol=RTOL, atol=ATOL)


def test_clustered_int8_graph_runs_through_tvm_as_its_qdq_graph(tmp_path):
    """``--cluster`` changes int8 weights only: TVM runs the clustered QDQ graph within one
    output LSB of onnxruntime on that graph (edgec validate's verdict for quantized builds)."""
    from tvm_helpers import validate_cli

    graph = mlp_graph()
    model = tmp_path / "model.onnx"
    save_onnx(graph, model)
    calib = write_data(tmp_path / "calib.npz", correlated_samples(graph, 32, seed=1))
    data = write_data(tmp_path / "test.npz", correlated_samples(graph, 10, seed=2))
    out = tmp_path / "out"
    command = ["compile", str(model), "-o", str(out), "--backend", "tvm", "--target", "host"]
    assert main([*command, "--quantize", "int8", "--calib", calib, "--cluster", "4"]) == 0
    clustering = json.loads((out / "clustering.json").read_text())
    assert clustering["clusters"] == 4 and clustering["layers"]
    reference = load_model(out / "reference.onnx")
    weights = [
        n.inputs[0].const
        for n in reference.nodes
        if n.op_type == "DequantizeLinear"
        and n.inputs[0].const is not None
        and n.inputs[0].const.ndim == 2
    ]
    assert weights and all(len(np.unique(w)) <= 4 for w in weights)
    status, report, _ = validate_cli(out, data, "host")
    assert status == 0, report.get("error")
    assert report["samples"] == 10 and report["max_lsb_vs_qdq_onnxruntime"] <= 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prune", "blocks:0.5", "--calib", "CALIB"], "unknown prune spec"),
        (["--prune", "channels:1.5", "--calib", "CALIB"], "RATIO must be in"),
        (["--prune", "channels:0.5"], "needs calibration data"),
        (["--lowrank", "energy:2", "--calib", "CALIB"], "--lowrank"),
        (["--prune", "channels:0.5", "--prune-budget", "1", "--calib", "CALIB"], "not both"),
    ],
)
def test_command_line_errors_are_one_clear_line(tmp_path, capsys, args, message):
    graph = depthwise()
    model = tmp_path / "model.onnx"
    save_onnx(graph, model)
    calib = write_data(tmp_path / "calib.npz", correlated_samples(graph, 8))
    args = [calib if a == "CALIB" else a for a in args]
    status = main(["compile", str(model), "-o", str(tmp_path / "out"), *args])
    err = capsys.readouterr().err
    assert status != 0
    assert err.count("\n") == 1 and err.startswith("edgec: error:") and message in err
    assert not (tmp_path / "out").exists()


def test_kws_pruned_lightly_keeps_its_answers(tmp_path):
    """KWS at 1/8 of the channels: ≥ 15 % fewer MACs; top-1 agreement with the float model
    on held-out samples stays high; the int8 C build is bit-exact."""
    model = shared_path("models", "kws_dscnn", "kws_ref_model_float32.onnx")
    folder = shared_path("data", "kws01")
    raw = np.stack([np.fromfile(f, np.int8) for f in sorted(folder.glob("*.bin"))[:260]])
    x = ((raw.astype(np.float32) - 83) * np.float32(0.5847029089927673)).reshape(-1, 1, 49, 10)
    np.savez(tmp_path / "calib.npz", x=x[:200])
    np.savez(tmp_path / "test.npz", x=x[200:])
    options = CompileOptions(
        quantize="int8", calib=str(tmp_path / "calib.npz"), prune="channels:0.125"
    )
    result = compile_model(model, tmp_path / "out", options)
    totals = result.reports["compression"]["totals"]
    assert totals["macs"][1] <= 0.85 * totals["macs"][0]
    checked = validate(
        result.out_dir,
        ValidateOptions(data=str(tmp_path / "test.npz"), device="host", progress=False),
    )
    assert checked["bit_exact"] == checked["samples"] == 60
    assert checked["agreement"] >= 0.9


def test_resnet8_residual_groups_prune_to_a_valid_graph():
    """ResNet-8's residual Adds tie the convs on each side of a skip into one group: pruned
    together, the graph still runs in onnxruntime exactly like the reference executor."""
    from onnx_cases import run_ort

    from edgec.analysis import analyze_graph
    from edgec.data import Dataset
    from edgec.frontend import load_model
    from edgec.passes import fold
    from edgec.passes.channel_groups import prunable_groups
    from edgec.passes.channel_prune import ChannelPrune

    graph = fold(load_model(shared_path("models", "ic_resnet8", "pretrainedResnet.onnx")))
    assert any(len(g.producers) > 1 for g in prunable_groups(graph))  # a residual group
    rng = np.random.default_rng(5)
    name = graph.inputs[0].name
    x = rng.uniform(0, 255, (8, *graph.inputs[0].shape)).astype(np.float32)
    data = Dataset({name: x}, None, [f"s{i}" for i in range(8)])
    before = analyze_graph(graph).totals.macs
    ChannelPrune(data, 0.25).run(graph)
    assert analyze_graph(graph).totals.macs < 0.75 * before
    feeds = data.sample(0)
    want = Interpreter(graph).run(feeds)[graph.outputs[0].name]
    np.testing.assert_allclose(run_ort(to_onnx(graph), feeds)[0], want, rtol=1e-4, atol=1e-6)
