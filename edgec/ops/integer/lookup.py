"""Lookup tables: an int8 → int8 elementwise op as its 256 outputs (rounding "float").

onnxruntime runs the int8 Sigmoid and LeakyRelu of a QDQ or QOperator model through a table
of its float function (QLinearSigmoid, QLinearLeakyRelu: DequantizeLinear, the float op,
QuantizeLinear, over the 256 inputs), and runs an op it does not fuse (Tanh, HardSwish)
between DequantizeLinear and QuantizeLinear, which is the same table. The tables are made
here by running the float op in onnxruntime itself, so that its approximations (MLAS's
logistic and tanh) come out exactly as onnxruntime computes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from edgec.errors import QuantizationError

OPSET = 17


@dataclass(frozen=True)
class LookupTable:
    """``table[q + 128]`` is the output of input ``q`` (int8 → int8)."""

    table: np.ndarray

    def apply(self, x) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype != np.int8:
            raise QuantizationError(f"a lookup table takes int8 data, not {x.dtype}")
        return self.table[x.astype(np.int64) + 128]


def float_function_table(
    op_type: str,
    attrs: dict,
    input_scale: float,
    input_zero_point: int,
    output_scale: float,
    output_zero_point: int,
) -> LookupTable:
    """The table of ``QuantizeLinear(op(DequantizeLinear(q)))`` for the 256 int8 inputs, the
    float op run by onnxruntime."""
    key = tuple(sorted((k, float(v)) for k, v in attrs.items()))
    table = _table(
        op_type,
        key,
        float(np.float32(input_scale)),
        int(input_zero_point),
        float(np.float32(output_scale)),
        int(output_zero_point),
    )
    return LookupTable(table)


@lru_cache(maxsize=256)
def _table(op_type, attrs, s_in, z_in, s_out, z_out) -> np.ndarray:
    from edgec.ops.integer.elementwise import dequantize, quantize_linear

    q = np.arange(-128, 128, dtype=np.int64)
    x = dequantize(q, s_in, z_in)
    y = _run_float_op(op_type, dict(attrs), x)
    table = quantize_linear(y, s_out, z_out, "int8")
    table.flags.writeable = False
    return table


def _run_float_op(op_type: str, attrs: dict, x: np.ndarray) -> np.ndarray:
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    shape = list(x.shape)
    graph = helper.make_graph(
        [helper.make_node(op_type, ["x"], ["y"], **attrs)],
        "table",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return session.run(None, {"x": x.astype(np.float32)})[0]
