"""LSTM and GRU in generated C, built for this computer with AddressSanitizer and UBSan.

Float kernels (portable and the packed fast-GEMM products) against onnxruntime within
rtol/atol 1e-4; integer kernels (int8 portable and fast, 16x8) against the integer reference
bit for bit; each on models of several recurrent nodes covering directions, layouts, batch
2, initial states given as constants or inputs, clip, linear_before_reset and peepholes.
The zoo's PyTorch exports: one export per model here (legacy13 and legacy17 fold to the same
graph, checked), every export on the host and on QEMU in bench/recurrent.py.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from conftest import needs_tools
from recurrent_cases import multi_model, ort_outputs

from edgec.backends.c.build import build_host, run_host
from edgec.backends.c.render import render_host_runner
from edgec.compiler import CompileOptions, compile_model
from edgec.frontend import load_model
from edgec.interp import Interpreter, quantized_feeds
from edgec.passes import fold

pytestmark = needs_tools("gcc")
ZOO = "tests/zoo/models"
FLOAT_NODES = [
    {"op": "LSTM", "initial": "const"},
    {"op": "LSTM", "direction": "reverse", "initial": "input", "peephole": True},
    {"op": "LSTM", "direction": "bidirectional", "clip": 1.2},
    {"op": "GRU", "linear_before_reset": 1, "initial": "input"},
    {"op": "GRU", "direction": "reverse", "bias": False},
    {"op": "GRU", "direction": "bidirectional", "clip": 0.8, "initial": "const"},
]
INT_NODES = [n for n in FLOAT_NODES if not n.get("peephole")] + [
    {"op": "LSTM", "direction": "reverse", "initial": "input"},
    {"op": "GRU", "direction": "bidirectional", "linear_before_reset": 1, "initial": "input"},
]


def build(model_path, work, options: CompileOptions):
    """Compile, then build the sanitized host runner; (result, executable)."""
    result = compile_model(model_path, work / "out", options)
    runner = work / "host_runner.c"
    runner.write_text(render_host_runner(result.manifest))
    return result, build_host(result.out_dir, runner, work / "host", sanitize=True)


def run_built(result, exe, samples: list[dict]) -> list[list[np.ndarray]]:
    specs = [(np.dtype(p.dtype), tuple(p.shape)) for p in result.manifest.outputs]
    order = [p.name for p in result.manifest.inputs]
    return run_host(exe, [[s[name] for name in order] for s in samples], specs)


@pytest.mark.parametrize("layout,kernels", [(0, "optimized"), (1, "portable")])
def test_float_kernels_match_onnxruntime(tmp_path, layout, kernels):
    rng = np.random.default_rng(11 + layout)
    model, feeds = multi_model(rng, FLOAT_NODES, layout)
    onnx.save(model, tmp_path / "model.onnx")
    result, exe = build(tmp_path / "model.onnx", tmp_path, CompileOptions(kernels=kernels))
    samples = [{k: rng.standard_normal(v.shape).astype(np.float32) for k, v in feeds.items()}]
    samples.append(feeds)
    for sample, outs in zip(samples, run_built(result, exe, samples)):
        for spec, got, want in zip(result.manifest.outputs, outs, ort_outputs(model, sample)):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, err_msg=spec.name)


@pytest.mark.parametrize(
    "layout,mode,kernels",
    [(0, "int8", "optimized"), (1, "int8", "portable"), (0, "int16x8", "auto")],
)
def test_integer_kernels_bit_exact(tmp_path, layout, mode, kernels):
    rng = np.random.default_rng(21 + layout)
    model, feeds = multi_model(rng, INT_NODES, layout)
    onnx.save(model, tmp_path / "model.onnx")
    calib = {k: rng.standard_normal((16, *v.shape)).astype(np.float32) for k, v in feeds.items()}
    np.savez(tmp_path / "calib.npz", **calib)
    options = CompileOptions(quantize=mode, calib=str(tmp_path / "calib.npz"), kernels=kernels)
    result, exe = build(tmp_path / "model.onnx", tmp_path, options)
    graph = result.graph
    assert {n.op_type for n in graph.nodes if n.outputs[0].quant is not None} >= {"LSTM", "GRU"}
    samples = [
        quantized_feeds(
            graph, {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in feeds.items()}
        )
        for _ in range(3)
    ]
    reference = Interpreter(graph)
    for sample, outs in zip(samples, run_built(result, exe, samples)):
        want = reference.run(sample)
        for spec, got in zip(result.manifest.outputs, outs):
            np.testing.assert_array_equal(got, want[spec.name], err_msg=spec.name)


@pytest.mark.parametrize("name", ["kws_lstm", "kws_gru", "kws_bilstm", "imu_gru"])
def test_zoo_legacy_exports_fold_alike(name):
    a, b = (fold(load_model(f"{ZOO}/{name}.legacy{v}.onnx")) for v in (13, 17))
    assert [(n.op_type, n.attrs) for n in a.nodes] == [(n.op_type, n.attrs) for n in b.nodes]
    for x, y in zip(a.constants(), b.constants()):
        np.testing.assert_array_equal(x.const, y.const)


# one export per model here, alternating between the float and the int8 build
ZOO_CASES = [
    ("kws_lstm", "legacy17", "dynamo"),
    ("kws_gru", "dynamo", "legacy17"),
    ("kws_bilstm", "legacy13", "dynamo"),
    ("imu_gru", "dynamo", "legacy13"),
]


@pytest.mark.parametrize("name,float_export,int_export", ZOO_CASES)
def test_zoo_float_and_int8(tmp_path, name, float_export, int_export):
    rng = np.random.default_rng(len(name))
    path = f"{ZOO}/{name}.{float_export}.onnx"
    (tmp_path / "f").mkdir()
    result, exe = build(path, tmp_path / "f", CompileOptions())
    spec = result.manifest.inputs[0]
    samples = [{spec.name: rng.standard_normal(spec.shape).astype(np.float32)} for _ in range(4)]
    for sample, outs in zip(samples, run_built(result, exe, samples)):
        want = ort_outputs(onnx.load(path), sample)[0]
        np.testing.assert_allclose(outs[0], want, rtol=1e-4, atol=1e-4)
    path = f"{ZOO}/{name}.{int_export}.onnx"
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal((16, *spec.shape)).astype(np.float32))
    (tmp_path / "q").mkdir()
    options = CompileOptions(quantize="int8", calib=str(tmp_path / "calib.npz"))
    result, exe = build(path, tmp_path / "q", options)
    graph = result.graph
    reference = Interpreter(graph)
    samples = [quantized_feeds(graph, s) for s in samples]
    for sample, outs in zip(samples, run_built(result, exe, samples)):
        np.testing.assert_array_equal(outs[0], reference.run(sample)[graph.outputs[0].name])
