"""The float C kernels of the ops a real export hits (issue 15) against onnxruntime.

Each case is a one-node (or few-node) ONNX model; edgec imports and folds it, generates its
float C (portable kernels, and the optimized ones where the op has them), and every case of a
test runs in one host build with ``-std=c99 -O2 -Wall -Wextra -Werror
-fsanitize=address,undefined``. The outputs must equal onnxruntime's on the source model
within rtol 1e-4, atol 1e-5 (float32 kernels summing in another order than onnxruntime).
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper
from onnx_cases import make_model, run_ort, single_node

from edgec.compiler import CompileOptions, prepare_graph
from tests.c_cases import Case, run_cases

TOLERANCE = (1e-4, 1e-5)  # rtol, atol
SAMPLES = 2


def case(model, feeds_of, seed: int) -> Case:
    """A Case of ``model``: SAMPLES inputs from ``feeds_of(rng)``, onnxruntime's outputs."""
    graph = prepare_graph(model, CompileOptions())
    rng = np.random.default_rng(seed)
    built = Case(graph, seed)
    for _ in range(SAMPLES):
        feeds = feeds_of(rng)
        built.samples.append([feeds[v.name] for v in graph.inputs])
        built.expected.append(run_ort(model, feeds))
    return built


def one_node(op, shapes: dict, attrs=None, consts: dict | None = None, low=-2.0, high=2.0, **kw):
    """A Case of a one-node model with float inputs drawn uniformly from [low, high)."""
    consts = consts or {}
    inputs = {name: np.zeros(shape, np.float32) for name, shape in shapes.items()}
    inputs.update(consts)
    model, _ = single_node(op, inputs, attrs, const=tuple(consts), **kw)

    def feeds(rng):
        return {n: rng.uniform(low, high, s).astype(np.float32) for n, s in shapes.items()}

    return model, feeds


def run(cases_: list[tuple], tmp_path, kernels: str = "portable") -> None:
    built = [case(model, feeds, seed) for seed, (model, feeds) in enumerate(cases_)]
    run_cases(built, tmp_path, kernels, tolerance=TOLERANCE)


# ---- reductions ----------------------------------------------------------------------------------
REDUCTIONS = [
    ("ReduceMean", (1, 8, 5, 5), [2, 3], 0),  # x.mean((2, 3)): the dynamo export of pooling
    ("ReduceMean", (1, 8, 5, 5), [2, 3], 1),
    ("ReduceMean", (2, 7, 3), [1], 0),
    ("ReduceMean", (1, 4, 3, 5), [1, 3], 1),  # axes apart in memory (channels-last input)
    ("ReduceMean", (3, 4), None, 0),
    ("ReduceSum", (1, 6, 4, 4), [1], 1),
    ("ReduceMax", (2, 3, 4), [0, 2], 0),
    ("ReduceMin", (2, 3, 4), [-1], 1),
    ("ReduceProd", (2, 3, 4), [1], 0),
    ("ReduceL1", (1, 5, 3, 3), [2, 3], 0),
    ("ReduceL2", (1, 5, 3, 3), [1], 1),
    ("ReduceSumSquare", (4, 6), [0], 0),
    ("ReduceLogSum", (1, 3, 4, 2), [1, 2], 1),
    ("ReduceLogSumExp", (2, 9), [1], 0),
]


def reduction_case(op, shape, axes, keepdims, after_conv: bool):
    """The reduction alone, or after a Conv (its input then lives channels-last)."""
    nodes, inits = [], {}
    source = "x"
    if after_conv and len(shape) == 4:
        inits["w"] = np.random.default_rng(1).normal(0, 0.5, (shape[1], shape[1], 1, 1))
        inits["w"] = inits["w"].astype(np.float32)
        nodes.append(helper.make_node("Conv", ["x", "w"], ["c"]))
        source = "c"
    names = [source]
    if axes is not None:
        inits["axes"] = np.array(axes, np.int64)
        names.append("axes")
    nodes.append(helper.make_node(op, names, ["y"], keepdims=keepdims))
    model = make_model(nodes, {"x": np.zeros(shape, np.float32)}, ["y"], inits, opset=18)
    low = 0.1 if op in ("ReduceLogSum", "ReduceProd") else -2.0
    return model, lambda rng: {"x": rng.uniform(low, 2.0, shape).astype(np.float32)}


@pytest.mark.parametrize("kernels", ["portable", "optimized"])
def test_reductions_over_any_axes(kernels, tmp_path):
    cases_ = [reduction_case(*r, after_conv=conv) for r in REDUCTIONS for conv in (False, True)]
    run(cases_, tmp_path, kernels)


def test_arg_reductions(tmp_path):
    cases_ = []
    for op in ("ArgMax", "ArgMin"):
        for axis, keepdims, last in [(1, 0, 0), (-1, 1, 0), (0, 0, 1), (2, 1, 1)]:
            model, _ = single_node(
                op,
                {"x": np.zeros((2, 4, 3, 5), np.float32)},
                {"axis": axis, "keepdims": keepdims, "select_last_index": last},
            )
            # few distinct values: ties, so the first / last index matters
            cases_.append(
                (model, lambda rng: {"x": rng.integers(0, 3, (2, 4, 3, 5)).astype(np.float32)})
            )
    run(cases_, tmp_path)


# ---- decoders --------------------------------------------------------------------------------
CONV_TRANSPOSE = [
    # (input shape, out channels per group, kernel, attributes)
    ((1, 4, 5, 5), 3, (2, 2), {"strides": [2, 2]}),  # the U-Net upsampling
    ((1, 3, 4, 6), 5, (3, 3), {"strides": [2, 2], "pads": [1, 1, 1, 1], "output_padding": [1, 1]}),
    ((2, 2, 3, 3), 2, (3, 2), {"strides": [1, 2], "pads": [0, 1, 2, 0]}),
    ((1, 6, 4, 4), 1, (4, 4), {"strides": [2, 2], "pads": [1, 1, 1, 1], "group": 6}),  # depthwise
    ((1, 4, 3, 3), 3, (3, 3), {"strides": [2, 1], "group": 2, "dilations": [2, 1]}),
    ((1, 3, 7), 4, (3,), {"strides": [3], "pads": [1, 0]}),  # 1-d
    ((1, 2, 3, 3), 2, (2, 2), {"strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    ((1, 2, 3, 3), 2, (3, 3), {"strides": [2, 2], "output_shape": [8, 8]}),  # zeros at the end
]


def conv_transpose_case(shape, per_group, kernel, attrs, bias: bool, seed: int):
    rng = np.random.default_rng(seed)
    group = attrs.get("group", 1)
    inputs = {
        "x": np.zeros(shape, np.float32),
        "w": rng.normal(0, 0.5, (shape[1], per_group, *kernel)).astype(np.float32),
    }
    if bias:
        inputs["b"] = rng.normal(0, 0.5, per_group * group).astype(np.float32)
    model, _ = single_node("ConvTranspose", inputs, attrs, const=("w", "b"))
    return model, lambda r: {"x": r.uniform(-2, 2, shape).astype(np.float32)}


@pytest.mark.parametrize("kernels", ["portable", "optimized"])
def test_conv_transpose(kernels, tmp_path):
    cases_ = [
        conv_transpose_case(*c, bias=i % 2 == 0, seed=i) for i, c in enumerate(CONV_TRANSPOSE)
    ]
    run(cases_, tmp_path, kernels)


RESIZES = [
    # (input shape, scales, sizes, coordinate mode)
    ((1, 3, 4, 5), [1, 1, 2, 2], None, "half_pixel"),  # nn.Upsample(scale_factor=2, bilinear)
    ((1, 3, 4, 5), [1, 1, 2, 2], None, "align_corners"),
    ((1, 2, 5, 3), [1, 1, 1.5, 0.6], None, "pytorch_half_pixel"),
    ((1, 2, 4, 4), None, [1, 2, 7, 1], "pytorch_half_pixel"),
    ((2, 3, 3, 4), None, [2, 3, 6, 9], "asymmetric"),
    ((1, 4, 6), [1, 1, 2.5], None, "half_pixel"),  # 1-d
    ((1, 2, 5, 4), [1, 1, 0.5, 0.5], None, "half_pixel_symmetric"),  # down
]


def resize_case(shape, scales, sizes, mode):
    inputs = {
        "x": np.zeros(shape, np.float32),
        "roi": None,
        "scales": None if scales is None else np.array(scales, np.float32),
    }
    if sizes is not None:
        inputs["sizes"] = np.array(sizes, np.int64)
    attrs = {"mode": "linear", "coordinate_transformation_mode": mode}
    model, _ = single_node("Resize", inputs, attrs, const=("scales", "sizes"))
    return model, lambda r: {"x": r.uniform(-2, 2, shape).astype(np.float32)}


def upsample_case(mode):
    """The old Upsample op (opset 9): asymmetric coordinates."""
    node = helper.make_node("Upsample", ["x", "s"], ["y"], mode=mode)
    scales = {"s": np.array([1, 1, 2, 3], np.float32)}
    model = make_model([node], {"x": np.zeros((1, 2, 3, 4), np.float32)}, ["y"], scales, opset=9)
    return model, lambda r: {"x": r.uniform(-2, 2, (1, 2, 3, 4)).astype(np.float32)}


def test_resize_bilinear_and_upsample(tmp_path):
    cases_ = [resize_case(*r) for r in RESIZES]
    cases_ += [upsample_case("linear"), upsample_case("nearest")]
    run(cases_, tmp_path)


# ---- elementwise tails -------------------------------------------------------------------------
def variadic_case(op, shapes):
    names = [f"x{i}" for i in range(len(shapes))]
    node = helper.make_node(op, names, ["y"])
    zeros = {n: np.zeros(s, np.float32) for n, s in zip(names, shapes)}
    model = make_model([node], zeros, ["y"])
    return model, lambda r: {
        n: r.uniform(-2, 2, s).astype(np.float32) for n, s in zip(names, shapes)
    }


VARIADICS = [
    ("Max", [(2, 3, 4), (2, 3, 4), (3, 4)]),
    ("Min", [(1, 4, 3, 3), (1, 4, 1, 1), (1, 4, 3, 3), (3,)]),
    ("Sum", [(2, 5), (2, 5), (2, 5)]),
    ("Sum", [(3, 4)]),  # one input: the identity
    ("Mean", [(2, 3, 4), (1, 3, 1), (2, 3, 4)]),
    ("Mean", [(4, 5), (4, 5)]),
    ("Max", [(4, 5), (1, 5)]),  # two: the binary kernel
]

UNARIES = [
    ("Neg", -2.0, 2.0), ("Abs", -2.0, 2.0), ("Exp", -3.0, 3.0), ("Log", 0.05, 5.0),
    ("Sqrt", 0.0, 5.0), ("Erf", -3.0, 3.0), ("Reciprocal", 0.2, 4.0),
]  # fmt: skip


def test_variadic_and_unary_math(tmp_path):
    cases_ = [variadic_case(op, shapes) for op, shapes in VARIADICS]
    cases_ += [one_node(op, {"x": (2, 3, 5)}, low=lo, high=hi) for op, lo, hi in UNARIES]
    for exponent in (2.0, 0.5, 3.0, -1.5):
        cases_.append(
            one_node("Pow", {"x": (3, 7)}, consts={"e": np.float32(exponent)}, low=0.1, high=3)
        )
    run(cases_, tmp_path)


def where_case(cond_shape, x_shape, y_const: bool, seed: int):
    rng = np.random.default_rng(seed)
    inputs = {
        "c": rng.integers(0, 2, cond_shape).astype(bool),
        "x": np.zeros(x_shape, np.float32),
        "y": rng.normal(size=(x_shape[-1],)).astype(np.float32) if y_const else None,
    }
    if not y_const:
        inputs["y"] = np.zeros(x_shape, np.float32)
    model, _ = single_node("Where", inputs, const=("c", "y") if y_const else ("c",))
    shapes = {"x": x_shape} if y_const else {"x": x_shape, "y": x_shape}
    return model, lambda r: {n: r.uniform(-2, 2, s).astype(np.float32) for n, s in shapes.items()}


def cast_case(source, target):
    node = helper.make_node(
        "Cast", ["x"], ["c"], to=helper.np_dtype_to_tensor_dtype(np.dtype(target))
    )
    back = helper.make_node(
        "Cast", ["c"], ["y"], to=helper.np_dtype_to_tensor_dtype(np.dtype(np.float32))
    )
    model = make_model([node, back], {"x": np.zeros((3, 8), source)}, ["c", "y"])

    def feeds(r):
        if np.dtype(source) == np.float32:
            return {"x": r.uniform(-300, 300, (3, 8)).astype(np.float32)}
        info = np.iinfo(source)
        return {
            "x": r.integers(max(info.min, -(2**40)), min(info.max, 2**40), (3, 8)).astype(source)
        }

    return model, feeds


def test_where_cast_and_pad_modes(tmp_path):
    cases_ = [
        where_case((2, 3, 4), (2, 3, 4), False, 0),
        where_case((3, 1), (2, 3, 4), True, 1),
        where_case((4,), (1, 2, 5, 4), False, 2),
    ]
    # float to integer truncates toward zero (values within the target's range), back to float
    cases_ += [cast_case(np.float32, t) for t in (np.int32, np.int64, np.int16)]
    cases_ += [cast_case(t, np.float32) for t in (np.int64, np.int8, np.uint8)]
    for mode in ("reflect", "edge", "wrap"):
        pads = np.array([0, 1, 2, 1, 0, 2, 1, 2], np.int64)
        cases_.append(one_node("Pad", {"x": (1, 3, 4, 5)}, {"mode": mode}, consts={"p": pads}))
    run(cases_, tmp_path)


def space_case(op, attrs, shape, after_conv: bool):
    """DepthToSpace / SpaceToDepth alone (logical layout) or after a Conv (channels-last)."""
    nodes, inits, source = [], {}, "x"
    if after_conv:
        inits["w"] = np.random.default_rng(2).normal(0, 0.5, (shape[1], shape[1], 1, 1))
        inits["w"] = inits["w"].astype(np.float32)
        nodes.append(helper.make_node("Conv", ["x", "w"], ["c"]))
        source = "c"
    nodes.append(helper.make_node(op, [source], ["y"], **attrs))
    model = make_model(nodes, {"x": np.zeros(shape, np.float32)}, ["y"], inits)
    return model, lambda r: {"x": r.uniform(-2, 2, shape).astype(np.float32)}


SPACES = [
    ("DepthToSpace", {"blocksize": 2}, (2, 8, 3, 4)),
    ("DepthToSpace", {"blocksize": 2, "mode": "CRD"}, (1, 12, 2, 3)),
    ("DepthToSpace", {"blocksize": 3}, (1, 18, 2, 2)),
    ("SpaceToDepth", {"blocksize": 2}, (1, 3, 4, 6)),
]


def test_depth_to_space_and_back(tmp_path):
    run([space_case(*s, after_conv=conv) for s in SPACES for conv in (False, True)], tmp_path)
