"""Validating a stateful build (``compile --stateful``): whole sequences, run in pieces.

Each sample of the data is a whole sequence (the source model's input). It runs as
``sequence / steps`` calls of the compiled model, the state restarted (``model_reset``)
before the sample unless the data's ``reset`` array (one flag per sample, in the .npz) says
to carry it on from the previous sample. The sample's result is its last call's output,
compared with the stateful reference (the compiled graph run the same way, the state carried
between calls) bit for bit, and with the source model on the whole sequence.
"""

from __future__ import annotations

import numpy as np

from edgec.artifact import Manifest, PortSpec
from edgec.data import Dataset
from edgec.errors import ValidationError, show_name
from edgec.interp import Interpreter
from edgec.ir.graph import Graph
from edgec.ops import get_op

RECURRENT = ("LSTM", "GRU")


def sequence_specs(manifest: Manifest) -> list[PortSpec]:
    """The ports the data is read for: the streamed input at its whole sequence length."""
    stream = manifest.stream
    specs = []
    for spec in manifest.inputs:
        if spec.name == stream["input"]:
            shape = list(spec.shape)
            shape[stream["time_axis"]] = stream["sequence"]
            spec = PortSpec(spec.name, spec.dtype, tuple(shape), spec.scale, spec.zero_point)
        specs.append(spec)
    return specs


def calls(manifest: Manifest, feeds: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """One sample's feeds cut into the inputs of its model_run calls."""
    stream = manifest.stream
    axis, steps = stream["time_axis"], stream["steps"]
    data = feeds[stream["input"]]
    length = data.shape[axis]
    if length % steps:
        raise ValidationError(
            f"input {show_name(stream['input'])}: a sequence of {length} steps does not cut "
            f"into calls of {steps}"
        )
    pieces = np.split(data, length // steps, axis=axis)
    return [{**feeds, stream["input"]: np.ascontiguousarray(p)} for p in pieces]


def resets(dataset: Dataset) -> list[bool]:
    """Whether the state restarts before each sample (the data's ``reset``, else always)."""
    flags = getattr(dataset, "resets", None)
    if flags is None:
        return [True] * len(dataset)
    return [bool(f) for f in flags]


class StatefulReference:
    """The compiled graph run call by call with the recurrent state carried between calls:
    each recurrent node's initial states become inputs and its final states outputs."""

    def __init__(self, graph: Graph):
        g = graph.copy()
        self.carry: list[tuple[str, str, np.ndarray]] = []  # (state input, final output, start)
        for node in [n for n in g.nodes if n.op_type in RECURRENT]:
            op = get_op(node.op_type)
            shape = op.node_shape(node).state_shape()
            for out_index, slot in enumerate(op.state_inputs(), start=1):
                init = node.input(slot)
                while len(node.outputs) <= out_index:
                    final = g.new_value(f"{node.name}_out{len(node.outputs)}", None, shape)
                    final.producer = node
                    node.outputs.append(final)
                final = node.outputs[out_index]
                if init is not None:  # an unread output may have lost its quantization
                    final.dtype, final.quant = init.dtype, init.quant
                elif final.dtype is None:
                    final.dtype = node.outputs[0].dtype
                start = init.const if init is not None else np.zeros(shape, final.dtype)
                state = g.new_value(f"{node.name}_state{slot}", final.dtype, shape)
                state.quant = final.quant
                g.inputs.append(state)
                while len(node.inputs) <= slot:
                    node.inputs.append(None)
                g.set_input(node, slot, state)
                if final not in g.outputs:
                    g.outputs.append(final)
                self.carry.append((state.name, final.name, start))
        self.graph = g
        self.interpreter = Interpreter(g)
        self.state = {}
        self.reset()

    def reset(self) -> None:
        self.state = {name: start for name, _, start in self.carry}

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One call: outputs by name; the state moves on."""
        results = self.interpreter.run({**feeds, **self.state})
        self.state = {name: results[final] for name, final, _ in self.carry}
        return results

    def run_samples(self, manifest: Manifest, dataset: Dataset) -> list[dict[str, np.ndarray]]:
        """Every sample as the device runs it: its last call's outputs."""
        found = []
        for i, restart in enumerate(resets(dataset)):
            if restart:
                self.reset()
            for feeds in calls(manifest, dataset.sample(i)):
                results = self.run(feeds)
            found.append({spec.name: results[spec.name] for spec in manifest.outputs})
        return found
