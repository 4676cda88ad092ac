"""The integer LSTM reference against TensorFlow Lite Micro, element for element.

Each case writes a TFLite UNIDIRECTIONAL_SEQUENCE_LSTM model (int8 activations and weights,
int16 cell state; or 16x8: int16 activations, int64 biases) with random weights, scales and
zero points, runs it in the ``tflite-micro`` interpreter on random inputs and compares every
output element with ``edgec.ops.integer.recurrent`` (tolerance 0). TFLite's four weight
matrices per product are ONNX's rows in the order i, o, f, c; its one bias per gate is
edgec's ``bias_x``.
"""

from __future__ import annotations

import numpy as np
import pytest
from tflite_builder import ACT, OP, ModelBuilder, run_tflm, schema

from edgec.ops.integer import recurrent as qrnn

TFLITE_GATES = "ifco"  # the order of TFLite's weight and bias tensors
ONNX_GATES = "iofc"


def lstm_case(rng, steps, batch, inputs, hidden, time_major, wide):
    """(the .tflite model, the same LSTM as edgec's integer reference sees it)."""
    act, bias_type = (np.int16, np.int64) if wide else (np.int8, np.int32)
    x_scale = float(rng.uniform(0.01, 0.05)) if not wide else 3.0 / 32767
    x_zero = 0 if wide else int(rng.integers(-30, 30))
    h_scale = float(rng.uniform(0.004, 0.01)) if not wide else 1.0 / 32767
    h_zero = 0 if wide else int(rng.integers(-10, 10))
    cell_scale = 2.0 ** int(rng.integers(-13, -9))
    builder = ModelBuilder()
    x_shape = (steps, batch, inputs) if time_major else (batch, steps, inputs)
    x = builder.tensor(x_shape, act, scale=x_scale, zero_point=x_zero)
    w, r, b, w_scale, r_scale = {}, {}, {}, {}, {}
    for gate in TFLITE_GATES:
        w_scale[gate], r_scale[gate] = rng.uniform(0.003, 0.02, 2)
        w[gate] = rng.integers(-127, 128, (hidden, inputs)).astype(np.int8)
        r[gate] = rng.integers(-127, 128, (hidden, hidden)).astype(np.int8)
        spread = 0.5 / (np.float32(x_scale) * np.float32(w_scale[gate]))
        b[gate] = np.rint(rng.standard_normal(hidden) * spread).astype(bias_type)
    ops = [x]
    ops += [
        builder.tensor((hidden, inputs), np.int8, scale=w_scale[g], zero_point=0, data=w[g])
        for g in TFLITE_GATES
    ]
    ops += [
        builder.tensor((hidden, hidden), np.int8, scale=r_scale[g], zero_point=0, data=r[g])
        for g in TFLITE_GATES
    ]
    ops += [-1, -1, -1]  # no peepholes
    ops += [
        builder.tensor((hidden,), bias_type, scale=x_scale * w_scale[g], zero_point=0, data=b[g])
        for g in TFLITE_GATES
    ]
    ops += [-1, -1]  # no projection
    h_state = builder.tensor((batch, hidden), act, scale=h_scale, zero_point=h_zero)
    c_state = builder.tensor((batch, hidden), np.int16, scale=cell_scale, zero_point=0)
    for index in (h_state, c_state):
        builder.tensors[index].isVariable = True
    ops += [h_state, c_state, -1, -1, -1, -1]  # no layer norm
    out = builder.tensor((*x_shape[:2], hidden), act, scale=h_scale, zero_point=h_zero)
    options = schema.UnidirectionalSequenceLSTMOptionsT()
    options.fusedActivationFunction = ACT.TANH
    options.timeMajor = time_major
    builder.operator(OP.UNIDIRECTIONAL_SEQUENCE_LSTM, ops, [out], options)
    model = builder.build([x], [out])
    weights = np.concatenate([w[g] for g in ONNX_GATES])[None]
    recurrent = np.concatenate([r[g] for g in ONNX_GATES])[None]
    bias_x = np.concatenate([b[g] for g in ONNX_GATES]).astype(np.int64)
    bias = np.concatenate([bias_x, np.zeros_like(bias_x)])[None]
    params = qrnn.recurrent_params(
        "LSTM",
        x_scale,
        x_zero,
        np.repeat([w_scale[g] for g in ONNX_GATES], hidden),
        np.repeat([r_scale[g] for g in ONNX_GATES], hidden),
        h_scale,
        h_zero,
        cell_scale=cell_scale,
        dtype="int16" if wide else "int8",
    )
    return model, (weights, recurrent, bias, params, x_shape, act)


CASES = [
    # steps, batch, inputs, hidden, time_major, wide
    (5, 1, 3, 4, True, False),
    (7, 2, 5, 8, True, False),
    (6, 1, 10, 16, False, False),
    (4, 3, 3, 4, False, False),
    (12, 1, 10, 32, True, False),
    (5, 1, 3, 4, True, True),
    (6, 2, 5, 8, False, True),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c[:4])) + str(c[4:]))
def test_integer_lstm_equals_tflm(case):
    time_major, wide = case[4:]
    rng = np.random.default_rng(sum(case[:4]) + 7 * wide + 3 * time_major)
    model, (w, r, bias, params, x_shape, act) = lstm_case(rng, *case)
    info = np.iinfo(act)
    for _ in range(3):
        x = rng.integers(info.min, info.max, x_shape, endpoint=True).astype(act)
        want = run_tflm(model, [x])[0]
        y, y_h, _ = qrnn.run(x, w, r, bias, None, None, params, layout=0 if time_major else 1)
        got = y[:, 0] if time_major else y[:, :, 0]
        np.testing.assert_array_equal(got, want)
        assert len(np.unique(want)) > 8, "the outputs should spread over the range"
        # the final state is the last step
        np.testing.assert_array_equal(
            y_h[0] if time_major else y_h[:, 0], got[-1] if time_major else got[:, -1]
        )
