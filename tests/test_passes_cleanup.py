"""EliminateIdentity, FuseActivation and EliminateDeadCode on tiny hand-built graphs."""

from __future__ import annotations

import numpy as np
import pytest
from onnx_cases import assert_close, run_ort

from edgec.errors import PassError
from edgec.interp import Interpreter
from edgec.ir import FusedActivation, Graph, Value, to_onnx
from edgec.passes import EliminateDeadCode, EliminateIdentity, FuseActivation, PassManager


def f32(name: str, shape) -> Value:
    return Value(name, np.float32, shape)


def new_graph(*inputs: Value) -> Graph:
    graph = Graph("case")
    for value in inputs:
        graph.inputs.append(graph.add_value(value))
    return graph


def ops(graph: Graph) -> list[tuple[str, str, str]]:
    """(op type, first input name, first output name) per node."""
    return [
        (n.op_type, n.inputs[0].name if n.inputs else "", n.outputs[0].name) for n in graph.nodes
    ]


def changed(graph: Graph, *passes) -> bool:
    return PassManager(list(passes)).run(graph).changed


# ---- EliminateIdentity --------------------------------------------------------------------
def test_identity_and_dropout_are_removed():
    x = f32("x", (2, 3))
    g = new_graph(x)
    a, b, c, y = f32("a", (2, 3)), f32("b", (2, 3)), f32("c", (2, 3)), f32("y", (2, 3))
    g.add_node("Relu", [x], [a])
    g.add_node("Identity", [a], [b])
    ratio = g.add_constant("ratio", np.float32(0.5))
    g.add_node("Dropout", [b, ratio], [c, Value("mask", np.bool_, (2, 3))])
    g.add_node("Sigmoid", [c], [y])
    g.outputs.append(y)

    assert changed(g, EliminateIdentity())

    assert ops(g) == [("Relu", "x", "a"), ("Sigmoid", "a", "y")]
    assert not g.has_value("mask") and not g.has_value("ratio")


def test_identity_producing_a_graph_output_keeps_the_output_name():
    x = f32("x", (2,))
    g = new_graph(x)
    a, y = f32("a", (2,)), f32("y", (2,))
    g.add_node("Relu", [x], [a])
    g.add_node("Identity", [a], [y])
    g.outputs.append(y)
    assert changed(g, EliminateIdentity())
    assert ops(g) == [("Relu", "x", "y")]
    assert g.outputs[0] is g.nodes[0].outputs[0]


def test_identity_kept_where_bypass_is_impossible():
    # input -> Identity -> output, and const -> Identity -> output: the output name must stay.
    x = f32("x", (2,))
    g = new_graph(x)
    y, z = f32("y", (2,)), f32("z", (2,))
    g.add_node("Identity", [x], [y])
    g.add_node("Identity", [g.add_constant("k", np.ones(2, np.float32))], [z])
    g.outputs.extend([y, z])
    assert not changed(g, EliminateIdentity())
    assert [n.op_type for n in g.nodes] == ["Identity", "Identity"]


def test_dropout_whose_mask_is_read_stays():
    x = f32("x", (2,))
    g = new_graph(x)
    a, y, mask = f32("a", (2,)), f32("y", (2,)), Value("mask", np.bool_, (2,))
    g.add_node("Relu", [x], [a])
    g.add_node("Dropout", [a], [y, mask])
    g.outputs.extend([y, mask])
    assert not changed(g, EliminateIdentity())
    g.outputs.remove(mask)  # once nobody reads the mask, the Dropout goes
    assert changed(g, EliminateIdentity())
    assert ops(g) == [("Relu", "x", "y")]


def test_identity_ensures_names_the_leftover():
    x = f32("x", (2,))
    g = new_graph(x)
    a, y = f32("a", (2,)), f32("y", (2,))
    g.add_node("Identity", [x], [a], name="idle")
    g.add_node("Relu", [a], [y])
    g.outputs.append(y)
    with pytest.raises(PassError, match="EliminateIdentity at node 'idle'"):
        EliminateIdentity().ensures(g)


# ---- FuseActivation -----------------------------------------------------------------------
def linear_then(activation: str, producer: str = "Gemm", bounds=(None, None)) -> Graph:
    """x[2, 4] -> producer (Gemm/MatMul/Add with constant operands) -> activation -> y."""
    rng = np.random.default_rng(3)
    x = f32("x", (2, 4))
    g = new_graph(x)
    h, y = f32("h", (2, 3)), f32("y", (2, 3))
    if producer == "Add":
        h = f32("h", (2, 4))
        y = f32("y", (2, 4))
        g.add_node("Add", [x, g.add_constant("k", rng.standard_normal(4).astype(np.float32))], [h])
    else:
        w = g.add_constant("w", rng.standard_normal((4, 3)).astype(np.float32))
        g.add_node(producer, [x, w], [h], name="linear")
    inputs = [h]
    if activation == "Clip":
        inputs += [
            g.add_constant(f"clip_{i}", np.float32(b)) if b is not None else None
            for i, b in enumerate(bounds)
        ]
        while inputs[-1] is None:
            inputs.pop()
    g.add_node(activation, inputs, [y], name="act")
    g.outputs.append(y)
    return g


@pytest.mark.parametrize(
    ("activation", "producer", "bounds", "fused"),
    [
        ("Relu", "Gemm", (None, None), FusedActivation("Relu")),
        ("Relu", "MatMul", (None, None), FusedActivation("Relu")),
        ("Relu", "Add", (None, None), FusedActivation("Relu")),
        ("Clip", "Gemm", (0.0, 6.0), FusedActivation("Clip", {"min": 0.0, "max": 6.0})),
        ("Clip", "MatMul", (None, 0.5), FusedActivation("Clip", {"min": None, "max": 0.5})),
        ("Clip", "Gemm", (-0.25, None), FusedActivation("Clip", {"min": -0.25, "max": None})),
    ],
    ids=["gemm-relu", "matmul-relu", "add-relu", "gemm-relu6", "matmul-clip-max", "gemm-clip-min"],
)
def test_activation_fuses_into_its_producer(activation, producer, bounds, fused, rng):
    g = linear_then(activation, producer, bounds)
    feeds = {"x": rng.standard_normal((2, 4)).astype(np.float32)}
    expected = run_ort(to_onnx(g), feeds)[0]

    assert changed(g, FuseActivation())

    (node,) = g.nodes
    assert node.op_type == producer and node.fused == fused
    assert node.outputs[0].name == "y" and g.outputs[0] is node.outputs[0]
    assert not any(c.name.startswith("clip_") for c in g.constants())
    # The executor applies and the exporter re-expands the fused activation.
    assert_close(Interpreter(g).run(feeds)["y"], expected, 1e-6, 1e-6, "interp")
    assert_close(run_ort(to_onnx(g), feeds)[0], expected, 1e-6, 1e-6, "onnxruntime")


def test_conv_relu_fuses():
    x = f32("x", (1, 2, 4, 4))
    g = new_graph(x)
    h, y = f32("h", (1, 3, 4, 4)), f32("y", (1, 3, 4, 4))
    w = g.add_constant("w", np.ones((3, 2, 1, 1), np.float32))
    g.add_node("Conv", [x, w], [h])
    g.add_node("Relu", [h], [y])
    g.outputs.append(y)
    assert changed(g, FuseActivation())
    assert ops(g) == [("Conv", "x", "y")] and g.nodes[0].fused == FusedActivation("Relu")


def test_not_fused_when_the_producer_output_has_another_reader():
    g = linear_then("Relu")
    other = f32("other", (2, 3))
    g.add_node("Sigmoid", [g.value("h")], [other])
    g.outputs.append(other)
    assert not changed(g, FuseActivation())


def test_not_fused_when_the_producer_output_is_a_graph_output():
    g = linear_then("Relu")
    g.outputs.append(g.value("h"))
    assert not changed(g, FuseActivation())


def test_second_activation_is_not_fused_over_the_first():
    g = linear_then("Relu")
    z = f32("z", (2, 3))
    g.add_node("Clip", [g.value("y"), g.add_constant("lo", np.float32(0.1))], [z])
    g.outputs[0] = z
    assert changed(g, FuseActivation())
    assert [(n.op_type, n.fused) for n in g.nodes] == [
        ("Gemm", FusedActivation("Relu")),
        ("Clip", None),
    ]


def test_not_fused_with_a_runtime_clip_bound_or_after_a_pool():
    g = linear_then("Clip", bounds=(0.0, 6.0))
    hi = g.add_value(Value("hi", np.float32, ()))
    g.inputs.append(hi)
    g.set_input(g.nodes[1], 2, hi)
    assert not changed(g, FuseActivation())

    x = f32("x", (1, 1, 4, 4))
    g = new_graph(x)
    h, y = f32("h", (1, 1, 2, 2)), f32("y", (1, 1, 2, 2))
    g.add_node("MaxPool", [x], [h], {"kernel_shape": [2, 2], "strides": [2, 2]})
    g.add_node("Relu", [h], [y])
    g.outputs.append(y)
    assert not changed(g, FuseActivation())


def test_fusion_ensures_names_the_leftover():
    g = linear_then("Relu")
    with pytest.raises(PassError, match="FuseActivation at node 'act'"):
        FuseActivation().ensures(g)


# ---- EliminateDeadCode --------------------------------------------------------------------
def test_dead_branch_and_unread_constants_go_unused_inputs_stay():
    x, unused = f32("x", (2,)), f32("unused", (2,))
    g = new_graph(x, unused)
    a, dead1, dead2, y = f32("a", (2,)), f32("dead1", (2,)), f32("dead2", (2,)), f32("y", (2,))
    g.add_node("Relu", [x], [a])
    g.add_node("Add", [a, g.add_constant("k_dead", np.ones(2, np.float32))], [dead1])
    g.add_node("Sigmoid", [dead1], [dead2])
    g.add_node("Mul", [a, g.add_constant("k_live", np.ones(2, np.float32))], [y])
    g.add_constant("k_orphan", np.zeros(3, np.float32))
    g.outputs.append(y)

    assert changed(g, EliminateDeadCode())

    assert ops(g) == [("Relu", "x", "a"), ("Mul", "a", "y")]
    assert [c.name for c in g.constants()] == ["k_live"]
    assert [v.name for v in g.inputs] == ["x", "unused"] and g.has_value("unused")
    assert not any(g.has_value(n) for n in ("dead1", "dead2"))


def test_node_with_one_used_output_of_several_stays():
    x = f32("x", (4,))
    g = new_graph(x)
    first, second = f32("first", (2,)), f32("second", (2,))
    g.add_node("Split", [x], [first, second], {"num_outputs": 2})
    g.outputs.append(second)
    assert not changed(g, EliminateDeadCode())
    assert g.has_value("first")


def test_dead_code_ensures_names_the_dead_node():
    x = f32("x", (2,))
    g = new_graph(x)
    y, dead = f32("y", (2,)), f32("dead", (2,))
    g.add_node("Relu", [x], [y])
    g.add_node("Sigmoid", [x], [dead], name="nobody_reads_me")
    g.outputs.append(y)
    with pytest.raises(PassError, match="EliminateDeadCode at node 'nobody_reads_me'"):
        EliminateDeadCode().ensures(g)
