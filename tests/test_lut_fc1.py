"""Clustered fully connected layers on one row (``--cluster 16``, stored clustered), four
channels per pass (fast_lut_fc1.c): every layer of a small MLP takes the kernel, its code
bytes decode back to the layer's weights, and the host build (sanitizers, the C form) and
the emulated Cortex-M4F (the assembly) are bit-exact with the integer reference. The
layers' reduction lengths cover a partial last group of eight (k 20, 36), one group (k 8)
and group counts of every remainder mod 4 (the unrolled loop's entry points). After a
clustered convolution (fast_int4_gemm.c's table loops linked) a one-row layer takes those
loops instead, without this kernel's code."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgec.backends.c.emit_lut import code_bytes
from edgec.compiler import CompileOptions, compile_model
from edgec.harness.validate import ValidateOptions, validate
from tests.conftest import needs_tools

# (in, out) of each Gemm: groups of eight k 3, 3, 1, 5, 2
LAYERS = ((20, 24), (24, 8), (8, 36), (36, 16), (16, 4))


def mlp() -> onnx.ModelProto:
    rng = np.random.default_rng(3)
    inits, nodes, x = [], [], "x"
    for i, (k, n) in enumerate(LAYERS):
        w, b = rng.normal(0, 0.4, (n, k)), rng.normal(0, 0.1, n)
        inits.append(numpy_helper.from_array(w.astype(np.float32), f"w{i}"))
        inits.append(numpy_helper.from_array(b.astype(np.float32), f"b{i}"))
        gemm = helper.make_node("Gemm", [x, f"w{i}", f"b{i}"], [f"g{i}"], name=f"fc{i}", transB=1)
        nodes.append(gemm)
        x = f"g{i}"
        if i < len(LAYERS) - 1:
            nodes.append(helper.make_node("Relu", [x], [f"r{i}"]))
            x = f"r{i}"
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, LAYERS[0][0]])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, None)],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lut_fc1")
    onnx.save(mlp(), folder / "mlp.onnx")
    rng = np.random.default_rng(4)
    np.savez(folder / "calib.npz", x=rng.uniform(-2, 2, (32, 1, 20)).astype(np.float32))
    np.savez(folder / "data.npz", x=rng.uniform(-2, 2, (8, 1, 20)).astype(np.float32))
    return folder


def build(work, target: str):
    options = CompileOptions(
        quantize="int8",
        calib=str(work / "calib.npz"),
        cluster="16",
        weight_storage="small",
        target=target,
        force=True,
    )
    return compile_model(work / "mlp.onnx", work / target, options)


def test_code_bytes_hold_each_group_of_eight_as_four_pairs():
    index = np.arange(20).reshape(1, 20) % 16  # k 20: two groups and a partial one
    codes = code_bytes(index)
    assert codes.shape == (1, 12)
    for g in range(3):
        for j in range(4):
            lo = index[0, 8 * g + j] if 8 * g + j < 20 else 0
            hi = index[0, 8 * g + j + 4] if 8 * g + j + 4 < 20 else 0
            assert codes[0, 4 * g + j] == lo | hi << 4


def test_host_build_takes_the_kernel_bit_exact(work):
    result = build(work, "mps2-an386")
    kernels = {e["node"]: e["kernel"] for e in result.manifest.weight_storage}
    assert set(kernels.values()) == {"edgec_fc1_lut_fast_s8"}, kernels
    options = ValidateOptions(data=str(work / "data.npz"), device="host", sanitize=True)
    report = validate(result.out_dir, options)
    assert report["bit_exact"] == report["samples"] == 8


@needs_tools("qemu-system-arm", "arm-none-eabi-gcc")
def test_emulated_m4_is_bit_exact(work):
    result = build(work, "mps2-an386")
    options = ValidateOptions(data=str(work / "data.npz"), device="emulator")
    report = validate(result.out_dir, options)
    assert report["bit_exact"] == report["samples"] == 8


def conv_then_fc() -> onnx.ModelProto:
    rng = np.random.default_rng(6)
    w = numpy_helper.from_array(rng.normal(0, 0.4, (8, 4, 3, 3)).astype(np.float32), "w")
    wf = numpy_helper.from_array(rng.normal(0, 0.2, (12, 128)).astype(np.float32), "wf")
    flat = numpy_helper.from_array(np.array([1, -1], np.int64), "flat")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
        helper.make_node("Reshape", ["c", "flat"], ["f"]),
        helper.make_node("Gemm", ["f", "wf"], ["y"], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "conv_fc",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [w, wf, flat],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_after_the_table_loops_a_one_row_layer_takes_them_too(tmp_path):
    onnx.save(conv_then_fc(), tmp_path / "m.onnx")
    rng = np.random.default_rng(7)
    for name, count in (("calib", 32), ("data", 4)):
        x = rng.uniform(-2, 2, (count, 1, 4, 6, 6)).astype(np.float32)
        np.savez(tmp_path / f"{name}.npz", x=x)
    options = CompileOptions(
        quantize="int8",
        calib=str(tmp_path / "calib.npz"),
        cluster="16",
        weight_storage="small",
        target="mps2-an386",
    )
    result = compile_model(tmp_path / "m.onnx", tmp_path / "out", options)
    kernels = {e["node"]: e["kernel"] for e in result.manifest.weight_storage}
    assert kernels == {"conv": "edgec_conv_lut_fast_s8", "fc": "edgec_fc_lut_fast_s8"}, kernels
    check = ValidateOptions(data=str(tmp_path / "data.npz"), device="host", sanitize=True)
    report = validate(result.out_dir, check)
    assert report["bit_exact"] == report["samples"] == 4
