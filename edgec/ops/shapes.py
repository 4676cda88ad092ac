"""Static shape inference over the IR with the registry's shape rules.

Small integer tensors (shapes, axes, indices) are propagated as data along the way, so
subgraphs like ``Shape → Gather → Concat → Reshape`` resolve to static shapes before any
pass runs. Outputs of ops the registry does not know keep what ONNX's own inference found.
"""

from __future__ import annotations

import numpy as np

from edgec.errors import ModelError, ShapeError, node_error, show_name
from edgec.ir.graph import Graph, Value
from edgec.ops.registry import TensorInfo, get_op

# Largest output (in elements) computed at compile time just to learn shapes.
PROPAGATE_LIMIT = 4096
# Largest tensor edgec accepts: 2^27 elements (512 MiB of float32; the largest weight of the
# ONNX zoo's VGG-19 has 103 M) is far beyond any model for a microcontroller or a small
# Linux board. A larger one is a corrupt or hostile file, refused before anything that
# size is allocated (constant folding would materialize it).
MAX_TENSOR_ELEMENTS = 1 << 27


def check_tensor_size(shape, what: str) -> None:
    elements = int(np.prod(np.asarray(shape, dtype=object))) if len(shape) else 1
    if elements > MAX_TENSOR_ELEMENTS:
        raise ModelError(
            f"{what} has shape {tuple(shape)}: {elements:,} elements, more than the "
            f"{MAX_TENSOR_ELEMENTS:,} edgec accepts"
        )


def infer_shapes(graph: Graph, problems: dict[str, str] | None = None) -> None:
    """Set dtype and shape of every node output; validate every supported node. With
    ``problems``, a node that fails its check or shape rule is recorded there (node name →
    message) and skipped (its outputs keep ONNX's inferred shapes) instead of raising."""
    known: dict[int, np.ndarray] = {}

    def info(v: Value | None):
        if v is None:
            return None
        data = v.const if v.const is not None else known.get(id(v))
        return TensorInfo(v.dtype, v.shape, data)

    for node in graph.nodes:
        op = get_op(node.op_type, node.domain)
        if op is None:
            continue
        ins = [info(v) for v in node.inputs]
        try:
            op.check(node)
            if any(i is not None and (i.shape is None or i.dtype is None) for i in ins):
                continue  # downstream of an op whose output shape is unknown
            results = op.infer(node, ins)
        except (ModelError, ShapeError) as exc:
            if problems is None:
                raise
            problems[node.name] = str(exc)
            continue
        if len(results) < len(node.outputs):
            raise node_error(
                ModelError,
                node,
                f"declares {len(node.outputs)} outputs, the op gives {len(results)}",
            )
        for out, (dtype, shape) in zip(node.outputs, results):
            shape = tuple(int(d) for d in shape)
            try:
                check_tensor_size(shape, f"output {show_name(out.name)}")
            except ModelError as exc:
                raise node_error(ModelError, node, str(exc)) from None
            out.dtype, out.shape = np.dtype(dtype), shape
        small = all(int(np.prod(o.shape, dtype=np.int64)) <= PROPAGATE_LIMIT for o in node.outputs)
        if small:
            data = op.propagate(node, ins)
            if data is not None:
                for out, value in zip(node.outputs, data):
                    known[id(out)] = np.asarray(value)
