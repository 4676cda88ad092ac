"""How an int8 weight matrix is stored in flash: dense, sparse or clustered.

Every format is a lossless encoding of the matrix the graph holds (``[n][k]``: output
channels by reduction length), so the integer reference stays the golden model and the
kernels (``templates/c/kernels/compact_int.c``) must be bit-exact with it. ``choose``
encodes a matrix every way that applies and keeps a compact form only where it pays: at
least ``MIN_SAVING`` of the dense bytes saved and, under the default policy, fewer
instructions than the optimized dense kernel on the target core (the caller's cost model,
``kernel_cost.py``).

- sparse: per row, its non-zeros in column order, each with its column step from the
  previous one (uint8; the first from column 0); a step over 255 is split by filler
  entries of value 0 and step 255. Bytes: 2 per entry + 2 per row (its entry count).
- entropy (policy "smallest" only): a canonical Huffman code of the values (huffman.py),
  decoded in chunks into scratch by its own kernels (emit_entropy.py).
- clustered: at most 16 distinct values in the layer (one table) or in every row (a table
  per row); 4-bit indices, each row starting on a byte, in the order ``pack_indices`` gives
  (the one the kernels' SXTB16 split wants).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgec.backends.c import huffman

# "auto": the fastest storage on the target core (the caller's cost function; compact only
# where it also saves flash); "small": compact wherever that saves flash; "dense": never;
# "smallest": the fewest bytes of every form, entropy-coded included (emit_entropy.py)
POLICIES = ("auto", "small", "dense", "smallest")
MIN_SAVING = 0.125  # of the dense bytes
MAX_STEP = 255
MAX_ROW_ENTRIES = 65535  # row_entries is uint16
TABLE_SIZE = 16


@dataclass
class Storage:
    """One layer's chosen encoding: ``arrays`` are what the kernel reads (name → data)."""

    kind: str  # "dense" | "sparse" | "clustered"
    dense_bytes: int
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    table_stride: int = 0  # clustered: 0 (one table) or K (one per row)
    candidates: dict[str, int] = field(default_factory=dict)  # format → bytes, where it applies
    density: float = 1.0  # fraction of non-zero weights

    @property
    def stored_bytes(self) -> int:
        if self.kind == "dense":
            return self.dense_bytes
        return sum(int(a.nbytes) for a in self.arrays.values())

    def describe(self) -> dict:
        return {
            "storage": self.kind,
            "dense_bytes": self.dense_bytes,
            "stored_bytes": self.stored_bytes,
            "table_stride": self.table_stride,
            "candidates": dict(self.candidates),
            "density": self.density,
            "decode_instructions": 0,  # these kernels read the format as they go
        }


def encode_sparse(matrix: np.ndarray) -> dict[str, np.ndarray] | None:
    """``row_entries`` (uint16 [n]), ``steps`` (uint8), ``values`` (int8); None when a row
    would need more entries than a uint16 counts."""
    counts, steps, values = [], [], []
    for row in np.asarray(matrix, np.int8):
        columns = np.flatnonzero(row)
        gaps = np.diff(columns, prepend=0)
        fillers = np.maximum(gaps - 1, 0) // MAX_STEP  # fillers before each non-zero
        entries = len(columns) + int(fillers.sum())
        if entries > MAX_ROW_ENTRIES:
            return None
        row_steps = np.full(entries, MAX_STEP, np.int64)
        row_values = np.zeros(entries, np.int8)
        at = np.cumsum(fillers + 1) - 1  # where each non-zero lands among the entries
        row_steps[at] = gaps - fillers * MAX_STEP
        row_values[at] = row[columns]
        counts.append(entries)
        steps.append(row_steps.astype(np.uint8))
        values.append(row_values)
    return {
        "row_entries": np.array(counts, np.uint16),
        "steps": np.concatenate(steps) if steps else np.zeros(0, np.uint8),
        "values": np.concatenate(values) if values else np.zeros(0, np.int8),
    }


def decode_sparse(arrays: dict[str, np.ndarray], k: int) -> np.ndarray:
    """The dense matrix back (the C kernel's reading of the format, for tests)."""
    rows, cursor = [], 0
    for entries in arrays["row_entries"].astype(np.int64):
        steps = arrays["steps"][cursor : cursor + entries].astype(np.int64)
        row = np.zeros(k, np.int8)
        np.add.at(row, np.cumsum(steps), arrays["values"][cursor : cursor + entries])
        rows.append(row)
        cursor += entries
    return np.array(rows, np.int8).reshape(-1, k)


def encode_clustered(matrix: np.ndarray) -> tuple[dict[str, np.ndarray], int] | None:
    """(``codes`` uint8 [n][ceil(k/2)], ``table`` int8) and the table stride, or None when
    some row has more than 16 distinct values."""
    matrix = np.asarray(matrix, np.int8)
    n, k = matrix.shape
    layer = np.unique(matrix)
    if layer.size <= TABLE_SIZE:
        table, stride = layer, 0
        index = np.searchsorted(layer, matrix)
    else:
        per_row = [np.unique(row) for row in matrix]
        stride = max(t.size for t in per_row)
        if stride > TABLE_SIZE:
            return None
        table = np.zeros((n, stride), np.int8)
        index = np.zeros((n, k), np.int64)
        for o, (row, values) in enumerate(zip(matrix, per_row, strict=True)):
            table[o, : values.size] = values
            index[o] = np.searchsorted(values, row)
    return {"codes": pack_indices(index), "table": table.astype(np.int8)}, stride


def pack_indices(index: np.ndarray) -> np.ndarray:
    """[n][k] indices (< 16) → [n][ceil(k/2)] bytes: each group of four (i0..i3) as the bytes
    (i0 | i2 << 4), (i1 | i3 << 4) — the pairs SXTB16 splits four inputs into — then the
    last k % 4 indices in plain order, low nibble first."""
    index = np.asarray(index, np.uint8)
    n, k = index.shape
    k4 = k - k % 4
    groups = index[:, :k4].reshape(n, -1, 4)
    body = np.stack(
        [groups[..., 0] | groups[..., 2] << 4, groups[..., 1] | groups[..., 3] << 4], -1
    )
    tail = np.zeros((n, (k - k4 + 1) // 2 * 2), np.uint8)
    tail[:, : k - k4] = index[:, k4:]
    return np.hstack([body.reshape(n, -1), tail[:, 0::2] | tail[:, 1::2] << 4]).astype(np.uint8)


def unpack_indices(codes: np.ndarray, k: int) -> np.ndarray:
    codes = np.asarray(codes, np.int64)
    n, k4 = codes.shape[0], k - k % 4
    body = codes[:, : k4 // 2].reshape(n, -1, 2)
    groups = np.stack(
        [body[..., 0] & 15, body[..., 1] & 15, body[..., 0] >> 4, body[..., 1] >> 4], -1
    )
    tail = np.stack([codes[:, k4 // 2 :] & 15, codes[:, k4 // 2 :] >> 4], -1).reshape(n, -1)
    return np.hstack([groups.reshape(n, -1), tail[:, : k - k4]])


def decode_clustered(arrays: dict[str, np.ndarray], stride: int, k: int) -> np.ndarray:
    index = unpack_indices(arrays["codes"], k)
    table = arrays["table"].reshape(-1, stride) if stride else arrays["table"].reshape(1, -1)
    rows = np.arange(index.shape[0])[:, None] if stride else np.zeros((1, 1), np.int64)
    return table[rows, index].astype(np.int8)


def choose(matrix: np.ndarray, policy: str = "auto", cost=None) -> Storage:
    """The storage of an int8 ``[n][k]`` matrix under ``policy`` ("dense" never encodes).
    ``cost(kind, arrays)`` estimates a format's instructions on the target core: under "auto"
    a compact form must also run faster than dense (without it, "auto" is "small")."""
    if policy not in POLICIES:
        raise ValueError(f"weight storage must be one of {', '.join(POLICIES)}, not {policy!r}")
    matrix = np.asarray(matrix, np.int8)
    dense = int(matrix.size)
    density = float(np.count_nonzero(matrix)) / max(1, matrix.size)
    options: dict[str, tuple[dict[str, np.ndarray], int]] = {}
    sparse = encode_sparse(matrix)
    if sparse is not None:
        options["sparse"] = (sparse, 0)
    clustered = encode_clustered(matrix)
    if clustered is not None:
        options["clustered"] = clustered
    sizes = {
        kind: sum(int(a.nbytes) for a in arrays.values()) for kind, (arrays, _) in options.items()
    }
    saving = {kind: size for kind, size in sizes.items() if size <= dense * (1 - MIN_SAVING)}
    if policy == "smallest":  # every byte counts; the Huffman form is emit_entropy's to take
        saving = {kind: size for kind, size in sizes.items() if size < dense}
        sizes["entropy"] = huffman.best_predictor(matrix)[2]
    best = min(saving, key=saving.get, default=None)
    if policy == "auto" and cost is not None and best is not None:
        speeds = {kind: cost(kind, options[kind][0]) for kind in saving}
        fastest = min(speeds, key=speeds.get)
        best = fastest if speeds[fastest] < cost("dense", None) else None
    if policy == "dense" or best is None:
        return Storage("dense", dense, candidates=sizes, density=density)
    arrays, stride = options[best]
    return Storage(best, dense, arrays, stride, candidates=sizes, density=density)
