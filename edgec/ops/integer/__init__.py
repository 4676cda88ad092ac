"""Integer references of the registry's ops: quantized IR nodes → TFLite Micro kernels.

A node is *integer* when its op is an ``integer == "arith"`` op and its output carries
``QuantParams``. Its inputs are then integer arrays (int8 or int16) whose ``Value.quant``
give scale and zero point; weights are int8 per output channel; biases are int32 (int64 in
16×8 mode). ``Op.integer_params(node)`` derives the kernel parameters from those (exactly as
TFLM's Prepare does; the C backend emits the same numbers) and ``Op.run_integer`` applies
the kernel. The numpy kernels live in this package, one module per family (``linear``,
``pooling``, ``elementwise``, ``activations``, ``softmax``) over ``fixedpoint``.
"""

from __future__ import annotations

import numpy as np

from edgec.errors import QuantizationError, UnsupportedOpError, node_error
from edgec.ir.graph import Node
from edgec.ops.integer.lookup import LookupTable
from edgec.ops.registry import get_op


def is_integer_node(node: Node) -> bool:
    op = get_op(node.op_type, node.domain)
    return (
        op is not None
        and op.integer == "arith"
        and bool(node.outputs)
        # a recurrent node's first output may be unused and unquantized; another one is
        and any(v.quant is not None for v in node.outputs)
    )


def integer_params(node: Node, rounding: str = "tflm"):
    """The kernel parameters of an integer node (raises a typed error naming the node);
    under rounding "float", those of onnxruntime's kernel where its algorithm differs."""
    op = get_op(node.op_type, node.domain)
    if op is None or op.integer != "arith":
        raise UnsupportedOpError({node.op_type: [node.name]}, "integer execution")
    try:
        if rounding == "float":
            params = op.float_rounding_params(node)
            if params is not None:
                return params
        return op.integer_params(node)
    except (ValueError, QuantizationError) as exc:
        if isinstance(exc, QuantizationError) and str(exc).startswith(node.op_type):
            raise
        raise node_error(QuantizationError, node, str(exc)) from None


def run_integer(node: Node, inputs: list, params, rounding: str = "tflm") -> list[np.ndarray]:
    if isinstance(params, LookupTable):
        return [params.apply(inputs[0])]
    out = get_op(node.op_type, node.domain).run_integer(node, inputs, params, rounding)
    if isinstance(out, list):  # several outputs (LSTM, GRU)
        return [np.asarray(o).astype(v.dtype) for o, v in zip(out, node.outputs)]
    return [np.asarray(out).astype(node.outputs[0].dtype)]
