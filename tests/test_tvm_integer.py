"""Integer execution of int8 models on the TVM backend: the fixed-point expressions against
edgec's numpy helpers, every shared int8 model bit-exact with edgec's integer reference on
this computer (TFLite Micro rounding, and onnxruntime's with ``--rounding float``, checked
independently against onnxruntime), one under qemu-aarch64, the QDQ fallback, and errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from edgec.backends.tvm.build import QDQ_NUMERICS
from edgec.backends.tvm.compile import integer_numerics
from edgec.cli import main
from edgec.ops.integer import fixedpoint as fp
from tests.conftest import needs_tools, shared_path
from tests.tvm_helpers import (
    aarch64_root,
    compile_digits_quantized,
    compile_tvm,
    onnxruntime_outputs,
    validate_cli,
)

INT8_MODELS = {
    "kws": ("kws_dscnn", "kws_ref_model_int8_qdq.onnx"),
    "ic": ("ic_resnet8", "pretrainedResnet_quant_int8_qdq.onnx"),
    "vww": ("vww_mobilenet", "vww_96_int8_qdq.onnx"),
    "ad": ("ad_autoencoder", "ad01_int8_qdq.onnx"),
    "hello_world": ("hello_world_sine", "hello_world_int8_qdq.onnx"),
}
SAMPLES = 12


def int8_inputs(key: str, count: int = SAMPLES) -> np.ndarray:
    """Real KWS features for KWS, seeded full-range int8 inputs for the others."""
    model = onnx.load(str(shared_path("models", *INT8_MODELS[key])))
    if key == "kws":
        files = sorted(shared_path("data", "kws01").glob("*.bin"))[:count]
        return np.stack([np.fromfile(f, np.int8).reshape(1, 1, 49, 10) for f in files])
    dims = [d.dim_value or 1 for d in model.graph.input[0].type.tensor_type.shape.dim]
    rng = np.random.default_rng(sum(map(ord, key)))
    return rng.integers(-128, 128, (count, *dims)).astype(np.int8)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Each shared int8 model compiled once for the host (TFLite Micro rounding)."""
    folders: dict[str, Path] = {}

    def get(key: str) -> Path:
        if key not in folders:
            out = tmp_path_factory.mktemp(key) / "out"
            compile_tvm(shared_path("models", *INT8_MODELS[key]), out, "host")
            folders[key] = out
        return folders[key]

    return get


# ---- the fixed-point expressions ------------------------------------------------------------


def _run_te(compute, inputs: list[np.ndarray], out_dtype: str, vector_lanes: int = 0):
    """``compute`` built for this computer, its (1-D) loop vectorized if ``vector_lanes``."""
    import tvm
    from tvm import te

    placeholders = [
        te.placeholder(a.shape, str(a.dtype), name=f"in{i}") for i, a in enumerate(inputs)
    ]
    out = compute(*placeholders)
    func = te.create_prim_func([*placeholders, out])
    target = "llvm"
    if vector_lanes:
        from edgec.backends.tvm.cpu import llvm_target
        from edgec.targets import load_board

        schedule = tvm.s_tir.Schedule(func)
        (loop,) = schedule.get_loops(schedule.get_sblock(out.op.name))
        schedule.vectorize(schedule.split(loop, [None, vector_lanes])[1])
        func = schedule.mod["main"]
        target = tvm.target.Target(llvm_target(load_board("host", "linux")))
    library = tvm.compile(tvm.IRModule({"main": func}), target=target).jit()
    result = tvm.runtime.tensor(np.zeros([int(d) for d in out.shape], out_dtype))
    library["main"](*map(tvm.runtime.tensor, inputs), result)
    return result.numpy()


def test_fixed_point_expressions_match_the_numpy_helpers():
    from tvm import te

    from edgec.backends.tvm import fixedpoint_te as fx

    rng = np.random.default_rng(7)
    edges = [fp.INT32_MIN + 1, -(1 << 20), -65536, -1, 0, 1, 65535, 1 << 20, fp.INT32_MAX]
    x = np.concatenate([edges, rng.integers(-(1 << 24), 1 << 24, 4000)]).astype(np.int32)
    reals = rng.uniform(1e-4, 0.99, 16)
    multipliers, shifts = fp.quantize_multipliers(reals)
    channel = np.arange(x.size) % 16

    def per_channel(values, m, s, c):
        return te.compute(
            values.shape, lambda i: fx.multiply_by_quantized_multiplier(values[i], m[c[i]], s[c[i]])
        )

    got = _run_te(
        per_channel,
        [x, multipliers.astype(np.int32), shifts.astype(np.int32), channel.astype(np.int32)],
        "int64",
    )
    want = fp.multiply_by_quantized_multiplier(x, multipliers[channel], shifts[channel])
    np.testing.assert_array_equal(got, want)

    # Per tensor (Python ints), a negative multiplier (LeakyRelu's), and the right-shift form.
    for real in (0.0123, -0.4, 1.7):
        m, s = fp.quantize_multiplier(real)
        values = x if s <= 0 else (x >> s).astype(np.int32)  # x << shift must fit in int32
        got = _run_te(
            lambda v, m=m, s=s: te.compute(
                v.shape, lambda i: fx.multiply_by_quantized_multiplier(v[i], m, s)
            ),
            [values],
            "int64",
        )
        np.testing.assert_array_equal(got, fp.multiply_by_quantized_multiplier(values, m, s))
    # The right-shift form (int32 lanes): every int32, the largest multipliers, vectorized
    # on the host's widest registers as the kernels run it.
    small, small_shifts = fp.quantize_multipliers(rng.uniform(1e-4, 0.24, 16))  # its range
    small[0], small_shifts[0] = fp.INT32_MAX, -2
    x = np.concatenate([[fp.INT32_MIN], x, rng.integers(fp.INT32_MIN, fp.INT32_MAX, 4000)])
    x = x[: x.size // 16 * 16].astype(np.int32)
    channel = np.arange(x.size) % 16
    for zero_point in (-7, 100):
        rows = fp.right_shift_requant_params(small, small_shifts, zero_point)
        got = _run_te(
            lambda v, r: te.compute(
                v.shape,
                lambda i: fx.multiply_by_quantized_multiplier_right(
                    v[i], r[i % 16, 0], r[i % 16, 1], r[i % 16, 2]
                ),
            ),
            [x, rows],
            "int32",
            vector_lanes=16,
        )
        want = fp.multiply_by_quantized_multiplier(x, small[channel], small_shifts[channel])
        np.testing.assert_array_equal(got, want + zero_point)


def test_pack_words_puts_each_pixels_channels_in_one_word():
    from edgec.backends.tvm.integer_dot import pack_words

    rng = np.random.default_rng(5)
    x = rng.integers(-128, 128, (1, 5, 6, 3)).astype(np.int8)
    pads = (1, 0, 2, 1)  # top, left, bottom, right
    for zero_point in (-128, 17):
        got = _run_te(lambda v, z=zero_point: pack_words(v, pads, z), [x], "int32")
        # numpy: pad with the zero point, a zero fourth channel, read as little-endian words
        padded = np.full((1, 8, 7, 4), zero_point, np.int8)
        padded[:, 1:6, 0:6, :3] = x
        padded[:, 1:6, 0:6, 3] = 0
        np.testing.assert_array_equal(got, padded.view("<i4")[..., 0])


def test_depthwise_in_float_only_where_every_sum_is_exact():
    from edgec.backends.tvm.integer import _exact_in_float

    weights = np.full((4, 1, 3, 3), -127, np.int64)  # |sum| <= 9 * 127 * 128 = 146304
    bias = np.zeros(4, np.int64)
    assert _exact_in_float(weights, bias)
    bias[2] = (1 << 24) - 146304 - 1
    assert _exact_in_float(weights, bias)
    bias[2] += 1  # a bound of 2**24: refused (from 2**24 + 1 on, float32 skips integers)
    assert not _exact_in_float(weights, bias)
    bias[2] = -(1 << 24)
    assert not _exact_in_float(weights, bias)


def test_reciprocal_stages_match_get_reciprocal():
    from edgec.backends.tvm import fixedpoint_te as fx

    rng = np.random.default_rng(3)
    totals = np.concatenate([[1, 2, 4095, 4096, 1 << 20], rng.integers(1, 1 << 30, 500)])
    totals = totals.astype(np.int32)
    got = _run_te(lambda t: fx.reciprocal_stages(t, 12)[0], [totals], "int64")
    bits = _run_te(lambda t: fx.reciprocal_stages(t, 12)[1], [totals], "int64")
    want, want_bits = fp.get_reciprocal(totals, 12)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(bits, want_bits)


# ---- whole models -------------------------------------------------------------------------


@pytest.mark.parametrize("key", list(INT8_MODELS))
def test_shared_int8_model_is_bit_exact_on_the_host(key, built, tmp_path):
    out = built(key)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["numerics"] == integer_numerics("tflm")
    np.savez(tmp_path / "data.npz", x=int8_inputs(key))
    status, report, saved = validate_cli(out, tmp_path / "data.npz", "host")
    assert status == 0, report.get("error")
    assert report["samples"] == SAMPLES and report["bit_exact"] == SAMPLES
    assert report["max_lsb_vs_reference"] == 0 and report["threads"] >= 1
    # Independently of edgec's report: the saved outputs against edgec's reference run here.
    from edgec.interp import run_graph
    from edgec.quantize.qdq import load_reference_graph

    graph = load_reference_graph(out / "reference.onnx")
    device = np.load(saved)
    for i, x in enumerate(int8_inputs(key)):
        expected = run_graph(graph, {graph.inputs[0].name: x})[graph.outputs[0].name]
        np.testing.assert_array_equal(device[i].reshape(expected.shape), expected)


def test_float_rounding_equals_onnxruntime_on_kws(tmp_path):
    """--rounding float: bit-exact with edgec's reference in that mode, which requantizes as
    onnxruntime's QDQ kernels do: the outputs equal onnxruntime's on the same QDQ model."""
    model = shared_path("models", *INT8_MODELS["kws"])
    out = tmp_path / "out"
    args = ["compile", str(model), "-o", str(out), "--backend", "tvm", "--target", "host"]
    assert main([*args, "--rounding", "float"]) == 0
    assert json.loads((out / "manifest.json").read_text())["numerics"] == integer_numerics("float")
    x = int8_inputs("kws")
    np.savez(tmp_path / "data.npz", x=x)
    status, report, saved = validate_cli(out, tmp_path / "data.npz", "host")
    assert status == 0 and report["bit_exact"] == SAMPLES
    name = onnx.load(str(model)).graph.input[0].name
    expected = onnxruntime_outputs(model, {name: x})
    np.testing.assert_array_equal(np.load(saved).reshape(expected.shape), expected)


def test_threads_option_reaches_the_runner(built, tmp_path, capsys):
    out = built("hello_world")
    np.savez(tmp_path / "data.npz", x=int8_inputs("hello_world", 3))
    status, report, _ = validate_cli(out, tmp_path / "data.npz", "host", "--threads", "1")
    assert status == 0 and report["threads"] == 1 and report["bit_exact"] == 3
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["validate", str(out), "--data", str(tmp_path / "data.npz"), "--threads", "0"])
    assert "--threads: expected a positive count, got 0" in capsys.readouterr().err


def test_graphs_the_integer_lowering_lacks_go_as_qdq(tmp_path, capsys):
    """16x8 layers have no integer lowering yet: the build says so and uses relax's QDQ."""
    out = tmp_path / "out"
    status = compile_digits_quantized(out, "int16x8")
    assert status == 0
    assert "as QDQ (no integer lowering for" in capsys.readouterr().err
    assert json.loads((out / "manifest.json").read_text())["numerics"] == QDQ_NUMERICS


def test_litert_rounding_is_refused_for_tvm(tmp_path, capsys):
    model = shared_path("models", *INT8_MODELS["hello_world"])
    args = ["compile", str(model), "-o", str(tmp_path / "o"), "--backend", "tvm"]
    assert main([*args, "--target", "host", "--rounding", "litert"]) != 0
    assert "the TVM backend requantizes as TFLite Micro (tflm)" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@needs_tools("qemu-aarch64", "aarch64-linux-gnu-g++")
def test_kws_int8_is_bit_exact_under_qemu_aarch64(tmp_path):
    aarch64_root()
    out = tmp_path / "out"
    compile_tvm(shared_path("models", *INT8_MODELS["kws"]), out, "aarch64-linux")
    np.savez(tmp_path / "data.npz", x=int8_inputs("kws", 4))
    status, report, _ = validate_cli(out, tmp_path / "data.npz", "emulator")
    assert status == 0 and report["bit_exact"] == 4 == report["samples"]
    assert report["device"] == "emulator:aarch64-linux (qemu-aarch64)"
