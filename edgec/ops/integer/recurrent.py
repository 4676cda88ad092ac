"""Integer LSTM and GRU: TensorFlow Lite's integer LSTM, and a GRU of the same blocks.

The LSTM is TFLite's UNIDIRECTIONAL_SEQUENCE_LSTM for int8 (and 16x8) activations, the
semantics TFLM and CMSIS-NN share (TFLM's lstm_eval), run per direction:

- activations ``x`` and the hidden state ``h`` (= the output Y) are int8 (16x8: int16),
  weights int8 with one scale per matrix row (TFLite's per-tensor scales are the case of
  equal rows), biases int32 (16x8: int64) at ``s_x * s_w``;
- every gate is ``act(FC_x(x) +sat FC_h(h))``: each fully connected product is requantized
  to int16 at the fixed scale 2**-12 (Q3.12, clamped to int16) and the two added with
  saturation; sigmoid and tanh are TFLite's int16 table kernels, their outputs Q0.15;
- the cell state is int16 at a power-of-two scale 2**p: ``c = sat(f*c + i*g)`` with each
  product one TFLite Mul (MultiplyByQuantizedMultiplier, clamped to int16); then
  ``h = Mul(tanh(c), o)`` into the hidden state's scale and zero point.

ONNX's ``clip`` (edgec's addition) clamps the int16 pre-activations at ``clip / 2**-12``.

The GRU, by the same blocks (TFLite has no integer GRU):

- z and r: ``sigmoid(FC_x(x) +sat FC_h(h))``, Q0.15;
- the candidate n = ``tanh(FC_x(x) +sat FC_h(h) * r)`` with linear_before_reset (the
  recurrent product, Q3.12, times r by a Mul back into Q3.12), else
  ``tanh(FC_x(x) +sat FC_h(r * h))`` (the Mul ``r * (h - zp)`` into the hidden state's own
  quantization, then the recurrent product of that);
- ``h' = zp + MBQM(z * (h - zp), 2**-15) + MBQM((2**15 - z) * n, 2**-30 / s_h)``, clamped:
  the two terms of ``z*h + (1 - z)*n``, each requantized into the hidden scale (1 - z is
  exact in Q0.15 as 32768 - z).

Biases: ``bias_x`` [G*H] joins the input product and ``bias_h`` [G*H] the recurrent one, as
ONNX's ``Wb`` and ``Rb`` (the quantizer moves into ``bias_x`` every part of ``Rb`` that adds
outside a product, which leaves TFLite's single bias per gate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgec.errors import QuantizationError
from edgec.ops.integer import activations as qact
from edgec.ops.integer import fixedpoint as fp
from edgec.ops.integer.common import as_int, check_dtype, check_zero_point, int_range

GATE_SCALE = 2.0**-12  # the pre-activations: Q3.12
GATE_OUTPUT_SCALE = 2.0**-15  # sigmoid and tanh outputs: Q0.15
INT16_MIN, INT16_MAX = int_range(np.int16)


@dataclass(frozen=True)
class GateProduct:
    """A fully connected product into the gate pre-activations, per weight row."""

    input_zero_point: int
    multiplier: np.ndarray
    shift: np.ndarray
    wide: bool  # 16x8: int64 accumulator and TFLite's int64 requantization

    def rows(self, start: int, stop: int) -> GateProduct:
        """The product restricted to weight rows [start, stop)."""
        if self.multiplier.size == 1:
            return self
        return GateProduct(
            self.input_zero_point,
            self.multiplier[start:stop],
            self.shift[start:stop],
            self.wide,
        )


@dataclass(frozen=True)
class Rescale:
    """One TFLite Mul's requantization: (multiplier, shift)."""

    multiplier: int
    shift: int

    @staticmethod
    def of(real: float) -> Rescale:
        return Rescale(*fp.quantize_multiplier(real))

    def apply(self, product: np.ndarray) -> np.ndarray:
        return fp.multiply_by_quantized_multiplier(product, self.multiplier, self.shift)


@dataclass(frozen=True)
class RecurrentParams:
    """Everything an integer LSTM or GRU needs besides its tensors."""

    kind: str  # "LSTM" or "GRU"
    dtype: np.dtype  # of x and h: int8, or int16 (16x8)
    input_fc: GateProduct
    recurrent_fc: GateProduct
    hidden_zero_point: int
    clip: int  # the pre-activation clamp in Q3.12, 0: none
    # LSTM
    cell_tanh: qact.SigmoidLikeParams | None = None
    forget_mul: Rescale | None = None  # f * c -> c
    input_mul: Rescale | None = None  # i * g -> c
    output_mul: Rescale | None = None  # tanh(c) * o -> h
    # GRU
    linear_before_reset: bool = False
    reset_mul: Rescale | None = None  # r * (recurrent product) -> Q3.12, or r * (h - zp) -> h
    update_mul: Rescale | None = None  # z * (h - zp) -> h
    candidate_mul: Rescale | None = None  # (1 - z) * n -> h


GATE_ACTIVATION = qact.SigmoidLikeParams(np.dtype(np.int16), 0, 0, 0, 0)  # a Q3.12 input


def _gate_product(input_scale, input_zero_point, weight_scales, wide) -> GateProduct:
    """TFLM's CreateGateParams for one product: per row float(s_in * s_w) / 2**-12 (the
    per-tensor product is a float32 one in TFLM's CalculateOpDataFullyConnected)."""
    s_in = np.float32(input_scale)
    rows = np.atleast_1d(np.asarray(weight_scales, np.float32))
    real = (s_in * rows).astype(np.float64) / GATE_SCALE
    multiplier, shift = fp.quantize_multipliers(real)
    return GateProduct(int(input_zero_point), multiplier, shift, wide)


def cell_power(cell_scale: float) -> int:
    """log2 of the cell state's scale, which must be a power of two (TFLite's CheckedLog2)."""
    log2, exact = qact._checked_log2(np.float32(cell_scale))
    if not exact:
        raise QuantizationError(f"the cell state scale {cell_scale} is not a power of two")
    return log2


def cell_tanh_params(power: int) -> qact.SigmoidLikeParams:
    """TFLM lstm_internal::Tanh of the cell state at scale 2**power."""
    left_shift = 12 + power
    if left_shift < 0:
        return qact.SigmoidLikeParams(np.dtype(np.int16), 0, 3, -left_shift, 0)
    return qact.SigmoidLikeParams(np.dtype(np.int16), 0, 0, left_shift, 0)


def _mul_rescale(s1: float, s2: float, s_out: float) -> Rescale:
    """TFLM's CreateInterGateMulParams: double(s1) * double(s2) / double(s_out)."""
    return Rescale.of(float(np.float32(s1)) * float(np.float32(s2)) / float(np.float32(s_out)))


def _quantized_clip(clip: float | None) -> int:
    if clip is None:
        return 0
    return int(min(INT16_MAX, fp.round_half_away(clip / GATE_SCALE)))


def recurrent_params(
    kind: str,
    input_scale: float,
    input_zero_point: int,
    input_weight_scales,
    recurrent_weight_scales,
    hidden_scale: float,
    hidden_zero_point: int,
    *,
    cell_scale: float | None = None,
    dtype="int8",
    clip: float | None = None,
    linear_before_reset: bool = False,
) -> RecurrentParams:
    """Derive the parameters as TFLM's UnidirectionalSequenceLstmPrepare does (LSTM)."""
    dtype = check_dtype(dtype)
    check_zero_point(dtype, input_zero_point)
    check_zero_point(dtype, hidden_zero_point)
    wide = dtype == np.dtype(np.int16)
    common = {
        "kind": kind,
        "dtype": dtype,
        "input_fc": _gate_product(input_scale, input_zero_point, input_weight_scales, wide),
        "recurrent_fc": _gate_product(
            hidden_scale, hidden_zero_point, recurrent_weight_scales, wide
        ),
        "hidden_zero_point": int(hidden_zero_point),
        "clip": _quantized_clip(clip),
    }
    q15 = GATE_OUTPUT_SCALE
    if kind == "LSTM":
        if cell_scale is None:
            raise QuantizationError("an integer LSTM needs the cell state's scale")
        power = cell_power(cell_scale)
        return RecurrentParams(
            **common,
            cell_tanh=cell_tanh_params(power),
            forget_mul=_mul_rescale(q15, cell_scale, cell_scale),
            input_mul=_mul_rescale(q15, q15, cell_scale),
            output_mul=_mul_rescale(q15, q15, hidden_scale),
        )
    reset = _mul_rescale(q15, GATE_SCALE, GATE_SCALE)
    if not linear_before_reset:
        reset = _mul_rescale(q15, hidden_scale, hidden_scale)
    return RecurrentParams(
        **common,
        linear_before_reset=bool(linear_before_reset),
        reset_mul=reset,
        update_mul=_mul_rescale(q15, hidden_scale, hidden_scale),
        candidate_mul=_mul_rescale(q15, q15, hidden_scale),
    )


# ---- the blocks ---------------------------------------------------------------------------------
def gate_product(x: np.ndarray, w: np.ndarray, bias, fc: GateProduct) -> np.ndarray:
    """TFLM FullyConnected into int16: x [..., K] integer, w [N, K] int8, bias [N] or None."""
    acc = (x.astype(np.int64) - fc.input_zero_point).astype(np.float64) @ w.astype(np.float64).T
    acc = np.rint(acc).astype(np.int64)
    if bias is not None:
        acc = acc + np.asarray(bias, np.int64)
    if fc.wide:
        out = fp.multiply_by_quantized_multiplier_int64(acc, fc.multiplier, fc.shift)
    else:
        out = fp.multiply_by_quantized_multiplier(fp.wrap_int32(acc), fc.multiplier, fc.shift)
    return np.clip(out, INT16_MIN, INT16_MAX)


def saturating_add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.clip(a + b, INT16_MIN, INT16_MAX)


def _activate(pre: np.ndarray, p: RecurrentParams, kind: str) -> np.ndarray:
    if p.clip:
        pre = np.clip(pre, -p.clip, p.clip)
    fn = qact.logistic if kind == "sigmoid" else qact.tanh
    return fn(pre.astype(np.int16), GATE_ACTIVATION).astype(np.int64)


def _mul16(a: np.ndarray, b: np.ndarray, rescale: Rescale) -> np.ndarray:
    """TFLM MulElementwise of two int16 Q values into int16 (no offsets)."""
    return np.clip(rescale.apply(a * b), INT16_MIN, INT16_MAX)


def _hidden_range(p: RecurrentParams) -> tuple[int, int]:
    return int_range(p.dtype)


def lstm_step(x, h, c, w, r, bias_x, bias_h, p: RecurrentParams):
    """One step of every batch entry: x [B, I], h [B, H] (x, h dtype), c [B, H] int16."""
    n = r.shape[0]
    gates = saturating_add(
        gate_product(x, w, bias_x, p.input_fc), gate_product(h, r, bias_h, p.recurrent_fc)
    )
    pre_i, pre_o, pre_f, pre_c = (gates[:, k * (n // 4) : (k + 1) * (n // 4)] for k in range(4))
    f = _activate(pre_f, p, "sigmoid")
    i = _activate(pre_i, p, "sigmoid")
    g = _activate(pre_c, p, "tanh")
    c = saturating_add(_mul16(f, c, p.forget_mul), _mul16(i, g, p.input_mul))
    o = _activate(pre_o, p, "sigmoid")
    tanh_c = qact.tanh(c.astype(np.int16), p.cell_tanh).astype(np.int64)
    lo, hi = _hidden_range(p)
    h = np.clip(p.output_mul.apply(tanh_c * o) + p.hidden_zero_point, lo, hi)
    return h, c


def gru_step(x, h, w, r, bias_x, bias_h, p: RecurrentParams):
    """One step of every batch entry: x [B, I], h [B, H]."""
    n = r.shape[0] // 3
    gx = gate_product(x, w, bias_x, p.input_fc)
    zr_fc, n_fc = p.recurrent_fc.rows(0, 2 * n), p.recurrent_fc.rows(2 * n, 3 * n)
    zr = saturating_add(gx[:, : 2 * n], gate_product(h, r[: 2 * n], bias_h[: 2 * n], zr_fc))
    z = _activate(zr[:, :n], p, "sigmoid")
    reset = _activate(zr[:, n:], p, "sigmoid")
    lo, hi = _hidden_range(p)
    zp = p.hidden_zero_point
    if p.linear_before_reset:
        recurrent = gate_product(h, r[2 * n :], bias_h[2 * n :], n_fc)
        pre = saturating_add(gx[:, 2 * n :], _mul16(reset, recurrent, p.reset_mul))
    else:
        reset_h = np.clip(p.reset_mul.apply(reset * (h - zp)) + zp, lo, hi)
        pre = saturating_add(
            gx[:, 2 * n :], gate_product(reset_h, r[2 * n :], bias_h[2 * n :], n_fc)
        )
    cand = _activate(pre, p, "tanh")
    kept = p.update_mul.apply(z * (h - zp))
    new = p.candidate_mul.apply((32768 - z) * cand)
    return np.clip(zp + kept + new, lo, hi)


def run(
    x: np.ndarray,
    w: np.ndarray,
    r: np.ndarray,
    bias: np.ndarray | None,
    h0: np.ndarray | None,
    c0: np.ndarray | None,
    p: RecurrentParams,
    *,
    layout: int = 0,
    reverse: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The whole sequence, every direction: (Y, Y_h, Y_c or None) in the node's layout.

    x [T, B, I] (layout 1: [B, T, I]); w [D, G*H, I], r [D, G*H, H] int8; bias [D, 2*G*H]
    (bias_x then bias_h) or None; h0 (x's dtype) and c0 (int16) [D, B, H] (layout 1:
    [B, D, H]) or None, which starts h at the zero point and c at 0.
    """
    x = as_int(x, p.dtype)
    if layout:
        x = x.transpose(1, 0, 2)
        h0 = None if h0 is None else np.asarray(h0).transpose(1, 0, 2)
        c0 = None if c0 is None else np.asarray(c0).transpose(1, 0, 2)
    steps, batch = x.shape[:2]
    d_count, rows, hidden = r.shape
    y = np.zeros((steps, d_count, batch, hidden), np.int64)
    finals = [np.zeros((d_count, batch, hidden), np.int64) for _ in range(2)]
    for d in range(d_count):
        b = np.zeros(2 * rows, np.int64) if bias is None else np.asarray(bias[d], np.int64)
        h = np.full((batch, hidden), p.hidden_zero_point, np.int64)
        h = h if h0 is None else as_int(h0[d], p.dtype)
        c = np.zeros((batch, hidden), np.int64) if c0 is None else as_int(c0[d], np.int16)
        order = range(steps - 1, -1, -1) if (reverse or d == 1) else range(steps)
        for t in order:
            if p.kind == "LSTM":
                h, c = lstm_step(x[t], h, c, w[d], r[d], b[:rows], b[rows:], p)
            else:
                h = gru_step(x[t], h, w[d], r[d], b[:rows], b[rows:], p)
            y[t, d] = h
        finals[0][d], finals[1][d] = h, c
    y_h, y_c = finals
    if layout:
        y, y_h, y_c = y.transpose(2, 0, 1, 3), y_h.transpose(1, 0, 2), y_c.transpose(1, 0, 2)
    return (
        y.astype(p.dtype),
        y_h.astype(p.dtype),
        y_c.astype(np.int16) if p.kind == "LSTM" else None,
    )
