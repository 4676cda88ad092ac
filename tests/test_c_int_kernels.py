"""The generated C of integer (int8 and 16x8) nodes against edgec's integer reference, bit for bit.

Each case is a one-op quantized graph built with the IR (hypothesis draws shapes, strides,
pads, channel counts, scales, zero points; derandomized and bounded). The integer reference
(``Interpreter``, itself checked bit for bit against TensorFlow Lite Micro in
tests/test_int_kernels.py) gives the expected outputs. To keep builds few, every case of a
hypothesis example is generated under its own symbol prefix into one folder and compiled
once, with ``-std=c99 -O2 -Wall -Wextra -Werror -fsanitize=address,undefined``; the sanitizer
must stay silent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from edgec.backends.c.lower import check_supported
from edgec.errors import EdgecError, UnsupportedOpError
from edgec.interp import Interpreter
from edgec.ir.graph import FusedActivation, Graph, QuantParams, Value
from edgec.ops.shapes import infer_shapes
from tests.c_cases import Case, random_int, run_cases

BATCH = settings(
    max_examples=2,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],  # a shrink step costs a C build: none
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CASES_PER_BUILD = 15
SAMPLES = 6
seeds = st.integers(0, 2**32 - 1)
INT = {"int8": np.int8, "int16": np.int16}


# ---- graph construction ---------------------------------------------------------------------
def scale_of(draw, low=-9.0, high=-1.0) -> float:
    return float(np.float32(2.0 ** draw(st.floats(low, high))))


def zp_of(draw, dtype: str) -> int:
    return 0 if dtype == "int16" else draw(st.integers(-128, 127))


def act(shape, dtype, scale, zp, name="x") -> Value:
    return Value(name, dtype, shape, quant=QuantParams(np.float32(scale), zp, dtype))


def const(name, data, scale=None, axis=None) -> Value:
    quant = None
    if scale is not None:
        scale = np.asarray(scale, np.float32)
        quant = QuantParams(scale, np.zeros(scale.shape, np.int64), data.dtype, axis)
    return Value(name, data.dtype, data.shape, const=data, quant=quant)


def single_op(op, inputs, out_dtype, out_scale, out_zp, attrs=None, fused=None) -> Graph:
    """A one-node graph; the output shape comes from the registry's shape rule."""
    g = Graph("case")
    for v in inputs:
        if v is not None:
            g.add_value(v)
    y = Value("y", None, None)
    node = g.add_node(op, inputs, [y], attrs or {}, name="op")
    node.fused = fused
    g.inputs = [v for v in inputs if v is not None and not v.is_const]
    g.outputs = [y]
    infer_shapes(g)
    y.dtype = np.dtype(out_dtype)
    y.quant = QuantParams(np.float32(out_scale), out_zp, out_dtype)
    return g


def prepare(graph: Graph, seed: int, rounding: str = "tflm") -> Case | None:
    """Random inputs and the reference outputs; None when the reference rejects the case."""
    rng = np.random.default_rng(seed)
    case = Case(graph, seed)
    try:
        check_supported(graph, rounding)
        interp = Interpreter(graph, rounding)
        for _ in range(SAMPLES):
            sample = [random_int(rng, v.shape, v.dtype) for v in graph.inputs]
            out = interp.run({v.name: a for v, a in zip(graph.inputs, sample)})
            case.samples.append(sample)
            case.expected.append([out[v.name] for v in graph.outputs])
    except (EdgecError, ValueError):
        return None  # parameters or data outside the kernels' documented ranges
    return case


def run_drawn(
    draw_case, data, tmp_path: Path, kernels: str = "portable", rounding: str = "tflm"
) -> None:
    """Draw CASES_PER_BUILD cases (case i gets variant i round-robin) and run them in one build
    (``rounding``: the reference's and the build's)."""
    cases = []
    for index in range(CASES_PER_BUILD):
        graph, seed = draw_case(data.draw, index)
        case = prepare(graph, seed, rounding)
        if case is not None:
            cases.append(case)
    assert len(cases) >= CASES_PER_BUILD // 2, "too many drawn cases were invalid"
    run_cases(cases, tmp_path, kernels, rounding=rounding)


# ---- convolution and fully connected -----------------------------------------------------------
FUSED = [None, FusedActivation("Relu"), FusedActivation("Clip", {"min": 0.0, "max": 6.0})]


def _bias(rng, channels, dtype, wide):
    if dtype == "int16" and wide:
        return rng.integers(-(2**20), 2**20, size=channels).astype(np.int64)
    return rng.integers(-(2**12), 2**12, size=channels).astype(np.int32)


CONV_KINDS = ["general", "grouped", "pointwise", "depthwise", "1d"]


def draw_conv(draw, dtype: str, index: int):
    seed = draw(seeds)
    rng = np.random.default_rng(seed)
    kind = CONV_KINDS[index % len(CONV_KINDS)]
    group = {"grouped": draw(st.integers(2, 3))}.get(kind, 1)
    c = draw(st.integers(1, 5)) * group
    if kind == "depthwise":
        group = c
        o = c * draw(st.integers(1, 3))
    else:
        o = draw(st.integers(1, 4)) * group
    k = (1, 1) if kind == "pointwise" else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    dil = (1, 1) if kind == "pointwise" else (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pads = [0] * 4 if kind == "pointwise" else [draw(st.integers(0, 2)) for _ in range(4)]
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    h = max(h, dil[0] * (k[0] - 1) + 1)
    w = max(w, dil[1] * (k[1] - 1) + 1)
    shape = (1, c, h, w)
    weights = random_int(rng, (o, c // group, *k), np.int8)
    attrs = {"strides": list(stride), "dilations": list(dil), "pads": pads, "group": group}
    if kind == "1d":
        shape, weights = (1, c, w), weights[:, :, 0, :]
        attrs = {
            "strides": [stride[1]],
            "dilations": [dil[1]],
            "pads": [pads[1], pads[3]],
            "group": group,
        }
    s_in, s_out = scale_of(draw), scale_of(draw, -6, 2)
    s_w = np.float32(2.0 ** rng.uniform(-9, -4, size=o)).astype(np.float32)
    wide = (index // len(CONV_KINDS)) % 2 == 0
    bias = None if draw(st.integers(0, 4)) == 0 else _bias(rng, o, dtype, wide)
    inputs = [
        act(shape, dtype, s_in, zp_of(draw, dtype)),
        const("w", weights, s_w, axis=0),
        None if bias is None else const("b", bias, s_w * np.float32(s_in), axis=0),
    ]
    fused = draw(st.sampled_from(FUSED))
    return single_op(
        "Conv", [v for v in inputs if v is not None], dtype, s_out, zp_of(draw, dtype), attrs, fused
    ), seed


# The optimized kernels exist for int8 only (16x8 layers keep the portable ones).
KERNEL_VARIANTS = [
    ("int8", "portable"),
    ("int16", "portable"),
    ("int8", "optimized"),
    ("int8", "optimized-lean"),
    ("int8", "optimized-mve"),
]


@pytest.mark.parametrize("dtype,kernels", KERNEL_VARIANTS)
@BATCH
@given(data=st.data())
def test_conv(dtype, kernels, data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("conv")
    run_drawn(lambda d, i: draw_conv(d, dtype, i), data, folder, kernels)


def draw_fc(draw, dtype: str, index: int):
    seed = draw(seeds)
    rng = np.random.default_rng(seed)
    op = ["Gemm", "GemmT", "MatMul"][index % 3]
    k, o = draw(st.integers(1, 40)), draw(st.integers(1, 12))
    s_in, s_out = scale_of(draw), scale_of(draw, -6, 2)
    per_channel = draw(st.booleans())
    s_w = np.float32(2.0 ** rng.uniform(-9, -4, size=o if per_channel else 1)).astype(np.float32)
    w = random_int(rng, (o, k), np.int8)
    x_shape = (draw(st.integers(1, 3)), k)
    if op == "MatMul":
        x_shape = (draw(st.integers(1, 2)), *x_shape)
        inputs = [
            act(x_shape, dtype, s_in, zp_of(draw, dtype)),
            const(
                "w",
                np.ascontiguousarray(w.T),
                s_w if per_channel else s_w[0],
                axis=1 if per_channel else None,
            ),
        ]
        attrs = {}
        if draw(st.booleans()):  # edgec's quantizer gives MatMul a third (bias) input
            fused = draw(st.sampled_from(FUSED))
            graph = single_op(op, inputs, dtype, s_out, zp_of(draw, dtype), attrs, fused)
            bias = graph.add_value(const("b", _bias(rng, o, dtype, wide=(index // 3) % 2 == 0)))
            graph.nodes[0].inputs.append(bias)
            bias.users.append(graph.nodes[0])
            return graph, seed
    else:
        trans = op == "Gemm"
        data_w = w if trans else np.ascontiguousarray(w.T)
        inputs = [
            act(x_shape, dtype, s_in, zp_of(draw, dtype)),
            const(
                "w",
                data_w,
                s_w if per_channel else s_w[0],
                axis=(0 if trans else 1) if per_channel else None,
            ),
        ]
        if draw(st.integers(0, 3)):
            inputs.append(const("b", _bias(rng, o, dtype, wide=(index // 3) % 2 == 0)))
        attrs = {"transB": int(trans)}
        op = "Gemm"
    fused = draw(st.sampled_from(FUSED))
    return single_op(op, inputs, dtype, s_out, zp_of(draw, dtype), attrs, fused), seed


@pytest.mark.parametrize("dtype,kernels", KERNEL_VARIANTS)
@BATCH
@given(data=st.data())
def test_fully_connected(dtype, kernels, data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fc")
    run_drawn(lambda d, i: draw_fc(d, dtype, i), data, folder, kernels)


# ---- elementwise ---------------------------------------------------------------------------------
def broadcast_pair(draw):
    rank = draw(st.integers(1, 4))
    out = [draw(st.integers(1, 4)) for _ in range(rank)]
    a = [d if draw(st.integers(0, 3)) else 1 for d in out]
    b = [d if draw(st.integers(0, 3)) else 1 for d in out]
    b = b[draw(st.integers(0, rank - 1)) :] if draw(st.booleans()) else b
    return tuple(a), tuple(b)


def draw_binary(draw, dtype: str, index: int):
    seed = draw(seeds)
    rng = np.random.default_rng(seed)
    op = ["Add", "Mul"][index % 2]
    a_shape, b_shape = broadcast_pair(draw)
    s_a, s_b = scale_of(draw, -8, 0), scale_of(draw, -8, 0)
    s_out = (
        scale_of(draw, -8, 1)
        if op == "Add"
        else float(np.float32(s_a * s_b * 2.0 ** draw(st.floats(-4, 6))))
    )
    a = act(a_shape, dtype, s_a, zp_of(draw, dtype), "a")
    if draw(st.integers(0, 3)) == 0:  # a constant operand (weights of a scale layer)
        b = Value(
            "b",
            dtype,
            b_shape,
            const=random_int(rng, b_shape, INT[dtype]),
            quant=QuantParams(np.float32(s_b), zp_of(draw, dtype), dtype),
        )
    else:
        b = act(b_shape, dtype, s_b, zp_of(draw, dtype), "b")
    fused = draw(st.sampled_from(FUSED))
    return single_op(op, [a, b], dtype, s_out, zp_of(draw, dtype), {}, fused), seed


@pytest.mark.parametrize("dtype", ["int8", "int16"])
@BATCH
@given(data=st.data())
def test_add_mul(dtype, data, tmp_path_factory):
    run_drawn(lambda d, i: draw_binary(d, dtype, i), data, tmp_path_factory.mktemp("binary"))


UNARY = ["Sigmoid", "Tanh", "LeakyRelu", "Relu", "Clip", "HardSwish", "QuantizeLinear"]


def draw_unary(draw, dtype: str, index: int):
    seed = draw(seeds)
    op = UNARY[index % len(UNARY)]
    if op == "HardSwish":
        dtype = "int8"
    rank = draw(st.integers(1, 4))
    shape = tuple(draw(st.integers(1, 5)) for _ in range(rank))
    s_in, z_in = scale_of(draw, -10, 0), zp_of(draw, dtype)
    x = act(shape, dtype, s_in, z_in)
    same = draw(st.booleans())
    s_out, z_out = (s_in, z_in) if same else (scale_of(draw, -10, 0), zp_of(draw, dtype))
    attrs, inputs = {}, [x]
    if op in ("Sigmoid", "Tanh"):
        if dtype == "int8":
            s_out, z_out = (1 / 256, -128) if op == "Sigmoid" else (1 / 128, 0)
        else:
            s_out, z_out = 2.0**-15, 0
            if draw(st.booleans()):  # power-of-two input scales take the table's exact path
                x.quant = QuantParams(np.float32(2.0 ** draw(st.integers(-13, -11))), 0, dtype)
    elif op == "LeakyRelu":
        attrs = {"alpha": float(np.float32(draw(st.sampled_from([0.01, 0.2, 0.5, -0.3, 1.5]))))}
    elif op == "QuantizeLinear":  # integer → integer: a requantization, possibly of the type
        out_dtype = draw(st.sampled_from(["int8", "int16"]))
        s_out, z_out = scale_of(draw, -10, 0), zp_of(draw, out_dtype)
        inputs += [
            const("scale", np.array(s_out, np.float32)),
            const("zero_point", np.array(z_out, INT[out_dtype])),
        ]
        return single_op(op, inputs, out_dtype, s_out, z_out), seed
    elif op == "Clip":
        low = draw(st.sampled_from([-1.0, 0.0, None]))
        high = draw(st.sampled_from([1.0, 6.0, None]))
        for name, bound in (("lo", low), ("hi", high)):
            inputs.append(None if bound is None else const(name, np.array(bound, np.float32)))
        while inputs[-1] is None:
            inputs.pop()
    graph = single_op(op, inputs, dtype, s_out, z_out, attrs)
    return graph, seed


# optimized int8: Sigmoid, Tanh, HardSwish, LeakyRelu as tables of their 256 outputs
@pytest.mark.parametrize(
    "dtype,kernels", [("int8", "portable"), ("int16", "portable"), ("int8", "optimized")]
)
@BATCH
@given(data=st.data())
def test_activations(dtype, kernels, data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("unary")
    run_drawn(lambda d, i: draw_unary(d, dtype, i), data, folder, kernels)


def draw_softmax(draw, types: tuple[str, str], index: int):
    seed = draw(seeds)
    rank = draw(st.integers(1, 4))
    shape = tuple(draw(st.integers(1, 6)) for _ in range(rank))
    axis = draw(st.integers(-rank, rank - 1))
    s_in = scale_of(draw, -7, 0) if types[0] == "int8" else scale_of(draw, -12, -8)
    out = {
        ("int8", "int8"): (1 / 256, -128),
        ("int8", "int16"): (1 / 65536, -32768),
        ("int16", "int16"): (1 / 32768, 0),
    }[types]
    x = act(shape, types[0], s_in, zp_of(draw, types[0]))
    return single_op("Softmax", [x], types[1], *out, {"axis": axis}), seed


@pytest.mark.parametrize("types", [("int8", "int8"), ("int8", "int16"), ("int16", "int16")])
@BATCH
@given(data=st.data())
def test_softmax(types, data, tmp_path_factory):
    run_drawn(lambda d, i: draw_softmax(d, types, i), data, tmp_path_factory.mktemp("softmax"))


# ---- pooling and mean ----------------------------------------------------------------------------
POOLS = ["AveragePool", "MaxPool", "GlobalAveragePool", "ReduceMean", "AveragePool"]


def draw_pool(draw, dtype: str, index: int):
    seed = draw(seeds)
    op = POOLS[index % len(POOLS)]
    one_d = draw(st.integers(0, 4)) == 0
    c, h, w = draw(st.integers(1, 5)), draw(st.integers(1, 7)), draw(st.integers(1, 7))
    shape = (draw(st.integers(1, 2)), c, w) if one_d else (draw(st.integers(1, 2)), c, h, w)
    s, z = scale_of(draw), zp_of(draw, dtype)
    x = act(shape, dtype, s, z)
    inputs, attrs = [x], {}
    if op in ("AveragePool", "MaxPool"):
        spatial = shape[2:]
        k = [draw(st.integers(1, d)) for d in spatial]
        attrs = {
            "kernel_shape": k,
            "strides": [draw(st.integers(1, 3)) for _ in spatial],
            "pads": [draw(st.integers(0, kk - 1)) for kk in k * 2],
            "ceil_mode": draw(st.integers(0, 1)),
        }
        if op == "AveragePool" and draw(st.booleans()):
            attrs.update(count_include_pad=1, ceil_mode=0)
        out_s, out_z = s, z
        fused = draw(st.sampled_from(FUSED))
    else:
        out_s, out_z = scale_of(draw), zp_of(draw, dtype)
        fused = None
        if op == "ReduceMean":
            rank = len(shape)
            axes = sorted(draw(st.sets(st.integers(0, rank - 1), min_size=1, max_size=rank)))
            inputs.append(const("axes", np.array(axes, np.int64)))
            attrs = {"keepdims": draw(st.integers(0, 1))}
    return single_op(op, inputs, dtype, out_s, out_z, attrs, fused), seed


@pytest.mark.parametrize("dtype", ["int8", "int16"])
@BATCH
@given(data=st.data())
def test_pool_and_mean(dtype, data, tmp_path_factory):
    run_drawn(lambda d, i: draw_pool(d, dtype, i), data, tmp_path_factory.mktemp("pool"))


# ---- concat (requantizing) and pad (quantized fill) ---------------------------------------------
def draw_concat_pad(draw, dtype: str, index: int):
    seed = draw(seeds)
    rank = draw(st.integers(1, 4))
    shape = [draw(st.integers(1, 4)) for _ in range(rank)]
    s, z = scale_of(draw), zp_of(draw, dtype)
    if index % 4 == 0:
        pads = [draw(st.integers(0, 2)) for _ in range(2 * rank)]
        inputs = [act(tuple(shape), dtype, s, z), const("pads", np.array(pads, np.int64))]
        if draw(st.booleans()):
            inputs.append(
                const("value", np.array(draw(st.sampled_from([0.0, 0.5, -1.0])), np.float32))
            )
        return single_op("Pad", inputs, dtype, s, z, {"mode": "constant"}), seed
    axis = draw(st.integers(-rank, rank - 1))
    inputs = []
    for i in range(draw(st.integers(1, 4))):
        part = list(shape)
        part[axis] = draw(st.integers(1, 3))
        same = draw(st.booleans())
        inputs.append(
            act(
                tuple(part),
                dtype,
                s if same else scale_of(draw),
                z if same else zp_of(draw, dtype),
                f"x{i}",
            )
        )
    return single_op("Concat", inputs, dtype, s, z, {"axis": axis}), seed


@pytest.mark.parametrize("dtype", ["int8", "int16"])
@BATCH
@given(data=st.data())
def test_concat_and_pad(dtype, data, tmp_path_factory):
    run_drawn(lambda d, i: draw_concat_pad(d, dtype, i), data, tmp_path_factory.mktemp("concat"))


# ---- chains: layouts change between kernels ------------------------------------------------------
def test_chain_of_integer_kernels_across_layouts(tmp_path):
    """Conv (channels-last) → Sigmoid on its stored layout → Add with a logical-layout input →
    GlobalAveragePool → Softmax: permutes between layouts keep the values exact."""
    rng = np.random.default_rng(7)
    g = Graph("chain")
    x = g.add_value(act((1, 3, 6, 5), "int8", 0.05, 3, "x"))
    other = g.add_value(act((1, 4, 6, 5), "int8", 0.03, -7, "other"))
    w = g.add_value(
        const("w", random_int(rng, (4, 3, 3, 3), np.int8), np.full(4, 0.01, np.float32), 0)
    )
    steps = [
        ("Conv", [x, w], (0.1, -5), {"pads": [1, 1, 1, 1]}),
        ("Sigmoid", None, (1 / 256, -128), {}),
        ("Add", "other", (0.02, 1), {}),
        ("GlobalAveragePool", None, (0.01, 0), {}),
        ("Softmax", None, (1 / 256, -128), {"axis": 1}),
    ]
    prev = None
    for i, (op, ins, (s, z), attrs) in enumerate(steps):
        inputs = ins if isinstance(ins, list) else [prev] + ([other] if ins == "other" else [])
        y = Value(f"v{i}", None, None)
        g.add_node(op, inputs, [y], attrs, name=f"n{i}")
        infer_shapes(g)
        y.dtype, y.quant = np.dtype(np.int8), QuantParams(np.float32(s), z, np.int8)
        prev = y
    g.inputs, g.outputs = [x, other], [prev]
    case = prepare(g, 11)
    assert case is not None
    run_cases([case], tmp_path)


# ---- up-front errors ---------------------------------------------------------------------------
def test_unsupported_variants_are_reported_together_with_reasons():
    g = Graph("bad")
    x = g.add_value(act((1, 4), "int8", 0.1, 0, "x"))
    h = Value("h", np.int8, (1, 4), quant=QuantParams(np.float32(0.3), 0, np.int8))
    g.add_node("Sigmoid", [x], [h], name="sig")  # int8 Logistic needs output scale 1/256
    y = Value("y", np.int8, (1, 4), quant=QuantParams(np.float32(0.1), 0, np.int8))
    g.add_node("Softmax", [h], [y], {"axis": -1}, name="soft")  # output must be 1/256, -128
    m = g.add_value(act((2, 3, 4, 5), "int8", 0.1, 0, "m"))
    axes = g.add_value(const("axes", np.array([0, 3], np.int64)))
    r = Value("r", np.int8, (1, 3, 4, 1), quant=QuantParams(np.float32(0.1), 0, np.int8))
    g.add_node("ReduceMean", [m, axes], [r], {"keepdims": 1}, name="mean")  # N and W apart
    g.inputs, g.outputs = [x, m], [y, r]
    with pytest.raises(UnsupportedOpError) as err:
        check_supported(g)
    text = str(err.value)
    assert all(word in text for word in ("sig", "soft", "mean", "Sigmoid", "Softmax"))
    assert "scale" in text and "not contiguous" in text
