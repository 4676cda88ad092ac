"""The optimized int8 kernels (templates/c/kernels/fast_*.c) against the integer reference.

A float CNN built here with awkward shapes for those kernels — reduction lengths that are not
multiples of 4, odd channel counts, padding and stride 2 (im2col), dilation, a strided 1x1,
depthwise layers with a channel tail and with border pixels, an odd FC and a batch of three
rows — is quantized to int8 by edgec and compiled with ``kernels="optimized"``. Its outputs
equal the reference executor's bit for bit on the host (C versions of the DSP instructions,
AddressSanitizer and UBSan) and on the emulated Cortex-M4F (the SMLAD/SXTB16 path). The
portable and optimized builds are also checked to choose the kernels they claim.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgec.backends.c.build import build_host, run_host
from edgec.backends.c.render import render_host_runner
from edgec.compiler import CompileOptions, compile_model
from edgec.data import load_dataset
from edgec.errors import EdgecError
from edgec.harness.run import device_inputs
from edgec.harness.validate import ValidateOptions, validate
from tests.conftest import needs_tools

SAMPLES = 12
INPUT = (1, 3, 11, 9)  # NCHW


def awkward_cnn(seed: int = 3) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    shapes = {
        "w1": (6, 3, 3, 3),  # k = 27: a tail after the 4-wide steps; pads, stride 2
        "w2": (7, 6, 1, 1),  # 1x1 with k = 6 and an odd channel count
        "w3": (7, 1, 3, 3),  # depthwise, 7 channels: one block of 4 and a tail of 3
        "w4": (8, 7, 3, 3),  # dilation 2 with padding
        "w5": (8, 1, 3, 3),  # depthwise with dilation 2, stride 2
        "w6": (5, 8, 1, 1),  # strided 1x1 (rows are read in place)
        "w7": (6, 5, 2, 2),  # 2x2 kernel, padding only at the top and left
    }
    arrays = {n: rng.normal(0, 0.4, s) for n, s in shapes.items()}
    arrays.update({f"b{n[1:]}": rng.normal(0, 0.2, s[0]) for n, s in shapes.items()})
    arrays["wf"] = rng.normal(0, 0.5, (5, 8))
    arrays["bf"] = rng.normal(0, 0.1, 5)
    inits = [numpy_helper.from_array(a.astype(np.float32), n) for n, a in arrays.items()]

    def conv(i, x, y, **attrs):
        return helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [y], name=f"conv{i}", **attrs)

    nodes = [
        conv(1, "x", "c1", pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        conv(2, "r1", "c2"),
        conv(3, "c2", "c3", pads=[1, 1, 1, 1], group=7),
        helper.make_node("Clip", ["c3", "lo", "hi"], ["r3"]),
        conv(4, "r3", "c4", pads=[2, 2, 2, 2], dilations=[2, 2]),
        conv(5, "c4", "c5", pads=[2, 1, 2, 1], dilations=[2, 2], strides=[2, 2], group=8),
        helper.make_node("Relu", ["c5"], ["r5"]),
        conv(6, "r5", "c6", strides=[2, 1]),
        conv(7, "c6", "c7", pads=[1, 1, 0, 0]),  # [1, 6, 2, 2]
        helper.make_node("Reshape", ["c7", "shape"], ["rows"]),  # [3, 8]: an FC batch of 3
        helper.make_node("Gemm", ["rows", "wf", "bf"], ["y"], name="fc", transB=1),
    ]
    inits += [
        numpy_helper.from_array(np.array(0.0, np.float32), "lo"),
        numpy_helper.from_array(np.array(6.0, np.float32), "hi"),
        numpy_helper.from_array(np.array([3, -1], np.int64), "shape"),
    ]
    graph = helper.make_graph(
        nodes,
        "awkward",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(INPUT))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    work = tmp_path_factory.mktemp("fast")
    model = work / "awkward.onnx"
    onnx.save(awkward_cnn(), model)
    rng = np.random.default_rng(7)
    np.savez(work / "calib.npz", x=rng.uniform(-2, 2, (40, *INPUT)).astype(np.float32))
    np.savez(work / "data.npz", x=rng.uniform(-2, 2, (SAMPLES, *INPUT)).astype(np.float32))
    return work, compile_three(model, work / "calib.npz", work, target="mps2-an386")


def compile_three(model, calib, work, **options) -> dict:
    """int8 builds: "portable"; "optimized" with scratch only where it does not grow the
    arena (--kernel-scratch free); "always", the default optimized build."""
    results = {}
    for build, kernels, scratch in (
        ("portable", "portable", "always"),
        ("optimized", "optimized", "free"),
        ("always", "optimized", "always"),
    ):
        settings = CompileOptions(
            quantize="int8", calib=str(calib), kernels=kernels, kernel_scratch=scratch, **options
        )
        results[build] = compile_model(model, work / build, settings)
    return results


def kernel_names(result) -> list[str]:
    steps = json.loads((result.out_dir / "memory.json").read_text())["steps"]
    return [s["kernel"] for s in steps]


def test_each_build_uses_the_kernels_it_claims(compiled):
    _, results = compiled
    portable = kernel_names(results["portable"])
    optimized, always = kernel_names(results["optimized"]), kernel_names(results["always"])
    assert not any("fast" in k for k in portable)
    assert results["optimized"].manifest.kernels == "optimized"
    # conv1, conv4, conv7: im2col; conv2, conv6: 1x1 in place; conv3, conv5: depthwise; fc
    assert always.count("edgec_conv_fast_s8") == 3
    assert always.count("edgec_conv_1x1_fast_s8") == 2
    assert always.count("edgec_dwconv_fast_s8") == 2
    assert always.count("edgec_fc_fast_s8") == 1
    # The same arithmetic: the same graph, the same reference, different kernels.
    assert len(portable) == len(optimized) == len(always)


def single_conv(seed: int = 5) -> onnx.ModelProto:
    """One 3x3 convolution: its input and output are the arena's peak, so im2col scratch
    memory would add to it."""
    rng = np.random.default_rng(seed)
    inits = [
        numpy_helper.from_array(rng.normal(0, 0.4, (6, 4, 3, 3)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.normal(0, 0.2, 6).astype(np.float32), "b"),
    ]
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], name="conv", pads=[1, 1, 1, 1])
    graph = helper.make_graph(
        [node],
        "one",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_free_scratch_policy_never_grows_the_arena(tmp_path):
    onnx.save(single_conv(), tmp_path / "conv.onnx")
    rng = np.random.default_rng(11)
    np.savez(tmp_path / "data.npz", x=rng.uniform(-2, 2, (6, 1, 4, 8, 8)).astype(np.float32))
    # io_layout nhwc: no layout permutes, so the convolution step is the arena's peak
    results = compile_three(
        tmp_path / "conv.onnx", tmp_path / "data.npz", tmp_path, io_layout="nhwc"
    )
    arena = {build: r.arena_bytes for build, r in results.items()}
    # free: no scratch, and the output planned in place over the input (overlap.py); the
    # portable build runs the same kernel in place (no instructions spent): the same arena
    assert arena["optimized"] == arena["portable"] < arena["always"]
    portable = json.loads((results["portable"].out_dir / "memory.json").read_text())
    assert [layer["node"] for layer in portable["in_place"]] == ["conv"]
    memory = json.loads((results["optimized"].out_dir / "memory.json").read_text())
    assert memory["lean_nodes"] == ["conv"]
    assert [layer["node"] for layer in memory["in_place"]] == ["conv"]
    assert [s["kernel"] for s in memory["steps"]] == ["edgec_conv_s8"]  # no im2col
    always = json.loads((results["always"].out_dir / "memory.json").read_text())
    # the fast kernel, widening its rows over the read input where the output has no room
    assert [s["kernel"] for s in always["steps"]] in (
        ["edgec_conv_fast_s8"],
        ["edgec_conv_fast_wide_s8"],
    )
    assert [t["scratch_for"] for t in always["tensors"] if t["scratch_for"]] == ["conv"]
    for result in results.values():
        report = validate(
            result.out_dir,
            ValidateOptions(data=str(tmp_path / "data.npz"), device="host", sanitize=True),
        )
        assert report["bit_exact"] == report["samples"] == 6


def test_kernels_option_is_checked(tmp_path):
    with pytest.raises(EdgecError, match="--kernels must be one of"):
        compile_model("unused.onnx", tmp_path / "x", CompileOptions(kernels="fastest"))


@pytest.mark.parametrize("build", ["portable", "optimized", "always"])
def test_host_build_is_bit_exact_with_the_reference(compiled, build):
    work, results = compiled
    report = validate(
        results[build].out_dir,
        ValidateOptions(data=str(work / "data.npz"), device="host", sanitize=True),
    )
    assert report["samples"] == SAMPLES and report["bit_exact"] == SAMPLES


def test_scalar_paths_on_the_host_are_the_dsp_paths_bit_for_bit(compiled, tmp_path):
    """The plain multiply-add paths of RV32 and the Cortex-M0 (fast_scalar.h) and the
    composed 64-bit product of cores without SMULL, built for this computer (sanitized):
    the same outputs as the host build that validate() checks against the reference."""
    work, results = compiled
    out = results["always"].out_dir
    manifest = results["always"].manifest
    dataset = load_dataset(work / "data.npz", manifest.inputs)
    samples = [device_inputs(manifest, dataset, i) for i in range(len(dataset))]
    specs = [(np.dtype(p.dtype), tuple(p.api_shape)) for p in manifest.outputs]
    runner = tmp_path / "host_runner.c"
    runner.write_text(render_host_runner(manifest))
    outputs = {}
    for name, defines in (
        ("dsp", ()),
        ("scalar", ("-DEDGEC_SCALAR=1", "-DEDGEC_NO_LONG_MULTIPLY=1")),
    ):
        exe = build_host(out, runner, tmp_path / name, sanitize=True, defines=defines)
        outputs[name] = np.stack([o[0] for o in run_host(exe, samples, specs)])
    np.testing.assert_array_equal(outputs["scalar"], outputs["dsp"])


@needs_tools(
    "qemu-system-arm", "arm-none-eabi-gcc", "qemu-system-riscv32", "riscv64-unknown-elf-gcc"
)
@pytest.mark.parametrize("target", ["microbit", "riscv32-virt"])
def test_scalar_paths_on_the_emulated_m0_and_rv32_are_bit_exact(compiled, target, tmp_path):
    """The awkward CNN and the depthwise variants with the optimized kernels on the Cortex-M0
    (Thumb-1 assembly: the 2x2 matrix groups, the depthwise taps, the requantization) and on
    RV32 (the C paths)."""
    work, _ = compiled
    options = CompileOptions(quantize="int8", calib=str(work / "calib.npz"), target=target)
    result = compile_model(work / "awkward.onnx", tmp_path / "awkward", options)
    assert result.manifest.kernels == "optimized"  # --kernels auto on these cores
    report = validate(
        result.out_dir, ValidateOptions(data=str(work / "data.npz"), device="emulator")
    )
    assert report["bit_exact"] == report["samples"] == SAMPLES
    onnx.save(depthwise_variants(), tmp_path / "dw.onnx")
    rng = np.random.default_rng(17)
    np.savez(tmp_path / "calib.npz", x=rng.uniform(-2, 2, (30, 1, 12, 7, 6)).astype(np.float32))
    np.savez(tmp_path / "data.npz", x=rng.uniform(-2, 2, (8, 1, 12, 7, 6)).astype(np.float32))
    options = CompileOptions(quantize="int8", calib=str(tmp_path / "calib.npz"), target=target)
    result = compile_model(tmp_path / "dw.onnx", tmp_path / "dw", options)
    report = validate(
        result.out_dir, ValidateOptions(data=str(tmp_path / "data.npz"), device="emulator")
    )
    assert report["bit_exact"] == report["samples"] == 8


@needs_tools("qemu-system-arm", "arm-none-eabi-gcc")
def test_dsp_path_on_the_emulated_cortex_m4_is_bit_exact(compiled):
    work, results = compiled
    options = ValidateOptions(data=str(work / "data.npz"), device="emulator")
    optimized = validate(results["optimized"].out_dir, options)
    portable = validate(results["portable"].out_dir, options)
    always = validate(results["always"].out_dir, options)
    assert optimized["bit_exact"] == portable["bit_exact"] == always["bit_exact"] == SAMPLES
    dataset = load_dataset(work / "data.npz", results["optimized"].manifest.inputs)
    assert len(dataset) == SAMPLES
    # Not a speed target (that is bench/): the DSP path must at least not be slower.
    assert optimized["instructions"]["median"] < portable["instructions"]["median"]


@needs_tools("qemu-system-arm", "arm-none-eabi-gcc")
def test_profile_counts_every_step_and_adds_up_to_the_inference(compiled):
    work, results = compiled
    result = results["optimized"]
    options = ValidateOptions(data=str(work / "data.npz"), device="emulator", samples=1)
    options.profile = True
    report = validate(result.out_dir, options)
    steps = report["profile"]
    memory = json.loads((result.out_dir / "memory.json").read_text())
    assert [s["step"] for s in steps] == [s["step"] for s in memory["steps"]]
    assert [s["kernel"] for s in steps] == [s["kernel"] for s in memory["steps"]]
    assert all(s["instructions"] > s["macs"] // 4 for s in steps if s["macs"])  # 2 per SMLAD
    # The same inference, counted whole (RUN) and step by step (PROFILE): they differ only by
    # the profiling hook's own instructions, a few dozen per step.
    whole, summed = report["instructions"]["median"], sum(s["instructions"] for s in steps)
    assert 0 <= summed - whole <= 60 * len(steps), (summed, whole)
    with pytest.raises(EdgecError, match="--profile counts instructions or cycles on a device"):
        validate(result.out_dir, ValidateOptions(data="unused", device="host", profile=True))


def depthwise_variants(seed: int = 13) -> onnx.ModelProto:
    """Depthwise windows other than 3x3 (5x5, 2x2: the per-tap loop), a 3x3 with stride 2
    and 12 channels, and clamped activations (not the whole int8 range) next to full ones."""
    rng = np.random.default_rng(seed)
    shapes = {"w1": (12, 1, 5, 5), "w2": (12, 1, 2, 2), "w3": (12, 1, 3, 3)}
    arrays = {n: rng.normal(0, 0.4, s) for n, s in shapes.items()}
    arrays.update({f"b{n[1:]}": rng.normal(0, 0.2, s[0]) for n, s in shapes.items()})
    inits = [numpy_helper.from_array(a.astype(np.float32), n) for n, a in arrays.items()]
    inits += [
        numpy_helper.from_array(np.array(0.0, np.float32), "lo"),
        numpy_helper.from_array(np.array(1.0, np.float32), "hi"),
    ]

    def dw(i, x, y, **attrs):
        return helper.make_node(
            "Conv", [x, f"w{i}", f"b{i}"], [y], name=f"dw{i}", group=12, **attrs
        )

    nodes = [
        dw(1, "x", "c1", pads=[2, 2, 2, 2]),
        helper.make_node("Clip", ["c1", "lo", "hi"], ["r1"]),
        dw(2, "r1", "c2", pads=[1, 0, 0, 1]),
        dw(3, "c2", "y", pads=[1, 1, 1, 1], strides=[2, 2]),
    ]
    graph = helper.make_graph(
        nodes,
        "dw",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 12, 7, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


@needs_tools("qemu-system-arm", "arm-none-eabi-gcc")
@pytest.mark.parametrize("target", ["mps2-an386", "mps3-an547"])
def test_depthwise_variants_are_bit_exact_on_host_and_device(target, tmp_path):
    """On the Cortex-M4F the DSP path; on the Cortex-M55 the Helium one (12 channels: a
    block of eight and one of four)."""
    onnx.save(depthwise_variants(), tmp_path / "dw.onnx")
    rng = np.random.default_rng(17)
    np.savez(tmp_path / "calib.npz", x=rng.uniform(-2, 2, (30, 1, 12, 7, 6)).astype(np.float32))
    np.savez(tmp_path / "data.npz", x=rng.uniform(-2, 2, (8, 1, 12, 7, 6)).astype(np.float32))
    options = CompileOptions(
        quantize="int8", calib=str(tmp_path / "calib.npz"), kernels="optimized", target=target
    )
    result = compile_model(tmp_path / "dw.onnx", tmp_path / "out", options)
    family = "mve" if target == "mps3-an547" else "fast"
    assert [k for k in kernel_names(result) if "conv" in k] == [f"edgec_dwconv_{family}_s8"] * 3
    for device in ("host", "emulator"):
        options = ValidateOptions(
            data=str(tmp_path / "data.npz"), device=device, sanitize=device == "host"
        )
        report = validate(result.out_dir, options)
        assert report["bit_exact"] == report["samples"] == 8, device


@needs_tools("qemu-system-arm", "arm-none-eabi-gcc")
def test_helium_path_on_the_emulated_cortex_m55_is_bit_exact(compiled, tmp_path):
    """The same awkward CNN for mps3-an547: its matrix kernels take the MVE path (k 28: a
    12-wide tail; the FC's third row alone), the others the DSP one."""
    work, _ = compiled
    options = CompileOptions(
        quantize="int8", calib=str(work / "calib.npz"), kernels="optimized", target="mps3-an547"
    )
    result = compile_model(work / "awkward.onnx", tmp_path / "m55", options)
    report = validate(
        result.out_dir, ValidateOptions(data=str(work / "data.npz"), device="emulator")
    )
    assert report["bit_exact"] == report["samples"] == SAMPLES


def residual_adds(seed: int = 19) -> onnx.ModelProto:
    """A residual Add of two activations of one shape (the tabulated fast kernel), then an
    Add that broadcasts a constant per channel (the portable kernel)."""
    rng = np.random.default_rng(seed)
    inits = [
        numpy_helper.from_array(rng.normal(0, 0.4, (4, 4, 3, 3)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.normal(0, 0.2, 4).astype(np.float32), "b"),
        numpy_helper.from_array(rng.normal(0, 1.0, (1, 4, 1, 1)).astype(np.float32), "k"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Add", ["r", "x"], ["s"], name="residual"),
        helper.make_node("Add", ["s", "k"], ["y"], name="broadcast"),
    ]
    graph = helper.make_graph(
        nodes,
        "res",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 5, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


@needs_tools("qemu-system-arm", "arm-none-eabi-gcc")
@pytest.mark.parametrize("target", ["mps2-an386", "mps3-an547"])
def test_tabulated_residual_add_is_bit_exact(target, tmp_path):
    onnx.save(residual_adds(), tmp_path / "res.onnx")
    rng = np.random.default_rng(23)
    np.savez(tmp_path / "calib.npz", x=rng.uniform(-2, 2, (30, 1, 4, 5, 6)).astype(np.float32))
    np.savez(tmp_path / "data.npz", x=rng.uniform(-3, 3, (8, 1, 4, 5, 6)).astype(np.float32))
    options = CompileOptions(
        quantize="int8", calib=str(tmp_path / "calib.npz"), kernels="optimized", target=target
    )
    result = compile_model(tmp_path / "res.onnx", tmp_path / "out", options)
    adds = [k for k in kernel_names(result) if "add" in k]
    assert adds == ["edgec_add_fast_s8", "edgec_add_s8"]
    for device in ("host", "emulator"):
        options = ValidateOptions(
            data=str(tmp_path / "data.npz"), device=device, sanitize=device == "host"
        )
        report = validate(result.out_dir, options)
        assert report["bit_exact"] == report["samples"] == 8, device
