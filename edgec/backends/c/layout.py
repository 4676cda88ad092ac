"""Memory layouts of activations in generated C.

ONNX tensors are N, C, spatial…; microcontroller kernels run channels-last (NHWC), where the
channel vector of one pixel is contiguous. A value's *layout* says how its logical shape is
stored: ``LOGICAL`` keeps ONNX order, ``CHANNELS_LAST`` moves axis 1 to the end (only for
rank ≥ 3). Helpers here compare byte orders, so a layout change that moves only size-1 axes
costs nothing (no copy is emitted).
"""

from __future__ import annotations

import numpy as np

LOGICAL = "logical"
CHANNELS_LAST = "channels_last"
# Highest rank the data-movement kernels (move.c) take.
MAX_RANK = 6


def to_memory_perm(rank: int, layout: str) -> tuple[int, ...]:
    """Permutation p such that memory axis i holds logical axis p[i]."""
    if layout == CHANNELS_LAST and rank >= 3:
        return (0, *range(2, rank), 1)
    return tuple(range(rank))


def normalize(rank: int, layout: str) -> str:
    return CHANNELS_LAST if layout == CHANNELS_LAST and rank >= 3 else LOGICAL


def memory_shape(shape: tuple[int, ...], layout: str) -> tuple[int, ...]:
    return tuple(shape[p] for p in to_memory_perm(len(shape), layout))


def order_key(shape: tuple[int, ...], perm: tuple[int, ...]) -> tuple[int, ...]:
    """The sequence of logical axes in memory order, ignoring axes of size 1.

    Two storages of the same logical tensor hold identical bytes iff their keys match.
    """
    return tuple(p for p in perm if shape[p] != 1)


def same_bytes(shape: tuple[int, ...], layout_a: str, layout_b: str) -> bool:
    rank = len(shape)
    return order_key(shape, to_memory_perm(rank, layout_a)) == order_key(
        shape, to_memory_perm(rank, layout_b)
    )


def to_memory(data: np.ndarray, layout: str) -> np.ndarray:
    """A constant in logical order, rearranged into ``layout``'s memory order."""
    return np.ascontiguousarray(np.transpose(data, to_memory_perm(data.ndim, layout)))


def contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, step = [], 1
    for d in reversed(shape):
        strides.append(step)
        step *= d
    return tuple(reversed(strides))


def broadcast_strides(in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Element strides of a contiguous ``in_shape`` read at every index of ``out_shape``."""
    assert len(in_shape) == len(out_shape)
    strides = contiguous_strides(in_shape)
    return tuple(0 if i == 1 and o != 1 else s for i, o, s in zip(in_shape, out_shape, strides))


def collapse_dims(
    out_shape: tuple[int, ...], strides: list[tuple[int, ...]]
) -> tuple[tuple[int, ...], list[tuple[int, ...]]]:
    """Merge adjacent loop dims that every operand walks contiguously (fewer, longer loops)."""
    keep = [i for i, d in enumerate(out_shape) if d != 1]
    dims = [out_shape[i] for i in keep] or [1]
    per = [[s[i] for i in keep] or [0] for s in strides]
    i = len(dims) - 1
    while i > 0:
        if all(s[i - 1] == s[i] * dims[i] for s in per):
            dims[i - 1] *= dims[i]
            del dims[i]
            for s in per:
                s[i - 1] = s[i]
                del s[i]
        i -= 1
    return tuple(dims), [tuple(s) for s in per]


def permute_fields(in_mem_shape: tuple[int, ...], perm: tuple[int, ...], elem: int) -> dict:
    """Fields of ``edgec_permute_t``: output memory axis i reads input memory axis perm[i]."""
    rank = len(in_mem_shape)
    # Left-pad to MAX_RANK with unit axes that stay in front.
    pad = MAX_RANK - rank
    shape = [1] * pad + list(in_mem_shape)
    full_perm = list(range(pad)) + [p + pad for p in perm]
    return {"elem_size": elem, "in_shape": shape, "perm": full_perm}
