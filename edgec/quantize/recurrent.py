"""Post-training quantization of LSTM and GRU nodes (TFLite's integer LSTM scheme).

- the hidden state (Y, Y_h, and initial_h) takes one quantization from the range of every
  hidden state the calibration run went through (int8 asymmetric, or int16 in 16x8);
- the LSTM cell state is int16 at the power-of-two scale covering its largest magnitude
  (TFLM's tanh of the cell needs a power of two); Y_c and initial_c take it;
- weights are int8 with one scale per row of W and R (shared by both directions of a
  bidirectional node; ``per_channel=False``: one per gate matrix, TFLite's choice);
- biases: the parts of ONNX's ``Rb`` that add outside a product join ``Wb`` (TFLite's one
  bias per gate), quantized at ``s_x * s_w``; the GRU's ``Rb_h`` under linear_before_reset
  stays with the recurrent product at ``s_h * s_r``;
- the initial states are always given (absent ones as the zero state), so the quantized node
  carries its states' quantization on its inputs (through a QDQ export and back).

Peepholes have no integer kernel: such an LSTM stays float between Dequantize/Quantize.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from edgec.errors import QuantizationError, node_error
from edgec.ir.graph import Node, QuantParams, Value
from edgec.ops import get_op
from edgec.ops.quant import quantize
from edgec.quantize.observers import TensorStats

if TYPE_CHECKING:
    from edgec.quantize.ptq import _Builder

RECURRENT = ("LSTM", "GRU")
INTEGER_BIAS = {"int8": np.int32, "int16": np.int64}


def internal_name(node: Node, state: str) -> str:
    """The calibration statistics key of a node's internal states ("hidden", "cell")."""
    return f"{node.name}::{state}"


def recurrent_quantizable(node: Node) -> bool:
    """Constant weights and no peepholes (the integer kernel has none)."""
    weights = [node.input(i) for i in (1, 2, 3)]
    if any(v is not None and not v.is_const for v in weights) or node.inputs[0].is_const:
        return False
    return not (node.op_type == "LSTM" and node.input(7) is not None)


def cell_params(stats: TensorStats) -> QuantParams:
    """int16 at the power-of-two scale that holds the largest |cell| seen."""
    lo, hi = stats.bounds()
    peak = max(abs(lo), abs(hi))
    exponent = math.ceil(math.log2(peak)) if peak > 0 else 0
    return QuantParams(np.float32(2.0 ** (exponent - 15)), 0, np.int16)


def row_weights(w: np.ndarray, gates: int, per_row: bool) -> tuple[np.ndarray, np.ndarray]:
    """int8 weights [D, G*H, K] and a scale per row (per_row) or per gate block, the same for
    every direction."""
    amax = np.abs(w.astype(np.float64)).max(axis=(0, 2))
    if not per_row:
        amax = np.repeat(amax.reshape(gates, -1).max(axis=1), w.shape[1] // gates)
    scales = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    q = np.rint(w.astype(np.float64) / scales.astype(np.float64)[None, :, None])
    return np.clip(q, -127, 127).astype(np.int8), scales


def split_biases(node: Node, bias: np.ndarray, gates: int, hidden: int) -> tuple:
    """(bias_x, bias_h) [D, G*H]: Rb moved into Wb wherever it adds outside a product."""
    wb, rb = bias[:, : gates * hidden].copy(), bias[:, gates * hidden :].copy()
    keep = np.zeros(gates * hidden, bool)
    if node.op_type == "GRU" and node.attrs.get("linear_before_reset", 0):
        keep[2 * hidden :] = True  # Rb_h is multiplied by r with the recurrent product
    wb[:, ~keep] += rb[:, ~keep]
    rb[:, ~keep] = 0.0
    return wb, rb


def quantize_recurrent(builder: _Builder, node: Node, dtype: str) -> None:
    """Rewrite ``node`` (a copy in the builder's graph) to its integer form."""
    g, config = builder.g, builder.config
    op = get_op(node.op_type)
    s = op.node_shape(node)
    gates, hidden = op.gates, s.hidden
    x = builder.int_view(node.inputs[0], dtype, node)
    g.set_input(node, 0, x)
    hidden_q = _params(builder, node, "hidden", dtype)
    w, w_scales = row_weights(node.inputs[1].const, gates, config.per_channel)
    r, r_scales = row_weights(node.inputs[2].const, gates, config.per_channel)
    for index, data, scales in ((1, w, w_scales), (2, r, r_scales)):
        const = g.add_constant(f"{node.inputs[index].name}_q", data)
        const.quant = QuantParams(scales, np.zeros(scales.size, np.int64), np.int8, 1)
        g.set_input(node, index, const)
    bias = node.input(3)
    floats = np.zeros((s.directions, 2 * gates * hidden)) if bias is None else bias.const
    wb, rb = split_biases(node, floats.astype(np.float64), gates, hidden)
    x_scales = float(x.quant.scale) * w_scales.astype(np.float64)
    h_scales = float(hidden_q.scale) * r_scales.astype(np.float64)
    bias_scales = np.concatenate([x_scales, h_scales])
    limit = 2**63 - 1 if dtype == "int16" else 2**31 - 1
    q = np.clip(np.rint(np.concatenate([wb, rb], axis=1) / bias_scales), -limit, limit)
    q = q.astype(INTEGER_BIAS[dtype])
    bias_value = g.add_constant(f"{node.name}_B_q", q)
    bias_value.quant = QuantParams(
        bias_scales.astype(np.float32), np.zeros(bias_scales.size, np.int64), q.dtype, 1
    )
    while len(node.inputs) < 4:
        node.inputs.append(None)
    g.set_input(node, 3, bias_value)
    states = [(op.initial_h, hidden_q)]
    if node.op_type == "LSTM":
        if internal_name(node, "cell") not in builder.stats:
            raise node_error(QuantizationError, node, "no calibration statistics of its cell")
        states.append((6, cell_params(builder.stats[internal_name(node, "cell")])))
    for slot, params in states:
        _initial_state(builder, node, slot, params, s.state_shape())
    for index, out in enumerate(node.outputs):
        out.quant = states[1][1] if index == 2 else hidden_q
        out.dtype = out.quant.dtype


def _params(builder: _Builder, node: Node, state: str, dtype: str) -> QuantParams:
    if internal_name(node, state) not in builder.stats:
        raise node_error(QuantizationError, node, f"no calibration statistics of its {state}")
    return builder.stats_params(internal_name(node, state), dtype)


def _initial_state(builder: _Builder, node: Node, slot: int, q: QuantParams, shape) -> None:
    """initial_h / initial_c in the state's quantization: a constant (the zero state when
    absent) or a graph activation quantized (or requantized) into it."""
    g = builder.g
    while len(node.inputs) <= slot:
        node.inputs.append(None)
    value: Value | None = node.inputs[slot]
    if value is None or value.is_const:
        data = np.zeros(shape, np.float32) if value is None else value.const
        name = f"{node.name}_initial_{'c' if slot == 6 else 'h'}_q"
        const = g.add_constant(name, quantize(data, q.scale, q.zero_point, q.dtype))
        const.quant = q
        g.set_input(node, slot, const)
        return
    # a float activation is quantized; an integer one requantized (QuantizeLinear of it)
    view = builder._quantize_node(value, q, node, f"{value.name}_state")
    g.set_input(node, slot, view)
