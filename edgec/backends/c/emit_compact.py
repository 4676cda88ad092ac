"""int8 convolutions and fully connected layers on compact weight storage (compact_int.c).

``emit_linear`` asks here first for every int8 matrix-product layer: the weight matrix is
encoded by ``weight_storage.choose`` and, where a compact form pays (under the default
policy: saves flash and runs faster on the target core, kernel_cost.py), the layer is
lowered to a sparse or clustered kernel (``choose_*`` then ``emit_*``); otherwise the dense
kernels run. Every decision (dense included) is recorded in ``Program.weight_storage`` for
memory.json.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgec.backends.c.emit_common import dims, requant_fields
from edgec.backends.c.emit_fast import fast_requant, folded_bias
from edgec.backends.c.kernel_cost import layer_cost
from edgec.backends.c.lowering import Lowering
from edgec.backends.c.program import Struct
from edgec.backends.c.weight_storage import Storage, choose
from edgec.ir.graph import Node
from edgec.ops import get_op

SOURCES = {"compact_int.c", "edgec_fixedpoint.h", "edgec_dsp.h", "edgec_im2col.h"}


def _record(lw: Lowering, node: Node, storage: Storage, n: int, k: int, kernel: str) -> None:
    lw.program.weight_storage.append(
        {
            "node": node.name,
            "op": node.op_type,
            "n": n,
            "k": k,
            "kernel": kernel,
            **storage.describe(),
        }
    )


def _weights_struct(lw: Lowering, node: Node, storage: Storage, out: Struct) -> Struct:
    names = {
        "sparse": ("row_entries", "steps", "values"),
        "clustered": ("codes", "table"),
    }[storage.kind]
    fields = {"out": out}
    for name in names:
        fields[name] = lw.weight(
            storage.arrays[name], f"{node.name} weights ({storage.kind}: {name})"
        )
    if storage.kind == "clustered":
        table = storage.arrays["table"]
        fields["table_size"] = storage.table_stride or int(table.size)
        fields["table_stride"] = storage.table_stride
    return Struct(fields)


PAIRS_BYTES = 1024  # EDGEC_CLUSTER_PAIRS_BYTES: a one-table layer's table, expanded


def _pairs_scratch(storage: Storage) -> int:
    return PAIRS_BYTES if storage.kind == "clustered" and storage.table_stride == 0 else 0


def _out_struct(
    lw: Lowering, node: Node, p, folded: np.ndarray, n: int, k: int, rows: int
) -> Struct:
    return Struct(
        {
            "rows": rows,
            "k": k,
            "n": n,
            "output_zero_point": int(p.requant.zero_point),
            "act_min": int(p.requant.act_min),
            "act_max": int(p.requant.act_max),
            "bias": lw.weight(folded, f"{node.name} bias + input offset x weight sums"),
            **{
                k: v
                for k, v in requant_fields(lw, node, p.requant, n).items()
                if k in ("out_mult", "out_shift")
            },
        }
    )


def _storage(
    lw: Lowering, matrix: np.ndarray, folded: np.ndarray | None, p, pixels: int
) -> Storage:
    """Under "auto", a compact form only where the target core's kernel for it is faster
    than the optimized dense one (kernel_cost.py); without an optimized dense kernel (a
    portable build, a scale it cannot take), wherever it saves flash."""
    policy = lw.weight_storage if folded is not None else "dense"
    n, k = matrix.shape
    cost = None
    if lw.optimized and fast_requant(p.requant, n, lw.rounding) is not None:

        def cost(kind: str, arrays) -> float:
            entries = int(arrays["values"].size) if kind == "sparse" else 0
            return layer_cost(lw.core, kind, n, k, pixels, entries)

    return choose(matrix, policy, cost)


@dataclass(frozen=True)
class Compact:
    """A layer's compact weights and the kernel that reads them."""

    storage: Storage
    kernel: str
    folded: np.ndarray  # bias + input offset x weight sums
    scratch: int  # bytes of the expanded table (0: none)
    n: int
    k: int


def choose_fc(lw: Lowering, node: Node, p, weights: np.ndarray, bias) -> Compact | None:
    """The storage of an int8 FC's ``weights`` [out][in], recorded in memory.json; None when
    dense pays best."""
    n, k = weights.shape
    folded = folded_bias(weights, bias, p.input_zero_point)
    storage = _storage(lw, weights, folded, p, math.prod(node.inputs[0].shape[:-1]))
    # a clustered layer takes scratch for its expanded table unless it must run lean
    pairs = _pairs_scratch(storage) if node.name not in lw.lean else 0
    lean = "_lean" if storage.kind == "clustered" and not pairs else ""
    kernel = f"edgec_fc_{storage.kind}{lean}_s8"
    _record(lw, node, storage, n, k, kernel if storage.kind != "dense" else "dense")
    return None if storage.kind == "dense" else Compact(storage, kernel, folded, pairs, n, k)


def emit_fc(lw: Lowering, node: Node, p, compact: Compact, src: str, dst: str) -> None:
    x = node.inputs[0]
    rows = math.prod(x.shape[:-1])
    out = _out_struct(lw, node, p, compact.folded, compact.n, compact.k, rows=rows)
    struct = _weights_struct(lw, node, compact.storage, out)
    outputs = [dst]
    if compact.scratch:
        outputs.append(lw.scratch(node, compact.scratch, "expanded weight table"))
    lw.call(
        compact.kernel,
        f"edgec_{compact.storage.kind}_s8_t",
        struct.fields,
        [src],
        outputs,
        node.name,
        node.op_type,
        SOURCES,
        macs=get_op(node.op_type).macs(node),
    )


def choose_conv(
    lw: Lowering, node: Node, p, weights: np.ndarray, bias, pointwise: bool
) -> Compact | None:
    """The storage of an int8 convolution's weights (groups 1; [o][kh][kw][i]), recorded in
    memory.json; None when dense pays best, or for a non-pointwise layer that must run
    without scratch memory."""
    n = weights.shape[0]
    matrix = weights.reshape(n, -1)
    k = matrix.shape[1]
    folded = folded_bias(matrix, bias, p.input_zero_point)
    lean = node.name in lw.lean
    pixels = math.prod(node.outputs[0].shape) // n
    key = ("storage", id(node.inputs[1]), pixels, lean and not pointwise, lw.weight_storage)
    if key not in lw.memo:  # the same for every lowering of a compile
        lw.memo[key] = _storage(lw, matrix, None if lean and not pointwise else folded, p, pixels)
    storage = lw.memo[key]
    variant = "1x1_" if pointwise else ""
    pairs = _pairs_scratch(storage) if not lean else 0
    suffix = "_lean" if storage.kind == "clustered" and pointwise and not pairs else ""
    kernel = f"edgec_conv_{variant}{storage.kind}{suffix}_s8"
    _record(lw, node, storage, n, k, kernel if storage.kind != "dense" else "dense")
    return None if storage.kind == "dense" else Compact(storage, kernel, folded, pairs, n, k)


def emit_conv(
    lw: Lowering, node: Node, p, compact: Compact, geometry: dict, src, dst, pointwise: bool
) -> None:
    x, y = node.inputs[0], node.outputs[0]
    conv = {
        "in": dims(x.shape),
        "out": dims(y.shape),
        **{key: v for key, v in geometry.items() if key not in ("pad_bottom", "pad_right")},
        "input_zero_point": int(p.input_zero_point),
    }
    out = _out_struct(lw, node, p, compact.folded, compact.n, compact.k, rows=0)
    storage = compact.storage
    fields = {"conv": Struct(conv), "weights": _weights_struct(lw, node, storage, out)}
    outputs = [dst]
    if not pointwise:  # two im2col rows (a word-aligned end), then any expanded table
        rows = -(-2 * compact.k // 4) * 4 if storage.kind == "clustered" else 2 * compact.k
        outputs.append(lw.scratch(node, rows + compact.scratch, "im2col rows"))
    elif compact.scratch:
        outputs.append(lw.scratch(node, compact.scratch, "expanded weight table"))
    lw.call(
        compact.kernel,
        f"edgec_conv_{storage.kind}_s8_t",
        fields,
        [src],
        outputs,
        node.name,
        node.op_type,
        SOURCES,
        macs=get_op("Conv").macs(node),
    )
