"""IR structure on hand-built graphs: schedule order, invariants, rewiring, copies, names."""

from __future__ import annotations

import numpy as np
import pytest

from edgec.errors import ModelError
from edgec.interp import Interpreter
from edgec.ir.graph import FusedActivation, Graph, Node, Value


def chain_graph() -> tuple[Graph, dict[str, Value]]:
    """x → Relu(a) → Neg(b) → Abs(y), plus a constant w added to a in Add(c) → Identity(z)."""
    g = Graph("chain")
    v = {}
    v["x"] = g.add_value(Value("x", np.float32, (2, 3)))
    g.inputs.append(v["x"])
    v["w"] = g.add_constant("w", np.ones((2, 3), np.float32))
    for name in ("a", "b", "y", "c", "z"):
        v[name] = Value(name, np.float32, (2, 3))
    g.add_node("Relu", [v["x"]], [v["a"]], name="relu")
    g.add_node("Neg", [v["a"]], [v["b"]], name="neg")
    g.add_node("Abs", [v["b"]], [v["y"]], name="abs")
    g.add_node("Add", [v["a"], v["w"]], [v["c"]], name="add")
    g.add_node("Identity", [v["c"]], [v["z"]], name="identity")
    g.outputs = [v["y"], v["z"]]
    g.validate()
    return g, v


def names(nodes) -> list[str]:
    return [n.name for n in nodes]


# ---- topo_sort -------------------------------------------------------------------------------
def test_topo_sort_keeps_a_valid_order_unchanged():
    g, _ = chain_graph()
    before = names(g.nodes)
    g.topo_sort()
    assert names(g.nodes) == before


def test_topo_sort_is_stable_for_independent_nodes():
    """Nodes out of order move only as far as needed; ties keep their current order."""
    g, _ = chain_graph()
    by_name = {n.name: n for n in g.nodes}
    g.nodes = [by_name[k] for k in ("identity", "abs", "add", "neg", "relu")]
    g.topo_sort()
    # relu first (everything needs it); then, among ready nodes, the earliest in the list:
    # add (position 2) before neg (3); identity once add is done (position 0 beats abs).
    assert names(g.nodes) == ["relu", "add", "identity", "neg", "abs"]
    g.validate()


def test_topo_sort_counts_a_value_read_twice():
    g = Graph()
    x = g.add_value(Value("x", np.float32, (3,)))
    g.inputs.append(x)
    a, y = Value("a", np.float32, (3,)), Value("y", np.float32, (3,))
    square = g.add_node("Mul", [a, a], [y], name="square")
    g.add_node("Relu", [x], [a], name="relu")
    g.outputs = [y]
    assert names(g.nodes) == ["square", "relu"]
    g.topo_sort()
    assert g.nodes == [g.nodes[0], square] and g.nodes[0].name == "relu"
    out = Interpreter(g).run({"x": np.array([-1, 2, -3], np.float32)})["y"]
    np.testing.assert_array_equal(out, [0, 4, 0])


def test_topo_sort_names_the_nodes_on_a_cycle():
    g = Graph()
    x = g.add_value(Value("x", np.float32, (1,)))
    g.inputs.append(x)
    a, b, y = (Value(n, np.float32, (1,)) for n in ("a", "b", "y"))
    g.add_node("Add", [x, b], [a], name="loop_head")
    g.add_node("Relu", [a], [b], name="loop_tail")
    g.add_node("Relu", [x], [y], name="bystander")
    g.outputs = [y]
    with pytest.raises(ModelError) as info:
        g.topo_sort()
    message = str(info.value)
    assert "cycle" in message and "'loop_head'" in message and "'loop_tail'" in message
    assert "bystander" not in message


# ---- validate --------------------------------------------------------------------------------
def test_validate_catches_a_missing_user():
    g, v = chain_graph()
    v["a"].users.remove(g.nodes[1])  # neg reads a, but a no longer lists it
    with pytest.raises(ModelError, match="use list of 'a'"):
        g.validate()


def test_validate_catches_a_stale_user():
    g, v = chain_graph()
    ghost = Node("Relu", [v["x"]], [Value("g", np.float32, (2, 3))], name="ghost")
    v["x"].users.append(ghost)  # listed as a reader but not in the graph
    with pytest.raises(ModelError, match="'ghost'"):
        g.validate()


def test_validate_catches_a_user_that_does_not_read_the_value():
    g, v = chain_graph()
    v["w"].users.append(g.nodes[0])  # relu does not read w
    with pytest.raises(ModelError, match="'w'"):
        g.validate()


def test_validate_catches_a_stale_producer():
    g, v = chain_graph()
    v["b"].producer = g.nodes[0]
    with pytest.raises(ModelError, match=r"'b'.*producer"):
        g.validate()


def test_validate_catches_reading_before_production():
    g, _ = chain_graph()
    g.nodes[0], g.nodes[1] = g.nodes[1], g.nodes[0]
    with pytest.raises(ModelError, match=r"'neg'.*before it is produced"):
        g.validate()


def test_validate_catches_an_unregistered_value_and_a_lost_output():
    g, v = chain_graph()
    g.remove_value(v["b"])
    with pytest.raises(ModelError, match="unregistered value 'b'"):
        g.validate()
    g, v = chain_graph()
    g.remove_node(g.nodes[-1])  # identity gone: z has no producer
    g.remove_value(v["z"])
    with pytest.raises(ModelError, match="graph output 'z'"):
        g.validate()


# ---- rewiring --------------------------------------------------------------------------------
def test_bypass_of_an_inner_value():
    g, v = chain_graph()
    neg = g.nodes[1]
    assert g.bypass(v["b"], v["a"])  # drop Neg: abs now reads a
    g.remove_node(neg)
    g.validate()
    assert g.nodes[1].inputs == [v["a"]] and not g.has_value("b")
    assert sorted(names(v["a"].users)) == ["abs", "add"]


def test_bypass_keeps_the_graph_output_name():
    g, v = chain_graph()
    identity = g.nodes[-1]
    assert g.bypass(v["z"], v["c"])
    g.remove_node(identity)
    g.validate()
    assert [o.name for o in g.outputs] == ["y", "z"]
    assert g.outputs[1] is v["c"] and g.outputs[1].producer.name == "add"
    x = np.arange(6, dtype=np.float32).reshape(2, 3) - 2
    out = Interpreter(g).run({"x": x})
    np.testing.assert_array_equal(out["z"], np.maximum(x, 0) + 1)


@pytest.mark.parametrize("source", ["x", "w", "y"])
def test_bypass_refuses_to_rename_an_input_constant_or_output(source):
    g, v = chain_graph()
    before = ([o.name for o in g.outputs], names(v[source].users), source)
    assert not g.bypass(v["z"], v[source])
    assert ([o.name for o in g.outputs], names(v[source].users), v[source].name) == before
    assert v["z"].producer is g.nodes[-1] and g.has_value("z")
    g.validate()


def test_replace_uses_and_set_input_keep_use_lists():
    g, v = chain_graph()
    g.replace_uses(v["a"], v["x"])
    assert not v["a"].users and sorted(names(v["x"].users)) == ["add", "neg", "relu"]
    g.set_input(g.nodes[3], 1, None)
    assert g.nodes[3] not in v["w"].users
    assert not any(n is None for n in v["w"].users)


def test_add_node_before_and_after():
    g, v = chain_graph()
    t = Value("t", np.float32, (2, 3))
    g.add_node("Sigmoid", [v["x"]], [t], name="early", before=g.nodes[0])
    u = Value("u", np.float32, (2, 3))
    g.add_node("Tanh", [v["y"]], [u], name="late", after=g.nodes[-1])
    assert names(g.nodes)[0] == "early" and names(g.nodes)[-1] == "late"
    with pytest.raises(ModelError, match=r"'t'.*producer"):
        g.add_node("Relu", [v["x"]], [t])


# ---- copy and names --------------------------------------------------------------------------
def test_copy_is_independent():
    g, v = chain_graph()
    g.nodes[0].attrs["note"] = [1, 2]
    g.nodes[0].fused = FusedActivation("Clip", {"min": 0.0, "max": 6.0})
    clone = g.copy()
    clone.validate()
    assert names(clone.nodes) == names(g.nodes)
    assert [v.name for v in clone.values()] == [v.name for v in g.values()]
    assert clone.nodes[0].fused == g.nodes[0].fused
    # Structure is not shared: rewiring, renaming and attributes stay in the copy.
    assert all(a is not b for a, b in zip(clone.nodes, g.nodes))
    assert clone.value("a") is not v["a"]
    clone.nodes[0].attrs["note"].append(3)
    clone.nodes[0].attrs["extra"] = 1
    clone.rename_value(clone.value("b"), "bee")
    clone.remove_node(clone.nodes[-1])
    assert g.nodes[0].attrs == {"note": [1, 2]}
    assert g.has_value("b") and not g.has_value("bee") and len(g.nodes) == 5
    assert names(v["c"].users) == ["identity"]
    g.validate()
    # Constant arrays are shared on purpose (passes replace them, never mutate them).
    assert clone.value("w").const is v["w"].const


def test_unique_value_and_node_names():
    g, v = chain_graph()
    assert g.unique_name("fresh") == "fresh"
    taken = g.unique_name("a")
    assert taken != "a" and taken.startswith("a_") and not g.has_value(taken)
    made = [g.new_value("a", np.float32, (1,)).name for _ in range(3)]
    assert len(set(made)) == 3 and not {"a"} & set(made)
    assert g.unique_node_name("relu") == "relu_1"
    assert g.unique_node_name("softmax") == "softmax"
    first = g.add_node("Relu", [v["x"]], [Value("r", np.float32, (2, 3))])
    second = g.add_node("Relu", [v["x"]], [Value("s", np.float32, (2, 3))])
    assert (first.name, second.name) == ("Relu", "Relu_1")
    with pytest.raises(ModelError, match="'x' is defined twice"):
        g.add_value(Value("x", np.float32, (1,)))
    with pytest.raises(ModelError, match="'a' already exists"):
        g.rename_value(v["b"], "a")


def test_value_helpers():
    value = Value("q", np.int8, (2, 5))
    assert value.size == 10 and value.nbytes == 10 and not value.is_const
    with pytest.raises(ModelError, match="'unknown'"):
        _ = Value("unknown", np.float32, None).size
    g, _ = chain_graph()
    assert g.op_types() == {
        "Relu": ["relu"],
        "Neg": ["neg"],
        "Abs": ["abs"],
        "Add": ["add"],
        "Identity": ["identity"],
    }
    assert [c.name for c in g.constants()] == ["w"]
    with pytest.raises(ModelError, match="no value named 'nope'"):
        g.value("nope")


# ---- the reference executor on hand-built graphs ---------------------------------------------
def test_interpreter_checks_its_feeds():
    from edgec.errors import ShapeError, ValidationError

    g, _ = chain_graph()
    run = Interpreter(g).run
    with pytest.raises(ValidationError, match="no data for input 'x'"):
        run({})
    with pytest.raises(ShapeError, match=r"'x' expects shape \(2, 3\), got \(3, 2\)"):
        run({"x": np.zeros((3, 2), np.float32)})
    with pytest.raises(ValidationError, match="'x' expects float32, got float64"):
        run({"x": np.zeros((2, 3))})


def test_interpreter_keep_all_and_outputs_that_are_inputs_or_constants():
    g, v = chain_graph()
    g.outputs = [*g.outputs, v["x"], v["w"]]
    x = np.array([[-1, 2, -3], [4, -5, 6]], np.float32)
    interpreter = Interpreter(g)
    out = interpreter.run({"x": x})
    assert list(out) == ["y", "z", "x", "w"]
    np.testing.assert_array_equal(out["y"], np.maximum(x, 0))
    np.testing.assert_array_equal(out["z"], np.maximum(x, 0) + 1)
    np.testing.assert_array_equal(out["x"], x)
    np.testing.assert_array_equal(out["w"], np.ones((2, 3)))
    everything = interpreter.run({"x": x}, keep_all=True)
    assert set(everything) == {"a", "b", "c", "y", "z", "x", "w"}
    np.testing.assert_array_equal(everything["b"], -np.maximum(x, 0))
    # Freeing intermediates early must not touch what a later run needs.
    np.testing.assert_array_equal(interpreter.run({"x": -x})["y"], np.maximum(-x, 0))
