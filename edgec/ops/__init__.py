"""The op registry and every op it knows; importing this package registers them all."""

from edgec.ops import (  # noqa: F401  (importing registers the ops)
    activations,
    elementwise,
    linear,
    normalization,
    pooling,
    quant,
    rearrange,
    recurrent,
    reduce,
    resize,
    shape_ops,
    tensor_ops,
)
from edgec.ops.registry import (
    REGISTRY,
    Attr,
    Op,
    TensorInfo,
    get_op,
    lookup,
    register,
    require_supported,
    unsupported_ops,
)

__all__ = [
    "REGISTRY",
    "Attr",
    "Op",
    "TensorInfo",
    "get_op",
    "lookup",
    "register",
    "require_supported",
    "unsupported_ops",
]
