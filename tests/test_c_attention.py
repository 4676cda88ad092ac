"""The generated C of the attention ops against edgec's references.

Integer (bit for bit): MatMul of two activations (int8 and 16x8, broadcast batch dims; the
optimized GEMM where B's zero point is 0, the portable loops elsewhere), LayerNormalization
(int8, 16x8), Gelu (int8 table) and Softmax on any axis (the optimized build's exp table).
Float (within rtol/atol 1e-4 of the float64 reference): the same ops, portable and
optimized. One sanitized host build per kernel set holds every drawn case (tests/c_cases.py);
the references are checked against TFLite and onnxruntime in test_int_attention.py and
test_attention_ops.py.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from edgec.backends.c.lower import check_supported
from edgec.errors import EdgecError
from edgec.interp import Interpreter
from edgec.ir.graph import Graph, QuantParams, Value
from edgec.ops.integer import layernorm as ln
from edgec.ops.integer.softmax import OUTPUT_QUANTIZATION
from edgec.ops.shapes import infer_shapes
from tests.c_cases import Case, random_int, run_cases
from tests.test_c_int_kernels import act, const, scale_of, single_op, zp_of

ONE_BUILD = settings(
    max_examples=1,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CASES = 24
SAMPLES = 5
seeds = st.integers(0, 2**32 - 1)
KINDS = ["matmul", "matmul", "layernorm", "gelu", "softmax"]


def matmul_shapes(draw):
    m, k, n = draw(st.integers(1, 6)), draw(st.integers(1, 20)), draw(st.integers(1, 9))
    batch = [draw(st.integers(1, 3)) for _ in range(draw(st.integers(0, 2)))]
    a = [d if draw(st.booleans()) else 1 for d in batch]
    b = [d if draw(st.booleans()) else 1 for d in batch][draw(st.integers(0, len(batch))) :]
    return (*a, m, k), (*b, k, n)


def draw_int(draw, dtype: str, index: int) -> tuple[Graph, int]:
    seed = draw(seeds)
    rng = np.random.default_rng(seed)
    kind = KINDS[index % len(KINDS)]
    if kind == "matmul":
        a_shape, b_shape = matmul_shapes(draw)
        s_a, s_b = scale_of(draw, -8, -2), scale_of(draw, -8, -2)
        # the fast GEMM needs B symmetric and a scale ratio below 1/4 (the others: portable)
        fast = index % 2 == 0
        s_out = float(np.float32(s_a * s_b * 2.0 ** draw(st.floats(2.5 if fast else 0.0, 9.0))))
        b_zp = 0 if fast else zp_of(draw, dtype)
        inputs = [act(a_shape, dtype, s_a, zp_of(draw, dtype), "a")]
        inputs.append(act(b_shape, dtype, s_b, b_zp, "b"))
        return single_op("MatMul", inputs, dtype, s_out, zp_of(draw, dtype)), seed
    shape = tuple(draw(st.integers(1, 6)) for _ in range(draw(st.integers(2, 4))))
    s_in = scale_of(draw, -9, -2) if dtype == "int8" else scale_of(draw, -14, -9)
    x = act(shape, dtype, s_in, zp_of(draw, dtype))
    if kind == "softmax":
        out_dtype = "int16" if dtype == "int16" or draw(st.booleans()) else "int8"
        s_out, z_out = OUTPUT_QUANTIZATION[(dtype, out_dtype)]
        axis = draw(st.integers(-len(shape), len(shape) - 1))
        return single_op("Softmax", [x], out_dtype, s_out, z_out, {"axis": axis}), seed
    if kind == "gelu":
        x = act(shape, "int8", scale_of(draw, -7, -2), zp_of(draw, "int8"))
        attrs = {"approximate": draw(st.sampled_from(["none", "tanh"]))}
        s_out, z_out = scale_of(draw, -7, -2), zp_of(draw, "int8")
        return single_op("Gelu", [x], "int8", s_out, z_out, attrs), seed
    axis = draw(st.integers(1, len(shape) - 1))
    normalized = shape[axis:]
    s_out = scale_of(draw, -7, -3) if dtype == "int8" else scale_of(draw, -12, -8)
    s_g = np.float32(2.0 ** rng.uniform(-15, -12))
    gamma = const("gamma", random_int(rng, normalized, np.int16), s_g)
    bits = ln.fraction_bits(s_g, s_out) - int(draw(st.integers(0, 2)))  # beta at 2**-bits
    beta = const("beta", rng.integers(-(2**24), 2**24, normalized).astype(np.int32), None)
    beta.quant = QuantParams(np.float32(float(s_g) * 2.0**-bits), 0, np.int32)
    attrs = {"axis": axis, "epsilon": float(draw(st.sampled_from([1e-5, 1e-2])))}
    inputs = [x, gamma] + ([beta] if draw(st.integers(0, 3)) else [])
    return single_op("LayerNormalization", inputs, dtype, s_out, zp_of(draw, dtype), attrs), seed


def collect(draw, make) -> list[Case]:
    cases = []
    for index in range(CASES):
        graph, seed = make(draw, index)
        rng = np.random.default_rng(seed)
        case = Case(graph, seed)
        try:
            check_supported(graph)
            interp = Interpreter(graph)
            for _ in range(SAMPLES):
                if graph.inputs[0].dtype == np.float32:
                    sample = [rng.standard_normal(v.shape).astype(np.float32) for v in graph.inputs]
                else:
                    sample = [random_int(rng, v.shape, v.dtype) for v in graph.inputs]
                out = interp.run({v.name: a for v, a in zip(graph.inputs, sample)})
                case.samples.append(sample)
                case.expected.append([out[v.name] for v in graph.outputs])
        except (EdgecError, ValueError):
            continue  # parameters outside the kernels' documented ranges
        cases.append(case)
    assert len(cases) >= CASES * 3 // 4, "too many drawn cases were invalid"
    return cases


@pytest.mark.parametrize(
    "dtype,kernels", [("int8", "portable"), ("int16", "portable"), ("int8", "optimized")]
)
@ONE_BUILD
@given(data=st.data())
def test_integer_attention_ops_are_bit_exact(dtype, kernels, data, tmp_path_factory):
    cases = collect(data.draw, lambda d, i: draw_int(d, dtype, i))
    folder = tmp_path_factory.mktemp("attention")
    run_cases(cases, folder, kernels)
    if kernels == "optimized":  # the optimized kernels ran (beside the portable fallbacks)
        assert {"edgec_matmul_fast_s8", "edgec_softmax_table_s8", "edgec_matmul_s8"} <= calls(
            folder
        )


def calls(folder) -> set[str]:
    """The kernels the generated models of a run_cases folder call."""
    text = "".join(p.read_text() for p in (folder / "c").glob("m*.c"))
    return set(re.findall(r"\b(edgec_\w+)\(&", text))


def float_graph(op: str, inputs: list[Value], attrs: dict | None = None) -> Graph:
    g = Graph("case")
    for v in inputs:
        g.add_value(v)
    y = Value("y", None, None)
    g.add_node(op, inputs, [y], attrs or {}, name="op")
    g.inputs = [v for v in inputs if not v.is_const]
    g.outputs = [y]
    infer_shapes(g)
    return g


def draw_float(draw, index: int) -> tuple[Graph, int]:
    seed = draw(seeds)
    rng = np.random.default_rng(seed)
    kind = ["matmul", "matmul", "layernorm", "gelu"][index % 4]
    if kind == "matmul":
        a_shape, b_shape = matmul_shapes(draw)
        a = Value("a", np.float32, a_shape)
        b = Value("b", np.float32, b_shape)
        if index % 8 == 4:  # a constant operand of rank 3
            b = Value("b", np.float32, b_shape, const=rng.standard_normal(b_shape).astype("f4"))
        return float_graph("MatMul", [a, b]), seed
    shape = tuple(draw(st.integers(1, 6)) for _ in range(draw(st.integers(2, 4))))
    x = Value("x", np.float32, shape)
    if kind == "gelu":
        return float_graph("Gelu", [x], {"approximate": ["none", "tanh"][index % 2]}), seed
    axis = draw(st.integers(-len(shape) + 1, len(shape) - 1))
    normalized = shape[axis:]
    gamma = Value("g", np.float32, normalized, const=rng.normal(1, 0.3, normalized).astype("f4"))
    beta = Value("b", np.float32, normalized, const=rng.normal(0, 0.3, normalized).astype("f4"))
    inputs = [x, gamma] + ([beta] if index % 3 else [])
    return float_graph("LayerNormalization", inputs, {"axis": axis}), seed


@pytest.mark.parametrize("kernels", ["portable", "optimized"])
@ONE_BUILD
@given(data=st.data())
def test_float_attention_ops_match_the_reference(kernels, data, tmp_path_factory):
    cases = collect(data.draw, draw_float)
    folder = tmp_path_factory.mktemp("attention_f32")
    run_cases(cases, folder, kernels, tolerance=(1e-4, 1e-4))
    fast = "edgec_matmul_fast_f32" in calls(folder)
    assert fast == (kernels == "optimized")
