"""CanonicalizeTransposeReshape on hand-built graphs: structure before vs expected, and the
data checked against numpy's own transpose/reshape."""

from __future__ import annotations

import numpy as np
import pytest

from edgec.errors import PassError
from edgec.interp import Interpreter
from edgec.ir import Graph, Value
from edgec.passes import CanonicalizeTransposeReshape, PassManager


def f32(name: str, shape) -> Value:
    return Value(name, np.float32, shape)


def chain(x_shape, *steps) -> Graph:
    """x -> step -> step … -> y; a step is (op_type, out_shape, attrs, const inputs)."""
    g = Graph("chain")
    x = g.add_value(f32("x", x_shape))
    g.inputs.append(x)
    current = x
    for i, (op, shape, attrs, consts) in enumerate(steps):
        out = f32("y" if i == len(steps) - 1 else f"t{i}", shape)
        extra = [g.add_constant(f"c{i}", np.asarray(c, np.int64)) for c in consts]
        g.add_node(op, [current, *extra], [out], attrs, name=f"{op.lower()}{i}")
        current = out
    g.outputs.append(current)
    return g


def canonicalize(g: Graph) -> bool:
    return PassManager([CanonicalizeTransposeReshape()]).run(g).changed


def run(g: Graph, data: np.ndarray) -> np.ndarray:
    return Interpreter(g).run({"x": data})["y"]


def reshape_target(node) -> list[int]:
    assert node.op_type == "Reshape" and node.inputs[1].is_const
    assert node.inputs[1].const.dtype == np.int64
    return node.inputs[1].const.tolist()


def test_two_transposes_compose_into_one():
    g = chain(
        (2, 3, 4),
        ("Transpose", (4, 2, 3), {"perm": [2, 0, 1]}, []),
        ("Transpose", (2, 4, 3), {"perm": [1, 0, 2]}, []),
    )
    assert canonicalize(g)
    (node,) = g.nodes
    assert node.op_type == "Transpose" and node.inputs[0].name == "x"
    assert node.outputs[0].name == "y"
    data = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(run(g, data), data.transpose(2, 0, 1).transpose(1, 0, 2))
    assert list(node.attrs["perm"]) == [0, 2, 1]


def test_transpose_and_its_inverse_cancel():
    # NCHW -> NHWC -> NCHW around a Relu reader: the Relu then reads x itself.
    g = chain(
        (1, 2, 3, 4),
        ("Transpose", (1, 3, 4, 2), {"perm": [0, 2, 3, 1]}, []),
        ("Transpose", (1, 2, 3, 4), {"perm": [0, 3, 1, 2]}, []),
        ("Relu", (1, 2, 3, 4), {}, []),
    )
    assert canonicalize(g)
    assert [(n.op_type, n.inputs[0].name) for n in g.nodes] == [("Relu", "x")]


def test_identity_transpose_between_input_and_output_stays():
    # Removing it would make the graph output the graph input, which loses its name.
    g = chain((2, 3), ("Transpose", (2, 3), {"perm": [0, 1]}, []))
    assert not canonicalize(g)
    assert [n.op_type for n in g.nodes] == ["Transpose"]


def test_identity_transpose_is_removed():
    g = chain((2, 3), ("Relu", (2, 3), {}, []), ("Transpose", (2, 3), {"perm": [0, 1]}, []))
    assert canonicalize(g)
    assert [n.op_type for n in g.nodes] == ["Relu"]
    assert g.outputs[0].name == "y" and g.nodes[0].outputs[0] is g.outputs[0]


def test_transpose_moving_only_unit_dims_becomes_a_reshape():
    # The KWS/IC/VWW head: pooled [1, C, 1, 1] to NHWC, then flattened for the Gemm.
    g = chain(
        (1, 8, 1, 1),
        ("Transpose", (1, 1, 1, 8), {"perm": [0, 2, 3, 1]}, []),
        ("Reshape", (1, 8), {}, [[-1, 8]]),
    )
    assert canonicalize(g)
    (node,) = g.nodes
    assert node.inputs[0].name == "x" and reshape_target(node) == [1, 8]
    data = np.arange(8, dtype=np.float32).reshape(1, 8, 1, 1)
    np.testing.assert_array_equal(run(g, data), data.transpose(0, 2, 3, 1).reshape(1, 8))


def test_transpose_moving_real_dims_stays():
    g = chain((1, 2, 1, 3), ("Transpose", (1, 1, 3, 2), {"perm": [0, 2, 3, 1]}, []))
    assert not canonicalize(g)
    assert [n.op_type for n in g.nodes] == ["Transpose"]


def test_reshape_family_chain_becomes_one_constant_reshape():
    g = chain(
        (2, 3, 1, 4),
        ("Squeeze", (2, 3, 4), {}, [[2]]),
        ("Flatten", (2, 12), {"axis": 1}, []),
        ("Unsqueeze", (2, 1, 12), {}, [[1]]),
        ("Reshape", (2, 12), {}, [[0, -1]]),  # 0 copies dim 0, -1 infers the rest
    )
    data = np.arange(24, dtype=np.float32).reshape(2, 3, 1, 4)
    assert canonicalize(g)
    (node,) = g.nodes
    assert node.inputs[0].name == "x" and reshape_target(node) == [2, 12]
    assert g.constants() == [node.inputs[1]]  # the axes and old specs are gone
    np.testing.assert_array_equal(run(g, data), data.reshape(2, 12))


def test_reshape_to_the_same_shape_is_removed():
    g = chain((2, 3), ("Relu", (2, 3), {}, []), ("Reshape", (2, 3), {}, [[2, -1]]))
    assert canonicalize(g)
    assert [n.op_type for n in g.nodes] == ["Relu"]


def test_inner_node_with_other_readers_stays_for_them():
    g = chain(
        (2, 3, 4),
        ("Transpose", (4, 3, 2), {"perm": [2, 1, 0]}, []),
        ("Transpose", (2, 3, 4), {"perm": [2, 1, 0]}, []),
        ("Relu", (2, 3, 4), {}, []),
    )
    other = f32("other", (4, 3, 2))
    g.add_node("Relu", [g.value("t0")], [other])
    g.outputs.append(other)
    assert canonicalize(g)
    assert [(n.op_type, n.inputs[0].name) for n in g.nodes] == [
        ("Transpose", "x"),
        ("Relu", "x"),
        ("Relu", "t0"),
    ]


def test_canonical_reshape_is_a_fixed_point():
    g = chain((2, 3), ("Reshape", (3, 2), {}, [[3, 2]]))
    assert not canonicalize(g)


def test_ensures_reports_a_leftover_transpose_pair():
    g = chain(
        (2, 3),
        ("Transpose", (3, 2), {"perm": [1, 0]}, []),
        ("Transpose", (2, 3), {"perm": [1, 0]}, []),
    )
    with pytest.raises(PassError, match="CanonicalizeTransposeReshape at node 'transpose1'"):
        CanonicalizeTransposeReshape().ensures(g)
