"""ONNX element types ↔ numpy dtypes, for the types edgec computes with."""

from __future__ import annotations

import ml_dtypes
import numpy as np
from onnx import TensorProto

from edgec.errors import ModelError, node_error

_ONNX_TO_NP = {
    TensorProto.FLOAT: np.float32,
    TensorProto.DOUBLE: np.float64,
    TensorProto.FLOAT16: np.float16,
    TensorProto.INT8: np.int8,
    TensorProto.UINT8: np.uint8,
    TensorProto.INT16: np.int16,
    TensorProto.UINT16: np.uint16,
    TensorProto.INT32: np.int32,
    TensorProto.UINT32: np.uint32,
    TensorProto.INT64: np.int64,
    TensorProto.UINT64: np.uint64,
    TensorProto.BOOL: np.bool_,
    TensorProto.INT4: ml_dtypes.int4,  # 4-bit weights (--weight-bits 4)
}
_NP_TO_ONNX = {np.dtype(v): k for k, v in _ONNX_TO_NP.items()}


def elem_type_name(elem_type: int) -> str:
    """``FLOAT``, ``STRING``…: the ONNX name of an element type code."""
    if elem_type in TensorProto.DataType.values():
        return TensorProto.DataType.Name(elem_type)
    return str(elem_type)


def np_dtype(elem_type: int, node=None, what: str = "") -> np.dtype:
    """The numpy dtype of an ONNX element type; ``ModelError`` for types edgec cannot run.

    The error names ``node`` or, failing that, ``what`` (e.g. ``input 'x'``).
    """
    try:
        return np.dtype(_ONNX_TO_NP[elem_type])
    except KeyError:
        message = f"element type {elem_type_name(elem_type)} is not supported"
        if node is not None:
            raise node_error(ModelError, node, message) from None
        raise ModelError(f"{what}: {message}" if what else message) from None


def onnx_type(dtype: np.dtype) -> int:
    """The ONNX element type of a numpy dtype."""
    try:
        return _NP_TO_ONNX[np.dtype(dtype)]
    except KeyError:
        raise ModelError(f"dtype {dtype} has no ONNX element type here") from None


def is_supported_elem_type(elem_type: int) -> bool:
    return elem_type in _ONNX_TO_NP
