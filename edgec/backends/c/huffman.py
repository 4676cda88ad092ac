"""Canonical Huffman coding of an int8 weight matrix (``--weight-storage smallest``).

Why Huffman and not rANS: the weight codes of a per-channel int8 layer are close to
uniform over a wide range (AD: 6.2 to 7.3 bits of order-0 entropy per weight), where a
Huffman code costs at most a few hundredths of a bit per weight more than the entropy
(AD: 235,430 B against 234,330 B of entropy), while its decoder needs no division, no
per-symbol state and only ``counts`` and ``symbols`` (at most 290 B per layer) in flash;
rANS would need a frequency table or a 2^12-entry lookup per layer for the same ~0.5 %.

What is coded may be the weights' residuals after a predictor (``residuals``, chosen per
layer by ``best_predictor``; AD: 238,185 → 225,445 B). The format (``entropy_int.c`` reads
it): one code per layer over its int8 values; codes
are canonical (shorter first, equal lengths by value) and at most ``MAX_BITS`` long. The
stream holds every weight of rows 0..n-1 in order, most significant bit first, with no
padding between rows (the kernels decode row chunks in order), followed by ``PAD`` zero
bytes so that the decoder's refill never reads past the array.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

MAX_BITS = 16  # EDGEC_HUFFMAN_MAX_BITS
PAD = 4  # zero bytes after the stream: a 32-bit refill stays inside the array
# instruction estimate of the table-driven decoder (entropy_int.c on a Cortex-M4, measured
# on QEMU for AD): per weight (lookup, store, shift, refill every other code), and per code
# longer than LOOKUP_BITS its search, plus one step per length beyond LOOKUP_BITS + 1
LOOKUP_BITS = 9  # EDGEC_HUFFMAN_LOOKUP_BITS
DECODE_PER_WEIGHT = 16
DECODE_PER_LONG_CODE = 12
DECODE_PER_LENGTH = 3


@dataclass(frozen=True)
class HuffmanCode:
    """``counts[L]``: codes of length L (index 0 unused); ``symbols``: values in canonical
    order; ``lengths``: code length per value (-128..127 → index value + 128, 0: absent)."""

    counts: np.ndarray  # uint16 [MAX_BITS + 1]
    symbols: np.ndarray  # int8
    lengths: np.ndarray  # int64 [256]

    @property
    def table_bytes(self) -> int:
        return int(self.counts.nbytes + self.symbols.nbytes)


def _code_lengths(frequencies: np.ndarray) -> np.ndarray:
    """Huffman code lengths of the symbols with a non-zero frequency (0 for the others)."""
    present = np.flatnonzero(frequencies)
    lengths = np.zeros(frequencies.size, np.int64)
    if present.size == 1:
        lengths[present] = 1
        return lengths
    heap = [(int(frequencies[s]), i, [int(s)]) for i, s in enumerate(present)]
    heapq.heapify(heap)
    tie = len(heap)
    while len(heap) > 1:
        fa, _, a = heapq.heappop(heap)
        fb, _, b = heapq.heappop(heap)
        lengths[a + b] += 1  # every symbol under the merged node goes one level deeper
        heapq.heappush(heap, (fa + fb, tie, a + b))
        tie += 1
    return lengths


def build_code(values: np.ndarray) -> HuffmanCode:
    """The canonical Huffman code of int8 ``values``, limited to ``MAX_BITS``: where a code
    would be longer, the rarest frequencies are raised (halving the spread) until it fits."""
    frequencies = np.bincount(np.asarray(values, np.int64).reshape(-1) + 128, minlength=256)
    if not frequencies.any():
        frequencies[128] = 1  # an empty matrix: one code for zero
    lengths = _code_lengths(frequencies)
    flattened = frequencies.copy()
    while lengths.max() > MAX_BITS:
        flattened = np.where(flattened > 0, (flattened + 1) // 2, 0)
        lengths = _code_lengths(flattened)
    order = np.lexsort((np.arange(256), lengths))
    order = order[lengths[order] > 0]
    counts = np.bincount(lengths[order], minlength=MAX_BITS + 1).astype(np.uint16)
    return HuffmanCode(counts, (order - 128).astype(np.int8), lengths)


def _canonical_codes(code: HuffmanCode) -> dict[int, tuple[int, int]]:
    """value → (code, length)."""
    codes, next_code = {}, 0
    previous = 0
    for symbol in code.symbols.astype(np.int64):
        length = int(code.lengths[symbol + 128])
        next_code <<= length - previous
        codes[int(symbol)] = (next_code, length)
        next_code += 1
        previous = length
    return codes


def encode(matrix: np.ndarray, code: HuffmanCode | None = None) -> tuple[np.ndarray, HuffmanCode]:
    """(the stream: uint8 bytes, padded; the code) of int8 ``matrix`` in row-major order."""
    values = np.asarray(matrix, np.int8).reshape(-1).astype(np.int64)
    code = code or build_code(values)
    table = _canonical_codes(code)
    code_of = np.zeros(256, np.int64)
    length_of = np.zeros(256, np.int64)
    for value, (bits, length) in table.items():
        code_of[value + 128], length_of[value + 128] = bits, length
    lengths = length_of[values + 128]
    total = int(lengths.sum())
    # each code's bits, most significant first, at its offset in the stream
    ends = np.cumsum(lengths)
    starts = ends - lengths
    bits = np.zeros(total + 8 * PAD + 7, np.uint8)
    for b in range(MAX_BITS):
        has = lengths > b
        bit = (code_of[values + 128][has] >> (lengths[has] - 1 - b)) & 1
        bits[starts[has] + b] = bit
    stream = np.packbits(bits[: -(-total // 8) * 8 + 8 * PAD])
    return stream.astype(np.uint8), code


def decode(stream: np.ndarray, code: HuffmanCode, count: int) -> np.ndarray:
    """``count`` int8 values back, bit by bit with each length's first code and index
    (the canonical decoder the C kernels' table-driven one must agree with), for tests."""
    first = np.zeros(MAX_BITS + 1, np.int64)
    index = np.zeros(MAX_BITS + 1, np.int64)
    next_code = seen = 0
    for length in range(1, MAX_BITS + 1):
        first[length], index[length] = next_code, seen
        next_code = (next_code + int(code.counts[length])) << 1
        seen += int(code.counts[length])
    bits = np.unpackbits(np.asarray(stream, np.uint8))
    out = np.zeros(count, np.int8)
    position = 0
    for i in range(count):
        value = 0
        for length in range(1, MAX_BITS + 1):
            value = value << 1 | int(bits[position + length - 1])
            if code.counts[length] and value - first[length] < code.counts[length]:
                out[i] = code.symbols[index[length] + value - first[length]]
                position += length
                break
        else:
            raise ValueError("not a code of this table")
    return out


def stored_bytes(matrix: np.ndarray) -> int:
    """The flash bytes of ``matrix`` Huffman coded: stream (with its padding) and table."""
    values = np.asarray(matrix, np.int8).reshape(-1).astype(np.int64)
    code = build_code(values)
    bits = int(code.lengths[values + 128].sum())
    return -(-bits // 8) + PAD + code.table_bytes


def decode_instructions(matrix: np.ndarray, code: HuffmanCode) -> int:
    """The estimated instructions that decoding ``matrix`` once takes (see DECODE_*)."""
    values = np.asarray(matrix, np.int8).reshape(-1).astype(np.int64)
    lengths = code.lengths[values + 128]
    long = lengths > LOOKUP_BITS
    steps = int((lengths[long] - LOOKUP_BITS - 1).sum())
    return int(
        values.size * DECODE_PER_WEIGHT
        + DECODE_PER_LONG_CODE * int(long.sum())
        + DECODE_PER_LENGTH * steps
    )


# ---- prediction: code each weight's difference from a guess made of decoded neighbours ------
# "row": the weight above (same column, previous row); "average": floor((left + the one
# `period` columns back) / 2) within the row (a frame x band layout, e.g. AD's 5 x 128 inputs,
# where a weight resembles its neighbour band's and the same band's in the previous frame)
PREDICTORS = ("none", "row", "average")
DECODE_PER_PREDICTED = 10  # the undo pass per weight (AD on QEMU)


def _wrap(values: np.ndarray) -> np.ndarray:
    return ((np.asarray(values, np.int64) + 128) % 256 - 128).astype(np.int8)


def _guess(matrix: np.ndarray, predictor: str, period: int) -> np.ndarray:
    x = np.asarray(matrix, np.int64)
    guess = np.zeros_like(x)
    if predictor == "row":
        guess[1:] = x[:-1]
    elif predictor == "average":
        left, back = np.zeros_like(x), np.zeros_like(x)
        left[:, 1:], back[:, period:] = x[:, :-1], x[:, :-period]
        guess = (left + back) >> 1  # floor, as ((l + b + 256) >> 1) - 128 in C
    return guess


def residuals(matrix: np.ndarray, predictor: str, period: int = 1) -> np.ndarray:
    """What is coded: each weight minus its guess, wrapped to int8."""
    return _wrap(np.asarray(matrix, np.int64) - _guess(matrix, predictor, period))


def unpredict(residual: np.ndarray, predictor: str, period: int = 1) -> np.ndarray:
    """The weights back from ``residuals`` (in decoding order, as entropy_int.c does)."""
    r = np.asarray(residual, np.int64)
    if predictor == "none":
        return r.astype(np.int8)
    x = np.zeros_like(r)
    if predictor == "row":
        return _wrap(np.cumsum(r, axis=0))
    for j in range(r.shape[1]):
        left = x[:, j - 1] if j >= 1 else 0
        back = x[:, j - period] if j >= period else 0
        x[:, j] = _wrap(r[:, j] + ((left + back) >> 1))
    return x.astype(np.int8)


def best_predictor(matrix: np.ndarray) -> tuple[str, int, int]:
    """(predictor, period, stored bytes) of the fewest bytes over the predictors and, for
    "average", the periods that divide the row length."""
    k = matrix.shape[1]
    options = [("none", 1), ("row", 1)]
    options += [("average", p) for p in range(1, k // 2 + 1) if k % p == 0]
    sizes = {(kind, p): stored_bytes(residuals(matrix, kind, p)) for kind, p in options}
    (kind, period), size = min(sizes.items(), key=lambda item: item[1])
    return kind, period, size
