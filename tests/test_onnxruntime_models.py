"""Models quantized by onnxruntime (``quantize_static``, QDQ and QOperator formats) compiled
with ``--rounding float`` reproduce onnxruntime's outputs element for element, on the host
build of the generated C and in the reference executor.

The graphs are small float models covering every QOperator op (QLinearConv, QLinearMatMul,
QGemm, QLinearAdd, QLinearMul, QLinearAveragePool, QLinearGlobalAveragePool, QLinearConcat,
QLinearSigmoid, QLinearLeakyRelu, QLinearSoftmax) and the shared MLPerf Tiny float models.
onnxruntime runs with ``session.qdqisint8allowed=1``: its int8 kernels, as on Arm (on x86 it
otherwise converts an int8 QDQ model to uint8, which moves the zero point inside a few float
roundings); QOperator models run the int8 kernels either way.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnx.version_converter
import onnxruntime as ort
import pytest
from conftest import shared_path
from onnx import TensorProto, helper, numpy_helper

from edgec.compiler import CompileOptions, compile_model
from edgec.frontend import load_model
from edgec.harness.validate import ValidateOptions, validate
from edgec.interp import Interpreter
from edgec.passes import fold
from edgec.quantize.qdq import lower_and_fold

FORMATS = ["qdq", "qoperator"]


def onnxruntime_session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.add_session_config_entry("session.qdqisint8allowed", "1")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def ort_quantize(source: Path, target: Path, samples: np.ndarray, fmt: str, per_channel: bool):
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    name = onnx.load(str(source)).graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{name: x} for x in samples])

        def get_next(self):
            return next(self.items, None)

    quantize_static(
        str(source),
        str(target),
        Reader(),
        quant_format=QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
        per_channel=per_channel,
    )
    return target


def weights(rng, name, *shape, scale=0.3):
    return numpy_helper.from_array((rng.normal(size=shape) * scale).astype(np.float32), name)


def every_op_model(path: Path, rng) -> Path:
    """Conv+Relu, LeakyRelu, Sigmoid, Mul, Add, AveragePool, MaxPool, Concat,
    GlobalAveragePool, Gemm, Softmax; and a MatMul branch."""
    n = helper.make_node
    nodes = [
        n("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        n("Relu", ["c1"], ["r1"]),
        n("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
        n("LeakyRelu", ["c2"], ["l"], alpha=0.1),
        n("Sigmoid", ["c2"], ["s"]),
        n("Mul", ["l", "s"], ["m"]),
        n("Add", ["m", "r1"], ["a"]),
        n("AveragePool", ["a"], ["ap"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        n("MaxPool", ["a"], ["mp"], kernel_shape=[2, 2], strides=[2, 2]),
        n("Concat", ["ap", "mp"], ["cat"], axis=1),
        n("GlobalAveragePool", ["cat"], ["g"]),
        n("Flatten", ["g"], ["f"]),
        n("Gemm", ["f", "wg", "bg"], ["logits"], transB=1),
        n("Softmax", ["logits"], ["y"], axis=-1),
        n("MatMul", ["x", "wm"], ["z"]),
    ]
    inits = [
        weights(rng, "w1", 8, 4, 3, 3),
        weights(rng, "b1", 8, scale=0.1),
        weights(rng, "w2", 8, 8, 3, 3, scale=0.15),
        weights(rng, "b2", 8, scale=0.1),
        weights(rng, "wg", 10, 16),
        weights(rng, "bg", 10, scale=0.1),
        weights(rng, "wm", 8, 5),
    ]
    graph = helper.make_graph(
        nodes,
        "every_op",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10]),
            helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 4, 8, 5]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def check_against_onnxruntime(model: Path, inputs: np.ndarray, tmp_path: Path) -> None:
    """The C host build and the reference executor (rounding float) equal onnxruntime."""
    session = onnxruntime_session(model)
    name = session.get_inputs()[0].name
    expected = [session.run(None, {name: x}) for x in inputs]
    graph = lower_and_fold(fold(load_model(model)))
    reference = Interpreter(graph, "float")
    for x, want in zip(inputs, expected):
        got = reference.run({graph.inputs[0].name: x})
        for value, array in zip(graph.outputs, want):
            np.testing.assert_array_equal(got[value.name].reshape(array.shape), array)
    out = tmp_path / "out"
    compile_model(model, out, CompileOptions(rounding="float"))
    np.savez(tmp_path / "data.npz", **{name: inputs})
    saved = tmp_path / "device.npy"
    options = ValidateOptions(
        data=str(tmp_path / "data.npz"), device="host", save_outputs=str(saved)
    )
    report = validate(out, options)
    assert report["vs_reference_tolerance"]["samples_within"] == len(inputs)
    device = np.load(saved).reshape(len(inputs), -1)
    wanted = np.stack([np.concatenate([a.reshape(-1) for a in w]) for w in expected])
    np.testing.assert_array_equal(device, wanted)  # bit for bit, float outputs included


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("per_channel", [False, True])
def test_every_qoperator_op_matches_onnxruntime(fmt, per_channel, tmp_path, rng):
    source = every_op_model(tmp_path / "float.onnx", rng)
    calib = rng.normal(size=(16, 1, 4, 8, 8)).astype(np.float32)
    quantized = ort_quantize(source, tmp_path / "q.onnx", calib, fmt, per_channel)
    ops = {node.op_type for node in onnx.load(str(quantized)).graph.node}
    if fmt == "qoperator":
        assert {"QLinearConv", "QLinearMatMul", "QGemm", "QLinearAdd", "QLinearMul"} <= ops
        assert {"QLinearAveragePool", "QLinearGlobalAveragePool", "QLinearConcat"} <= ops
        assert {"QLinearSigmoid", "QLinearLeakyRelu", "QLinearSoftmax"} <= ops
    inputs = (rng.normal(size=(24, 1, 4, 8, 8)) * 1.5).astype(np.float32)
    check_against_onnxruntime(quantized, inputs, tmp_path)


def kws_float_inputs(count: int) -> np.ndarray:
    """KWS samples as the float model takes them: (q - 83) * 0.5847029."""
    files = sorted(shared_path("data", "kws01").glob("*.bin"))[:count]
    q = np.stack([np.fromfile(f, dtype=np.int8).reshape(1, 1, 49, 10) for f in files])
    return ((q.astype(np.float32) - 83) * np.float32(0.5847029089927673)).astype(np.float32)


SHARED = {
    "kws": ("kws_dscnn", "kws_ref_model_float32.onnx"),
    "ic": ("ic_resnet8", "pretrainedResnet.onnx"),
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", sorted(SHARED))
def test_shared_models_quantized_by_onnxruntime(name, fmt, tmp_path, rng):
    source = shared_path("models", *SHARED[name])
    if name == "kws":
        data = kws_float_inputs(60)
        calib, test = data[:30], data[30:]
    else:
        shape = [
            d.dim_value for d in onnx.load(str(source)).graph.input[0].type.tensor_type.shape.dim
        ]
        data = rng.uniform(0, 255, size=(36, *shape)).astype(np.float32)
        calib, test = data[:16], data[16:]
    # per-channel quantization needs opset 13 (the shared models are opset 11)
    upgraded = tmp_path / "opset13.onnx"
    onnx.save(onnx.version_converter.convert_version(onnx.load(str(source)), 13), str(upgraded))
    quantized = ort_quantize(upgraded, tmp_path / "q.onnx", calib, fmt, per_channel=True)
    check_against_onnxruntime(quantized, test, tmp_path)
