"""Entropy-coded int8 weights (``--weight-storage smallest``: huffman.py, emit_entropy.py,
entropy_int.c).

The Huffman coder round-trips any int8 matrix through an independent bit-by-bit canonical
decoder; hand-built Gemm, 1x1, 3x3 (padding, stride, dilation) and depthwise convolutions
with entropy-coded weights are compiled to C (AddressSanitizer and UBSan) and must equal
the integer reference executor bit for bit; "smallest" keeps the form of fewest bytes of
those that apply; memory.json's figures are those of the emitted arrays.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edgec.backends.c import huffman
from edgec.backends.c.emit_entropy import CHUNK_BYTES
from edgec.backends.c.weight_storage import POLICIES
from edgec.compiler import CompileOptions, compile_model
from edgec.harness.validate import ValidateOptions, validate
from tests.c_cases import random_int, run_cases
from tests.conftest import shared_path
from tests.test_c_int_kernels import act, const, prepare, single_op
from tests.test_compact_storage import conv_graph, fc_graph, out_scale, sparse_matrix, storages


def laplace(rng, shape, spread=4.0) -> np.ndarray:
    """int8 weights peaked at 0 (few bits of entropy), with both ends of the range present."""
    w = np.clip(np.round(rng.laplace(0, spread, shape)), -128, 127).astype(np.int8)
    flat = w.reshape(-1)
    flat[0], flat[-1] = -128, 127
    return w


def row_correlated(rng, shape) -> np.ndarray:
    """Each row close to the one above (the "row" predictor pays)."""
    rows = shape[0]
    steps = np.round(rng.laplace(0, 1.0, (rows, int(np.prod(shape[1:])))))
    steps[0] = rng.integers(-60, 60, steps.shape[1])
    return np.clip(np.cumsum(steps, axis=0), -128, 127).astype(np.int8).reshape(shape)


def periodic(rng, shape, period) -> np.ndarray:
    """Smooth rows that repeat every ``period`` columns, give or take one (the "average"
    predictor pays)."""
    n, k = shape
    base = np.cumsum(np.round(rng.laplace(0, 3.0, (n, period))), axis=1)
    noise = np.round(rng.laplace(0, 0.7, (n, k)))
    return np.clip(np.tile(base, k // period) + noise, -128, 127).astype(np.int8)


def depthwise_graph(weights, hw, seed, **attrs):
    """A depthwise convolution: weights [c * multiplier][1][kh][kw] over c input channels."""
    rng = np.random.default_rng(seed)
    o = weights.shape[0]
    c = o // attrs.pop("multiplier", 1)
    s_w = np.float32(2.0 ** rng.uniform(-8, -6, size=o)).astype(np.float32)
    bias = rng.integers(-(2**10), 2**10, size=o).astype(np.int32)
    inputs = [
        act((1, c, *hw), np.int8, 0.05, 9),
        const("w", weights, s_w, axis=0),
        const("b", bias, s_w * np.float32(0.05), axis=0),
    ]
    full = {"strides": [1, 1], "dilations": [1, 1], "pads": [0] * 4, "group": c, **attrs}
    scale = out_scale(weights.reshape(o, -1), s_w) / 4
    return single_op("Conv", inputs, np.int8, scale, -3, full)


def entropy_cases():
    rng = np.random.default_rng(18)
    return [
        # predictors: "row" across chunks of one row and of several, "average" (period 16)
        ("fc, row predictor, a row a chunk", fc_graph(row_correlated(rng, (6, 700)), 2, 8)),
        ("fc, row predictor, chunks", fc_graph(row_correlated(rng, (40, 30)), 1, 9)),
        ("fc, average predictor", fc_graph(periodic(rng, (12, 160), 16), 1, 10)),
        (
            "depthwise, row predictor",
            depthwise_graph(row_correlated(rng, (70, 1, 3, 3)), (4, 5), 11, pads=[1, 1, 1, 1]),
        ),
        # k = 700 > CHUNK_BYTES: one row per chunk; 3 batch rows
        ("fc, one row a chunk", fc_graph(laplace(rng, (9, 700)), 3, 1)),
        ("fc, rows in chunks", fc_graph(laplace(rng, (37, 45), 2.0), 2, 2)),
        ("1x1 conv, strided", conv_graph(laplace(rng, (12, 24, 1, 1)), (5, 6), 3, strides=[2, 1])),
        (
            "3x3 conv, padded",
            conv_graph(laplace(rng, (16, 5, 3, 3), 3.0), (7, 5), 4, pads=[1, 1, 1, 1]),
        ),
        (
            "3x3 conv, stride and dilation",
            conv_graph(
                laplace(rng, (9, 6, 3, 3)),
                (7, 7),
                5,
                pads=[2, 0, 1, 2],
                strides=[2, 2],
                dilations=[2, 1],
            ),
        ),
        (
            "depthwise 3x3",
            depthwise_graph(laplace(rng, (40, 1, 3, 3), 2.0), (6, 5), 6, pads=[1, 1, 1, 1]),
        ),
        (
            "depthwise, multiplier 2, strided",
            depthwise_graph(
                laplace(rng, (48, 1, 3, 3), 2.0),
                (7, 6),
                7,
                multiplier=2,
                pads=[0, 1, 2, 1],
                strides=[2, 1],
            ),
        ),
    ]


def test_huffman_round_trips_and_limits_code_lengths():
    rng = np.random.default_rng(3)
    fibonacci = [1, 1]
    while len(fibonacci) < 20:
        fibonacci.append(fibonacci[-1] + fibonacci[-2])
    skewed = np.repeat(np.arange(-10, 10), fibonacci)  # 17,710 values; Huffman depth 19
    matrices = [
        random_int(rng, (17, 31), np.int8),  # near-uniform: about 8 bits per weight
        laplace(rng, (40, 50), 1.5),
        np.full((3, 5), -128, np.int8),  # one value: a 1-bit code
        rng.permutation(skewed).astype(np.int8).reshape(1, -1),
    ]
    for matrix in matrices:
        stream, code = huffman.encode(matrix)
        assert int(code.lengths.max()) <= huffman.MAX_BITS
        assert int(code.counts.sum()) == len(np.unique(matrix)) == code.symbols.size
        # Kraft: a prefix code (complete unless a single symbol)
        kraft = sum(int(c) * 2.0**-length for length, c in enumerate(code.counts) if length)
        assert kraft <= 1.0
        np.testing.assert_array_equal(huffman.decode(stream, code, matrix.size), matrix.ravel())
        for predictor in huffman.PREDICTORS:
            for period in (1, 3):
                residual = huffman.residuals(matrix, predictor, period)
                back = huffman.unpredict(residual, predictor, period)
                np.testing.assert_array_equal(back, matrix)
        bits = int(code.lengths[matrix.reshape(-1).astype(np.int64) + 128].sum())
        assert stream.size == -(-bits // 8) + huffman.PAD
        assert huffman.stored_bytes(matrix) == stream.nbytes + code.table_bytes
    # the code follows the distribution: within a bit of the entropy on a peaked matrix
    w = laplace(rng, (64, 64), 3.0)
    _, counts = np.unique(w, return_counts=True)
    entropy = -(counts * np.log2(counts / counts.sum())).sum() / 8
    stream, _ = huffman.encode(w)
    assert entropy <= stream.size - huffman.PAD < entropy + w.size / 8


@pytest.mark.parametrize(
    ("kernels", "rounding"), [("portable", "tflm"), ("optimized", "tflm"), ("portable", "float")]
)
def test_entropy_kernels_are_bit_exact_with_the_reference(kernels, rounding, tmp_path):
    cases = []
    for index, (name, graph) in enumerate(entropy_cases()):
        (record,), _ = storages(
            graph, kernels=kernels, weight_storage="smallest", rounding=rounding
        )
        assert record["storage"] == "entropy", (name, record)
        assert record["kernel"].endswith("huffman_s8")
        predictor = name.partition(" predictor")[0].split()[-1] if "predictor" in name else "none"
        assert record["predictor"] == predictor, (name, record)
        case = prepare(graph, seed=200 + index, rounding=rounding)
        assert case is not None, name
        cases.append(case)
    run_cases(cases, tmp_path, kernels, rounding=rounding, weight_storage="smallest")


def test_smallest_keeps_the_form_of_fewest_bytes():
    rng = np.random.default_rng(5)
    picks = {
        "entropy": fc_graph(laplace(rng, (16, 64)), 1, 1),
        "sparse": fc_graph(sparse_matrix(rng, (9, 700), 0.03), 1, 2),  # Huffman: >= 1 bit each
        "dense": fc_graph(random_int(rng, (8, 64), np.int8), 1, 3),  # 8 bits + the table
    }
    assert "smallest" in POLICIES
    for expected, graph in picks.items():
        (record,), gen = storages(graph, kernels="optimized", weight_storage="smallest")
        candidates = record["candidates"]
        assert record["storage"] == expected, record
        assert "entropy" in candidates
        assert record["stored_bytes"] == min([record["dense_bytes"], *candidates.values()])
        if expected == "entropy":  # memory.json's bytes are those of the emitted arrays
            coded = [w for w in gen.program.weights.values() if "Huffman" in w.comment]
            assert record["stored_bytes"] == sum(w.nbytes for w in coded)
            assert record["decode_instructions"] >= huffman.DECODE_PER_WEIGHT * 16 * 64
            scratch = [b for b in gen.program.buffers.values() if b.scratch_for]
            assert [b.shape[0] for b in scratch] == [1024 + CHUNK_BYTES // 64 * 64]
        else:
            assert record["decode_instructions"] == 0


def test_smallest_build_is_smaller_than_the_default():
    rng = np.random.default_rng(6)
    graph = fc_graph(laplace(rng, (64, 128)), 1, 4)
    (_,), small = storages(graph, kernels="optimized", weight_storage="smallest")
    (_,), default = storages(graph, kernels="optimized")
    assert small.weight_bytes < 0.75 * default.weight_bytes


def ad_windows(count: int) -> np.ndarray:
    raw = np.fromfile(
        shared_path("data", "ad_sample", "normal_id_01_00000000_hist_librosa.bin"), np.float32
    )
    slices = raw.reshape(200, 128)
    return np.stack([slices[i : i + 5].reshape(1, 640) for i in range(count)])


def test_ad_smallest_is_bit_exact_and_reports_formats_and_cost(tmp_path):
    """The AD autoencoder, int8: every layer's storage with its bytes and decode cost in
    memory.json, the compiled section of compression.json, and the host build (sanitized)
    bit-exact with the integer reference."""
    windows = ad_windows(40)
    np.savez(tmp_path / "calib.npz", x=windows[:32])
    np.savez(tmp_path / "test.npz", x=windows[32:])
    model = shared_path("models", "ad_autoencoder", "ad01_fp32.onnx")
    options = dict(quantize="int8", calib=str(tmp_path / "calib.npz"), force=True)
    result = compile_model(
        model, tmp_path / "small", CompileOptions(weight_storage="smallest", **options)
    )
    default = compile_model(model, tmp_path / "default", CompileOptions(**options))
    memory = json.loads((result.out_dir / "memory.json").read_text())
    rows = memory["weight_storage"]
    assert len(rows) == 10 and all("decode_instructions" in r for r in rows)
    coded = [r for r in rows if r["storage"] == "entropy"]
    assert len(coded) >= 8
    for r in rows:
        assert r["stored_bytes"] == min([r["dense_bytes"], *r["candidates"].values()])
        assert (r["decode_instructions"] > 0) == (r["storage"] == "entropy")
    saved = sum(r["dense_bytes"] - r["stored_bytes"] for r in rows)
    assert saved > 0.08 * sum(r["dense_bytes"] for r in rows)
    compiled = json.loads((result.out_dir / "compression.json").read_text())["compiled"]
    totals = compiled["totals"]
    assert totals["weight_bytes"]["entropy"] == sum(r["stored_bytes"] for r in coded)
    assert totals["params"] == sum(layer["params"] for layer in compiled["layers"]) > 260_000
    assert totals["macs"] == 264_192 and totals["flash_weight_bytes"] == result.weight_bytes
    assert compiled["accuracy"]["measured"] and compiled["accuracy"]["output_sqnr_db"] > 30
    assert all(layer["sqnr_db"] is not None for layer in compiled["layers"])
    assert result.weight_bytes < default.weight_bytes - 0.8 * saved
    checked = validate(
        result.out_dir,
        ValidateOptions(data=str(tmp_path / "test.npz"), device="host", sanitize=True),
    )
    assert checked["bit_exact"] == checked["samples"] == 8


def test_compression_json_says_when_accuracy_is_not_measured(tmp_path):
    """A model quantized elsewhere (QDQ) has no calibration data here."""
    model = shared_path("models", "ad_autoencoder", "ad01_int8_qdq.onnx")
    result = compile_model(model, tmp_path / "qdq", CompileOptions(weight_storage="smallest"))
    accuracy = result.reports["compression"]["compiled"]["accuracy"]
    assert accuracy["measured"] is False and "no calibration data" in accuracy["note"]
    assert any(r["storage"] == "entropy" for r in result.manifest.weight_storage)


def test_ad_int4_smallest_codes_the_4bit_weights_bit_exact(tmp_path):
    """--weight-bits 4: the Huffman form is taken where it beats the packed nibbles, run by
    the int8 entropy kernels on the same values (bit-exact with the int4 reference)."""
    windows = ad_windows(40)
    np.savez(tmp_path / "calib.npz", x=windows[:32])
    np.savez(tmp_path / "test.npz", x=windows[32:])
    model = shared_path("models", "ad_autoencoder", "ad01_fp32.onnx")
    options = CompileOptions(
        quantize="int8", calib=str(tmp_path / "calib.npz"), weight_bits="4",
        weight_storage="smallest",
    )  # fmt: skip
    result = compile_model(model, tmp_path / "w4", options)
    rows = result.manifest.weight_storage
    coded = [r for r in rows if r["storage"] == "entropy"]
    assert {r["storage"] for r in rows} <= {"entropy", "int4"} and len(coded) >= 8
    for r in coded:
        assert r["stored_bytes"] == min(r["candidates"].values()) < r["candidates"]["int4"]
    first = rows[0]
    assert first["storage"] == "entropy" and first["stored_bytes"] < first["candidates"]["int4"]
    checked = validate(
        result.out_dir,
        ValidateOptions(data=str(tmp_path / "test.npz"), device="host", sanitize=True),
    )
    assert checked["bit_exact"] == checked["samples"] == 8


def test_ad_7bit_weights_shrink_the_entropy_coded_build_bit_exact(tmp_path):
    """--weight-bits 7: int8 codes in [-63, 63] (each channel's largest at 63), run by the
    int8 kernels unchanged; Huffman coded they take about a bit less per weight than the
    8-bit build's, and the host build (sanitized) is bit-exact with the integer reference."""
    windows = ad_windows(40)
    np.savez(tmp_path / "calib.npz", x=windows[:32])
    np.savez(tmp_path / "test.npz", x=windows[32:])
    model = shared_path("models", "ad_autoencoder", "ad01_fp32.onnx")
    options = dict(quantize="int8", calib=str(tmp_path / "calib.npz"), weight_storage="smallest")
    builds = {
        bits: compile_model(
            model, tmp_path / f"w{bits}", CompileOptions(weight_bits=bits, **options)
        )
        for bits in (8, 7)
    }
    graph = onnx.load(builds[7].out_dir / "reference.onnx")
    weights = [
        numpy_helper.to_array(t)
        for t in graph.graph.initializer
        if t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 2
    ]
    assert len(weights) == 10
    for w in weights:  # Gemm weights [k][n] (transB 0) or [n][k]: 63 on one axis everywhere
        assert np.abs(w).max() == 63
        assert (np.abs(w).max(axis=0) == 63).all() or (np.abs(w).max(axis=1) == 63).all()
    coded = {
        bits: sum(r["stored_bytes"] for r in b.manifest.weight_storage)
        for bits, b in builds.items()
    }
    params = sum(r["dense_bytes"] for r in builds[7].manifest.weight_storage)
    assert coded[7] < coded[8] - 0.8 * params / 8
    checked = validate(
        builds[7].out_dir,
        ValidateOptions(data=str(tmp_path / "test.npz"), device="host", sanitize=True),
    )
    assert checked["bit_exact"] == checked["samples"] == 8


@pytest.mark.parametrize(
    "text, ok", [("4", 4), ("7", 7), ("8", 8), ("auto", "auto"), ("3", None), ("9", None)]
)
def test_weight_bits_option_takes_4_to_8(text, ok):
    from edgec.cli_build import _weight_bits

    if ok is None:
        with pytest.raises(argparse.ArgumentTypeError, match="4 to 8"):
            _weight_bits(text)
    else:
        assert _weight_bits(text) == ok
