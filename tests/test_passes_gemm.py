"""FuseMatMulAdd: a dense layer split into MatMul + Add becomes one Gemm."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from edgec.interp import Interpreter
from edgec.ir import Graph, Value, to_onnx
from edgec.passes import FuseMatMulAdd, fold


def dense(bias_shape, a_rank=2) -> Graph:
    rng = np.random.default_rng(3)
    g = Graph("dense")
    a_shape = (2, 4) if a_rank == 2 else (3, 2, 4)
    x = g.add_value(Value("x", np.float32, a_shape))
    g.inputs.append(x)
    w = g.add_constant("w", rng.normal(size=(4, 5)).astype(np.float32))
    b = g.add_constant("b", rng.normal(size=bias_shape).astype(np.float32))
    y = g.new_value("y", np.float32, (*a_shape[:-1], 5))
    z = g.new_value("z", np.float32, (*a_shape[:-1], 5))
    g.add_node("MatMul", [x, w], [y])
    g.add_node("Add", [y, b], [z])
    g.outputs.append(z)
    return g


def test_matmul_add_becomes_gemm_with_the_same_outputs():
    for shape in [(5,), (1, 5)]:
        g = dense(shape)
        x = np.random.default_rng(1).normal(size=(2, 4)).astype(np.float32)
        before = Interpreter(g).run({"x": x})["z"]
        assert FuseMatMulAdd().run(g).changed
        g.validate()
        assert [n.op_type for n in g.nodes] == ["Gemm"] and g.outputs[0].name == "z"
        after = ort.InferenceSession(to_onnx(g).SerializeToString()).run(None, {"x": x})[0]
        np.testing.assert_allclose(after, before, rtol=1e-6, atol=1e-6)


def test_a_3d_activation_becomes_rows_of_a_gemm():
    """nn.Linear on a 3-d input (torch exports MatMul + Add): reshaped to rows and back."""
    g = dense((5,), a_rank=3)
    x = np.random.default_rng(2).normal(size=(3, 2, 4)).astype(np.float32)
    before = Interpreter(g).run({"x": x})["z"]
    assert FuseMatMulAdd().run(g).changed
    g.validate()
    assert [n.op_type for n in g.nodes] == ["Reshape", "Gemm", "Reshape"]
    assert g.nodes[1].inputs[0].shape == (6, 4) and g.outputs[0].name == "z"
    after = ort.InferenceSession(to_onnx(g).SerializeToString()).run(None, {"x": x})[0]
    np.testing.assert_allclose(after, before, rtol=1e-6, atol=1e-6)


def test_row_varying_bias_stays():
    assert not FuseMatMulAdd().run(dense((2, 5))).changed  # C differs per row: not a bias


def test_fold_pipeline_includes_it():
    g = fold(dense((5,)))
    assert [n.op_type for n in g.nodes] == ["Gemm"]
