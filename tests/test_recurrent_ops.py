"""LSTM and GRU: the float reference against onnxruntime, and the errors for what edgec
does not run (other activations, input_forget, per-sample lengths)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from onnx import numpy_helper
from onnx_cases import assert_close, single_node
from recurrent_cases import SIZES, ort_outputs, recurrent_case

from edgec.errors import ModelError, ShapeError
from edgec.frontend import load_model
from edgec.interp import Interpreter
from edgec.ops import get_op


def check_against_ort(model, feeds, rtol=1e-5, atol=1e-5):
    expected = ort_outputs(model, feeds)
    graph = load_model(model)
    results = Interpreter(graph).run(feeds)
    for value, want in zip(graph.outputs, expected):
        assert value.shape == want.shape, f"inferred {value.shape}, onnxruntime {want.shape}"
        assert_close(results[value.name], want, rtol, atol, value.name)


CASES = list(itertools.product(("LSTM", "GRU"), ("forward", "reverse", "bidirectional"), (0, 1)))


@pytest.mark.parametrize("op_type,direction,layout", CASES)
def test_directions_and_layouts(op_type, direction, layout):
    rng = np.random.default_rng(len(op_type) * 10 + layout + 3 * len(direction))
    model, feeds = recurrent_case(op_type, rng, direction=direction, layout=layout)
    check_against_ort(model, feeds)


@pytest.mark.parametrize(
    "op_type,options",
    [
        ("LSTM", {"peephole": True}),
        ("LSTM", {"peephole": True, "direction": "bidirectional", "clip": 0.7}),
        ("LSTM", {"bias": False, "initial": False, "outputs": 1}),
        ("LSTM", {"const_state": True, "outputs": 2, "clip": 1.5}),
        ("LSTM", {"opset": 7, "batch": 1}),
        ("LSTM", {"opset": 14, "layout": 1, "peephole": True}),
        ("GRU", {"linear_before_reset": 1}),
        ("GRU", {"linear_before_reset": 1, "direction": "bidirectional", "clip": 0.5}),
        ("GRU", {"bias": False, "initial": False, "outputs": 2}),
        ("GRU", {"opset": 7, "linear_before_reset": 1, "const_state": True}),
        ("GRU", {"opset": 22, "layout": 1, "steps": 1}),
    ],
)
def test_options(op_type, options):
    rng = np.random.default_rng(sum(map(ord, str(options))))
    model, feeds = recurrent_case(op_type, rng, **options)
    check_against_ort(model, feeds)


def test_default_activations_spelled_out_are_accepted():
    rng = np.random.default_rng(1)
    attrs = {"activations": ["Sigmoid", "Tanh", "Tanh"] * 2}
    model, feeds = recurrent_case("LSTM", rng, direction="bidirectional", **attrs)
    check_against_ort(model, feeds)


def test_macs():
    rng = np.random.default_rng(2)
    model, _ = recurrent_case("GRU", rng, direction="bidirectional")
    graph = load_model(model)
    node = graph.nodes[0]
    t, b, i, h = (SIZES[k] for k in ("steps", "batch", "inputs", "hidden"))
    assert get_op("GRU").macs(node) == 2 * t * b * 3 * h * (i + h)


# ---- what edgec refuses, by name ----------------------------------------------------------------
def test_other_activations_are_refused():
    rng = np.random.default_rng(3)
    model, _ = recurrent_case("GRU", rng, activations=["Relu", "Tanh"])
    with pytest.raises(ModelError, match=r"GRU node 'gru_node'.*activations \['Relu', 'Tanh'\]"):
        load_model(model)


def test_input_forget_is_refused():
    rng = np.random.default_rng(4)
    model, _ = recurrent_case("LSTM", rng, input_forget=1)
    with pytest.raises(ModelError, match=r"LSTM node 'lstm_node'.*input_forget=1"):
        load_model(model)


def test_sequence_lens():
    rng = np.random.default_rng(5)
    model, feeds = recurrent_case("LSTM", rng)
    lens = model.graph.node[0].input
    steps, batch = SIZES["steps"], SIZES["batch"]
    # a constant equal to the sequence length is the same as no sequence_lens
    model.graph.initializer.append(numpy_helper.from_array(np.full(batch, steps, np.int32), "lens"))
    lens[4] = "lens"
    check_against_ort(model, feeds)
    # shorter sequences: refused, saying what to do
    model.graph.initializer[-1].CopyFrom(
        numpy_helper.from_array(np.array([steps, 2], np.int32), "lens")
    )
    with pytest.raises(ShapeError, match=r"sequence_lens \[5, 2\] differs .* pad the sequences"):
        load_model(model)


def test_runtime_sequence_lens_is_refused():
    rng = np.random.default_rng(6)
    tensors = {
        "X": rng.standard_normal((3, 1, 2)).astype(np.float32),
        "W": rng.standard_normal((1, 12, 2)).astype(np.float32),
        "R": rng.standard_normal((1, 12, 4)).astype(np.float32),
        "B": None,
        "sequence_lens": np.array([3], np.int32),
    }
    model, _ = single_node("GRU", tensors, {"hidden_size": 4}, 1, ("W", "R"))
    with pytest.raises(ShapeError, match="GRU node 'gru_node': sequence_lens is computed"):
        load_model(model)


def test_dynamic_sequence_length_needs_input_shape():
    rng = np.random.default_rng(7)
    model, _ = recurrent_case("LSTM", rng, batch=1)
    dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    dim.dim_param = "time"
    with pytest.raises(
        ShapeError, match=r"LSTM node 'lstm_node': the sequence length .*--input-shape X=T,B,I"
    ):
        load_model(model)
    graph = load_model(model, input_shapes={"X": (7, 1, 3)})
    assert graph.outputs[0].shape == (7, 1, 1, 4)
