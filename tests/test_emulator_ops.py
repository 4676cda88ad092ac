"""The kernels issue 15 added, on an emulated Cortex-M4 (mps2-an386, QEMU): one small model
chaining them (ConvTranspose, ceil-mode AveragePool counting pads, bilinear Resize, Abs, Sum,
reflect Pad, SpaceToDepth, ReduceMean keepdims=0, Erf, Where, Max, ArgMax) compiled for the
board with its default (optimized) kernels, float and int8, validated over the serial
protocol: int8 bit-exact with edgec's integer reference, float within rtol 1e-4, atol 1e-5
of onnxruntime. The host builds of the same ops are tested per op in test_c_*_ops.py."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper
from onnx_cases import make_model, run_ort

from edgec.compiler import CompileOptions, compile_model
from edgec.harness.validate import ValidateOptions, validate
from tests.conftest import needs_tools

pytestmark = needs_tools("qemu-system-arm", "arm-none-eabi-gcc")
SAMPLES = 3
SHAPE = (1, 4, 8, 8)


def chained_model():
    rng = np.random.default_rng(15)

    def weights(*shape):
        return rng.normal(0, 0.4, shape).astype(np.float32)

    node = helper.make_node
    nodes = [
        node("Conv", ["x", "w1", "b1"], ["a"], pads=[1, 1, 1, 1]),
        node(
            "ConvTranspose",
            ["a", "w2", "b2"],
            ["t"],
            strides=[2, 2],
            pads=[1, 1, 1, 1],
            output_padding=[1, 1],
        ),
        node(
            "AveragePool",
            ["t"],
            ["p"],
            kernel_shape=[3, 3],
            strides=[2, 2],
            pads=[1, 1, 1, 1],
            ceil_mode=1,
            count_include_pad=1,
        ),
        node("Resize", ["p", "", "", "sizes"], ["r"], mode="linear"),
        node("Abs", ["r"], ["ab"]),
        node("Sum", ["r", "ab", "r"], ["s"]),
        node("Pad", ["s", "pads"], ["pd"], mode="reflect"),
        node("SpaceToDepth", ["pd"], ["sd"], blocksize=2),
        node("ReduceMean", ["sd", "axes"], ["m"], keepdims=0),
        node("Erf", ["m"], ["e"]),
        node("Where", ["cond", "m", "e"], ["wh"]),
        node("Max", ["wh", "m"], ["y"]),
        node("ArgMax", ["y"], ["idx"], axis=1),
    ]
    constants = {
        "w1": weights(8, 4, 3, 3),
        "b1": weights(8),
        "w2": weights(8, 6, 3, 3),
        "b2": weights(6),
        "sizes": np.array([1, 6, 12, 12], np.int64),
        "pads": np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64),
        "axes": np.array([2, 3], np.int64),
        "cond": rng.integers(0, 2, 24).astype(bool),
    }
    return make_model(nodes, {"x": np.zeros(SHAPE, np.float32)}, ["y", "idx"], constants, 18)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ops")
    path = folder / "chained.onnx"
    path.write_bytes(chained_model().SerializeToString())
    rng = np.random.default_rng(3)
    np.savez(folder / "data.npz", x=rng.standard_normal((SAMPLES, *SHAPE)).astype(np.float32))
    np.savez(folder / "calib.npz", x=rng.standard_normal((16, *SHAPE)).astype(np.float32))
    return path, folder


def run_on_emulator(out, data, saved) -> dict:
    options = ValidateOptions(
        str(data), device="emulator", samples=SAMPLES, save_outputs=str(saved), progress=False
    )
    return validate(out, options)


def test_int8_kernels_on_the_board_equal_the_reference(model):
    path, folder = model
    options = CompileOptions(quantize="int8", calib=str(folder / "calib.npz"))
    result = compile_model(path, folder / "int8", options)
    report = run_on_emulator(result.out_dir, folder / "data.npz", folder / "int8.npy")
    assert report["samples"] == SAMPLES and report["bit_exact"] == SAMPLES


def test_float_kernels_on_the_board_match_onnxruntime(model):
    path, folder = model
    result = compile_model(path, folder / "float", CompileOptions())
    report = run_on_emulator(result.out_dir, folder / "data.npz", folder / "float.npy")
    assert report["samples"] == SAMPLES
    got = np.load(folder / "float.npy")  # per sample: y (24 values), then idx
    for sample, x in zip(got, np.load(folder / "data.npz")["x"]):
        y, idx = run_ort(path, {"x": x})
        np.testing.assert_allclose(sample[:24], y.reshape(-1), rtol=1e-4, atol=1e-5)
        assert int(sample[24]) == int(idx.reshape(-1)[0])
