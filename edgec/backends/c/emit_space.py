"""DepthToSpace and SpaceToDepth as one 6-d permute (move.c), any element type.

The input is viewed as six dims in its memory order (channels split into the block's two
sub-pixel dims and the rest, or rows and columns split by the block) and permuted into the
output's memory order: channels-last when the input is stored so (after a Conv), else logical.
"""

from __future__ import annotations

from edgec.backends.c import layout as L
from edgec.backends.c.emit_move import MOVE_SOURCES, check_alias
from edgec.backends.c.lowering import Emitter, Lowering
from edgec.ir.graph import Node
from edgec.ops import get_op


def _view(op: str, mode: str, layout: str, n: int, c: int, h: int, w: int, b: int):
    """(6-d view of the input's memory, permutation into the output's memory order)."""
    k = c // (b * b)
    if op == "SpaceToDepth":
        if layout == L.CHANNELS_LAST:
            return (n, h // b, b, w // b, b, c), (0, 1, 3, 2, 4, 5)
        return (n, c, h // b, b, w // b, b), (0, 3, 5, 1, 2, 4)
    if layout == L.CHANNELS_LAST:
        if mode == "DCR":  # channel (i * b + j) * k + c
            return (n, h, w, b, b, k), (0, 1, 3, 2, 4, 5)
        return (n, h, w, k, b, b), (0, 1, 4, 2, 5, 3)  # CRD: channel c * b² + i * b + j
    if mode == "DCR":
        return (n, b, b, k, h, w), (0, 3, 4, 1, 5, 2)
    return (n, k, b, b, h, w), (0, 1, 4, 2, 5, 3)


def emit_space(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    op = get_op(node.op_type)
    mode = op.attr(node, "mode") if "mode" in op.attributes else "DCR"
    layout = L.normalize(4, lw.stored_layout(x))
    view, perm = _view(node.op_type, mode, layout, *x.shape, op.attr(node, "blocksize"))
    src, dst = lw.read(x, layout), lw.write(y, layout)
    fields = L.permute_fields(view, perm, x.dtype.itemsize)
    lw.call(
        "edgec_permute",
        "edgec_permute_t",
        fields,
        [src],
        [dst],
        node.name,
        node.op_type,
        MOVE_SOURCES,
    )


MOVE_EMITTERS = {
    "DepthToSpace": Emitter(emit_space, check_alias),
    "SpaceToDepth": Emitter(emit_space, check_alias),
}
