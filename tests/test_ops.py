"""Every op's float reference against onnxruntime on one-node graphs.

hypothesis draws shapes and attributes (derandomized, bounded example counts, so the file
is deterministic and fast); tensor data comes from a numpy generator seeded by the draw.
Each case also checks that edgec's inferred output shape is the shape onnxruntime returns.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, numpy_helper
from onnx_cases import assert_close, run_ort, single_node

from edgec.frontend import load_model
from edgec.interp import Interpreter
from edgec.ops import get_op

FAST = settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FEW = settings(FAST, max_examples=15)

seeds = st.integers(0, 2**32 - 1)


def check(
    op_type: str,
    inputs: dict,
    attrs: dict | None = None,
    const: tuple[str, ...] = (),
    n_outputs: int = 1,
    rtol: float = 1e-4,
    atol: float = 1e-5,
    opset: int = 21,
):
    """Run the one-node model in onnxruntime and edgec; same shapes, dtypes and values."""
    model, feeds = single_node(op_type, inputs, attrs, n_outputs, const, opset)
    expected = run_ort(model, feeds)
    graph = load_model(model)
    results = Interpreter(graph).run(feeds)
    for value, want in zip(graph.outputs, expected):
        assert value.shape == want.shape, f"inferred {value.shape}, onnxruntime {want.shape}"
        assert_close(results[value.name], want, rtol, atol, f"{op_type} {attrs} {value.name}")
    return graph


def normal(rng: np.random.Generator, shape, dtype=np.float32) -> np.ndarray:
    return rng.standard_normal(shape).astype(dtype)


# ---- Conv / ConvTranspose --------------------------------------------------------------------
AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


@st.composite
def conv_cases(draw):
    nd = draw(st.integers(1, 3))
    limit = 6 if nd == 3 else 9
    group = draw(st.integers(1, 3))
    cin, cout = group * draw(st.integers(1, 2)), group * draw(st.integers(1, 3))
    kernel = draw(st.lists(st.integers(1, 3), min_size=nd, max_size=nd))
    strides = draw(st.lists(st.integers(1, 3), min_size=nd, max_size=nd))
    dilations = draw(st.lists(st.integers(1, 2), min_size=nd, max_size=nd))
    auto_pad = draw(st.sampled_from(AUTO_PADS))
    pads = draw(st.lists(st.integers(0, 2), min_size=2 * nd, max_size=2 * nd))
    if auto_pad != "NOTSET":
        pads = [0] * (2 * nd)
    if auto_pad.startswith("SAME"):
        dilations = [1] * nd  # onnxruntime refuses dilated SAME convolutions
    extent = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    spatial = [
        draw(st.integers(max(1, e - pads[i] - pads[i + nd]), max(e, 1) + limit - 3))
        for i, e in enumerate(extent)
    ]
    attrs = {"group": group, "kernel_shape": kernel, "strides": strides, "dilations": dilations}
    attrs["auto_pad"] = auto_pad
    if auto_pad == "NOTSET":
        attrs["pads"] = pads
    return (
        (draw(st.integers(1, 2)), cin, spatial),
        (cout, cin // group, kernel),
        attrs,
        draw(st.booleans()),
        draw(seeds),
    )


@FAST
@given(conv_cases())
def test_conv(case):
    (n, c, spatial), (m, cg, kernel), attrs, with_bias, seed = case
    rng = np.random.default_rng(seed)
    inputs = {"x": normal(rng, (n, c, *spatial)), "w": normal(rng, (m, cg, *kernel))}
    if with_bias:
        inputs["b"] = normal(rng, (m,))
    check("Conv", inputs, attrs, const=("w", "b"))


def test_depthwise_conv_with_channel_multiplier(rng):
    """group == channels with 3 filters per channel (a MobileNet-style depthwise layer)."""
    inputs = {
        "x": normal(rng, (1, 4, 7, 6)),
        "w": normal(rng, (12, 1, 3, 3)),
        "b": normal(rng, (12,)),
    }
    attrs = {"group": 4, "pads": [1, 1, 1, 1], "strides": [2, 1]}
    check("Conv", inputs, attrs, const=("w", "b"))


@st.composite
def conv_transpose_cases(draw):
    nd = draw(st.integers(1, 2))
    group = draw(st.integers(1, 2))
    cin, cout_g = group * draw(st.integers(1, 2)), draw(st.integers(1, 3))
    kernel = draw(st.lists(st.integers(1, 3), min_size=nd, max_size=nd))
    strides = draw(st.lists(st.integers(1, 3), min_size=nd, max_size=nd))
    dilations = draw(st.lists(st.integers(1, 2), min_size=nd, max_size=nd))
    spatial = draw(st.lists(st.integers(1, 5), min_size=nd, max_size=nd))
    attrs = {"group": group, "strides": strides, "dilations": dilations, "kernel_shape": kernel}
    mode = draw(st.sampled_from(["pads", "output_shape", "VALID", "SAME_UPPER", "SAME_LOWER"]))
    # onnxruntime wants output_padding below the stride on its axis.
    out_pad = [draw(st.integers(0, s - 1)) for s in strides]
    full = [
        s * (i - 1) + op + (k - 1) * d + 1
        for s, i, op, k, d in zip(strides, spatial, out_pad, kernel, dilations)
    ]
    if mode == "pads":
        pads = [draw(st.integers(0, 2)) for _ in range(2 * nd)]
        for i in range(nd):  # keep at least one output element
            while pads[i] + pads[i + nd] >= full[i]:
                pads[i + nd] = max(0, pads[i + nd] - 1)
                pads[i] = max(0, pads[i] - 1) if pads[i] + pads[i + nd] >= full[i] else pads[i]
        attrs.update(pads=pads, output_padding=out_pad)
    elif mode == "output_shape":
        # Up to a stride past the full size, the extra acts as output_padding.
        high = [f + s - 1 - p for f, s, p in zip(full, strides, out_pad)]
        attrs["output_shape"] = [draw(st.integers(max(1, f - 3), h)) for f, h in zip(full, high)]
        attrs["output_padding"] = out_pad
    else:
        attrs.update(auto_pad=mode, output_padding=out_pad)
    return (1, cin, spatial), (cin, cout_g, kernel), attrs, draw(st.booleans()), draw(seeds)


@FAST
@given(conv_transpose_cases())
def test_conv_transpose(case):
    (n, c, spatial), (ci, mg, kernel), attrs, with_bias, seed = case
    rng = np.random.default_rng(seed)
    inputs = {"x": normal(rng, (n, c, *spatial)), "w": normal(rng, (ci, mg, *kernel))}
    if with_bias:
        inputs["b"] = normal(rng, (mg * attrs["group"],))
    check("ConvTranspose", inputs, attrs, const=("w", "b"))


# ---- Gemm / MatMul ---------------------------------------------------------------------------
@FAST
@given(
    st.integers(1, 5),
    st.integers(1, 6),
    st.integers(1, 5),
    st.integers(0, 1),
    st.integers(0, 1),
    st.sampled_from([1.0, 0.5, -2.0]),
    st.sampled_from([1.0, 0.25, 0.0]),
    st.sampled_from(["none", "scalar", "n", "1n", "m1", "mn"]),
    seeds,
)
def test_gemm(m, k, n, trans_a, trans_b, alpha, beta, c_form, seed):
    rng = np.random.default_rng(seed)
    inputs = {
        "a": normal(rng, (k, m) if trans_a else (m, k)),
        "b": normal(rng, (n, k) if trans_b else (k, n)),
    }
    c_shape = {"scalar": (), "n": (n,), "1n": (1, n), "m1": (m, 1), "mn": (m, n)}.get(c_form)
    if c_shape is not None:
        inputs["c"] = normal(rng, c_shape)
    attrs = {"transA": trans_a, "transB": trans_b, "alpha": alpha, "beta": beta}
    check("Gemm", inputs, attrs, const=("b", "c"))


MATMUL_SHAPES = [
    ((4,), (4,)),
    ((3,), (3, 5)),
    ((2, 3, 4), (4,)),
    ((5,), (2, 5, 3)),
    ((2, 3), (3, 4)),
    ((2, 1, 3, 4), (5, 4, 2)),
    ((3, 4), (2, 4, 6)),
    ((2, 2, 3), (1, 3, 2)),
]


@pytest.mark.parametrize(("a_shape", "b_shape"), MATMUL_SHAPES)
def test_matmul(a_shape, b_shape, rng):
    check("MatMul", {"a": normal(rng, a_shape), "b": normal(rng, b_shape)})


def test_matmul_with_constant_weight(rng):
    check("MatMul", {"a": normal(rng, (1, 7)), "b": normal(rng, (7, 3))}, const=("b",))


# ---- pooling ---------------------------------------------------------------------------------
@st.composite
def pool_cases(draw, op: str):
    nd = draw(st.integers(1, 3))
    kernel = draw(st.lists(st.integers(1, 3), min_size=nd, max_size=nd))
    strides = draw(st.lists(st.integers(1, 3), min_size=nd, max_size=nd))
    dilations = draw(st.lists(st.integers(1, 2), min_size=nd, max_size=nd))
    extent = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    auto_pad = draw(st.sampled_from(AUTO_PADS))
    # onnxruntime wants each pad smaller than the kernel size.
    pads = [draw(st.integers(0, k - 1)) for k in kernel * 2] if auto_pad == "NOTSET" else None
    spatial = [draw(st.integers(e, e + 5 - nd)) for e in extent]
    if auto_pad.startswith("SAME"):
        # onnxruntime sizes SAME pools ignoring dilation and fails on negative SAME padding,
        # both outside the ONNX definition: keep to cases where it follows the spec.
        dilations = [1] * nd
        needed = [(-(-i // s) - 1) * s + k - i for i, s, k in zip(spatial, strides, kernel)]
        assume(min(needed) >= 0)
    attrs = {"kernel_shape": kernel, "strides": strides, "auto_pad": auto_pad}
    attrs["ceil_mode"] = draw(st.integers(0, 1)) if auto_pad in ("NOTSET", "VALID") else 0
    if pads is not None:
        attrs["pads"] = pads
    if op == "MaxPool" or draw(st.booleans()):
        attrs["dilations"] = dilations
    if op == "AveragePool":
        attrs["count_include_pad"] = draw(st.integers(0, 1))
    return (draw(st.integers(1, 2)), draw(st.integers(1, 3)), *spatial), attrs, draw(seeds)


@FAST
@given(pool_cases("MaxPool"))
def test_max_pool(case):
    shape, attrs, seed = case
    check("MaxPool", {"x": normal(np.random.default_rng(seed), shape)}, attrs)


@FEW
@given(pool_cases("MaxPool"), st.integers(0, 1))
def test_max_pool_indices(case, storage_order):
    shape, attrs, seed = case
    x = normal(np.random.default_rng(seed), shape)
    check("MaxPool", {"x": x}, {**attrs, "storage_order": storage_order}, n_outputs=2)


@FAST
@given(pool_cases("AveragePool"))
def test_average_pool(case):
    shape, attrs, seed = case
    check("AveragePool", {"x": normal(np.random.default_rng(seed), shape)}, attrs)


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
@pytest.mark.parametrize("shape", [(1, 3, 5), (2, 4, 3, 5), (1, 2, 2, 3, 4)])
def test_global_pools(op, shape, rng):
    check(op, {"x": normal(rng, shape)})


@FEW
@given(
    st.sampled_from([1, 3, 5]),  # onnxruntime takes odd sizes only
    st.sampled_from([1e-4, 0.5]),
    st.sampled_from([0.75, 0.5]),
    st.sampled_from([1.0, 2.0]),
    seeds,
)
def test_lrn(size, alpha, beta, bias, seed):
    x = normal(np.random.default_rng(seed), (2, 6, 3, 4))
    check("LRN", {"x": x}, {"size": size, "alpha": alpha, "beta": beta, "bias": bias})


# ---- softmax and activations -----------------------------------------------------------------
@FAST
@given(st.integers(1, 4), st.data())
def test_softmax_family(rank, data):
    shape = data.draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank))
    axis = data.draw(st.integers(-rank, rank - 1))
    op = data.draw(st.sampled_from(["Softmax", "LogSoftmax"]))
    x = 4 * normal(np.random.default_rng(data.draw(seeds)), shape)
    check(op, {"x": x}, {"axis": axis})


ACTIVATIONS = [
    ("Relu", {}),
    ("LeakyRelu", {"alpha": 0.2}),
    ("Sigmoid", {}),
    ("Tanh", {}),
    ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}),
    ("HardSwish", {}),
    ("Elu", {"alpha": 0.7}),
    ("Selu", {}),
    ("Selu", {"alpha": 1.5, "gamma": 2.0}),
    ("Softplus", {}),
    ("Softsign", {}),
    ("Shrink", {"bias": 0.5, "lambd": 1.0}),
    ("Celu", {"alpha": 0.8}),
    ("ThresholdedRelu", {"alpha": 0.5}),
    ("Mish", {}),
    ("Gelu", {}),
    ("Gelu", {"approximate": "tanh"}),
    ("Erf", {}),
    ("Neg", {}),
    ("Abs", {}),
    ("Exp", {}),
    ("Floor", {}),
    ("Ceil", {}),
    ("Sign", {}),
    ("Round", {}),
    ("Identity", {}),
]


@pytest.mark.parametrize(("op", "attrs"), ACTIVATIONS, ids=[f"{o}{a}" for o, a in ACTIVATIONS])
def test_activation(op, attrs, rng):
    x = 6 * normal(rng, (2, 3, 17))
    x[0, 0, :6] = [0.0, -0.0, 0.5, -0.5, 2.5, -1.5]  # ties for Round, zeros for Sign
    check(op, {"x": x}, attrs)


@pytest.mark.parametrize("op", ["Log", "Sqrt", "Reciprocal"])
def test_unary_on_positive_inputs(op, rng):
    check(op, {"x": rng.uniform(0.1, 5, (3, 8)).astype(np.float32)})


@pytest.mark.parametrize("bounds", [{"lo": -0.5, "hi": 0.5}, {"lo": 0.0}, {"hi": 6.0}, {}])
def test_clip(bounds, rng):
    inputs = {"x": 4 * normal(rng, (3, 7))}
    inputs["lo"] = np.array(bounds["lo"], np.float32) if "lo" in bounds else None
    if "hi" in bounds:
        inputs["hi"] = np.array(bounds["hi"], np.float32)
    check("Clip", inputs, const=("lo", "hi"))


@pytest.mark.parametrize("slope_shape", [(1,), (3, 1, 1), (1, 3, 1, 1), (5,), (2, 3, 4, 5)])
def test_prelu(slope_shape, rng):
    check("PRelu", {"x": normal(rng, (2, 3, 4, 5)), "s": normal(rng, slope_shape)}, const=("s",))


# ---- Resize (nearest) ------------------------------------------------------------------------
COORDINATE_MODES = (
    "half_pixel",
    "pytorch_half_pixel",
    "asymmetric",
    "tf_half_pixel_for_nn",
    "align_corners",
)
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


@FAST
@given(
    st.sampled_from((*COORDINATE_MODES, "half_pixel_symmetric")),
    st.sampled_from(NEAREST_MODES),
    st.lists(st.integers(1, 5), min_size=2, max_size=2),
    st.booleans(),
    st.data(),
)
def test_resize_nearest(coordinates, nearest, spatial, by_sizes, data):
    x = normal(np.random.default_rng(data.draw(seeds)), (1, 2, *spatial))
    inputs = {"x": x, "roi": None}
    if by_sizes:
        sizes = [data.draw(st.integers(1, 12)) for _ in spatial]
        inputs.update(scales=None, sizes=np.array([1, 2, *sizes], np.int64))
    else:
        scales = [
            data.draw(st.sampled_from([0.3, 0.5, 0.6, 0.7, 1.0, 1.5, 1.7, 2.0, 2.2, 2.5, 3.3]))
            for _ in spatial
        ]
        assume(all(int(s * d) >= 1 for s, d in zip(scales, spatial)))
        inputs["scales"] = np.array([1, 1, *scales], np.float32)
    attrs = {
        "mode": "nearest",
        "coordinate_transformation_mode": coordinates,
        "nearest_mode": nearest,
    }
    check("Resize", inputs, attrs, const=("scales", "sizes"))


@pytest.mark.parametrize("policy", ["not_larger", "not_smaller"])
def test_resize_keep_aspect_ratio(policy, rng):
    x = normal(rng, (1, 1, 4, 6))
    inputs = {"x": x, "roi": None, "scales": None, "sizes": np.array([7, 5], np.int64)}
    attrs = {"mode": "nearest", "axes": [2, 3], "keep_aspect_ratio_policy": policy}
    check("Resize", inputs, attrs, const=("sizes",))


# ---- data movement ---------------------------------------------------------------------------
@FAST
@given(
    st.integers(1, 4),
    st.sampled_from(["constant", "reflect", "edge", "wrap"]),
    st.booleans(),
    st.data(),
)
def test_pad(rank, mode, with_axes, data):
    shape = data.draw(st.lists(st.integers(2, 4), min_size=rank, max_size=rank))
    axes = list(range(rank))
    if with_axes:
        axes = data.draw(
            st.lists(
                st.integers(-rank, rank - 1),
                min_size=1,
                max_size=rank,
                unique_by=lambda a: a % rank,
            )
        )
    limit = 1 if mode == "reflect" else 3  # reflect needs pads below the dim size
    pads = [data.draw(st.integers(0, limit)) for _ in range(2 * len(axes))]
    x = normal(np.random.default_rng(data.draw(seeds)), shape)
    inputs = {"x": x, "pads": np.array(pads, np.int64)}
    inputs["value"] = np.array(1.5, np.float32) if mode == "constant" else None
    if with_axes:
        inputs["axes"] = np.array(axes, np.int64)
    check("Pad", inputs, {"mode": mode}, const=("pads", "value", "axes"))


def test_pad_negative_crops(rng):
    inputs = {"x": normal(rng, (3, 5)), "pads": np.array([-1, 2, 0, -2], np.int64)}
    check("Pad", inputs, const=("pads",))


BIG = np.iinfo(np.int64).max


@FAST
@given(st.integers(1, 3), st.data())
def test_slice(rank, data):
    shape = data.draw(st.lists(st.integers(1, 6), min_size=rank, max_size=rank))
    count = data.draw(st.integers(1, rank))
    axes = data.draw(st.permutations(range(rank)))[:count]
    ends_pool = st.sampled_from([-BIG, -9, -3, -1, 0, 1, 2, 4, 9, BIG])
    starts = [data.draw(st.sampled_from([-BIG, -9, -2, -1, 0, 1, 3, 9, BIG])) for _ in axes]
    ends = [data.draw(ends_pool) for _ in axes]
    steps = [data.draw(st.sampled_from([-3, -2, -1, 1, 2, 3])) for _ in axes]
    negative_axes = [a - rank if data.draw(st.booleans()) else a for a in axes]
    x = normal(np.random.default_rng(data.draw(seeds)), shape)
    inputs = {
        "x": x,
        "starts": np.array(starts, np.int64),
        "ends": np.array(ends, np.int64),
        "axes": np.array(negative_axes, np.int64),
        "steps": np.array(steps, np.int64),
    }
    check("Slice", inputs, const=("starts", "ends", "axes", "steps"))


def test_slice_without_axes_and_steps(rng):
    inputs = {"x": normal(rng, (4, 5)), "starts": np.array([1, -3]), "ends": np.array([BIG, -1])}
    check("Slice", inputs, const=("starts", "ends"))


@FAST
@given(st.integers(1, 3), st.data())
def test_split(rank, data):
    shape = data.draw(st.lists(st.integers(1, 7), min_size=rank, max_size=rank))
    axis = data.draw(st.integers(-rank, rank - 1))
    dim = shape[axis]
    x = normal(np.random.default_rng(data.draw(seeds)), shape)
    if data.draw(st.booleans()):
        cuts = sorted(data.draw(st.lists(st.integers(0, dim), max_size=3)))
        sizes = np.diff([0, *cuts, dim]).astype(np.int64)
        check(
            "Split",
            {"x": x, "split": sizes},
            {"axis": axis},
            const=("split",),
            n_outputs=len(sizes),
        )
    else:
        count = data.draw(st.integers(1, dim))
        assume(-(-dim // count) * (count - 1) < dim)  # onnxruntime needs a non-empty last chunk
        check("Split", {"x": x}, {"axis": axis, "num_outputs": count}, n_outputs=count)


@FAST
@given(st.integers(1, 3), st.integers(0, 2), st.booleans(), st.data())
def test_gather(rank, index_rank, const_indices, data):
    shape = data.draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank))
    axis = data.draw(st.integers(-rank, rank - 1))
    rng = np.random.default_rng(data.draw(seeds))
    idx_shape = data.draw(st.lists(st.integers(1, 3), min_size=index_rank, max_size=index_rank))
    indices = rng.integers(-shape[axis], shape[axis], idx_shape).astype(np.int64)
    inputs = {"x": normal(rng, shape), "i": indices}
    check("Gather", inputs, {"axis": axis}, const=("i",) if const_indices else ())


@FAST
@given(st.integers(1, 4), st.integers(1, 4), st.data())
def test_concat(rank, count, data):
    shape = data.draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank))
    axis = data.draw(st.integers(-rank, rank - 1))
    rng = np.random.default_rng(data.draw(seeds))
    inputs = {}
    for i in range(count):
        part = list(shape)
        part[axis] = data.draw(st.integers(1, 3))
        inputs[f"x{i}"] = normal(rng, part)
    check("Concat", inputs, {"axis": axis}, const=("x1",))


@FAST
@given(st.integers(1, 5), st.booleans(), st.data())
def test_transpose(rank, with_perm, data):
    shape = data.draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank))
    attrs = {"perm": list(data.draw(st.permutations(range(rank))))} if with_perm else {}
    check("Transpose", {"x": normal(np.random.default_rng(data.draw(seeds)), shape)}, attrs)


RESHAPES = [
    ((2, 3, 4), [0, -1], 0),
    ((2, 3, 4), [-1], 0),
    ((2, 3, 4), [4, 0, 2], 0),
    ((2, 3, 4), [0, 0, 2, 2], 0),
    ((2, 3, 4), [2, -1, 3], 1),
    ((1, 6), [3, 2], 1),
]


@pytest.mark.parametrize(("shape", "target", "allowzero"), RESHAPES)
def test_reshape(shape, target, allowzero, rng):
    inputs = {"x": normal(rng, shape), "s": np.array(target, np.int64)}
    check("Reshape", inputs, {"allowzero": allowzero}, const=("s",))


@pytest.mark.parametrize(
    ("op", "shape", "axes"),
    [
        ("Squeeze", (1, 3, 1, 2), [0, -2]),
        ("Squeeze", (1, 3, 1, 2), None),
        ("Squeeze", (1,), [0]),
        ("Unsqueeze", (3, 2), [0, -1]),
        ("Unsqueeze", (3, 2), [1, 3]),
        ("Unsqueeze", (), [0]),
        ("Flatten", (2, 3, 4), None),
    ],
)
def test_squeeze_unsqueeze_flatten(op, shape, axes, rng):
    inputs = {"x": normal(rng, shape)}
    if axes is not None:
        inputs["axes"] = np.array(axes, np.int64)
    check(op, inputs, const=("axes",))


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -3])
def test_flatten_axes(axis, rng):
    check("Flatten", {"x": normal(rng, (2, 3, 4))}, {"axis": axis})


REDUCE_OPS = (
    "ReduceMean",
    "ReduceSum",
    "ReduceMax",
    "ReduceMin",
    "ReduceProd",
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSum",
    "ReduceLogSumExp",
    "ReduceSumSquare",
)


@FAST
@given(st.sampled_from(REDUCE_OPS), st.integers(1, 4), st.integers(0, 1), st.data())
def test_reduce(op, rank, keepdims, data):
    shape = data.draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank))
    axes = data.draw(
        st.none()
        | st.lists(st.integers(-rank, rank - 1), max_size=rank, unique_by=lambda a: a % rank)
    )
    noop = data.draw(st.integers(0, 1))
    rng = np.random.default_rng(data.draw(seeds))
    x = rng.uniform(0.2, 2, shape).astype(np.float32)  # positive, for ReduceLogSum
    inputs = {"x": x}
    if axes is not None:
        inputs["axes"] = np.array(axes, np.int64)
    check(op, inputs, {"keepdims": keepdims, "noop_with_empty_axes": noop}, const=("axes",))


@pytest.mark.parametrize("op", ["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin"])
@pytest.mark.parametrize("opset", [11, 13])
def test_reduce_with_axes_attribute(op, opset, rng):
    """Before opset 18 (13 for ReduceSum) axes were an attribute; the importer moves them."""
    if op == "ReduceSum" and opset == 13:
        check(
            op,
            {"x": normal(rng, (2, 3, 4)), "axes": np.array([1], np.int64)},
            const=("axes",),
            opset=13,
        )
    else:
        check(op, {"x": normal(rng, (2, 3, 4))}, {"axes": [0, -1], "keepdims": 0}, opset=opset)


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize(("axis", "keepdims", "last"), [(0, 1, 0), (-1, 0, 0), (1, 1, 1)])
def test_arg_reductions(op, axis, keepdims, last, rng):
    x = rng.integers(0, 3, (3, 4, 2)).astype(np.float32)  # ties, so select_last_index matters
    check(op, {"x": x}, {"axis": axis, "keepdims": keepdims, "select_last_index": last})


# ---- quantization and casts ------------------------------------------------------------------
QUANT_TYPES = {np.int8: TensorProto.INT8, np.uint8: TensorProto.UINT8, np.int16: TensorProto.INT16}


@FAST
@given(st.sampled_from(list(QUANT_TYPES)), st.booleans(), st.booleans(), st.data())
def test_quantize_dequantize(dtype, per_channel, with_zero_point, data):
    rng = np.random.default_rng(data.draw(seeds))
    shape = (2, 3, 4)
    axis = data.draw(st.integers(-3, 2)) if per_channel else 1
    count = shape[axis] if per_channel else 1
    info = np.iinfo(dtype)
    scale = rng.uniform(0.01, 0.2, count).astype(np.float32)
    zero = rng.integers(info.min // 2, info.max // 2, count).astype(dtype)
    if not per_channel:
        scale, zero = scale.reshape(()), zero.reshape(())
    # Values to the saturation limits and beyond, plus exact ties (k + 0.5) * scale.
    span = float(scale.max()) * (info.max - info.min)
    x = rng.uniform(-span, span, shape).astype(np.float32)
    x.reshape(-1)[:5] = (np.arange(5) + 0.5) * float(scale.reshape(-1)[0])
    q_inputs = {"x": x, "scale": scale, "zero": zero if with_zero_point else None}
    attrs = {"axis": axis}
    if not with_zero_point:
        attrs["output_dtype"] = QUANT_TYPES[dtype]
    check("QuantizeLinear", q_inputs, attrs, const=("scale", "zero"))
    q = rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)
    d_inputs = {"q": q, "scale": scale, "zero": zero if with_zero_point else None}
    check("DequantizeLinear", d_inputs, {"axis": axis}, const=("scale", "zero"), rtol=0, atol=0)


@pytest.mark.parametrize("per_channel", [False, True])
def test_dequantize_int32_bias(per_channel, rng):
    """int32 biases of QDQ models: zero point 0, scale = input scale x weight scale."""
    bias = rng.integers(-(2**20), 2**20, (6,)).astype(np.int32)
    scale = rng.uniform(1e-5, 1e-3, 6 if per_channel else ()).astype(np.float32)
    inputs = {"q": bias, "scale": scale}
    check("DequantizeLinear", inputs, {"axis": 0}, const=("q", "scale"), rtol=0, atol=0)


CASTS = [
    (np.float32, TensorProto.INT32),
    (np.float32, TensorProto.INT8),
    (np.float32, TensorProto.UINT8),
    (np.float32, TensorProto.INT64),
    (np.float32, TensorProto.BOOL),
    (np.float32, TensorProto.FLOAT16),
    (np.float32, TensorProto.DOUBLE),
    (np.int64, TensorProto.FLOAT),
    (np.int32, TensorProto.INT8),
    (np.int8, TensorProto.FLOAT),
    (np.uint8, TensorProto.INT32),
    (np.bool_, TensorProto.FLOAT),
]


@pytest.mark.parametrize(("source", "target"), CASTS)
def test_cast(source, target, rng):
    if np.issubdtype(source, np.floating):
        x = rng.uniform(-100, 100, (3, 7)).astype(source)  # truncation toward zero, in range
        if target == TensorProto.UINT8:
            x = np.abs(x)
        x[0, :3] = [0.0, -0.5, 0.5]
    elif source is np.bool_:
        x = rng.integers(0, 2, (3, 7)).astype(np.bool_)
    else:
        x = rng.integers(-100 if np.iinfo(source).min < 0 else 0, 100, (3, 7)).astype(source)
    check("Cast", {"x": x}, {"to": target})


BROADCASTS = [
    ((2, 3, 4), (2, 3, 4)),
    ((2, 3, 4), (4,)),
    ((2, 3, 4), ()),
    ((2, 1, 4), (3, 1)),
    ((1,), (2, 3)),
    ((5, 1, 3, 1), (1, 4, 1, 2)),
]


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Mean", "Pow"])
@pytest.mark.parametrize(("a_shape", "b_shape"), BROADCASTS)
def test_binary_broadcasting(op, a_shape, b_shape, rng):
    a, b = normal(rng, a_shape), normal(rng, b_shape)
    if op == "Pow":
        a = np.abs(a) + 0.1
    if op == "Div":
        b = np.where(np.abs(b) < 0.1, 0.5, b).astype(np.float32)
    check(op, {"a": a, "b": b})


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_integer_arithmetic(op, dtype, rng):
    """Integer Div truncates toward zero in ONNX (numpy's // floors)."""
    a = rng.integers(-50, 50, (4, 5)).astype(dtype)
    b = rng.integers(1, 7, (5,)).astype(dtype) * np.where(rng.random(5) < 0.5, -1, 1).astype(dtype)
    check(op, {"a": a, "b": b})


@pytest.mark.parametrize("count", [1, 3])
@pytest.mark.parametrize("op", ["Max", "Min", "Sum", "Mean"])
def test_variadic(op, count, rng):
    inputs = {f"x{i}": normal(rng, shape) for i, shape in enumerate([(2, 3), (3,), (1, 3)][:count])}
    check(op, inputs)


# ---- multiply-accumulate counts --------------------------------------------------------------
def _macs(model_and_feeds) -> int:
    graph = load_model(model_and_feeds[0])
    node = graph.nodes[0]
    return get_op(node.op_type).macs(node)


def test_macs_by_hand(rng):
    """MACs of Conv/ConvTranspose/Gemm/MatMul against counts worked out by hand."""
    w = normal(rng, (8, 2, 3, 3))  # 8 filters over 2 of the 4 channels (group 2)
    conv = single_node(
        "Conv",
        {"x": normal(rng, (1, 4, 10, 10)), "w": w},
        {"group": 2, "pads": [1] * 4},
        const=("w",),
    )
    assert _macs(conv) == (8 * 10 * 10) * (2 * 3 * 3)  # each output: 2 channels x 3x3 taps
    strided = single_node(
        "Conv",
        {"x": normal(rng, (2, 3, 9, 9)), "w": normal(rng, (5, 3, 3, 3))},
        {"strides": [2, 2]},
        const=("w",),
    )
    assert _macs(strided) == 2 * 5 * 4 * 4 * 27  # 4x4 outputs, 27 products each, batch 2
    depthwise = single_node(
        "Conv",
        {"x": normal(rng, (1, 6, 5, 5)), "w": normal(rng, (6, 1, 3, 3))},
        {"group": 6},
        const=("w",),
    )
    assert _macs(depthwise) == 6 * 3 * 3 * 9
    transpose = single_node(
        "ConvTranspose",
        {"x": normal(rng, (1, 4, 3, 3)), "w": normal(rng, (4, 2, 2, 2))},
        {"strides": [2, 2]},
        const=("w",),
    )
    assert _macs(transpose) == (4 * 3 * 3) * (2 * 2 * 2)  # every input pixel meets every tap
    grouped_t = single_node(
        "ConvTranspose",
        {"x": normal(rng, (1, 4, 3, 3)), "w": normal(rng, (4, 3, 2, 2))},
        {"group": 2},
        const=("w",),
    )
    assert _macs(grouped_t) == (4 * 3 * 3) * (3 * 2 * 2)
    gemm = single_node(
        "Gemm",
        {"a": normal(rng, (7, 3)), "b": normal(rng, (5, 7))},
        {"transA": 1, "transB": 1},
        const=("b",),
    )
    assert _macs(gemm) == 3 * 5 * 7
    matmul = single_node("MatMul", {"a": normal(rng, (2, 3, 4)), "b": normal(rng, (4, 6))})
    assert _macs(matmul) == 2 * 3 * 6 * 4
    vector = single_node("MatMul", {"a": normal(rng, (4,)), "b": normal(rng, (2, 4, 6))})
    assert _macs(vector) == 2 * 6 * 4


# ---- normalization and the remaining shape ops -----------------------------------------------
@pytest.mark.parametrize("shape", [(2, 3), (1, 3, 5), (2, 3, 4, 5)])
def test_batch_normalization(shape, rng):
    inputs = {
        "x": normal(rng, shape),
        "scale": normal(rng, (3,)),
        "bias": normal(rng, (3,)),
        "mean": normal(rng, (3,)),
        "var": rng.uniform(0.5, 2, 3).astype(np.float32),
    }
    check("BatchNormalization", inputs, {"epsilon": 1e-3}, const=("scale", "bias", "mean", "var"))


def test_instance_normalization(rng):
    inputs = {"x": normal(rng, (2, 3, 4, 5)), "scale": normal(rng, (3,)), "bias": normal(rng, (3,))}
    check("InstanceNormalization", inputs, {"epsilon": 1e-4}, const=("scale", "bias"))


@pytest.mark.parametrize(
    ("shape", "target"), [((3, 1), (2, 1, 4)), ((1,), (3,)), ((2, 3), (1, 1)), ((), (2, 2))]
)
def test_expand(shape, target, rng):
    check("Expand", {"x": normal(rng, shape), "s": np.array(target, np.int64)}, const=("s",))


def test_tile(rng):
    check("Tile", {"x": normal(rng, (2, 3)), "r": np.array([2, 3], np.int64)}, const=("r",))


@pytest.mark.parametrize("attrs", [{}, {"start": 1}, {"start": -2, "end": -1}, {"end": 10}])
def test_shape(attrs, rng):
    check("Shape", {"x": normal(rng, (2, 3, 4))}, attrs)


def test_size_and_constant_of_shape(rng):
    check("Size", {"x": normal(rng, (2, 3, 4))})
    value = np.array([2.5], np.float32)
    check(
        "ConstantOfShape",
        {"s": np.array([2, 3], np.int64)},
        {"value": numpy_helper.from_array(value)},
        const=("s",),
    )


def test_dropout_is_identity_at_inference(rng):
    check(
        "Dropout", {"x": normal(rng, (3, 4)), "ratio": np.array(0.5, np.float32)}, const=("ratio",)
    )
