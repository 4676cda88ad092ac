"""PassManager (fixed point, failures, in-place check) and the ``fold`` pipeline end to end."""

from __future__ import annotations

import numpy as np
import pytest
from onnx_cases import assert_close, run_ort

from edgec.errors import PassError, ShapeError
from edgec.interp import Interpreter
from edgec.ir import FusedActivation, Graph, Value, to_onnx
from edgec.passes import (
    CanonicalizeTransposeReshape,
    ConstantFolding,
    EliminateDeadCode,
    EliminateIdentity,
    FoldBatchNorm,
    FuseActivation,
    FuseMatMulAdd,
    Pass,
    PassManager,
    PassResult,
    fold,
    fold_passes,
)
from edgec.passes.attention_scale import FoldAttentionScale
from edgec.passes.div_constant import DivByConstant
from edgec.passes.gelu_fusion import FuseGelu
from edgec.passes.layernorm_fusion import FuseLayerNorm
from edgec.passes.recurrent_fold import FoldRecurrent


def relu_graph() -> Graph:
    g = Graph("tiny")
    x = g.add_value(Value("x", np.float32, (2,)))
    g.inputs.append(x)
    y = Value("y", np.float32, (2,))
    g.add_node("Relu", [x], [y], name="relu")
    g.outputs.append(y)
    return g


class CountDown(Pass):
    """Claims a change ``left`` times, then reaches its fixed point."""

    def __init__(self, left: int):
        self.left, self.runs = left, 0

    def run(self, graph):
        self.runs += 1
        self.left -= 1
        return PassResult(graph, self.left >= 0)


def test_manager_repeats_until_nothing_changes():
    counter = CountDown(3)
    result = PassManager([counter]).run(relu_graph())
    assert result.changed and counter.runs == 4  # three changing runs, one quiet one

    once = CountDown(3)
    PassManager([once], fixed_point=False).run(relu_graph())
    assert once.runs == 1


def test_manager_gives_up_without_a_fixed_point():
    with pytest.raises(PassError, match="no fixed point after 5 iterations"):
        PassManager([CountDown(100)], max_iterations=5).run(relu_graph())


class Raises(Pass):
    def __init__(self, error: Exception):
        self.error = error

    def run(self, graph):
        raise self.error


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (ValueError("boom"), "pass Raises: internal error: ValueError: boom"),
        (ShapeError("bad shape"), "pass Raises: bad shape"),
        (PassError("Raises", "named", "relu"), "pass Raises at node 'relu': named"),
    ],
    ids=["bug", "edgec-error", "pass-error"],
)
def test_failures_surface_as_pass_error_naming_the_pass(error, message):
    with pytest.raises(PassError) as info:
        PassManager([Raises(error)]).run(relu_graph())
    assert str(info.value) == message
    assert info.value.pass_name == "Raises"


class ReturnsCopy(Pass):
    def run(self, graph):
        return PassResult(graph.copy(), False)


class OutOfPlace(ReturnsCopy):
    in_place = False


def test_in_place_pass_must_return_the_same_graph():
    with pytest.raises(PassError, match="ReturnsCopy: declared in-place"):
        PassManager([ReturnsCopy()]).run(relu_graph())
    g = relu_graph()
    assert PassManager([OutOfPlace()]).run(g).graph is not g


class BreaksTheGraph(Pass):
    def run(self, graph):
        graph.remove_node(graph.nodes[0])  # the output is now never produced
        return PassResult(graph, True)


def test_broken_invariants_are_caught_after_the_pass():
    with pytest.raises(PassError, match=r"BreaksTheGraph.*never produced"):
        PassManager([BreaksTheGraph()]).run(relu_graph())


class Refuses(CountDown):
    def requires(self, graph):
        raise self.fail("needs something else")


def test_requires_runs_before_the_pass():
    refuses = Refuses(1)
    with pytest.raises(PassError, match="Refuses: needs something else"):
        PassManager([refuses]).run(relu_graph())
    assert refuses.runs == 0


# ---- the fold pipeline ----------------------------------------------------------------------
def test_fold_passes_order():
    assert [type(p) for p in fold_passes()] == [
        EliminateIdentity,
        ConstantFolding,
        FoldBatchNorm,
        FuseLayerNorm,
        FuseGelu,
        DivByConstant,
        CanonicalizeTransposeReshape,
        FuseMatMulAdd,
        FoldAttentionScale,
        FuseActivation,
        FoldRecurrent,
        EliminateDeadCode,
    ]


def mixed_graph(rng) -> Graph:
    """x -> Identity -> Conv(w = ConstantOfShape… scaled) -> BN -> Relu -> Transpose(unit dims)
    -> Flatten -> Gemm -> Dropout -> y, with a dead Sigmoid branch on the side."""
    g = Graph("mixed")
    x = g.add_value(Value("x", np.float32, (1, 3, 4, 4)))
    g.inputs.append(x)

    def v(name, shape, dtype=np.float32):
        return Value(name, dtype, shape)

    def const(name, data):
        return g.add_constant(name, np.asarray(data))

    g.add_node("Identity", [x], [v("x1", (1, 3, 4, 4))])
    g.add_node(
        "ConstantOfShape",
        [const("w_shape", np.array([5, 3, 4, 4], np.int64))],
        [v("w_ones", (5, 3, 4, 4))],
        {"value": np.array([1.0], np.float32)},
    )
    noise = const("w_noise", rng.standard_normal((5, 3, 4, 4)).astype(np.float32))
    g.add_node("Mul", [g.value("w_ones"), noise], [v("w", (5, 3, 4, 4))])
    g.add_node("Conv", [g.value("x1"), g.value("w")], [v("c", (1, 5, 1, 1))])
    bn = [const(n, rng.uniform(0.5, 1.5, 5).astype(np.float32)) for n in ("s", "b", "m", "var")]
    g.add_node("BatchNormalization", [g.value("c"), *bn], [v("bn", (1, 5, 1, 1))])
    g.add_node("Relu", [g.value("bn")], [v("r", (1, 5, 1, 1))])
    g.add_node("Transpose", [g.value("r")], [v("t", (1, 1, 1, 5))], {"perm": [0, 2, 3, 1]})
    g.add_node("Flatten", [g.value("t")], [v("f", (1, 5))])
    fc = const("fc", rng.standard_normal((5, 2)).astype(np.float32))
    g.add_node("Gemm", [g.value("f"), fc], [v("g", (1, 2))])
    g.add_node("Dropout", [g.value("g")], [v("y", (1, 2))])
    g.add_node("Sigmoid", [g.value("r")], [v("unused", (1, 5, 1, 1))])
    g.outputs.append(g.value("y"))
    return g


def test_fold_end_to_end_structure_and_outputs(rng):
    g = mixed_graph(rng)
    feeds = {"x": rng.standard_normal((1, 3, 4, 4)).astype(np.float32)}
    expected = run_ort(to_onnx(g), feeds)[0]

    assert fold(g) is g  # in place

    assert [(n.op_type, n.inputs[0].name, n.fused) for n in g.nodes] == [
        ("Conv", "x", FusedActivation("Relu")),
        ("Reshape", g.nodes[0].outputs[0].name, None),
        ("Gemm", g.nodes[1].outputs[0].name, None),
    ]
    assert g.nodes[1].inputs[1].const.tolist() == [1, 5]
    assert g.outputs[0].name == "y" and g.nodes[2].outputs[0] is g.outputs[0]
    assert len(g.constants()) == 4  # conv weight and bias, reshape target, fc weight
    assert_close(Interpreter(g).run(feeds)["y"], expected, 1e-5, 1e-5, "interp")
    assert_close(run_ort(to_onnx(g), feeds)[0], expected, 1e-5, 1e-5, "onnxruntime")
    # A folded graph is a fixed point of the whole list.
    assert not PassManager(fold_passes()).run(g).changed
