"""The optimized float kernels (templates/c/kernels/fast_f32_*.c) against the float reference.

Host: one-op float graphs drawn by hypothesis (channel counts around the blocks of 8 and
their tails, reductions that are not multiples of 4, odd pixel counts, pads, strides,
dilations, fused clamps) are compiled with ``kernels="optimized"`` and run in one build with
``-std=c99 -O2 -Wall -Wextra -Werror -fsanitize=address,undefined`` (the plain-C blocking);
their outputs match edgec's numpy reference executor within rtol/atol 1e-4. Device: a float
CNN with the same awkward shapes runs on the emulated Cortex-M4F, M7 (VLDM/VFMA assembly)
and M55 (Helium), within 1e-4 of onnxruntime.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import given
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from edgec.backends.c import generate_c
from edgec.compiler import CompileOptions, compile_model
from edgec.interp import Interpreter
from edgec.ir.graph import FusedActivation, Graph, Value
from edgec.ops.shapes import infer_shapes
from tests.c_cases import Case, run_cases
from tests.conftest import needs_tools
from tests.test_c_int_kernels import BATCH, seeds

TOLERANCE = (1e-4, 1e-4)  # rtol, atol
CASES_PER_BUILD = 12
SAMPLES = 3
FUSED = [
    None,
    FusedActivation("Relu"),
    FusedActivation("Clip", {"min": 0.0, "max": 6.0}),
    FusedActivation("Clip", {"min": -0.5, "max": 0.5}),
]


def one_op(op: str, inputs: list[Value], attrs: dict | None = None, fused=None) -> Graph:
    g = Graph("case")
    for v in inputs:
        g.add_value(v)
    y = Value("y", None, None)
    node = g.add_node(op, inputs, [y], attrs or {}, name="op")
    node.fused = fused
    g.inputs = [v for v in inputs if not v.is_const]
    g.outputs = [y]
    infer_shapes(g)
    return g


def act(shape, name="x") -> Value:
    return Value(name, np.dtype(np.float32), tuple(shape))


def const(name, data) -> Value:
    data = np.asarray(data)
    return Value(name, data.dtype, data.shape, const=data)


def case_of(graph: Graph, seed: int) -> Case:
    rng = np.random.default_rng(seed)
    case = Case(graph, seed)
    interp = Interpreter(graph)
    for _ in range(SAMPLES):
        sample = [rng.uniform(-2, 2, v.shape).astype(np.float32) for v in graph.inputs]
        out = interp.run({v.name: a for v, a in zip(graph.inputs, sample)})
        case.samples.append(sample)
        case.expected.append([out[v.name].astype(np.float32) for v in graph.outputs])
    return case


CONV_KINDS = ["general", "pointwise", "depthwise", "strided-1x1", "1d", "dilated"]


def draw_conv(draw, index: int):
    seed = draw(seeds)
    rng = np.random.default_rng(seed)
    kind = CONV_KINDS[index % len(CONV_KINDS)]
    c = draw(st.integers(1, 19))
    o = c if kind == "depthwise" else draw(st.integers(1, 19))
    one = kind in ("pointwise", "strided-1x1")
    k = (1, 1) if one else (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    stride = (1, 1) if kind == "pointwise" else stride
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if kind == "dilated" else (1, 1)
    pads = [0] * 4 if one else [draw(st.integers(0, 2)) for _ in range(4)]
    h = max(draw(st.integers(1, 7)), dil[0] * (k[0] - 1) + 1)
    w = max(draw(st.integers(1, 7)), dil[1] * (k[1] - 1) + 1)
    batch = draw(st.integers(1, 2))
    group = c if kind == "depthwise" else 1
    weights = rng.normal(0, 0.5, (o, c // group, *k)).astype(np.float32)
    attrs = {"strides": list(stride), "dilations": list(dil), "pads": pads, "group": group}
    shape = (batch, c, h, w)
    if kind == "1d":
        shape, weights = (batch, c, w), weights[:, :, 0, :]
        attrs.update(strides=[stride[1]], dilations=[1], pads=[pads[1], pads[3]])
    inputs = [act(shape), const("w", weights)]
    if draw(st.integers(0, 3)):
        inputs.append(const("b", rng.normal(0, 0.5, o).astype(np.float32)))
    return one_op("Conv", inputs, attrs, draw(st.sampled_from(FUSED))), seed


def draw_fc(draw, index: int):
    seed = draw(seeds)
    rng = np.random.default_rng(seed)
    rows, k, n = draw(st.integers(1, 5)), draw(st.integers(1, 37)), draw(st.integers(1, 21))
    x = act((rows, k))
    if index % 2:  # MatMul: no bias
        return one_op("MatMul", [x, const("w", rng.normal(0, 0.5, (k, n)))]), seed
    inputs = [x, const("w", rng.normal(0, 0.5, (n, k)).astype(np.float32))]
    inputs.append(const("c", rng.normal(0, 0.5, n).astype(np.float32)))
    return one_op("Gemm", inputs, {"transB": 1}, draw(st.sampled_from(FUSED))), seed


POOLS = ["AveragePool", "MaxPool", "GlobalAveragePool", "AveragePool-whole"]


def draw_pool_binary_softmax(draw, index: int):
    seed = draw(seeds)
    rng = np.random.default_rng(seed)
    c, h, w = draw(st.integers(1, 19)), draw(st.integers(1, 6)), draw(st.integers(1, 6))
    x = act((draw(st.integers(1, 2)), c, h, w))
    kind = index % 6
    if kind == 4:  # same-shape or scalar binary ops
        op = draw(st.sampled_from(["Add", "Sub", "Mul", "Max", "Min"]))
        b = act(x.shape, "b") if draw(st.booleans()) else const("b", np.float32(rng.normal()))
        return one_op(op, [x, b], {}, draw(st.sampled_from(FUSED))), seed
    if kind == 5:
        return one_op("Softmax", [act((draw(st.integers(1, 3)), c))], {"axis": 1}), seed
    op = POOLS[kind]
    if op == "AveragePool-whole":
        return one_op("AveragePool", [x], {"kernel_shape": [h, w]}), seed
    attrs = {}
    if op != "GlobalAveragePool":
        k = [draw(st.integers(1, h)), draw(st.integers(1, w))]
        attrs = {
            "kernel_shape": k,
            "strides": [draw(st.integers(1, 3)), draw(st.integers(1, 3))],
            "pads": [draw(st.integers(0, kk - 1)) for kk in k * 2],
        }
        if op == "AveragePool" and draw(st.booleans()):
            attrs["count_include_pad"] = 1
    return one_op(op, [x], attrs, draw(st.sampled_from(FUSED[:2]))), seed


def run_drawn(draw_case, data, folder) -> None:
    cases = [case_of(*draw_case(data.draw, i)) for i in range(CASES_PER_BUILD)]
    run_cases(cases, folder, "optimized", tolerance=TOLERANCE)


@BATCH
@given(data=st.data())
def test_fast_conv_and_depthwise(data, tmp_path_factory):
    run_drawn(draw_conv, data, tmp_path_factory.mktemp("conv"))


@BATCH
@given(data=st.data())
def test_fast_fully_connected(data, tmp_path_factory):
    run_drawn(draw_fc, data, tmp_path_factory.mktemp("fc"))


@BATCH
@given(data=st.data())
def test_fast_pool_binary_softmax(data, tmp_path_factory):
    run_drawn(draw_pool_binary_softmax, data, tmp_path_factory.mktemp("misc"))


def kernels_of(graph: Graph, kernels: str) -> list[str]:
    gen = generate_c(graph, prefix="m", sha256="0" * 64, kernels=kernels)
    return [call.kernel for call in gen.program.calls if call.kernel != "edgec_permute"]


def test_optimized_builds_choose_the_fast_kernels_and_portable_ones_do_not():
    rng = np.random.default_rng(0)
    w = const("w", rng.normal(size=(16, 8, 3, 3)).astype(np.float32))
    conv = one_op("Conv", [act((1, 8, 5, 5)), w], {"pads": [1, 1, 1, 1]})
    dw = one_op(
        "Conv", [act((1, 8, 5, 5)), const("w", np.ones((8, 1, 3, 3), np.float32))], {"group": 8}
    )
    dw2 = one_op(
        "Conv", [act((1, 4, 5, 5)), const("w", np.ones((8, 1, 3, 3), np.float32))], {"group": 4}
    )  # channel multiplier 2: portable
    fc = one_op("MatMul", [act((2, 8)), const("w", np.ones((8, 3), np.float32))])
    log = one_op("LogSoftmax", [act((1, 8))], {"axis": 1})
    assert kernels_of(conv, "optimized") == ["edgec_conv_fast_f32"]
    assert kernels_of(dw, "optimized") == ["edgec_dwconv_fast_f32"]
    assert kernels_of(dw2, "optimized") == ["edgec_dwconv_f32"]
    assert kernels_of(fc, "optimized") == ["edgec_conv_1x1_fast_f32"]
    assert kernels_of(log, "optimized") == ["edgec_softmax_f32"]
    for graph in (conv, dw, fc):
        assert not any("fast" in k for k in kernels_of(graph, "portable"))


def test_packed_weights_keep_the_models_weight_bytes():
    """Blocks of 8 without padding: the optimized build stores as many weight bytes."""
    rng = np.random.default_rng(1)
    graph = one_op("Gemm", [act((1, 13)), const("w", rng.normal(size=(13, 21)).astype(np.float32))])
    sizes = {
        kernels: sum(
            w.data.nbytes
            for w in generate_c(graph, "m", "0" * 64, kernels=kernels).program.weights.values()
        )
        for kernels in ("portable", "optimized")
    }
    assert sizes["optimized"] == sizes["portable"] == 13 * 21 * 4


# ---- the assembly (M4F, M7) and Helium (M55) paths on emulated boards ------------------------
def awkward_float_cnn(seed: int = 4) -> onnx.ModelProto:
    """Shapes around the kernels' blocks: 12 and 17 channels (blocks of 8 and tails),
    reductions of 27, 12 and 153 (k % 4 = 3, 0, 1), pads, strides, dilation, odd pixel
    counts, a residual Add, a scalar Mul, pools, an FC batch of 3 and of 1, softmax."""
    rng = np.random.default_rng(seed)
    shapes = {
        "w1": (12, 3, 3, 3),
        "w2": (17, 12, 1, 1),
        "w3": (17, 1, 3, 3),
        "w4": (9, 17, 3, 3),
        "w5": (9, 1, 3, 3),
        "w6": (16, 9, 1, 1),
    }
    arrays = {n: rng.normal(0, 0.3, s) for n, s in shapes.items()}
    arrays.update({f"b{n[1:]}": rng.normal(0, 0.2, s[0]) for n, s in shapes.items()})
    arrays.update(wf=rng.normal(0, 0.3, (10, 16)), bf=rng.normal(0, 0.1, 10))
    arrays.update(wg=rng.normal(0, 0.3, (30, 11)), bg=rng.normal(0, 0.1, 11))
    inits = [numpy_helper.from_array(a.astype(np.float32), n) for n, a in arrays.items()]
    inits += [
        numpy_helper.from_array(np.array(0.0, np.float32), "lo"),
        numpy_helper.from_array(np.array(6.0, np.float32), "hi"),
        numpy_helper.from_array(np.array(0.75, np.float32), "half"),
        numpy_helper.from_array(np.array([3, 16], np.int64), "rows"),
        numpy_helper.from_array(np.array([1, 30], np.int64), "flat"),
    ]

    def conv(i, x, y, **attrs):
        return helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [y], name=f"conv{i}", **attrs)

    nodes = [
        conv(1, "x", "c1", pads=[1, 1, 1, 1], strides=[2, 2]),  # 3x13x11 -> 12x7x6
        helper.make_node("Relu", ["c1"], ["r1"]),
        conv(2, "r1", "c2"),
        conv(3, "c2", "c3", pads=[1, 1, 1, 1], group=17),
        helper.make_node("Clip", ["c3", "lo", "hi"], ["r3"]),
        helper.make_node("Add", ["r3", "c2"], ["a3"]),
        conv(4, "a3", "c4", pads=[2, 2, 2, 2], dilations=[2, 2]),
        conv(5, "c4", "c5", pads=[1, 0, 1, 1], strides=[2, 2], group=9),
        helper.make_node("Mul", ["c5", "half"], ["m5"]),
        conv(6, "m5", "c6"),  # 16 x 4 x 3
        helper.make_node("MaxPool", ["c6"], ["p6"], kernel_shape=[2, 2], pads=[0, 0, 1, 0]),
        helper.make_node("GlobalAveragePool", ["p6"], ["g6"]),
        helper.make_node("AveragePool", ["c6"], ["q6"], kernel_shape=[2, 3]),  # 16 x 3 x 1
        helper.make_node("Reshape", ["q6", "rows"], ["r6"]),
        helper.make_node("Gemm", ["r6", "wf", "bf"], ["f6"], transB=1),  # batch 3 -> 10
        helper.make_node("Reshape", ["f6", "flat"], ["f7"]),
        helper.make_node("Gemm", ["f7", "wg", "bg"], ["f8"]),  # batch 1 -> 11
        helper.make_node("Softmax", ["f8"], ["y"], axis=1),
        helper.make_node("Flatten", ["g6"], ["z"]),
    ]
    graph = helper.make_graph(
        nodes,
        "awkward_float",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 13, 11])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("z", TensorProto.FLOAT, None),
        ],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


@needs_tools("qemu-system-arm", "arm-none-eabi-gcc")
@pytest.mark.parametrize("target", ["mps2-an386", "mps2-an500", "mps3-an547"])
def test_fast_float_paths_on_emulated_boards(target, tmp_path):
    from edgec.harness.validate import ValidateOptions, validate

    model = awkward_float_cnn()
    onnx.save(model, tmp_path / "m.onnx")
    x = np.random.default_rng(9).uniform(-2, 2, (4, 1, 3, 13, 11)).astype(np.float32)
    np.savez(tmp_path / "data.npz", x=x)
    result = compile_model(tmp_path / "m.onnx", tmp_path / "out", CompileOptions(target=target))
    steps = json.loads((result.out_dir / "memory.json").read_text())["steps"]
    kernels = {s["kernel"] for s in steps}
    assert {"edgec_conv_fast_f32", "edgec_conv_1x1_fast_f32", "edgec_dwconv_fast_f32"} <= kernels
    assert {"edgec_binary_fast_f32", "edgec_maxpool_fast_f32", "edgec_softmax_fast_f32"} <= kernels
    saved = tmp_path / "outputs.npy"
    options = ValidateOptions(data=str(tmp_path / "data.npz"), device="emulator")
    options.save_outputs = str(saved)
    report = validate(result.out_dir, options)
    assert report["samples"] == 4
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = np.load(saved)  # per sample: both outputs flattened, side by side
    for i, sample in enumerate(x):
        expected = np.concatenate([r.reshape(-1) for r in session.run(None, {"x": sample})])
        np.testing.assert_allclose(got[i], expected, rtol=TOLERANCE[0], atol=TOLERANCE[1])
