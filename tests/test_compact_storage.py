"""Compact int8 weight storage in the C backend (weight_storage.py, compact_int.c).

The formats are lossless encodings of the weights the graph holds, so the integer reference
executor is the golden model: hand-built Gemm, 1x1 and 3x3 convolutions with sparse or
clustered int8 weights are compiled to C (AddressSanitizer and UBSan) and must equal it bit
for bit; a layer whose compact form would not pay stays dense; and the flash figures in
memory.json are those of the arrays actually emitted.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgec.backends.c import generate_c
from edgec.backends.c.kernel_cost import layer_cost
from edgec.backends.c.weight_storage import (
    MIN_SAVING,
    choose,
    decode_clustered,
    decode_sparse,
    encode_clustered,
    encode_sparse,
)
from tests.c_cases import random_int, run_cases
from tests.test_c_int_kernels import act, const, prepare, single_op


def sparse_matrix(rng, shape, density):
    w = random_int(rng, shape, np.int8)
    w[rng.random(shape) >= density] = 0
    return w


def clustered_matrix(rng, shape, values, per_row=False):
    if per_row:
        rows = [rng.choice(random_int(rng, values, np.int8), shape[1:]) for _ in range(shape[0])]
        return np.stack(rows).astype(np.int8)
    return rng.choice(random_int(rng, values, np.int8), shape).astype(np.int8)


def out_scale(matrix, s_w, s_in=0.05) -> float:
    """An output scale that spreads the outputs over the int8 range: a wrong product then
    shows in the output instead of vanishing in the requantization."""
    rows = matrix.reshape(matrix.shape[0], -1).astype(np.int64)
    acc = np.random.default_rng(0).integers(-128, 128, (64, rows.shape[1])) @ rows.T
    return float(np.float32(s_in * float(np.median(s_w)) * max(acc.std(), 1.0) / 40))


def fc_graph(weights, rows, seed, zp=-7):
    rng = np.random.default_rng(seed)
    o, k = weights.shape
    s_w = np.float32(2.0 ** rng.uniform(-9, -6, size=o)).astype(np.float32)
    bias = rng.integers(-(2**12), 2**12, size=o).astype(np.int32)
    inputs = [
        act((rows, k), np.int8, 0.05, zp),
        const("w", weights, s_w, axis=0),
        const("b", bias, s_w * np.float32(0.05), axis=0),
    ]
    return single_op("Gemm", inputs, np.int8, out_scale(weights, s_w), 3, {"transB": 1})


def conv_graph(weights, hw, seed, **attrs):
    rng = np.random.default_rng(seed)
    o, c = weights.shape[:2]
    s_w = np.float32(2.0 ** rng.uniform(-9, -6, size=o)).astype(np.float32)
    bias = rng.integers(-(2**12), 2**12, size=o).astype(np.int32)
    inputs = [
        act((1, c, *hw), np.int8, 0.05, 11),
        const("w", weights, s_w, axis=0),
        const("b", bias, s_w * np.float32(0.05), axis=0),
    ]
    full = {"strides": [1, 1], "dilations": [1, 1], "pads": [0] * 4, "group": 1, **attrs}
    return single_op("Conv", inputs, np.int8, out_scale(weights, s_w), -5, full)


def cases_and_storage():
    """(graph, storage it must get) for every kernel variant and a dense control."""
    rng = np.random.default_rng(2024)
    g = []
    # FC: 97 % zeros over k = 700, so column steps over 255 need fillers; 3 rows (a pair + 1)
    g.append((fc_graph(sparse_matrix(rng, (9, 700), 0.03), 3, 1), "sparse"))
    g.append((fc_graph(sparse_matrix(rng, (5, 64), 0.2), 1, 2), "sparse"))
    g.append((fc_graph(clustered_matrix(rng, (6, 37), 8), 2, 3), "clustered"))  # odd k
    g.append((fc_graph(clustered_matrix(rng, (3, 30), 5), 3, 12), "clustered"))  # k % 4 = 2
    g.append((fc_graph(clustered_matrix(rng, (6, 81), 12, per_row=True), 1, 4), "clustered"))
    g.append((fc_graph(random_int(rng, (6, 40), np.int8), 2, 5), "dense"))
    # 1x1 convolution, strided, read in place
    g.append(
        (conv_graph(sparse_matrix(rng, (7, 24, 1, 1), 0.25), (5, 6), 6, strides=[2, 1]), "sparse")
    )
    g.append((conv_graph(clustered_matrix(rng, (6, 20, 1, 1), 16), (3, 5), 7), "clustered"))
    # 3x3 convolutions through im2col: padding, stride, dilation, an odd pixel count
    w3 = sparse_matrix(rng, (8, 5, 3, 3), 0.3)
    g.append((conv_graph(w3, (7, 5), 8, pads=[1, 1, 1, 1]), "sparse"))
    g.append(
        (conv_graph(w3, (7, 7), 9, pads=[2, 0, 1, 2], strides=[2, 2], dilations=[2, 1]), "sparse")
    )
    w4 = clustered_matrix(rng, (4, 3, 3, 3), 6)
    g.append((conv_graph(w4, (5, 5), 10, pads=[1, 1, 1, 1]), "clustered"))
    g.append(
        (conv_graph(random_int(rng, (4, 3, 3, 3), np.int8), (5, 5), 11, pads=[1, 1, 1, 1]), "dense")
    )
    return g


def storages(graph, **options) -> list[dict]:
    gen = generate_c(graph, prefix="m", sha256="0" * 64, **options)
    return gen.program.weight_storage, gen


@pytest.mark.parametrize("kernels", ["portable", "optimized", "optimized-lean"])
def test_compact_kernels_are_bit_exact_with_the_reference(kernels, tmp_path):
    """Every variant: with scratch (a one-table layer expands its table), and lean (a
    one-op graph's scratch would grow the arena: the clustered kernels go without)."""
    cases = []
    for index, (graph, expected) in enumerate(cases_and_storage()):
        scratch = "free" if kernels.endswith("lean") else "always"
        (record,), _ = storages(
            graph, kernels=kernels.split("-")[0], scratch=scratch, weight_storage="small"
        )
        kernel = record["kernel"]
        if scratch == "free" and kernel == "dense":
            expected = "dense"  # a 3x3 compact layer without its scratch falls back to dense
        if expected == "clustered":  # only a one-table layer with scratch expands its table
            expanded = scratch == "always" and record["table_stride"] == 0
            assert ("_lean" in kernel) == (not expanded and kernel != "edgec_conv_clustered_s8")
        assert record["storage"] == expected, (index, record)
        case = prepare(graph, seed=100 + index)
        assert case is not None
        cases.append(case)
    run_cases(cases, tmp_path, kernels)


def test_dense_policy_and_flash_figures_come_from_the_emitted_arrays():
    for graph, expected in cases_and_storage():
        (auto,), gen = storages(graph, kernels="optimized", weight_storage="small")
        (dense,), gen_dense = storages(graph, kernels="optimized", weight_storage="dense")
        assert dense["storage"] == "dense"
        emitted = {w.name: w.nbytes for w in gen.program.weights.values()}
        compact = [w for w in gen.program.weights.values() if "weights (" in w.comment]
        if expected == "dense":
            assert not compact and gen.weight_bytes == gen_dense.weight_bytes
            continue
        # the stored bytes are exactly the compact arrays written into model_weights.c (the
        # int4 GEMM's table loops keep three constant words per channel in the code stream)
        constants = 12 * auto["n"] if "_lut_" in auto["kernel"] else 0
        assert auto["stored_bytes"] == sum(w.nbytes for w in compact) - constants
        assert auto["stored_bytes"] <= auto["dense_bytes"] * (1 - MIN_SAVING)
        # the dense build holds the matrix as one array of at least dense_bytes (the optimized
        # kernels pad its rows to a multiple of 4; side tables differ between the builds)
        assert max(w.nbytes for w in gen_dense.program.weights.values()) >= auto["dense_bytes"]
        assert gen.weight_bytes < gen_dense.weight_bytes
        assert sum(emitted.values()) == gen.weight_bytes


@pytest.mark.parametrize("core", ["dsp", "mve", "scalar"])
def test_auto_policy_stores_compact_only_where_the_target_runs_it_faster(core):
    """ "auto": of the forms that save flash, the fastest by the core's cost model, and only
    if it beats the optimized dense kernel; "small" takes the smallest form regardless."""
    picked = {"dense": 0, "compact": 0}
    for graph, _ in cases_and_storage():
        (auto,), _ = storages(graph, kernels="optimized", core=core)
        (small,), _ = storages(graph, kernels="optimized", core=core, weight_storage="small")
        node = graph.nodes[0]
        rows = int(np.prod(node.outputs[0].shape)) // auto["n"]
        n, k = auto["n"], auto["k"]
        dense = layer_cost(core, "dense", n, k, rows)
        matrix = node.inputs[1].const.reshape(n, -1)  # Gemm here has transB = 1
        if auto["storage"] != "dense":
            assert small["storage"] != "dense"
            sparse = auto["storage"] == "sparse"
            entries = int(encode_sparse(matrix)["values"].size) if sparse else 0
            assert layer_cost(core, auto["storage"], n, k, rows, entries) < dense
            picked["compact"] += 1
        else:
            picked["dense"] += 1
    # the clustered layers of these cases run faster dense on every core; on the DSP and
    # scalar cores the sparsest ones (3 % non-zeros) run faster sparse
    assert picked["dense"] > sum(1 for _, e in cases_and_storage() if e == "dense")
    assert picked["compact"] > 0 or core == "mve"


def test_encodings_round_trip_and_dense_when_they_do_not_pay():
    rng = np.random.default_rng(5)
    for density in (0.0, 0.01, 0.3, 1.0):
        m = sparse_matrix(rng, (4, 1100), density)
        arrays = encode_sparse(m)
        assert np.array_equal(decode_sparse(arrays, 1100), m)
        assert (
            arrays["steps"].dtype == np.uint8
            and len(arrays["steps"]) == arrays["row_entries"].sum()
        )
    for per_row in (False, True):
        m = clustered_matrix(rng, (5, 33), 16, per_row=per_row)
        arrays, stride = encode_clustered(m)
        assert (stride > 0) == (np.unique(m).size > 16) == per_row
        assert np.array_equal(decode_clustered(arrays, stride, 33), m)
    assert encode_clustered(random_int(rng, (3, 200), np.int8)) is None  # > 16 values per row
    half = sparse_matrix(rng, (8, 64), 0.5)  # 2 bytes per non-zero: no saving at half density
    assert choose(half).kind == "dense"
    assert choose(sparse_matrix(rng, (8, 64), 0.2)).kind == "sparse"
