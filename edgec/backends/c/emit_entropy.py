"""int8 layers on entropy-coded weights (``--weight-storage smallest``; entropy_int.c).

Under the "smallest" policy ``emit_linear`` asks here first for every int8 fully connected
layer, groups-1 convolution and depthwise convolution: the weight matrix is Huffman coded
(huffman.py) and kept so where that takes fewer bytes than every other form that applies
to the layer (dense, sparse, clustered, or int4 where its weights are 4-bit). The kernel
decodes ``chunk_rows`` rows at a time into scratch in the arena (``CHUNK_BYTES`` at most,
or one row, after its ``LOOKUP_BYTES`` table) and runs every input row or output pixel
through each chunk. The layer is recorded in ``Program.weight_storage`` (memory.json)
with its decode cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgec.backends.c import huffman
from edgec.backends.c.emit_common import dims
from edgec.backends.c.program import Struct
from edgec.backends.c.rounding import float_requant, linear_requant
from edgec.backends.c.weight_storage import choose as choose_storage
from edgec.ops import get_op
from edgec.ops.integer.int4 import pack_nibbles

SOURCES = {"entropy_int.c", "edgec_fixedpoint.h", "edgec_dsp.h", "edgec_im2col.h"}
CHUNK_BYTES = 512  # decoded weights per chunk (at least one row)
LOOKUP_BYTES = 1024  # EDGEC_HUFFMAN_LOOKUP_BYTES: the decoder's table, before the chunk


@dataclass(frozen=True)
class Entropy:
    """A layer's coded weights: ``matrix`` [n][k] as the kernel's rows, the stream of its
    residuals under ``predictor`` (huffman.PREDICTORS) and their code."""

    matrix: np.ndarray
    stream: np.ndarray
    code: huffman.HuffmanCode
    candidates: dict[str, int]
    predictor: str = "none"
    period: int = 1

    @property
    def stored_bytes(self) -> int:
        return int(self.stream.nbytes) + self.code.table_bytes

    @property
    def chunk_rows(self) -> int:
        n, k = self.matrix.shape
        return max(1, min(n, CHUNK_BYTES // max(k, 1)))


def _matrix(layer) -> np.ndarray | None:
    """The layer's weights as the kernels' [n][k] rows, or None where no kernel takes them."""
    if layer.geometry is None:
        return layer.weights
    if layer.depthwise:  # [kh][kw][c] → [c][kh * kw]
        return np.ascontiguousarray(layer.weights.reshape(-1, layer.channels).T)
    if layer.group == 1:
        return layer.weights.reshape(layer.channels, -1)
    return None


def choose(layer) -> Entropy | None:
    """The entropy-coded form of ``layer``'s weights where it is the smallest, else None."""
    lw = layer.lw
    if lw.weight_storage != "smallest" or layer.sfx != "s8" or layer.in_place or layer.lean:
        return None
    matrix = _matrix(layer)
    if matrix is None or matrix.size == 0 or (not layer.depthwise and layer.folded is None):
        return None
    matrix = np.asarray(matrix, np.int8)
    candidates = {"dense": int(matrix.size)}
    if layer.int4:
        candidates["int4"] = int(pack_nibbles(matrix).nbytes)
    elif not layer.depthwise:  # the sparse and clustered kernels take matrix products
        # the sparse and clustered sizes ("small": without the Huffman size computed below)
        candidates.update(choose_storage(matrix, "small").candidates)
    predictor, period, coded = huffman.best_predictor(matrix)
    candidates["entropy"] = coded
    if coded >= min(size for kind, size in candidates.items() if kind != "entropy"):
        return None
    stream, code = huffman.encode(huffman.residuals(matrix, predictor, period))
    return Entropy(matrix, stream, code, candidates, predictor, period)


def _record(layer, entropy: Entropy, kernel: str) -> None:
    n, k = entropy.matrix.shape
    layer.lw.program.weight_storage.append(
        {
            "node": layer.node.name,
            "op": layer.node.op_type,
            "n": n,
            "k": k,
            "kernel": kernel,
            "storage": "entropy",
            "dense_bytes": int(entropy.matrix.size),
            "stored_bytes": entropy.stored_bytes,
            "table_stride": 0,
            "candidates": dict(entropy.candidates),
            "density": float(np.count_nonzero(entropy.matrix)) / entropy.matrix.size,
            "decode_instructions": _decode_cost(entropy),
            "predictor": entropy.predictor,
            "period": entropy.period,
            "bits_per_weight": round(8 * int(entropy.stream.nbytes) / entropy.matrix.size, 3),
            "chunk_rows": entropy.chunk_rows,
        }
    )


def _decode_cost(entropy: Entropy) -> int:
    residual = huffman.residuals(entropy.matrix, entropy.predictor, entropy.period)
    cost = huffman.decode_instructions(residual, entropy.code)
    if entropy.predictor != "none":
        cost += huffman.DECODE_PER_PREDICTED * int(residual.size)
    return cost


def _code_struct(layer, entropy: Entropy) -> Struct:
    lw, name = layer.lw, layer.node.name
    return Struct(
        {
            "stream": lw.weight(entropy.stream, f"{name} weights (Huffman coded)"),
            "counts": lw.weight(entropy.code.counts, f"{name} Huffman code lengths"),
            "symbols": lw.weight(entropy.code.symbols, f"{name} Huffman symbols"),
            "chunk_rows": entropy.chunk_rows,
            "predictor": huffman.PREDICTORS.index(entropy.predictor),
            "period": entropy.period,
        }
    )


def _out_struct(layer, bias: np.ndarray, n: int, k: int, rows: int) -> Struct:
    """The requantization (edgec_huffman_out_t): the shifts as int8, a byte per channel."""
    lw, node, requant = layer.lw, layer.node, layer.p.requant
    mult, shift = linear_requant(requant, n, lw.rounding, node.outputs[0].dtype)
    floats = float_requant(lw.rounding, node.outputs[0].dtype)
    return Struct(
        {
            "rows": rows,
            "k": k,
            "n": n,
            "output_zero_point": int(requant.zero_point),
            "act_min": int(requant.act_min),
            "act_max": int(requant.act_max),
            "bias": lw.weight(bias.astype(np.int32), f"{node.name} bias"),
            "out_mult": lw.weight(
                mult, f"{node.name} " + ("float32 scales (bits)" if floats else "multipliers")
            ),
            "out_shift": lw.weight(shift.astype(np.int8), f"{node.name} shifts"),
        }
    )


def _plain_bias(layer, n: int) -> np.ndarray:
    """The depthwise kernel's bias (it skips the taps in the padding: nothing folded)."""
    bias = np.zeros(n, np.int32) if layer.bias is None else layer.bias
    return np.broadcast_to(np.asarray(bias).reshape(-1), (n,)).astype(np.int32)


def emit(layer) -> None:
    """Lower ``layer`` (``layer.entropy`` set) to its entropy-coded kernel."""
    lw, node, entropy = layer.lw, layer.node, layer.entropy
    n, k = entropy.matrix.shape
    code = _code_struct(layer, entropy)
    chunk = entropy.chunk_rows * k + (k if entropy.predictor == "row" else 0)  # + the row above
    if layer.geometry is None:
        rows = math.prod(node.inputs[0].shape[:-1])
        out = _out_struct(layer, layer.folded, n, k, rows=rows)
        kernel, struct = "edgec_fc_huffman_s8", "edgec_huffman_s8_t"
        fields = {"out": out, "code": code}
        scratch, macs = chunk, get_op(node.op_type).macs(node)
    else:
        x, y = node.inputs[0], node.outputs[0]
        geometry = {
            key: v for key, v in layer.geometry.items() if key not in ("pad_bottom", "pad_right")
        }
        conv = {"in": dims(x.shape), "out": dims(y.shape), **geometry}
        conv["input_zero_point"] = int(layer.p.input_zero_point)
        if layer.depthwise:
            out = _out_struct(layer, _plain_bias(layer, n), n, k, rows=0)
            kernel, multiplier, scratch = "edgec_dwconv_huffman_s8", n // x.shape[1], chunk
        else:
            out = _out_struct(layer, layer.folded, n, k, rows=0)
            kernel = "edgec_conv_1x1_huffman_s8" if layer.pointwise else "edgec_conv_huffman_s8"
            multiplier, scratch = 0, chunk + (0 if layer.pointwise else k)
        struct = "edgec_conv_huffman_s8_t"
        weights = Struct({"out": out, "code": code})
        fields = {"conv": Struct(conv), "depth_multiplier": multiplier, "weights": weights}
        macs = get_op("Conv").macs(node)
    _record(layer, entropy, kernel)
    buffer = lw.scratch(node, LOOKUP_BYTES + scratch, "Huffman lookup table, decoded weights")
    lw.call(kernel, struct, fields, [layer.src], [layer.dst, buffer], node.name, node.op_type,
            SOURCES, macs=macs)  # fmt: skip
