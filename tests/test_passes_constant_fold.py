"""ConstantFolding on tiny hand-built graphs: what folds, what stays, and the folded data."""

from __future__ import annotations

import numpy as np
import pytest
from onnx_cases import run_ort

from edgec.errors import PassError
from edgec.interp import Interpreter
from edgec.ir import Graph, QuantParams, Value, to_onnx
from edgec.passes import ConstantFolding, PassManager


def new_graph(*inputs: Value) -> Graph:
    graph = Graph("case")
    for value in inputs:
        graph.inputs.append(graph.add_value(value))
    return graph


def f32(name: str, shape) -> Value:
    return Value(name, np.float32, shape)


def i64(name: str, shape) -> Value:
    return Value(name, np.int64, shape)


def structure(graph: Graph) -> list[tuple[str, list[str | None], list[str]]]:
    return [
        (
            n.op_type,
            [v.name if v is not None else None for v in n.inputs],
            [v.name for v in n.outputs],
        )
        for n in graph.nodes
    ]


def run_fold(graph: Graph, **kwargs) -> bool:
    return PassManager([ConstantFolding(**kwargs)]).run(graph).changed


def test_shape_gather_concat_reshape_folds_to_one_reshape():
    # y = Reshape(x, Concat(Gather(Shape(x), [0]), [-1])) with x: [2, 3, 4] -> y: [2, 12]
    x = f32("x", (2, 3, 4))
    g = new_graph(x)
    dims, first, target = i64("dims", (3,)), i64("first", (1,)), i64("target", (2,))
    y = f32("y", (2, 12))
    g.add_node("Shape", [x], [dims])
    g.add_node("Gather", [dims, g.add_constant("index", np.array([0], np.int64))], [first])
    rest = g.add_constant("rest", np.array([-1], np.int64))
    g.add_node("Concat", [first, rest], [target], {"axis": 0})
    g.add_node("Reshape", [x, target], [y])
    g.outputs.append(y)

    assert run_fold(g)

    assert structure(g) == [("Reshape", ["x", "target"], ["y"])]
    assert target.is_const and target.producer is None
    np.testing.assert_array_equal(target.const, [2, -1])
    assert (target.dtype, target.shape) == (np.dtype(np.int64), (2,))
    # The intermediate shape values and the now-unread index constants are gone.
    assert not any(g.has_value(name) for name in ("dims", "first", "index", "rest"))
    data = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(Interpreter(g).run({"x": data})["y"], data.reshape(2, 12))


def test_constant_chain_folds_into_the_consumer_operand():
    x = f32("x", (2, 3))
    g = new_graph(x)
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.full((3,), 0.5, np.float32)
    s, p, y = f32("s", (2, 3)), f32("p", (2, 3)), f32("y", (2, 3))
    g.add_node("Add", [g.add_constant("a", a), g.add_constant("b", b)], [s])
    g.add_node("Mul", [s, g.add_constant("two", np.float32(2.0))], [p])
    g.add_node("Add", [x, p], [y])
    g.outputs.append(y)

    assert run_fold(g)

    assert structure(g) == [("Add", ["x", "p"], ["y"])]
    np.testing.assert_array_equal(p.const, (a + 0.5) * 2)  # [[1, 3, 5], [7, 9, 11]]
    assert p.const.dtype == np.float32
    assert {c.name for c in g.constants()} == {"p"}


def test_constant_of_shape_weight_placeholder_becomes_data():
    # The light/ model zoo copies store every weight as ConstantOfShape(shape) of 0.02.
    x = f32("x", (1, 4))
    g = new_graph(x)
    w, y = f32("w", (4, 3)), f32("y", (1, 3))
    fill = np.array([0.02], np.float32)
    w_shape = g.add_constant("w_shape", np.array([4, 3], np.int64))
    g.add_node("ConstantOfShape", [w_shape], [w], {"value": fill})
    g.add_node("MatMul", [x, w], [y])
    g.outputs.append(y)

    assert run_fold(g)

    assert structure(g) == [("MatMul", ["x", "w"], ["y"])]
    np.testing.assert_array_equal(w.const, np.full((4, 3), 0.02, np.float32))


def test_size_and_shape_of_a_runtime_input_fold_from_its_static_shape():
    x = f32("x", (2, 5))
    g = new_graph(x)
    n, dims = i64("n", ()), i64("dims", (1,))
    g.add_node("Size", [x], [n])
    g.add_node("Shape", [x], [dims], {"start": -1})
    g.outputs.extend([n, dims])

    assert run_fold(g)

    assert g.nodes == []
    assert int(n.const) == 10
    np.testing.assert_array_equal(dims.const, [5])
    out = Interpreter(g).run({"x": np.zeros((2, 5), np.float32)})
    assert int(out["n"]) == 10
    # The folded graph outputs are initializers in ONNX; onnxruntime agrees.
    n_ort, dims_ort = run_ort(to_onnx(g), {"x": np.zeros((2, 5), np.float32)})
    assert int(n_ort) == 10 and dims_ort.tolist() == [5]


def qdq_weight_graph() -> tuple[Graph, Value]:
    """x @ DequantizeLinear(w_q, scale, zero_point): a QDQ weight read by a MatMul."""
    x = f32("x", (1, 2))
    g = new_graph(x)
    w, y = f32("w", (2, 2)), f32("y", (1, 2))
    wq = g.add_constant("w_q", np.array([[-128, 0], [5, 127]], np.int8))
    scale = g.add_constant("scale", np.float32(0.5))
    zero = g.add_constant("zero", np.int8(1))
    g.add_node("DequantizeLinear", [wq, scale, zero], [w])
    g.add_node("MatMul", [x, w], [y])
    g.outputs.append(y)
    return g, w


def test_qdq_is_kept_by_default():
    g, _ = qdq_weight_graph()
    assert not run_fold(g)
    assert [n.op_type for n in g.nodes] == ["DequantizeLinear", "MatMul"]


def test_qdq_folds_when_asked():
    g, w = qdq_weight_graph()
    assert run_fold(g, keep_qdq=False)
    assert [n.op_type for n in g.nodes] == ["MatMul"]
    # (q - zero_point) * scale, by hand
    np.testing.assert_array_equal(w.const, np.array([[-64.5, -0.5], [2.0, 63.0]], np.float32))


def test_unsupported_op_is_never_folded():
    g = new_graph(f32("x", (1,)))
    out = Value("out", None, None)
    g.add_node("FancyOp", [g.add_constant("c", np.ones(2, np.float32))], [out])
    g.outputs.append(out)
    assert not run_fold(g)
    assert [n.op_type for n in g.nodes] == ["FancyOp"]


def test_shape_of_an_unknown_shape_is_left_alone():
    x = f32("x", (3,))
    g = new_graph(x)
    mystery, dims = Value("mystery", None, None), i64("dims", (1,))
    g.add_node("FancyOp", [x], [mystery])
    g.add_node("Shape", [mystery], [dims])
    g.outputs.append(dims)
    assert not run_fold(g)
    assert [n.op_type for n in g.nodes] == ["FancyOp", "Shape"]


def test_integer_arithmetic_on_quantized_values_is_not_folded():
    # An int8 Add with quantization parameters is integer-domain arithmetic: the float
    # reference would give the wrong answer, so it is left for the integer backend.
    g = new_graph(f32("x", (1,)))
    params = QuantParams(np.float32(0.1), np.int64(0), np.int8)
    a = g.add_constant("a", np.array([100], np.int8))
    a.quant = params
    s = Value("s", np.int8, (1,), quant=params)
    g.add_node("Add", [a, a], [s])
    g.outputs.append(s)
    assert not run_fold(g)


def test_ensures_flags_a_foldable_node_left_behind():
    g = new_graph(f32("x", (1,)))
    y = f32("y", (2,))
    g.add_node("Relu", [g.add_constant("c", np.array([-1, 1], np.float32))], [y])
    g.outputs.append(y)
    with pytest.raises(PassError, match=r"ConstantFolding.*constant inputs left unfolded"):
        ConstantFolding().ensures(g)
    ConstantFolding().run(g)
    ConstantFolding().ensures(g)
    np.testing.assert_array_equal(y.const, [0, 1])
