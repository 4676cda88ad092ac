"""int8 convolutions and fully connected layers on compact weight storage (compact_int.c).

``emit_int`` offers every int8 matrix-product layer here first: the weight matrix is
encoded by ``weight_storage.choose`` and, where a compact form pays, the layer is lowered
to a sparse or clustered kernel; otherwise nothing is emitted and the dense kernels run.
Every decision (dense included) is recorded in ``Program.weight_storage`` for memory.json.
"""

from __future__ import annotations

import math

import numpy as np

from edgec.backends.c.emit_float import dims
from edgec.backends.c.lower import Lowering
from edgec.backends.c.program import Struct
from edgec.backends.c.weight_storage import Storage, choose
from edgec.ir.graph import Node
from edgec.ops import get_op

SOURCES = {"compact_int.c", "edgec_fixedpoint.h", "edgec_dsp.h"}


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
    from edgec.backends.c.emit_int import _per_channel

    return Struct(
        {
            "rows": rows,
            "k": k,
            "n": n,
            "output_zero_point": int(p.requant.zero_point),
            "act_min": int(p.requant.act_min),
            "act_max": int(p.requant.act_max),
            "bias": lw.weight(folded, f"{node.name} bias + input offset x weight sums"),
            "out_mult": lw.weight(
                _per_channel(p.requant.multiplier, n), f"{node.name} multipliers"
            ),
            "out_shift": lw.weight(_per_channel(p.requant.shift, n), f"{node.name} shifts"),
        }
    )


def _storage(lw: Lowering, matrix: np.ndarray, folded: np.ndarray | None) -> Storage:
    policy = lw.weight_storage if folded is not None else "dense"
    return choose(matrix, policy)


def try_fc(lw: Lowering, node: Node, p, weights: np.ndarray, bias, src: str, dst: str) -> bool:
    """Lower an int8 FC with ``weights`` [out][in] on compact storage if it pays."""
    from edgec.backends.c.emit_int import _folded_bias

    x = node.inputs[0]
    n, k = weights.shape
    folded = _folded_bias(weights, bias, p.input_zero_point)
    storage = _storage(lw, weights, folded)
    # a clustered layer takes scratch for its expanded table unless it must run lean
    pairs = _pairs_scratch(storage) if node.name not in lw.lean else 0
    lean = "_lean" if storage.kind == "clustered" and not pairs else ""
    kernel = f"edgec_fc_{storage.kind}{lean}_s8"
    _record(lw, node, storage, n, k, kernel if storage.kind != "dense" else "dense")
    if storage.kind == "dense":
        return False
    out = _out_struct(lw, node, p, folded, n, k, rows=math.prod(x.shape[:-1]))
    struct = _weights_struct(lw, node, storage, out)
    outputs = [dst]
    if pairs:
        outputs.append(lw.scratch(node, pairs, "expanded weight table"))
    lw.call(
        kernel,
        f"edgec_{storage.kind}_s8_t",
        struct.fields,
        [src],
        outputs,
        node.name,
        node.op_type,
        SOURCES,
        macs=get_op(node.op_type).macs(node),
    )
    return True


def try_conv(
    lw: Lowering, node: Node, p, geometry: dict, weights: np.ndarray, bias, src, dst, pointwise
) -> bool:
    """Lower an int8 convolution (groups 1; weights [o][kh][kw][i]) on compact storage if it
    pays; a non-pointwise layer that must run without scratch memory stays dense."""
    from edgec.backends.c.emit_int import _folded_bias

    x, y = node.inputs[0], node.outputs[0]
    n = weights.shape[0]
    matrix = weights.reshape(n, -1)
    k = matrix.shape[1]
    folded = _folded_bias(matrix, bias, p.input_zero_point)
    lean = node.name in lw.lean
    storage = _storage(lw, matrix, None if lean and not pointwise else folded)
    variant = "1x1_" if pointwise else ""
    pairs = _pairs_scratch(storage) if not lean else 0
    suffix = "_lean" if storage.kind == "clustered" and pointwise and not pairs else ""
    kernel = f"edgec_conv_{variant}{storage.kind}{suffix}_s8"
    _record(lw, node, storage, n, k, kernel if storage.kind != "dense" else "dense")
    if storage.kind == "dense":
        return False
    conv = {
        "in": dims(x.shape),
        "out": dims(y.shape),
        **{key: v for key, v in geometry.items() if key not in ("pad_bottom", "pad_right")},
        "input_zero_point": int(p.input_zero_point),
    }
    out = _out_struct(lw, node, p, folded, n, k, rows=0)
    fields = {"conv": Struct(conv), "weights": _weights_struct(lw, node, storage, out)}
    outputs = [dst]
    if not pointwise:  # two im2col rows (a word-aligned end), then any expanded table
        rows = -(-2 * k // 4) * 4 if storage.kind == "clustered" else 2 * k
        outputs.append(lw.scratch(node, rows + pairs, "im2col rows"))
    elif pairs:
        outputs.append(lw.scratch(node, pairs, "expanded weight table"))
    lw.call(
        kernel,
        f"edgec_conv_{storage.kind}_s8_t",
        fields,
        [src],
        outputs,
        node.name,
        node.op_type,
        SOURCES,
        macs=get_op("Conv").macs(node),
    )
    return True
