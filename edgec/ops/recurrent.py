"""Recurrent ops: LSTM and GRU (ONNX opsets 7–22), float reference, shape rule and checks.

One node runs the whole sequence: ``X`` is [T, B, I] (``layout`` 0) or [B, T, I]
(``layout`` 1); ``direction`` forward, reverse or bidirectional (D = 1 or 2). Weights are
``W`` [D, G*H, I], ``R`` [D, G*H, H] and ``B`` [D, 2*G*H] (input then recurrent biases), with
G = 4 gates i, o, f, c for the LSTM and G = 3 gates z, r, h for the GRU, in ONNX's order.
Outputs ``Y`` [T, D, B, H] (layout 1: [B, T, D, H]), ``Y_h`` and (LSTM) ``Y_c`` [D, B, H]
(layout 1: [B, D, H]), any of them absent.

edgec implements the default activations only (sigmoid for the gates, tanh elsewhere) and
no per-sample lengths: ``sequence_lens`` must be absent or a constant equal to T for every
batch entry. The integer version (TFLite's integer LSTM) is in ``ops/integer/recurrent.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgec.errors import ModelError, QuantizationError, ShapeError, node_error
from edgec.ir.graph import Node, Value
from edgec.ops.integer import recurrent as qrnn
from edgec.ops.integer.nodes import scale_zp, weight_scales
from edgec.ops.registry import Attr, Op, TensorInfo, register

DIRECTIONS = ("forward", "reverse", "bidirectional")


@dataclass(frozen=True)
class RecurrentShape:
    """The sizes of one recurrent node: directions, steps, batch, input and hidden width."""

    directions: int
    steps: int
    batch: int
    inputs: int
    hidden: int
    layout: int
    reverse: bool  # direction "reverse" (a bidirectional node runs forward, then reverse)

    def direction_reversed(self, d: int) -> bool:
        """Whether direction ``d`` walks the sequence from its end."""
        return self.reverse or d == 1

    def y_shape(self) -> tuple[int, ...]:
        t, d, b, h = self.steps, self.directions, self.batch, self.hidden
        return (b, t, d, h) if self.layout else (t, d, b, h)

    def state_shape(self) -> tuple[int, ...]:
        d, b, h = self.directions, self.batch, self.hidden
        return (b, d, h) if self.layout else (d, b, h)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class Recurrent(Op):
    """What LSTM and GRU share: attributes, checks, shapes, layouts and MAC counts."""

    gates: int
    default_activations: tuple[str, ...]
    integer = "arith"
    num_outputs = (1, 3)
    const_inputs = (4,)  # sequence_lens: a constant (equal to T) or absent
    attributes = {
        "activation_alpha": Attr("floats", None),
        "activation_beta": Attr("floats", None),
        "activations": Attr("strings", None),
        "clip": Attr("float", None),
        "direction": Attr("string", "forward", DIRECTIONS),
        "hidden_size": Attr("int", None),
        "layout": Attr("int", 0, (0, 1)),
    }
    # Input indices of initial_h (LSTM also initial_c after it).
    initial_h = 5

    # ---- attributes and checks --------------------------------------------------------------
    def num_directions(self, node: Node) -> int:
        return 2 if self.attr(node, "direction") == "bidirectional" else 1

    def clip(self, node: Node) -> float | None:
        clip = self.attr(node, "clip")
        return None if clip is None else float(clip)

    def check(self, node: Node) -> None:
        super().check(node)
        names = self.attr(node, "activations")
        if names is not None:
            wanted = list(self.default_activations) * self.num_directions(node)
            if [n.lower() for n in names] != [n.lower() for n in wanted]:
                raise node_error(
                    ModelError,
                    node,
                    f"activations {list(names)} are not supported: edgec runs the default "
                    f"{list(self.default_activations)} per direction; re-export the model "
                    "with them",
                )
        clip = self.clip(node)
        if clip is not None and not clip > 0:
            raise node_error(ModelError, node, f"clip must be positive, got {clip}")

    def shape_of(self, node: Node, x_shape, w_shape, r_shape) -> RecurrentShape:
        """The node's sizes from the shapes of X, W and R (checked against each other)."""
        layout = self.attr(node, "layout")
        d = self.num_directions(node)
        if len(x_shape) != 3:
            raise node_error(ShapeError, node, f"X must be 3-d, got {tuple(x_shape)}")
        steps, batch = (x_shape[1], x_shape[0]) if layout else (x_shape[0], x_shape[1])
        hidden = self.attr(node, "hidden_size")
        if hidden is None:
            if len(r_shape) != 3:
                raise node_error(ShapeError, node, f"R must be 3-d, got {tuple(r_shape)}")
            hidden = r_shape[2]
        g = self.gates
        expected = {
            "W": ((d, g * hidden, x_shape[2]), tuple(w_shape)),
            "R": ((d, g * hidden, hidden), tuple(r_shape)),
        }
        for name, (want, got) in expected.items():
            if want != got:
                raise node_error(
                    ShapeError, node, f"{name} has shape {got}, expected {want} (hidden {hidden})"
                )
        if steps < 1:
            raise node_error(ShapeError, node, "the sequence is empty")
        reverse = self.attr(node, "direction") == "reverse"
        return RecurrentShape(d, steps, batch, x_shape[2], hidden, layout, reverse)

    def node_shape(self, node: Node) -> RecurrentShape:
        x, w, r = node.inputs[0], node.inputs[1], node.inputs[2]
        return self.shape_of(node, x.shape, w.shape, r.shape)

    def infer(self, node, ins):
        x, w, r = ins[0], ins[1], ins[2]
        s = self.shape_of(node, x.shape, w.shape, r.shape)
        g, h, d = self.gates, s.hidden, s.directions
        optional = {3: ("B", (d, 2 * g * h)), self.initial_h: ("initial_h", s.state_shape())}
        optional.update(self.more_inputs(s))
        for index, (name, want) in optional.items():
            info = ins[index] if index < len(ins) else None
            if info is not None and tuple(info.shape) != want:
                raise node_error(
                    ShapeError, node, f"{name} has shape {tuple(info.shape)}, expected {want}"
                )
        self.check_sequence_lens(node, ins, s)
        shapes = [s.y_shape(), s.state_shape(), s.state_shape()]
        return [(x.dtype, shapes[i]) for i in range(len(node.outputs))]

    def more_inputs(self, s: RecurrentShape) -> dict[int, tuple[str, tuple[int, ...]]]:
        return {}

    def check_sequence_lens(self, node: Node, ins: list[TensorInfo | None], s) -> None:
        info = ins[4] if len(ins) > 4 else None
        if info is None:
            return
        if info.data is None:
            raise node_error(
                ShapeError,
                node,
                "sequence_lens is computed at run time: edgec runs whole sequences of the "
                "model's length only; drop the input (or make it a constant equal to it)",
            )
        lens = np.asarray(info.data).reshape(-1)
        if lens.shape != (s.batch,) or np.any(lens != s.steps):
            raise node_error(
                ShapeError,
                node,
                f"sequence_lens {lens.tolist()} differs from the sequence length {s.steps}: "
                "edgec runs whole sequences only; pad the sequences and drop sequence_lens",
            )

    def macs(self, node):
        s = self.node_shape(node)
        per_step = self.gates * s.hidden * (s.inputs + s.hidden)
        return s.directions * s.steps * s.batch * per_step

    # ---- the float reference ------------------------------------------------------------------
    def run(self, node, inputs):
        return list(self.simulate(node, inputs)[0])

    def internal_tensors(self, node, inputs) -> dict[str, np.ndarray]:
        """Every hidden (and LSTM cell) state of the run, the initial ones included: what
        calibration observes ("hidden", "cell")."""
        return {k: v.astype(np.float32) for k, v in self.simulate(node, inputs)[1].items()}

    def simulate(self, node, inputs) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
        """(the outputs the node declares, every state along the way) in float64 steps."""
        x = inputs[0]
        s = self.shape_of(node, x.shape, inputs[1].shape, inputs[2].shape)
        xs = np.asarray(x, np.float64)
        xs = xs.transpose(1, 0, 2) if s.layout else xs  # [T, B, I]
        g, h = self.gates, s.hidden
        bias = inputs[3] if len(inputs) > 3 and inputs[3] is not None else None
        states = [self.initial_state(inputs, i, s) for i in self.state_inputs()]
        y = np.zeros((s.steps, s.directions, s.batch, h))
        finals = [np.zeros((s.directions, s.batch, h)) for _ in states]
        trace = {name: [st] for name, st in zip(self.state_names(), states)}  # from the start
        for d in range(s.directions):
            w = np.asarray(inputs[1][d], np.float64)
            r = np.asarray(inputs[2][d], np.float64)
            b = np.zeros(2 * g * h) if bias is None else np.asarray(bias[d], np.float64)
            state = [st[d] for st in states]
            order = range(s.steps - 1, -1, -1) if s.direction_reversed(d) else range(s.steps)
            for t in order:
                state = self.cell(node, inputs, d, xs[t], state, w, r, b)
                y[t, d] = state[0]
                for name, value in zip(self.state_names(), state):
                    trace[name].append(value)
            for final, value in zip(finals, state):
                final[d] = value
        outs = [y, *finals]
        if s.layout:
            outs = [y.transpose(2, 0, 1, 3), *(f.transpose(1, 0, 2) for f in finals)]
        dtype = x.dtype
        results = [o.astype(dtype) for o in outs[: len(node.outputs)]]
        return results, {k: np.concatenate([a.reshape(-1) for a in v]) for k, v in trace.items()}

    def state_inputs(self) -> tuple[int, ...]:
        return (self.initial_h,)

    def state_names(self) -> tuple[str, ...]:
        return ("hidden",)

    def initial_state(self, inputs, index: int, s: RecurrentShape) -> np.ndarray:
        value = inputs[index] if len(inputs) > index else None
        if value is None:
            return np.zeros((s.directions, s.batch, s.hidden))
        value = np.asarray(value, np.float64)
        return value.transpose(1, 0, 2) if s.layout else value  # [D, B, H]

    def cell(self, node, inputs, d, x, state, w, r, b) -> list[np.ndarray]:
        raise NotImplementedError

    def clipped(self, node, x: np.ndarray) -> np.ndarray:
        clip = self.clip(node)
        return x if clip is None else np.clip(x, -clip, clip)

    # ---- the integer reference (ops/integer/recurrent.py) -----------------------------------
    def integer_params(self, node):
        """The hidden state's quantization is initial_h's (the quantizer always gives one),
        the LSTM cell state's initial_c's; Y and Y_h must be quantized as the hidden state."""
        x, w, r = node.inputs[0], node.inputs[1], node.inputs[2]
        hidden = self._state_quant(node, self.initial_h, "initial_h", x.dtype)
        cell = self._state_quant(node, 6, "initial_c", np.int16) if self.gates == 4 else None
        for index, value in enumerate(node.outputs):
            want = cell if index == 2 else hidden
            if value.quant is not None and scale_zp(value) != want:
                raise node_error(
                    QuantizationError, node, f"output {index} is not quantized as its state"
                )
        if self.gates == 4 and node.input(7) is not None:
            raise node_error(QuantizationError, node, "peepholes have no integer kernel")
        return qrnn.recurrent_params(
            node.op_type,
            *scale_zp(x),
            weight_scales(node, w, 1),
            weight_scales(node, r, 1),
            *hidden,
            cell_scale=None if cell is None else cell[0],
            dtype=np.dtype(x.dtype).name,
            clip=self.clip(node),
            linear_before_reset=bool(node.attrs.get("linear_before_reset", 0)),
        )

    def _state_quant(self, node, index: int, name: str, dtype) -> tuple[float, int]:
        value: Value | None = node.input(index)
        if value is None or value.quant is None or value.dtype != np.dtype(dtype):
            raise node_error(
                QuantizationError,
                node,
                f"an integer {node.op_type} needs {name} as {np.dtype(dtype).name} with the "
                "state's quantization",
            )
        return scale_zp(value)

    def run_integer(self, node, inputs, params, rounding):
        """TFLite's integer LSTM (and the GRU of its blocks) whatever ``rounding`` says: the
        recurrent kernels have one rounding, TFLM's."""
        s = self.node_shape(node)
        state = [inputs[i] if len(inputs) > i else None for i in self.state_inputs()]
        c0 = state[1] if len(state) > 1 else None
        outs = qrnn.run(
            *inputs[:3],
            inputs[3] if len(inputs) > 3 else None,
            state[0],
            c0,
            params,
            layout=s.layout,
            reverse=s.reverse,
        )
        return list(outs[: len(node.outputs)])


@register
class LSTM(Recurrent):
    op_type = "LSTM"
    gates = 4
    default_activations = ("Sigmoid", "Tanh", "Tanh")
    num_inputs = (3, 8)
    attributes = {**Recurrent.attributes, "input_forget": Attr("int", 0, (0, 1))}

    def check(self, node):
        super().check(node)
        if self.attr(node, "input_forget"):
            raise node_error(
                ModelError,
                node,
                "input_forget=1 (coupled input and forget gates) is not supported; "
                "re-export the LSTM without it",
            )

    def more_inputs(self, s):
        return {6: ("initial_c", s.state_shape()), 7: ("P", (s.directions, 3 * s.hidden))}

    def state_inputs(self):
        return (self.initial_h, 6)

    def state_names(self):
        return ("hidden", "cell")

    def cell(self, node, inputs, d, x, state, w, r, b):
        h_prev, c_prev = state
        n = r.shape[1]
        p = inputs[7] if len(inputs) > 7 and inputs[7] is not None else None
        p_i, p_o, p_f = (np.zeros(n),) * 3 if p is None else np.split(np.float64(p[d]), 3)
        gates = x @ w.T + h_prev @ r.T + b[: 4 * n] + b[4 * n :]
        i, o, f, c = np.split(gates, 4, axis=-1)
        i = sigmoid(self.clipped(node, i + p_i * c_prev))
        f = sigmoid(self.clipped(node, f + p_f * c_prev))
        c = np.tanh(self.clipped(node, c))
        cell = f * c_prev + i * c
        o = sigmoid(self.clipped(node, o + p_o * cell))
        return [o * np.tanh(cell), cell]


@register
class GRU(Recurrent):
    op_type = "GRU"
    gates = 3
    default_activations = ("Sigmoid", "Tanh")
    num_inputs = (3, 6)
    num_outputs = (1, 2)
    attributes = {**Recurrent.attributes, "linear_before_reset": Attr("int", 0, (0, 1))}

    def cell(self, node, inputs, d, x, state, w, r, b):
        (h_prev,) = state
        wz, wr, wh = np.split(w, 3)
        rz, rr, rh = np.split(r, 3)
        wbz, wbr, wbh, rbz, rbr, rbh = np.split(b, 6)
        z = sigmoid(self.clipped(node, x @ wz.T + h_prev @ rz.T + wbz + rbz))
        reset = sigmoid(self.clipped(node, x @ wr.T + h_prev @ rr.T + wbr + rbr))
        if self.attr(node, "linear_before_reset"):
            pre = x @ wh.T + reset * (h_prev @ rh.T + rbh) + wbh
        else:
            pre = x @ wh.T + (reset * h_prev) @ rh.T + rbh + wbh
        candidate = np.tanh(self.clipped(node, pre))
        return [(1.0 - z) * candidate + z * h_prev]
