"""Mutated ONNX files into the importer and the compiler: only EdgecError may escape.

hypothesis picks a shared model (float, int8 QDQ) and mutates its bytes: overwritten bytes,
deleted runs, inserted garbage. ``compile`` (import, fold, lowering, C generation) must then
succeed or raise an ``EdgecError`` subclass with a message; any other exception is a bug.
An alarm turns a hang into a failure. Regression cases found this way are kept below.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgec.compiler import CompileOptions, compile_model
from edgec.errors import EdgecError, ModelError, TargetError
from tests.conftest import shared_path

MODELS = [
    ("hello_world_sine", "hello_world_float.onnx"),
    ("hello_world_sine", "hello_world_int8_qdq.onnx"),
    ("kws_dscnn", "kws_ref_model_float32.onnx"),
    ("kws_dscnn", "kws_ref_model_int8_qdq.onnx"),
    ("ad_autoencoder", "ad01_fp32.onnx"),
]
SECONDS_PER_INPUT = 60  # a hang guard, far above the ~0.1 s an input takes
FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@contextmanager
def alarm(seconds: int):
    def hung(signum, frame):
        raise TimeoutError(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(shared_path("models", *draw(st.sampled_from(MODELS))).read_bytes())
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["overwrite", "delete", "insert"]))
        if kind == "overwrite":
            data[at] = draw(st.integers(0, 255))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


def compile_or_clear_error(data: bytes, tmp_path) -> None:
    path = tmp_path / "mutated.onnx"
    path.write_bytes(data)
    with alarm(SECONDS_PER_INPUT):
        try:
            compile_model(path, tmp_path / "out", CompileOptions(force=True))
        except EdgecError as exc:
            assert str(exc).strip(), "an error without a message"


@FUZZ
@given(data=mutated())
def test_mutated_models_compile_or_fail_with_a_clear_error(data, tmp_path):
    compile_or_clear_error(data, tmp_path)


def test_name_that_is_not_utf8_is_a_model_error(tmp_path):
    # Found by the fuzzer: ONNX's protobuf is proto2, so an invalid UTF-8 name parses as
    # bytes, and the error message about it used to crash with a TypeError.
    data = shared_path("models", "hello_world_sine", "hello_world_float.onnx").read_bytes()
    model = __import__("onnx").load_from_string(data)
    name = model.graph.initializer[0].name.encode()
    assert data.count(name) >= 1
    broken = data.replace(name, b"\xc6" + name[1:])
    path = tmp_path / "broken.onnx"
    path.write_bytes(broken)
    with pytest.raises(ModelError, match="not valid UTF-8"):
        compile_model(path, tmp_path / "out", CompileOptions())


def test_random_bytes_are_never_a_model(tmp_path):
    rng = np.random.default_rng(3)
    for size in (1, 7, 100, 5000):
        compile_or_clear_error(rng.integers(0, 256, size, dtype=np.uint8).tobytes(), tmp_path)


# ---- resource limits: refused before anything that size is allocated -----------------------
def _constant_of_shape_model(input_shape: list[int], constant_shape: list[int]):
    from onnx import TensorProto, helper, numpy_helper

    shape = numpy_helper.from_array(np.array(constant_shape, np.int64), "shape")
    value = helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0])
    nodes = [
        helper.make_node("ConstantOfShape", ["shape"], ["c"], name="fill", value=value),
        helper.make_node("Add", ["x", "c"], ["y"], name="add"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [shape],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_a_huge_declared_tensor_is_refused_at_once(tmp_path):
    import onnx

    from edgec import analyze

    path = tmp_path / "huge_input.onnx"
    onnx.save(_constant_of_shape_model([1, 20000, 20000], [1]), path)
    with alarm(10), pytest.raises(ModelError, match=r"input 'x' has shape .*400,000,000 elements"):
        analyze(path)
    path = tmp_path / "huge_constant.onnx"
    onnx.save(_constant_of_shape_model([1], [1, 30000, 30000]), path)
    with alarm(10), pytest.raises(ModelError, match=r"'fill'.*900,000,000 elements"):
        analyze(path)


def test_a_model_larger_than_the_target_is_refused_before_its_c_is_written(tmp_path):
    import onnx

    path = tmp_path / "large_constant.onnx"
    onnx.save(_constant_of_shape_model([1], [1, 1500, 1500]), path)  # a 9 MB float constant
    with (
        alarm(30),
        pytest.raises(TargetError, match=r"does not fit mps2-an386: weights 9,000,000 B"),
    ):
        compile_model(path, tmp_path / "out", CompileOptions(target="mps2-an386"))
    assert not (tmp_path / "out").exists()


def test_a_graph_with_too_many_nodes_is_refused_at_once(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    from edgec import analyze

    nodes = [
        helper.make_node("Relu", ["x" if i == 0 else f"v{i - 1}"], [f"v{i}"]) for i in range(10_001)
    ]
    graph = helper.make_graph(
        nodes,
        "deep",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("v10000", TensorProto.FLOAT, None)],
    )
    path = tmp_path / "deep.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    with alarm(10), pytest.raises(ModelError, match="10,001 nodes, more than the 10,000"):
        analyze(path)
