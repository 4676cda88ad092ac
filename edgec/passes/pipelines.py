"""The standard pass lists: ``fold`` cleans a freshly imported graph for the backends."""

from __future__ import annotations

from edgec.ir.graph import Graph
from edgec.passes.activation_fusion import FuseActivation
from edgec.passes.attention_scale import FoldAttentionScale
from edgec.passes.base import Pass, PassManager
from edgec.passes.batchnorm_fold import FoldBatchNorm
from edgec.passes.constant_fold import ConstantFolding
from edgec.passes.dead_code import EliminateDeadCode
from edgec.passes.div_constant import DivByConstant
from edgec.passes.gelu_fusion import FuseGelu
from edgec.passes.gemm_fusion import FuseMatMulAdd
from edgec.passes.identity import EliminateIdentity
from edgec.passes.layernorm_fusion import FuseLayerNorm
from edgec.passes.recurrent_fold import FoldRecurrent
from edgec.passes.transpose_reshape import CanonicalizeTransposeReshape


def fold_passes(keep_qdq: bool = True) -> list[Pass]:
    """Identity removal, constant folding, BN folding, LayerNorm and GELU fusion, division
    by a constant as a product, transpose/reshape canonicalization, MatMul + Add → Gemm,
    attention's score scale into its q projection, activation fusion, the exporters'
    patterns around LSTM/GRU and dead-code elimination, in that order."""
    return [
        EliminateIdentity(),
        ConstantFolding(keep_qdq=keep_qdq),
        FoldBatchNorm(),
        FuseLayerNorm(),
        FuseGelu(),
        DivByConstant(),
        CanonicalizeTransposeReshape(),
        FuseMatMulAdd(),
        FoldAttentionScale(),
        FuseActivation(),
        FoldRecurrent(),
        EliminateDeadCode(),
    ]


def fold(graph: Graph, keep_qdq: bool = True) -> Graph:
    """Run :func:`fold_passes` to a fixed point, in place; returns ``graph``."""
    return PassManager(fold_passes(keep_qdq), fixed_point=True).run(graph).graph
