"""4-bit weights (``--weight-bits 4``): the quantized graph, its C kernels and its QDQ export.

The small CNN of the compression tests (3x3, 1x1 and depthwise convolutions, Gemm, MatMul)
is quantized with int8 activations and int4 weights. Checked: every weight is an int4 value
with per-channel scales; the C host build (portable and optimized kernels, sanitizers) and
the emulated Cortex-M4F (DSP) and Cortex-M55 (Helium) builds are bit-exact with the
integer reference (on the M4 the depthwise layer through the int8 kernel's stream decoded
from nibbles); clustered layers (``--cluster 16``, stored clustered) take the int4 GEMM's
table loops, bit-exact on the host and the M4; the exported ``reference.onnx`` (QDQ with
INT4 weights) runs in onnxruntime within one output step of the device; the weights take
less flash than at 8 bits; optimized rounding leaves a smaller output error than rounding
to nearest on the calibration data it was fitted to.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgec.compiler import CompileOptions, compile_model
from edgec.harness.validate import ValidateOptions, validate
from tests.conftest import needs_tools
from tests.test_passes_compression import INPUT, small_cnn

WEIGHTED = ("Conv", "Gemm", "MatMul")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weight_bits")
    onnx.save(small_cnn(), folder / "small.onnx")
    rng = np.random.default_rng(5)
    np.savez(folder / "calib.npz", x=rng.uniform(-2, 2, (32, *INPUT)).astype(np.float32))
    np.savez(folder / "data.npz", x=rng.uniform(-2, 2, (6, *INPUT)).astype(np.float32))
    return folder


def build(work, name: str, **options):
    common = dict(quantize="int8", calib=str(work / "calib.npz"), force=True)
    return compile_model(work / "small.onnx", work / name, CompileOptions(**common, **options))


def test_every_weight_is_an_int4_value_with_per_channel_scales(work):
    result = build(work, "int4", weight_bits=4)
    layers = [n for n in result.graph.nodes if n.op_type in WEIGHTED]
    assert len(layers) == 5
    for node in layers:
        w = node.inputs[1]
        q = np.asarray(w.const).astype(np.int64)
        assert q.min() >= -8 and q.max() <= 7, node.name
        assert len(np.unique(q)) > 2, node.name  # 4-bit values, not a degenerate code
        scales = np.asarray(w.quant.scale).reshape(-1)
        assert scales.size > 1 or node.op_type == "MatMul", node.name


@pytest.mark.parametrize("kernels", ["portable", "optimized"])
def test_host_builds_are_bit_exact_with_the_integer_reference(work, kernels):
    result = build(work, f"host_{kernels}", weight_bits=4, kernels=kernels)
    options = ValidateOptions(data=str(work / "data.npz"), device="host", sanitize=True)
    report = validate(result.out_dir, options)
    assert report["bit_exact"] == report["samples"] == 6


@needs_tools("qemu-system-arm", "arm-none-eabi-gcc")
@pytest.mark.parametrize("target", ["mps2-an386", "mps3-an547"])
def test_emulated_boards_are_bit_exact(work, target):
    result = build(work, f"board_{target}", weight_bits=4, target=target)
    kernels = {e["node"]: e["kernel"] for e in result.manifest.weight_storage}
    if target == "mps2-an386":  # the DSP core: depthwise through the int8 kernel's stream
        assert kernels["dw"] == "edgec_dwconv_w4_stream_s8", kernels
    assert kernels["conv2"] == "edgec_conv_w4_fast_s8", kernels
    options = ValidateOptions(data=str(work / "data.npz"), device="emulator")
    report = validate(result.out_dir, options)
    assert report["bit_exact"] == report["samples"] == 6


def test_the_qdq_export_runs_in_onnxruntime_within_one_step(work):
    result = build(work, "export", weight_bits=4)
    model = onnx.load(str(result.out_dir / "reference.onnx"))
    int4 = [
        t
        for t in model.graph.initializer
        if t.data_type == onnx.TensorProto.INT4 and not t.name.endswith("zero_point")
    ]
    assert len(int4) == 5
    saved = work / "device.npy"
    options = ValidateOptions(data=str(work / "data.npz"), device="host", save_outputs=str(saved))
    validate(result.out_dir, options)
    device = np.load(saved).astype(np.int64).reshape(6, -1)
    (spec,) = result.manifest.inputs
    assert spec.dtype == "int8"  # the model's int8 input, as the device takes it
    x = np.load(work / "data.npz")["x"] / np.float32(spec.scale) + spec.zero_point
    x = np.clip(np.rint(x), -128, 127).astype(np.int8)
    session = ort.InferenceSession(str(result.out_dir / "reference.onnx"))
    name = session.get_inputs()[0].name
    wanted = np.stack([session.run(None, {name: s})[0].reshape(-1) for s in x])
    assert wanted.dtype == np.int8
    # onnxruntime rescales in float: TFLM's integer rounding may differ by one step per
    # requantizing layer, and the steps can compound over the five layers
    diff = np.abs(device - wanted.astype(np.int64))
    assert diff.max() <= 3 and (diff == 0).mean() > 0.5


def test_four_bit_weights_take_less_flash(work):
    eight = build(work, "flash8", weight_storage="dense")
    four = build(work, "flash4", weight_bits=4, weight_storage="dense")
    assert four.manifest.weight_bytes < eight.manifest.weight_bytes


def test_optimized_rounding_beats_nearest_on_its_calibration_data(work):
    errors = {}
    for rounding in ("nearest", "optimized"):
        result = build(work, f"round_{rounding}", weight_bits=4, weight_rounding=rounding)
        options = ValidateOptions(data=str(work / "calib.npz"), device="host")
        errors[rounding] = validate(result.out_dir, options)["snr_db"]
    assert errors["optimized"] > errors["nearest"], errors


@pytest.mark.parametrize("target", [None, "mps2-an386"])
def test_clustered_layers_take_the_table_loops_bit_exact(work, target):
    """--cluster 16 stored clustered: the 3x3 (im2col), 1x1 and fully connected layers run the
    int4 GEMM's table loops (the DSP assembly on the M4), bit-exact on the host with
    sanitizers and on the emulated board."""
    result = build(work, f"cluster_{target}", cluster="16", weight_storage="small", target=target)
    kernels = {e["node"]: e["kernel"] for e in result.manifest.weight_storage}
    assert kernels["conv1"] == kernels["conv2"] == "edgec_conv_lut_fast_s8", kernels
    assert kernels["fc"] == "edgec_fc_lut_fast_s8", kernels
    device = "host" if target is None else "emulator"
    options = ValidateOptions(data=str(work / "data.npz"), device=device, sanitize=target is None)
    report = validate(result.out_dir, options)
    assert report["bit_exact"] == report["samples"] == 6


def depthwise_model(channels: int) -> onnx.ModelProto:
    """A 3x3 convolution, then depthwise 3x3 (bias) and 5x5 (stride 2, an odd tap count)."""
    rng = np.random.default_rng(1)
    shapes = {"w1": (channels, 3, 3, 3), "wd": (channels, 1, 3, 3), "wd2": (channels, 1, 5, 5)}
    inits = [
        numpy_helper.from_array(rng.normal(0, 0.5, s).astype(np.float32), n)
        for n, s in shapes.items()
    ]
    inits.append(numpy_helper.from_array(rng.normal(0, 0.1, channels).astype(np.float32), "bd"))
    group = {"group": channels}
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "wd", "bd"], ["c2"], name="dw", pads=[1] * 4, **group),
        helper.make_node(
            "Conv", ["c2", "wd2"], ["y"], name="dw5", pads=[2] * 4, strides=[2, 2], **group
        ),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 9, 7])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "dw", [x], [y], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


@pytest.mark.parametrize("target", [None, "mps2-an386"])
def test_depthwise_through_the_int8_stream_with_leftover_channels(tmp_path, target):
    """Six channels (a block of four and two left over), 3x3 and 5x5 windows with padding
    and stride: edgec_dwconv_w4_stream_s8, bit-exact on the host (sanitizers) and the M4."""
    onnx.save(depthwise_model(6), tmp_path / "dw.onnx")
    rng = np.random.default_rng(2)
    for name, count in (("calib", 32), ("data", 6)):
        x = rng.uniform(-2, 2, (count, 1, 3, 9, 7)).astype(np.float32)
        np.savez(tmp_path / f"{name}.npz", x=x)
    options = CompileOptions(
        quantize="int8", calib=str(tmp_path / "calib.npz"), weight_bits=4, target=target
    )
    result = compile_model(tmp_path / "dw.onnx", tmp_path / "out", options)
    kernels = {e["node"]: e["kernel"] for e in result.manifest.weight_storage}
    assert kernels["dw"] == kernels["dw5"] == "edgec_dwconv_w4_stream_s8", kernels
    device = "host" if target is None else "emulator"
    check = ValidateOptions(data=str(tmp_path / "data.npz"), device=device, sanitize=not target)
    report = validate(result.out_dir, check)
    assert report["bit_exact"] == report["samples"] == 6
