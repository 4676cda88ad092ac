"""Pre-quantized (QDQ) models lowered to the integer IR reproduce TFLite Micro bit for bit.

References are independent of edgec: ``tflm_int8_outputs.npy`` (TFLite Micro on kws01),
``litert_xnnpack_int8_outputs.npy`` (LiteRT + XNNPACK), and the ``.tflite`` originals run
in the ``tflite-micro`` interpreter on seeded random inputs.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edgec.errors import UnsupportedOpError
from edgec.frontend import load_model
from edgec.interp import Interpreter
from edgec.ir import to_onnx
from edgec.passes import fold
from edgec.quantize.export import to_qdq
from edgec.quantize.qdq import lower_qdq
from tests.conftest import shared_path

INT8_MODELS = {
    "kws": ("kws_dscnn/kws_ref_model_int8_qdq.onnx", "kws_dscnn/kws_ref_model.tflite"),
    "ic": (
        "ic_resnet8/pretrainedResnet_quant_int8_qdq.onnx",
        "ic_resnet8/pretrainedResnet_quant.tflite",
    ),
    "vww": ("vww_mobilenet/vww_96_int8_qdq.onnx", "vww_mobilenet/vww_96_int8.tflite"),
    "ad": ("ad_autoencoder/ad01_int8_qdq.onnx", "ad_autoencoder/ad01_int8.tflite"),
    "hello": (
        "hello_world_sine/hello_world_int8_qdq.onnx",
        "hello_world_sine/hello_world_int8.tflite",
    ),
}


def integer_graph(path):
    return fold(lower_qdq(fold(load_model(path))))


def kws_samples() -> np.ndarray:
    folder = shared_path("data", "kws01")
    files = sorted(folder.glob("*.bin"))
    return np.stack([np.fromfile(f, dtype=np.int8).reshape(1, 1, 49, 10) for f in files])


@pytest.fixture(scope="module")
def kws_graph():
    return integer_graph(shared_path("models", INT8_MODELS["kws"][0]))


@pytest.mark.parametrize("name", sorted(INT8_MODELS))
def test_lowering_leaves_no_float_compute(name):
    graph = integer_graph(shared_path("models", INT8_MODELS[name][0]))
    for node in graph.nodes:
        assert node.op_type not in ("QuantizeLinear", "DequantizeLinear"), node
        assert node.outputs[0].quant is not None, node
        assert np.issubdtype(node.outputs[0].dtype, np.integer)


@pytest.mark.parametrize(
    ("rounding", "reference"),
    [("tflm", "tflm_int8_outputs.npy"), ("litert", "litert_xnnpack_int8_outputs.npy")],
)
def test_kws_all_samples_match_reference_runtime(kws_graph, rounding, reference):
    expected = np.load(shared_path("data", "kws01", reference))
    samples = kws_samples()
    run = Interpreter(kws_graph, rounding)
    name = kws_graph.inputs[0].name
    out = np.stack([run.run({name: x})[kws_graph.outputs[0].name].reshape(-1) for x in samples])
    assert out.shape == expected.shape == (1000, 12)
    mismatched = np.flatnonzero(np.any(out != expected, axis=1))
    assert mismatched.size == 0, f"{mismatched.size} samples differ, first {mismatched[:5]}"


@pytest.mark.parametrize("name", ["ic", "vww", "ad", "hello"])
def test_int8_models_match_tflite_micro(name):
    from tflite_micro.python.tflite_micro import runtime

    onnx_path, tflite_path = INT8_MODELS[name]
    graph = integer_graph(shared_path("models", onnx_path))
    tflm = runtime.Interpreter.from_file(str(shared_path("models", tflite_path)))
    shape = tuple(tflm.get_input_details(0)["shape"])
    run = Interpreter(graph)
    rng = np.random.default_rng(7)
    count = 100 if name != "vww" else 40
    for i in range(count):
        x = rng.integers(-128, 128, size=shape, dtype=np.int8)
        tflm.set_input(x, 0)
        tflm.invoke()
        expected = tflm.get_output(0).reshape(-1)
        ours_in = np.transpose(x, (0, 3, 1, 2)) if x.ndim == 4 else x
        got = run.run({graph.inputs[0].name: ours_in.reshape(graph.inputs[0].shape)})
        assert np.array_equal(got[graph.outputs[0].name].reshape(-1), expected), f"input {i}"


@pytest.mark.parametrize("name", sorted(INT8_MODELS))
def test_qdq_export_round_trip_is_exact(name, rng):
    import onnxruntime as ort

    graph = integer_graph(shared_path("models", INT8_MODELS[name][0]))
    model = to_onnx(to_qdq(graph))
    onnx.checker.check_model(model)
    ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    again = fold(lower_qdq(fold(load_model(model))))
    a, b = Interpreter(graph), Interpreter(again)
    x0 = graph.inputs[0]
    for _ in range(5):
        x = rng.integers(-128, 128, size=x0.shape).astype(x0.dtype)
        assert np.array_equal(
            a.run({x0.name: x})[graph.outputs[0].name], b.run({x0.name: x})[again.outputs[0].name]
        )


def test_dynamic_quantization_is_named_in_one_error():
    """Ops whose quantization is computed at run time have no static lowering (QOperator
    ops do: tests/test_onnxruntime_models.py)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    weights = helper.make_tensor("w", TensorProto.INT8, [4, 4], list(range(16)))
    nodes = [
        helper.make_node("DynamicQuantizeLinear", ["x"], ["q", "qs", "qz"], name="dq1"),
        helper.make_node("MatMulInteger", ["q", "w", "qz"], ["m"], name="mm1"),
        helper.make_node("Cast", ["m"], ["y"], to=TensorProto.FLOAT),
    ]
    model = helper.make_model(
        helper.make_graph(nodes, "dynamic", [x], [y], [weights]),
        opset_imports=[helper.make_opsetid("", 13)],
    )
    with pytest.raises(UnsupportedOpError) as err:
        lower_qdq(load_model(model))
    message = str(err.value)
    assert "DynamicQuantizeLinear" in message and "MatMulInteger" in message
    assert "'mm1'" in message and "dynamic quantization" in message
    assert "\n" not in message
