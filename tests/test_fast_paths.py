"""The optimized int8 kernels' assembly paths (fast_*.c on DSP cores, mve_*.c on Helium ones)
against edgec's integer reference, bit for bit, on the host (their C versions, with the
sanitizers) and on the emulated Cortex-M4F and Cortex-M55; on the emulated RV32 the same
streams through the plain multiply-add paths (fast_scalar.h).

One float CNN built to reach every path: a 3x3 convolution whose k (27) leaves three groups
of four in the last turn of the unrolled loop, depthwise layers with 20, 13 and 32 channels
(four-channel blocks with and without a tail; Helium blocks of 16 and the eight-channel rest),
3x3 windows inside the image (runs of pixels at fixed offsets) and on its border (tables of
taps), stride 2, a 5x5 window (the loop over taps), a clamp inside int8 (Clip 0..1.5), 1x1
convolutions with an odd channel count whose last rows are widened over the input they have
read, an average pool over 400 pixels (int16 sums widened every 255), a fully connected
layer on one row (four channels per pass) and one on three rows.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgec.backends.c import generate_c
from edgec.backends.c.generate import IN_PLACE_TWINS
from edgec.compiler import CompileOptions, compile_model
from edgec.errors import TargetError
from edgec.harness.validate import ValidateOptions, validate
from tests.conftest import needs_tools
from tests.test_c_int_kernels import act, const, single_op

INPUT = (1, 3, 20, 20)
SAMPLES = 6


def every_path_cnn(seed: int = 29) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    shapes = {
        "w1": (20, 3, 3, 3),
        "w2": (20, 1, 3, 3),
        "w3": (13, 20, 1, 1),
        "w4": (13, 1, 3, 3),
        "w5": (32, 13, 1, 1),
        "w6": (32, 1, 5, 5),
        "w7": (32, 1, 3, 3),
    }
    arrays = {n: rng.normal(0, 0.4, s) for n, s in shapes.items()}
    arrays.update({f"b{n[1:]}": rng.normal(0, 0.2, s[0]) for n, s in shapes.items()})
    arrays["wf"] = rng.normal(0, 0.3, (12, 32))
    arrays["bf"] = rng.normal(0, 0.1, 12)
    arrays["wg"] = rng.normal(0, 0.5, (6, 4))
    inits = [numpy_helper.from_array(a.astype(np.float32), n) for n, a in arrays.items()]
    inits += [
        numpy_helper.from_array(np.array(0.0, np.float32), "lo"),
        numpy_helper.from_array(np.array(1.5, np.float32), "hi"),
        numpy_helper.from_array(np.array([3, 4], np.int64), "rows"),
    ]

    def conv(i, x, y, group=1, **attrs):
        return helper.make_node(
            "Conv", [x, f"w{i}", f"b{i}"], [y], name=f"conv{i}", group=group, **attrs
        )

    nodes = [
        conv(1, "x", "c1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        conv(2, "r1", "c2", group=20, pads=[1, 1, 1, 1]),
        helper.make_node("Clip", ["c2", "lo", "hi"], ["r2"]),
        conv(3, "r2", "c3"),
        conv(4, "c3", "c4", group=13, pads=[1, 1, 1, 1], strides=[2, 2]),
        conv(5, "c4", "c5"),
        helper.make_node("Relu", ["c5"], ["r5"]),
        conv(6, "r5", "c6", group=32, pads=[2, 2, 2, 2]),
        conv(7, "c6", "c7", group=32, pads=[1, 1, 1, 1]),
        helper.make_node("AveragePool", ["c7"], ["p"], kernel_shape=[10, 10]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["g"], transB=1),
        helper.make_node("Reshape", ["g", "rows"], ["g3"]),  # three rows of four
        helper.make_node("Gemm", ["g3", "wg"], ["y"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "paths",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(INPUT))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def pool_cnn() -> onnx.ModelProto:
    """A 1x1 convolution then an average pool over 20 x 20 = 400 pixels."""
    rng = np.random.default_rng(3)
    inits = [
        numpy_helper.from_array(rng.normal(0, 0.5, (8, 3, 1, 1)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.normal(0, 0.2, 8).astype(np.float32), "b"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"]),
        helper.make_node("AveragePool", ["c"], ["y"], kernel_shape=[20, 20]),
    ]
    graph = helper.make_graph(
        nodes,
        "pool",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(INPUT))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def kernels_of(result) -> list[str]:
    steps = json.loads((result.out_dir / "memory.json").read_text())["steps"]
    return [s["kernel"] for s in steps]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    work = tmp_path_factory.mktemp("paths")
    rng = np.random.default_rng(31)
    for name, model in (("paths", every_path_cnn()), ("pool", pool_cnn())):
        onnx.save(model, work / f"{name}.onnx")
    np.savez(work / "calib.npz", x=rng.uniform(-2, 2, (40, *INPUT)).astype(np.float32))
    np.savez(work / "data.npz", x=rng.uniform(-2, 2, (SAMPLES, *INPUT)).astype(np.float32))
    return work


EXPECTED = {
    "mps2-an386": {
        "edgec_conv_fast_s8",
        "edgec_dwconv_fast_s8",
        "edgec_conv_1x1_fast_s8",
        "edgec_global_avgpool_fast_s8",
        "edgec_fc1_fast_s8",
        "edgec_fc_fast_s8",
    },
    "mps3-an547": {
        "edgec_conv_mve_s8",
        "edgec_dwconv_mve_s8",
        "edgec_conv_1x1_mve_s8",
        "edgec_global_avgpool_fast_s8",
        "edgec_fc_mve_s8",
    },
}
EXPECTED["riscv32-virt"] = EXPECTED["mps2-an386"]  # the DSP kernels' streams, scalar paths
RV32 = pytest.param(
    "riscv32-virt", marks=needs_tools("qemu-system-riscv32", "riscv64-unknown-elf-gcc")
)


@needs_tools("qemu-system-arm", "arm-none-eabi-gcc")
@pytest.mark.parametrize("target", ["mps2-an386", "mps3-an547", RV32])
@pytest.mark.parametrize("model", ["paths", "pool"])
def test_every_fast_path_is_bit_exact_on_host_and_device(work, target, model):
    options = CompileOptions(
        quantize="int8", calib=str(work / "calib.npz"), kernels="optimized", target=target
    )
    result = compile_model(work / f"{model}.onnx", work / f"{model}_{target}", options)
    # a layer written in place runs its kernel's in-place twin (generate.IN_PLACE_TWINS)
    twin_of = {twin: kernel for kernel, twin in IN_PLACE_TWINS.items()}
    kernels = {twin_of.get(k, k) for k in kernels_of(result)}
    if model == "paths":
        assert kernels - {"edgec_softmax_s8"} <= EXPECTED[target] | {"edgec_permute"}
        assert EXPECTED[target] <= kernels
    else:
        assert "edgec_global_avgpool_fast_s8" in kernels
    for device in ("host", "emulator"):
        options = ValidateOptions(
            data=str(work / "data.npz"), device=device, sanitize=device == "host"
        )
        report = validate(result.out_dir, options)
        assert report["bit_exact"] == report["samples"] == SAMPLES, (device, report)


def dead_channel_fc():
    """A Gemm whose second channel has a bias near 2**30 and a scale near 2**-40 (a pruned,
    dead channel): its doubled sum would overflow, its output is one value whatever the
    input; the DSP kernels take it with a small bias of the same output."""
    rng = np.random.default_rng(7)
    weights = rng.integers(-127, 128, (8, 64)).astype(np.int8)
    s_w = np.full(8, 2.0**-7, np.float32)
    s_w[1] = np.float32(2.0**-40)
    bias = rng.integers(-(2**12), 2**12, 8).astype(np.int32)
    bias[1] = 2**30 - 5
    inputs = [
        act((1, 64), np.int8, 0.05, -3),
        const("w", weights, s_w, axis=0),
        const("b", bias, s_w * np.float32(0.05), axis=0),
    ]
    return single_op("Gemm", inputs, np.int8, 0.5, 2, {"transB": 1})


def test_a_dead_channel_keeps_the_fast_kernel_and_its_output(tmp_path):
    from tests.c_cases import run_cases
    from tests.test_c_int_kernels import prepare

    graph = dead_channel_fc()
    generated = generate_c(graph, prefix="m", sha256="0" * 64, kernels="optimized")
    assert [c.kernel for c in generated.program.calls] == ["edgec_fc1_fast_s8"]
    case = prepare(graph, seed=5)
    assert len({int(out[0].reshape(-1)[1]) for out in case.expected}) == 1  # one output
    run_cases([case], tmp_path, "optimized")


def clustered_wide_fc() -> onnx.ModelProto:
    """700 KB of dense weights with 16 distinct values: 350 KB clustered."""
    rng = np.random.default_rng(2)
    values = rng.normal(0, 0.3, 16).astype(np.float32)
    w = values[rng.integers(0, 16, (1000, 700))]
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)],
        "wide",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 700])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w, "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_storage_falls_back_to_the_smallest_when_the_fastest_does_not_fit(tmp_path):
    """On the Cortex-M55 (512 KB of flash) the dense weights run faster but do not fit: the
    default build stores them clustered, and says so; --weight-storage dense is refused."""
    onnx.save(clustered_wide_fc(), tmp_path / "wide.onnx")
    np.savez(tmp_path / "calib.npz", x=np.random.default_rng(0).normal(size=(8, 1, 700)))
    base = {"quantize": "int8", "calib": str(tmp_path / "calib.npz"), "target": "mps3-an547"}
    result = compile_model(tmp_path / "wide.onnx", tmp_path / "auto", CompileOptions(**base))
    assert [r["storage"] for r in result.manifest.weight_storage] == ["clustered"]
    assert any("does not fit" in n for n in result.manifest.notices)
    with pytest.raises(TargetError, match="does not fit"):
        options = CompileOptions(**base, weight_storage="dense")
        compile_model(tmp_path / "wide.onnx", tmp_path / "dense", options)
