"""LSTM/GRU test models: one-node cases, models of several recurrent nodes sharing an input,
and onnxruntime's outputs for them (onnxruntime runs layout 0 only: a layout 1 model runs as
its layout 0 twin on transposed data)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnx_cases import make_model, run_ort, single_node

SIZES = {"steps": 5, "batch": 2, "inputs": 3, "hidden": 4}
STATE_SLOTS = {"LSTM": (5, 6), "GRU": (5,)}


def recurrent_case(op_type: str, rng, *, direction="forward", layout=0, bias=True,
                   initial=True, peephole=False, const_state=False, outputs=None, opset=21,
                   steps=5, batch=2, inputs=3, hidden=4, **attrs):  # fmt: skip
    """A one-node LSTM or GRU model with random weights (initializers) and its feeds."""
    gates = 4 if op_type == "LSTM" else 3
    outputs = outputs or (3 if op_type == "LSTM" else 2)
    d = 2 if direction == "bidirectional" else 1
    x_shape = (batch, steps, inputs) if layout else (steps, batch, inputs)
    state = (batch, d, hidden) if layout else (d, batch, hidden)
    scale = 1 / np.sqrt(hidden)
    tensors = {
        "X": rng.standard_normal(x_shape).astype(np.float32),
        "W": (rng.standard_normal((d, gates * hidden, inputs)) * scale).astype(np.float32),
        "R": (rng.standard_normal((d, gates * hidden, hidden)) * scale).astype(np.float32),
        "B": rng.standard_normal((d, 2 * gates * hidden)).astype(np.float32) if bias else None,
        "sequence_lens": None,
        "initial_h": rng.standard_normal(state).astype(np.float32) if initial else None,
    }
    if op_type == "LSTM":
        tensors["initial_c"] = rng.standard_normal(state).astype(np.float32) if initial else None
        tensors["P"] = rng.standard_normal((d, 3 * hidden)).astype(np.float32) if peephole else None
    while tensors and next(reversed(tensors.values())) is None:
        tensors.popitem()
    const = ["W", "R", "B", "P"] + (["initial_h", "initial_c"] if const_state else [])
    attrs = {"hidden_size": hidden, "direction": direction, **attrs}
    if layout:
        attrs["layout"] = 1
    return single_node(op_type, tensors, attrs, outputs, tuple(const), opset)


def multi_model(rng, nodes: list[dict], layout: int = 0, steps=5, batch=2, inputs=3, hidden=4):
    """One input X read by several LSTM/GRU nodes, every output of each a graph output.

    Each entry of ``nodes``: ``op`` ("LSTM"/"GRU"), ``initial`` ("none", "const" or "input":
    a graph input), optional ``bias`` (default True), ``peephole`` (default False) and any
    ONNX attributes. Returns the model and random feeds for its inputs."""
    x_shape = (batch, steps, inputs) if layout else (steps, batch, inputs)
    feeds = {"X": rng.standard_normal(x_shape).astype(np.float32)}
    inits, protos, outputs = {}, [], []
    for k, spec in enumerate(nodes):
        spec = dict(spec)
        op, initial = spec.pop("op"), spec.pop("initial", "none")
        bias, peephole = spec.pop("bias", True), spec.pop("peephole", False)
        gates = 4 if op == "LSTM" else 3
        d = 2 if spec.get("direction") == "bidirectional" else 1
        state = (batch, d, hidden) if layout else (d, batch, hidden)
        scale = 1.5 / np.sqrt(hidden)
        inits[f"W{k}"] = (rng.standard_normal((d, gates * hidden, inputs)) * scale).astype(
            np.float32
        )
        inits[f"R{k}"] = (rng.standard_normal((d, gates * hidden, hidden)) * scale).astype(
            np.float32
        )
        names = ["X", f"W{k}", f"R{k}", "", "", "", "", ""]
        if bias:
            inits[f"B{k}"] = (0.5 * rng.standard_normal((d, 2 * gates * hidden))).astype(np.float32)
            names[3] = f"B{k}"
        for slot in STATE_SLOTS[op] if initial != "none" else ():
            names[slot] = f"{'hc'[slot - 5]}0_{k}"
            value = (0.5 * rng.standard_normal(state)).astype(np.float32)
            (feeds if initial == "input" else inits)[names[slot]] = value
        if peephole:
            names[7] = f"P{k}"
            inits[names[7]] = (0.5 * rng.standard_normal((d, 3 * hidden))).astype(np.float32)
        while names[-1] == "":
            names.pop()
        outs = [f"y{k}_{i}" for i in range(len(STATE_SLOTS[op]) + 1)]
        attrs = {"hidden_size": hidden, **spec, **({"layout": 1} if layout else {})}
        protos.append(helper.make_node(op, names, outs, name=f"{op.lower()}{k}", **attrs))
        outputs += outs
    return make_model(protos, feeds, outputs, inits), feeds


def ort_outputs(model: onnx.ModelProto, feeds) -> list[np.ndarray]:
    """onnxruntime's outputs; a layout 1 model runs as its layout 0 twin on transposed inputs
    and states (batch and time, or batch and direction, swapped), outputs transposed back."""
    layouts = {a.i for n in model.graph.node for a in n.attribute if a.name == "layout"}
    if layouts <= {0}:
        return run_ort(model, feeds)
    twin = onnx.ModelProto()
    twin.CopyFrom(model)
    states = set()
    for node in twin.graph.node:
        node.attribute.remove(next(a for a in node.attribute if a.name == "layout"))
        states |= {node.input[s] for s in STATE_SLOTS[node.op_type] if s < len(node.input)}
    for vi in twin.graph.input:
        dims = vi.type.tensor_type.shape.dim
        dims[0].dim_value, dims[1].dim_value = dims[1].dim_value, dims[0].dim_value
    for vi in twin.graph.output:
        vi.type.tensor_type.ClearField("shape")
    for init in twin.graph.initializer:
        if init.name in states:
            array = np.ascontiguousarray(numpy_helper.to_array(init).transpose(1, 0, 2))
            init.CopyFrom(numpy_helper.from_array(array, init.name))
    swapped = {k: np.ascontiguousarray(v.transpose(1, 0, 2)) for k, v in feeds.items()}
    outs = run_ort(twin, swapped)
    return [o.transpose(2, 0, 1, 3) if o.ndim == 4 else o.transpose(1, 0, 2) for o in outs]
