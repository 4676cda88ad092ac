"""The ONNX importer: bad files fail with one clear typed error, awkward models import right.

Every failure case checks the error type, that the message names the offending thing and
stays on one line, and that nothing was written beside the input. Numbers come from
onnxruntime running the original model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import shared_path
from onnx import TensorProto, helper, numpy_helper
from onnx_cases import assert_close, make_model, random_feeds, run_ort

from edgec.errors import EdgecError, ModelError, ShapeError, UnsupportedOpError
from edgec.frontend import load_model
from edgec.interp import Interpreter
from edgec.ir import to_onnx
from edgec.ops import require_supported

KWS = ("models", "kws_dscnn", "kws_ref_model_float32.onnx")


def expect_error(tmp_path: Path, error: type[EdgecError], *fragments: str, **load_args):
    """Load ``load_args['source']`` expecting ``error``; the message holds every fragment."""
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(EdgecError) as info:
        graph = load_model(load_args.pop("source"), **load_args)
        Interpreter(graph)
    assert type(info.value) is error, f"{type(info.value).__name__}: {info.value}"
    message = str(info.value)
    assert "\n" not in message and "\r" not in message, repr(message)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "a file was written"
    return info.value


def relu_model(name: str = "x", shape=(1, 3), **kw) -> onnx.ModelProto:
    x = np.zeros(shape, np.float32)
    return make_model(
        [helper.make_node("Relu", [name], ["y"], name="relu")], {name: x}, ["y"], **kw
    )


# ---- files that are not models ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (
            b"ir_version: 8\ngraph { name: 'text format is not a model file' }\n",
            "not a valid ONNX file",
        ),
        (np.random.default_rng(7).bytes(4096), "not"),
        (b"", "empty"),
        (b"\x08\x07", "not an ONNX model"),  # a valid protobuf: ir_version 7, no graph
    ],
    ids=["text", "random-bytes", "empty", "no-graph"],
)
def test_not_an_onnx_file(tmp_path, content, fragment):
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    expect_error(tmp_path, ModelError, str(path), fragment, source=path)


def test_directory_and_missing_path(tmp_path):
    folder = tmp_path / "folder.onnx"
    folder.mkdir()
    expect_error(tmp_path, ModelError, "folder.onnx", source=folder)
    expect_error(
        tmp_path, ModelError, "missing.onnx", "no such file", source=tmp_path / "missing.onnx"
    )


@pytest.mark.parametrize("fraction", [0.0005, 0.01, 0.3, 0.5, 0.9, 0.999])
def test_truncated_model(tmp_path, fraction):
    data = shared_path(*KWS).read_bytes()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: max(1, int(len(data) * fraction))])
    expect_error(tmp_path, ModelError, "cut.onnx", source=path)


# ---- structurally broken graphs --------------------------------------------------------------
def test_graph_with_a_cycle(tmp_path):
    x = np.zeros((1, 3), np.float32)
    nodes = [
        helper.make_node("Add", ["x", "b"], ["a"], name="first"),
        helper.make_node("Relu", ["a"], ["b"], name="second"),
        helper.make_node("Relu", ["b"], ["y"], name="third"),
    ]
    model = make_model(nodes, {"x": x}, ["y"], output_types={"y": TensorProto.FLOAT})
    error = expect_error(tmp_path, ModelError, "cycle", "'first'", "'second'", source=model)
    assert "'third'" in str(error)  # stuck behind the cycle, named too


def test_node_reads_a_value_nobody_produces(tmp_path):
    x = np.zeros((1, 3), np.float32)
    nodes = [helper.make_node("Add", ["x", "ghost"], ["y"], name="adder")]
    model = make_model(nodes, {"x": x}, ["y"], output_types={"y": TensorProto.FLOAT})
    expect_error(tmp_path, ModelError, "'adder'", "'ghost'", source=model)


def test_graph_output_nobody_produces(tmp_path):
    model = relu_model()
    model.graph.output.append(helper.make_tensor_value_info("nowhere", TensorProto.FLOAT, [1]))
    expect_error(tmp_path, ModelError, "'nowhere'", "never produced", source=model)


@pytest.mark.parametrize("delta", [-4, 4], ids=["short", "long"])
def test_initializer_with_wrong_byte_count(tmp_path, delta):
    x = np.zeros((1, 3), np.float32)
    w = numpy_helper.from_array(np.ones((3,), np.float32), "weights")
    w.raw_data = w.raw_data[:delta] if delta < 0 else w.raw_data + b"\0" * delta
    node = helper.make_node("Add", ["x", "weights"], ["y"], name="add")
    model = make_model([node], {"x": x}, ["y"], output_types={"y": TensorProto.FLOAT})
    model.graph.initializer.append(w)
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    held = 12 + delta
    expect_error(
        tmp_path, ModelError, "initializer 'weights'", f"holds {held} bytes", "need 12", source=path
    )


# ---- unsupported ops -------------------------------------------------------------------------
def test_unknown_op(tmp_path):
    x = np.zeros((1, 3), np.float32)
    node = helper.make_node("Frobnicate", ["x"], ["y"], name="frob", domain="com.example")
    model = make_model([node], {"x": x}, ["y"], output_types={"y": TensorProto.FLOAT})
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    error = expect_error(
        tmp_path, UnsupportedOpError, "com.example.Frobnicate", "'frob'", source=model
    )
    assert error.ops == {"com.example.Frobnicate": ["frob"]}


def test_several_unknown_ops_in_one_error(tmp_path):
    """Every unsupported op type and node is listed at once, by the importer's graph check."""
    x = np.zeros((1, 3), np.float32)
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="fine"),
        helper.make_node("SequenceConstruct", ["a"], ["s"], name="seq_make"),
        helper.make_node("SequenceAt", ["s", "i"], ["b"], name="seq_at"),
        helper.make_node("Det", ["b"], ["c"], name="determinant"),
        helper.make_node("Det", ["c"], ["y"], name="determinant_again"),
    ]
    inits = {"i": np.array(0, np.int64)}
    model = make_model(nodes, {"x": x}, ["y"], inits, output_types={"y": TensorProto.FLOAT})
    graph = load_model(model)
    expected = {
        "Det": ["determinant", "determinant_again"],
        "SequenceAt": ["seq_at"],
        "SequenceConstruct": ["seq_make"],
    }
    for attempt in (lambda: require_supported(graph), lambda: Interpreter(graph)):
        with pytest.raises(UnsupportedOpError) as info:
            attempt()
        assert info.value.ops == expected
        message = str(info.value)
        assert message.startswith("3 unsupported op types")
        for op, names in expected.items():
            assert op in message and all(repr(n) in message for n in names), message


# ---- dynamic dims and input_shapes -----------------------------------------------------------
def symbolic_model(dims) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, dims)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph([helper.make_node("Relu", ["image"], ["y"])], "g", [x], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_symbolic_non_batch_dim_needs_input_shapes(tmp_path):
    model = symbolic_model(["batch", 3, "height", 8])
    expect_error(
        tmp_path, ShapeError, "'image'", "dim 2", "'height'", "--input-shape", source=model
    )


def test_symbolic_batch_dim_becomes_one_with_a_notice():
    notices: list[str] = []
    graph = load_model(symbolic_model(["N", 3, 8]), notices=notices)
    assert graph.inputs[0].shape == (1, 3, 8)
    assert graph.outputs[0].shape == (1, 3, 8)
    assert (
        len(notices) == 1 and "'image'" in notices[0] and "'N'" in notices[0] and "1" in notices[0]
    )


def test_input_shapes_fix_symbolic_dims_and_run(rng):
    model = symbolic_model(["N", 3, "H", "W"])
    notices: list[str] = []
    graph = load_model(model, input_shapes={"image": (2, 3, 5, 7)}, notices=notices)
    assert graph.inputs[0].shape == (2, 3, 5, 7) and graph.outputs[0].shape == (2, 3, 5, 7)
    assert notices == []
    x = rng.standard_normal((2, 3, 5, 7)).astype(np.float32)
    assert_close(Interpreter(graph).run({"image": x})["y"], np.maximum(x, 0), 0, 0, "relu")


@pytest.mark.parametrize(
    ("shapes", "error", "fragments"),
    [
        ({"image": (1, 3, 8)}, ShapeError, ("'image'", "rank 4", "3 dims")),
        ({"image": (1, 4, 8, 8)}, ShapeError, ("'image'", "dim 1 is 3", "gives 4")),
        ({"image": (1, 3, 0, 8)}, ShapeError, ("'image'", "positive")),
        ({"picture": (1, 3, 8, 8)}, ShapeError, ("'picture'", "no model input")),
    ],
    ids=["rank", "fixed-dim", "zero", "unknown-name"],
)
def test_input_shapes_mismatch(tmp_path, shapes, error, fragments):
    model = symbolic_model(["N", 3, "H", "W"])
    expect_error(tmp_path, error, *fragments, source=model, input_shapes=shapes)


def test_string_input_is_refused_by_name(tmp_path):
    x = helper.make_tensor_value_info("words", TensorProto.STRING, [2])
    y = helper.make_tensor_value_info("y", TensorProto.STRING, [2])
    graph = helper.make_graph([helper.make_node("Identity", ["words"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    expect_error(tmp_path, ModelError, "input 'words'", "STRING", source=model)


# ---- external data ---------------------------------------------------------------------------
def external_data_model(tmp_path: Path, rng) -> tuple[Path, dict[str, np.ndarray]]:
    x = rng.standard_normal((2, 16)).astype(np.float32)
    w = rng.standard_normal((16, 8)).astype(np.float32)
    b = rng.standard_normal((8,)).astype(np.float32)
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="dense")]
    model = make_model(
        nodes, {"x": x}, ["y"], {"w": w, "b": b}, output_types={"y": TensorProto.FLOAT}
    )
    path = tmp_path / "model.onnx"
    onnx.save(model, path, save_as_external_data=True, location="weights.bin", size_threshold=0)
    return path, {"x": x}


def test_external_data_loads_and_runs(tmp_path, rng):
    path, feeds = external_data_model(tmp_path, rng)
    assert (tmp_path / "weights.bin").stat().st_size == (16 * 8 + 8) * 4
    graph = load_model(path)
    ours = Interpreter(graph).run(feeds)["y"]
    assert_close(ours, run_ort(path, feeds)[0], 1e-5, 1e-6, "gemm with external weights")


def test_missing_external_data_file(tmp_path, rng):
    path, _ = external_data_model(tmp_path, rng)
    (tmp_path / "weights.bin").unlink()
    expect_error(tmp_path, ModelError, "model.onnx", "external", source=path)


# ---- names from the file are data, never syntax ----------------------------------------------
AWKWARD = [
    'in"put',
    "line\nbreak",
    "end */ comment",
    "#include <stdio.h>",
    "naïve ∑ 名前",
    "back\\slash'q",
]


def test_awkward_names_import_run_export_and_round_trip(tmp_path, rng):
    x_name, mid_name, y_name = AWKWARD[0], AWKWARD[1] + AWKWARD[2], AWKWARD[4]
    w = rng.standard_normal((4, 3)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", [x_name, AWKWARD[3]], [mid_name], name=AWKWARD[5]),
        helper.make_node("Relu", [mid_name], [y_name], name=AWKWARD[1]),
    ]
    x = rng.standard_normal((2, 4)).astype(np.float32)
    model = make_model(
        nodes, {x_name: x}, [y_name], {AWKWARD[3]: w}, output_types={y_name: TensorProto.FLOAT}
    )
    expected = run_ort(model, {x_name: x})[0]
    graph = load_model(model)
    assert [n.name for n in graph.nodes] == [AWKWARD[5], AWKWARD[1]]
    assert_close(Interpreter(graph).run({x_name: x})[y_name], expected, 1e-5, 1e-6, "awkward")
    exported = to_onnx(graph)
    onnx.checker.check_model(exported)
    path = tmp_path / "round.onnx"
    onnx.save(exported, path)
    assert [i.name for i in onnx.load(path).graph.input] == [x_name]
    assert_close(run_ort(path, {x_name: x})[0], expected, 0, 0, "exported awkward")
    again = load_model(path)
    assert_close(Interpreter(again).run({x_name: x})[y_name], expected, 1e-5, 1e-6, "re-imported")


@pytest.mark.parametrize("name", AWKWARD)
def test_errors_about_awkward_names_stay_one_line(tmp_path, name):
    model = symbolic_model(["N", "H"])
    model.graph.input[0].name = name
    model.graph.node[0].input[0] = name
    expect_error(tmp_path, ShapeError, repr(name), source=model)
    x = np.zeros((1, 3), np.float32)
    node = helper.make_node("Frobnicate", [name], ["y"], name=name)
    odd = make_model([node], {name: x}, ["y"], output_types={"y": TensorProto.FLOAT})
    expect_error(tmp_path, UnsupportedOpError, repr(name), source=odd)


# ---- legacy opsets: rewritten on import, checked against onnxruntime on the original ---------
X4 = (2, 3, 4, 5)


def legacy(opset, nodes, initializers=None, inputs=None):
    """(model, feeds) for nodes reading ``x`` of shape X4 (or ``inputs``) and writing ``y``."""
    rng = np.random.default_rng(opset)
    feeds = inputs or {"x": rng.standard_normal(X4).astype(np.float32)}
    model = make_model(
        nodes, feeds, ["y"], initializers, opset=opset, ir_version=3 if opset < 9 else 5
    )
    return model, feeds


def node(op, inputs, **attrs):
    return helper.make_node(op, inputs, ["y"], name=f"legacy_{op.lower()}", **attrs)


_R = np.random.default_rng(3)
LEGACY_CASES = {
    "clip-6-min-max": legacy(6, [node("Clip", ["x"], min=-0.5, max=0.7)]),
    "clip-6-min-only": legacy(6, [node("Clip", ["x"], min=0.1)]),
    "clip-10-max-only": legacy(10, [node("Clip", ["x"], max=0.2)]),
    "pad-6-constant": legacy(6, [node("Pad", ["x"], pads=[0, 1, 2, 0, 0, 0, 1, 3], value=1.5)]),
    "pad-10-reflect": legacy(
        10, [node("Pad", ["x"], pads=[0, 0, 1, 2, 0, 0, 2, 1], mode="reflect")]
    ),
    "pad-7-edge": legacy(7, [node("Pad", ["x"], pads=[0, 0, 1, 1, 0, 0, 1, 1], mode="edge")]),
    "squeeze-11": legacy(
        11,
        [node("Squeeze", ["x"], axes=[0, -2])],
        inputs={"x": _R.standard_normal((1, 3, 1, 5)).astype(np.float32)},
    ),
    "squeeze-9-all": legacy(
        9,
        [node("Squeeze", ["x"])],
        inputs={"x": _R.standard_normal((1, 3, 1, 5)).astype(np.float32)},
    ),
    "unsqueeze-11": legacy(11, [node("Unsqueeze", ["x"], axes=[0, -1])]),
    "unsqueeze-7": legacy(7, [node("Unsqueeze", ["x"], axes=[1, 3])]),
    "reduce-mean-11": legacy(11, [node("ReduceMean", ["x"], axes=[1, -1], keepdims=0)]),
    "reduce-mean-13-all": legacy(13, [node("ReduceMean", ["x"])]),
    "reduce-sum-12": legacy(12, [node("ReduceSum", ["x"], axes=[2])]),
    "reduce-max-7": legacy(7, [node("ReduceMax", ["x"], axes=[0, 3], keepdims=1)]),
    "reduce-l2-11": legacy(11, [node("ReduceL2", ["x"], axes=[1])]),
    "softmax-11-axis1": legacy(11, [node("Softmax", ["x"], axis=1)]),
    "softmax-12-default": legacy(12, [node("Softmax", ["x"])]),
    "softmax-9-last": legacy(9, [node("Softmax", ["x"], axis=3)]),
    "log-softmax-11-axis2": legacy(11, [node("LogSoftmax", ["x"], axis=2)]),
    "softmax-11-axis0": legacy(11, [node("Softmax", ["x"], axis=0)]),
    "upsample-7-attr": legacy(
        7, [node("Upsample", ["x"], scales=[1.0, 1.0, 2.0, 3.0], mode="nearest")]
    ),
    "upsample-9-input": legacy(
        9, [node("Upsample", ["x", "s"], mode="nearest")], {"s": np.array([1, 1, 2, 2], np.float32)}
    ),
    "resize-10": legacy(
        10,
        [node("Resize", ["x", "s"], mode="nearest")],
        {"s": np.array([1, 1, 1.5, 2], np.float32)},
    ),
    "resize-10-down": legacy(
        10,
        [node("Resize", ["x", "s"], mode="nearest")],
        {"s": np.array([1, 1, 0.5, 0.6], np.float32)},
    ),
    "resize-10-mixed": legacy(
        10,
        [node("Resize", ["x", "s"], mode="nearest")],
        {"s": np.array([1, 2, 0.5, 1.7], np.float32)},
    ),
    "batchnorm-7-spatial": legacy(
        7,
        [node("BatchNormalization", ["x", "s", "b", "m", "v"], spatial=1)],
        {
            "s": _R.standard_normal(3),
            "b": _R.standard_normal(3),
            "m": _R.standard_normal(3),
            "v": _R.uniform(0.5, 2, 3),
        },
    ),
    "resize-11-sizes": legacy(
        11,
        [node("Resize", ["x", "roi", "scales", "sizes"], mode="nearest")],
        {
            "roi": np.zeros(0, np.float32),
            "scales": np.zeros(0, np.float32),
            "sizes": np.array([2, 3, 7, 3], np.int64),
        },
    ),
    "dropout-7-ratio": legacy(7, [node("Dropout", ["x"], ratio=0.3)]),
    "dropout-10-ratio": legacy(10, [node("Dropout", ["x"], ratio=0.5)]),
    "split-11-attr": legacy(
        11, [helper.make_node("Split", ["x"], ["y", "z"], axis=3, split=[2, 3])]
    ),
    "slice-9-attrs": legacy(9, [node("Slice", ["x"], starts=[1, -3], ends=[3, 100], axes=[1, 3])]),
    "concat-6": legacy(6, [node("Concat", ["x", "x"], axis=2)]),
    "reshape-6": legacy(6, [node("Reshape", ["x", "s"])], {"s": np.array([0, -1], np.int64)}),
}
# onnxruntime has no opset-6 kernels for these: the expected outputs are worked out by hand
# from the old definitions (B aligned with A from ``axis``, per-channel batch norm, Gemm).
OPSET6_CASES = {
    "add-6-broadcast-axis": legacy(
        6,
        [node("Add", ["x", "b"], broadcast=1, axis=1)],
        {"b": _R.standard_normal(3).astype(np.float32)},
    ),
    "sub-6-broadcast-axis-2d": legacy(
        6,
        [node("Sub", ["x", "b"], broadcast=1, axis=1)],
        {"b": _R.standard_normal((3, 4)).astype(np.float32)},
    ),
    "mul-6-broadcast-suffix": legacy(
        6, [node("Mul", ["x", "b"], broadcast=1)], {"b": _R.standard_normal(5).astype(np.float32)}
    ),
    "div-6-same-shape": legacy(
        6, [node("Div", ["x", "b"])], {"b": _R.uniform(1, 2, X4).astype(np.float32)}
    ),
    "add-6-runtime-broadcast": legacy(
        6,
        [node("Add", ["x", "b"], broadcast=1, axis=0)],
        inputs={
            "x": _R.standard_normal(X4).astype(np.float32),
            "b": _R.standard_normal((2, 3)).astype(np.float32),
        },
    ),
    "batchnorm-6-spatial": legacy(
        6,
        [node("BatchNormalization", ["x", "s", "b", "m", "v"], is_test=1, spatial=1, epsilon=1e-3)],
        {
            "s": _R.standard_normal(3),
            "b": _R.standard_normal(3),
            "m": _R.standard_normal(3),
            "v": _R.uniform(0.5, 2, 3),
        },
    ),
    "batchnorm-6-is-test-extra-outputs": legacy(
        6,
        [
            helper.make_node(
                "BatchNormalization",
                ["x", "s", "b", "m", "v"],
                ["y", "running_mean", "running_var", "saved_mean", "saved_var"],
                name="bn",
                is_test=1,
            )
        ],
        {
            "s": _R.standard_normal(3),
            "b": _R.standard_normal(3),
            "m": _R.standard_normal(3),
            "v": _R.uniform(0.5, 2, 3),
        },
    ),
    "gemm-6-broadcast": legacy(
        6,
        [node("Gemm", ["a", "w", "c"], broadcast=1, transB=1)],
        {
            "w": _R.standard_normal((4, 6)).astype(np.float32),
            "c": _R.standard_normal(4).astype(np.float32),
        },
        inputs={"a": _R.standard_normal((2, 6)).astype(np.float32)},
    ),
}


def _inputs(model, feeds) -> dict[str, np.ndarray]:
    values = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    return {**values, **feeds}


def _opset6_expected(case: str, v: dict[str, np.ndarray]) -> np.ndarray:
    x = v.get("x")
    if case == "add-6-broadcast-axis":
        return x + v["b"].reshape(1, 3, 1, 1)
    if case == "sub-6-broadcast-axis-2d":
        return x - v["b"].reshape(1, 3, 4, 1)
    if case == "mul-6-broadcast-suffix":
        return x * v["b"]
    if case == "div-6-same-shape":
        return x / v["b"]
    if case == "add-6-runtime-broadcast":
        return x + v["b"].reshape(2, 3, 1, 1)
    if case.startswith("batchnorm-6"):
        shape = (1, 3, 1, 1)
        epsilon = np.float32(1e-3 if case == "batchnorm-6-spatial" else 1e-5)
        norm = (x - v["m"].reshape(shape)) / np.sqrt(v["v"].reshape(shape) + epsilon)
        return norm * v["s"].reshape(shape) + v["b"].reshape(shape)
    if case == "gemm-6-broadcast":
        return v["a"] @ v["w"].T + v["c"]
    raise KeyError(case)


for _model, _ in [*LEGACY_CASES.values(), *OPSET6_CASES.values()]:
    for _init in _model.graph.initializer:  # numpy's default float64 → the models' float32
        if _init.data_type == TensorProto.DOUBLE:
            _init.CopyFrom(
                numpy_helper.from_array(numpy_helper.to_array(_init).astype(np.float32), _init.name)
            )


@pytest.mark.parametrize("case", list(LEGACY_CASES))
def test_legacy_opset_upgrade(case):
    model, feeds = LEGACY_CASES[case]
    expected = run_ort(model, feeds)
    graph = load_model(model)
    assert graph.opset == 21
    ours = Interpreter(graph).run(feeds)
    for value, want in zip(graph.outputs, expected):
        assert value.shape == want.shape
        assert_close(ours[value.name], want, 1e-5, 1e-6, f"{case} {value.name}")
    # The rewritten graph is a valid opset-21 model that onnxruntime agrees with too.
    exported = to_onnx(graph)
    onnx.checker.check_model(exported, full_check=True)
    for got, want in zip(run_ort(exported, feeds), expected):
        assert_close(got, want, 1e-5, 1e-6, f"{case} exported")


def test_mnist8_legacy_model_round_trips(rng):
    """The opset-8 CNTK export: import, export at opset 21, same outputs in onnxruntime."""
    path = shared_path("models", "mnist8", "model.onnx")
    graph = load_model(path)
    feeds = random_feeds(graph, rng)
    expected = run_ort(path, feeds)[0]
    assert_close(run_ort(to_onnx(graph), feeds)[0], expected, 1e-5, 1e-4, "mnist8 exported")


@pytest.mark.parametrize("case", list(OPSET6_CASES))
def test_opset6_forms_against_hand_computation(case):
    model, feeds = OPSET6_CASES[case]
    expected = _opset6_expected(case, _inputs(model, feeds)).astype(np.float32)
    graph = load_model(model)
    ours = Interpreter(graph).run(feeds)["y"]
    assert_close(ours, expected, 1e-5, 1e-6, case)
    assert_close(run_ort(to_onnx(graph), feeds)[0], expected, 1e-5, 1e-6, f"{case} exported")


def test_legacy_forms_edgec_declines(tmp_path):
    """Old semantics with no inference meaning are refused by name, not run wrongly."""
    stats = {k: np.ones(3, np.float32) for k in "sbmv"}
    outputs = ["y", "running_mean", "running_var", "saved_mean", "saved_var"]
    for opset in (7, 9, 13):  # extra outputs meant training mode: batch statistics
        bn = helper.make_node("BatchNormalization", list("xsbmv"), outputs, name="bn")
        training, _ = legacy(opset, [bn], stats)
        expect_error(tmp_path, ModelError, "'bn'", "training-mode", source=training)
    bn14 = helper.make_node(
        "BatchNormalization", list("xsbmv"), outputs[:3], name="bn14", training_mode=1
    )
    expect_error(
        tmp_path, ModelError, "'bn14'", "training_mode", source=legacy(14, [bn14], stats)[0]
    )
    spatial0, _ = legacy(
        7, [node("BatchNormalization", ["x", "s", "b", "m", "v"], spatial=0)], stats
    )
    expect_error(tmp_path, ModelError, "'legacy_batchnormalization'", "spatial=0", source=spatial0)


@pytest.mark.parametrize("opset", [7, 9])
def test_linear_upsample_is_an_asymmetric_bilinear_resize(opset):
    """Upsample's linear mode samples at asymmetric coordinates, as onnxruntime reads it."""
    scales = np.array([1.0, 1.0, 2.0, 3.0], np.float32)
    if opset == 7:
        model, feeds = legacy(7, [node("Upsample", ["x"], scales=list(scales), mode="linear")])
    else:
        model, feeds = legacy(9, [node("Upsample", ["x", "s"], mode="linear")], {"s": scales})
    graph = load_model(model)
    (resize,) = graph.nodes
    assert resize.attrs["coordinate_transformation_mode"] == "asymmetric"
    got = Interpreter(graph).run(feeds)[graph.outputs[0].name]
    assert_close(got, run_ort(model, feeds)[0], 1e-5, 1e-6, f"Upsample-{opset}")


def test_duplicate_and_missing_node_names_become_unique(rng):
    x = rng.standard_normal((2, 3)).astype(np.float32)
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="dup"),
        helper.make_node("Neg", ["a"], ["b"], name="dup"),
        helper.make_node("Abs", ["b"], ["c"]),
        helper.make_node("Sigmoid", ["c"], ["y"], name="dup_1"),
    ]
    graph = load_model(make_model(nodes, {"x": x}, ["y"]))
    node_names = [n.name for n in graph.nodes]
    assert len(set(node_names)) == 4 and node_names[0] == "dup" and node_names[2] == "Abs_2"
    expected = 1 / (1 + np.exp(-np.abs(np.maximum(x, 0))))
    assert_close(
        run_ort(to_onnx(graph), {"x": x})[0], expected.astype(np.float32), 1e-6, 1e-7, "renamed"
    )


def test_input_without_shape_needs_input_shapes(tmp_path, rng):
    model = symbolic_model(None)
    expect_error(
        tmp_path, ShapeError, "'image'", "has no shape", "--input-shape image=", source=model
    )
    graph = load_model(model, input_shapes={"image": [2, 5]})
    x = rng.standard_normal((2, 5)).astype(np.float32)
    assert_close(Interpreter(graph).run({"image": x})["y"], np.maximum(x, 0), 0, 0, "relu")
