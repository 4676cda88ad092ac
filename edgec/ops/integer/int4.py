"""4-bit weights (``--weight-bits 4``): the int4 element type and its packing.

An int4 layer holds its weights as an ``ml_dtypes.int4`` array (the type ONNX's INT4 maps
to), symmetric per output channel in [-7, 7]; the integer kernels compute exactly as with
int8 weights of the same values (the sums are the same integers). In flash two weights
share a byte, the first in the low nibble, as ONNX packs INT4 tensors.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

from edgec.errors import QuantizationError

INT4 = np.dtype(ml_dtypes.int4)
INT4_MAX = 7  # symmetric: [-7, 7] (the kernels also take -8)
WEIGHT_DTYPES = (np.dtype(np.int8), INT4)


def is_int4(dtype) -> bool:
    return dtype is not None and np.dtype(dtype) == INT4


WEIGHT_BITS = (4, 5, 6, 7, 8)


def weight_dtype(bits: int) -> np.dtype:
    """The weight element type of ``bits``: int4, or int8 for 5 to 8 bits (5-7 bits are int8
    codes in a narrower range: the int8 kernels run them unchanged, and entropy-coded
    storage, ``--weight-storage smallest``, spends about a bit less per weight per bit)."""
    if bits not in WEIGHT_BITS:
        raise QuantizationError(f"weights have 4 to 8 bits, not {bits}")
    return INT4 if bits == 4 else np.dtype(np.int8)


def weight_max(bits: int) -> int:
    """The largest magnitude of a symmetric weight of ``bits`` bits (7 ... 127)."""
    return 2 ** (bits - 1) - 1


def weight_ints(w) -> np.ndarray:
    """int8 or int4 weights as int64 (``QuantizationError`` for another type)."""
    w = np.asarray(w)
    if w.dtype not in WEIGHT_DTYPES:
        raise QuantizationError(f"expected int8 or int4 weights, got {w.dtype}")
    return w.astype(np.int64)


def pack_nibbles(values: np.ndarray) -> np.ndarray:
    """Values in [-8, 7] → bytes, two per byte, the first in the low nibble (an odd count
    leaves the last high nibble 0)."""
    v = np.asarray(values).astype(np.int64).ravel()
    if v.size and (v.min() < -8 or v.max() > 7):
        raise QuantizationError("int4 values must lie in [-8, 7]")
    v = np.concatenate([v, np.zeros(v.size % 2, np.int64)]) & 15
    return (v[0::2] | v[1::2] << 4).astype(np.uint8)


def unpack_nibbles(packed: np.ndarray, count: int) -> np.ndarray:
    """``pack_nibbles``' inverse: the first ``count`` values as int8."""
    b = np.asarray(packed, np.uint8).astype(np.int64)
    v = np.stack([b & 15, b >> 4], axis=-1).reshape(-1)[:count]
    return np.where(v > 7, v - 16, v).astype(np.int8)
