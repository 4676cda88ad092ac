"""LSTM/GRU through edgec's passes and quantizer: the exporters' patterns folded, PTQ in
int8, 16x8 and auto, the QDQ round trip of reference.onnx, accuracy against the float model,
and the stateful build's checks and host run."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx_cases import run_ort
from recurrent_cases import multi_model, recurrent_case

from edgec.compiler import CompileOptions, compile_model, prepare_graph
from edgec.data import Dataset
from edgec.errors import EdgecError
from edgec.frontend import load_model
from edgec.harness.validate import ValidateOptions, validate
from edgec.interp import Interpreter, quantized_feeds
from edgec.ir import to_onnx
from edgec.metrics import snr_db
from edgec.passes import fold
from edgec.quantize.export import to_qdq
from edgec.quantize.ptq import PTQConfig, quantize_float_graph
from edgec.quantize.qdq import load_reference_graph

ZOO = "tests/zoo/models"
EXPORTS = ("legacy13", "legacy17", "dynamo")


@pytest.mark.parametrize("export", EXPORTS)
@pytest.mark.parametrize("name", ["kws_lstm", "kws_gru", "kws_bilstm", "imu_gru"])
def test_exporter_patterns_fold_away(name, export):
    graph = fold(load_model(f"{ZOO}/{name}.{export}.onnx"))
    ops = [n.op_type for n in graph.nodes]
    assert not set(ops) & {
        "Shape",
        "Expand",
        "Concat",
        "Slice",
        "Unsqueeze",
        "Squeeze",
        "Transpose",
    }
    (node,) = [n for n in graph.nodes if n.op_type in ("LSTM", "GRU")]
    assert all(v is None or not v.is_const or v.const.any() for v in node.inputs[5:7])
    if name == "kws_bilstm":  # the reverse direction's last step is not its final state
        assert ops == ["Reshape", "LSTM", "Reshape", "Gather", "Gemm"]
    else:  # y[:, -1] (or the final state) read from Y_h; Y itself is never stored
        assert ops == ["Reshape", node.op_type, "Reshape", "Gemm"]
        assert not node.outputs[0].users


def calibrated(name: str, count: int, seed: int = 0):
    graph = fold(load_model(f"{ZOO}/{name}.legacy17.onnx"))
    x = graph.inputs[0]
    rng = np.random.default_rng(seed)
    data = rng.standard_normal((count, *x.shape)).astype(np.float32)
    return graph, Dataset({x.name: data}, None, [str(i) for i in range(count)])


@pytest.mark.parametrize("name", ["kws_lstm", "imu_gru"])
def test_int8_close_to_float(name):
    graph, calib = calibrated(name, 64)
    model = quantize_float_graph(graph, calib, PTQConfig(mode="int8", method="percentile"))
    q, x = model.graph, graph.inputs[0]
    assert model.precision == {n.name: "int8" for n in graph.nodes if n.op_type != "Reshape"}
    flt, integer, out = Interpreter(graph), Interpreter(q), q.outputs[0]
    signal = noise = 0.0
    for sample in np.random.default_rng(1).standard_normal((24, *x.shape)).astype(np.float32):
        want = flt.run({x.name: sample})[graph.outputs[0].name].astype(np.float64)
        got = integer.run(quantized_feeds(q, {x.name: sample}))[out.name]
        real = (got.astype(np.float64) - float(out.quant.zero_point)) * float(out.quant.scale)
        signal, noise = signal + float(np.sum(want**2)), noise + float(np.sum((real - want) ** 2))
    assert snr_db(signal, noise) > 30


def test_16x8_and_auto():
    graph, calib = calibrated("kws_gru", 16)
    wide = quantize_float_graph(graph, calib, PTQConfig(mode="int16x8")).graph
    (gru,) = [n for n in wide.nodes if n.op_type == "GRU"]
    assert gru.inputs[0].dtype == np.int16 and gru.inputs[3].dtype == np.int64
    auto = quantize_float_graph(graph, calib, PTQConfig(mode="auto", sqnr_threshold_db=60.0))
    assert auto.precision["/rnn/GRU"] == "int16"
    assert auto.layer_sqnr["/rnn/GRU"] < 60


@pytest.mark.parametrize("mode", ["int8", "int16x8"])
def test_qdq_round_trip(tmp_path, mode):
    """reference.onnx (QDQ) lowers back to the same integer graph; onnxruntime runs it."""
    rng = np.random.default_rng(3)
    model, feeds = multi_model(rng, [{"op": "LSTM"}, {"op": "GRU", "linear_before_reset": 1}])
    onnx.save(model, tmp_path / "m.onnx")
    np.savez(tmp_path / "c.npz", X=rng.standard_normal((8, *feeds["X"].shape)).astype(np.float32))
    graph = prepare_graph(
        tmp_path / "m.onnx", CompileOptions(quantize=mode, calib=str(tmp_path / "c.npz"))
    )
    onnx.save(to_onnx(to_qdq(graph)), tmp_path / "ref.onnx")
    back = load_reference_graph(tmp_path / "ref.onnx")
    sample = quantized_feeds(graph, feeds)
    a, b = Interpreter(graph).run(sample), Interpreter(back).run(sample)
    for value in graph.outputs:
        np.testing.assert_array_equal(a[value.name], b[value.name])
    import onnxruntime as ort

    session = ort.InferenceSession(str(tmp_path / "ref.onnx"), providers=["CPUExecutionProvider"])
    assert len(session.run(None, sample)) == len(graph.outputs)


def test_peephole_lstm_stays_float(tmp_path):
    rng = np.random.default_rng(4)
    model, feeds = multi_model(rng, [{"op": "LSTM", "peephole": True}, {"op": "GRU"}])
    onnx.save(model, tmp_path / "m.onnx")
    np.savez(tmp_path / "c.npz", X=rng.standard_normal((8, *feeds["X"].shape)).astype(np.float32))
    graph = prepare_graph(
        tmp_path / "m.onnx", CompileOptions(quantize="int8", calib=str(tmp_path / "c.npz"))
    )
    kinds = {n.op_type: n.outputs[0].dtype for n in graph.nodes if n.op_type in ("LSTM", "GRU")}
    assert kinds == {"LSTM": np.float32, "GRU": np.int8}


# ---- stateful builds --------------------------------------------------------------------------
def one_node(tmp_path, op_type: str, **options) -> str:
    model, _ = recurrent_case(
        op_type, np.random.default_rng(8), batch=1, const_state=True, **options
    )
    onnx.save(model, tmp_path / "m.onnx")
    return str(tmp_path / "m.onnx")


@pytest.mark.parametrize(
    "case,message",
    [
        ({"direction": "bidirectional"}, "a bidirectional node needs the whole sequence"),
        ({"direction": "reverse"}, "a reverse node needs the whole sequence"),
        ({"const_state": False}, "is a model input: with --stateful"),
    ],
)
def test_stateful_refuses_what_cannot_stream(tmp_path, case, message):
    options = {"const_state": True, **case}
    const = options.pop("const_state")
    model, _ = recurrent_case(
        "GRU", np.random.default_rng(9), batch=1, const_state=const, **options
    )
    onnx.save(model, tmp_path / "m.onnx")
    with pytest.raises(EdgecError, match=f"GRU node 'gru_node'.*{message}"):
        compile_model(tmp_path / "m.onnx", tmp_path / "out", CompileOptions(stateful=True))


def test_stateful_options_are_checked(tmp_path):
    path = one_node(tmp_path, "LSTM")
    with pytest.raises(EdgecError, match="--stream-steps sets the time steps per call"):
        compile_model(path, tmp_path / "a", CompileOptions(stream_steps=1))
    with pytest.raises(EdgecError, match="--stateful builds keep their state in the C backend"):
        compile_model(path, tmp_path / "b", CompileOptions(stateful=True, backend="tvm"))


def test_stateful_float_on_the_host_carries_the_state_as_the_data_says(tmp_path):
    """Two-step calls of a 6-step LSTM; the second sample continues the first (reset False):
    its result is the reference's on the 12 steps of both."""
    path = one_node(tmp_path, "LSTM", steps=6)
    result = compile_model(path, tmp_path / "out", CompileOptions(stateful=True, stream_steps=2))
    assert result.manifest.inputs[0].shape == (2, 1, 3)
    rng = np.random.default_rng(10)
    x = rng.standard_normal((3, 6, 1, 3)).astype(np.float32)
    np.savez(tmp_path / "d.npz", X=x, reset=np.array([True, False, True]))
    saved = tmp_path / "out.npy"
    report = validate(
        result.out_dir,
        ValidateOptions(
            data=str(tmp_path / "d.npz"), device="host", sanitize=True, save_outputs=str(saved)
        ),
    )
    assert report["samples"] == 3 and report["vs_reference"]["max_abs_error"] < 1e-5
    outputs = np.load(saved)  # Y of each sample's last call: [3, 2, 1, 1, 4] flattened
    longer = onnx.load(path)  # the same LSTM over 12 steps, in onnxruntime
    longer.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 12
    for vi in longer.graph.output:
        vi.type.tensor_type.ClearField("shape")
    (y, *_) = run_ort(longer, {"X": np.concatenate([x[0], x[1]])})
    want = y[-2:].reshape(-1)
    np.testing.assert_allclose(outputs[1][: want.size], want, rtol=1e-5, atol=1e-6)
