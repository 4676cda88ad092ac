"""Graph passes and the pass manager."""

from edgec.passes.activation_fusion import FuseActivation
from edgec.passes.base import Pass, PassManager, PassResult, run_passes
from edgec.passes.batchnorm_fold import FoldBatchNorm
from edgec.passes.constant_fold import ConstantFolding
from edgec.passes.dead_code import EliminateDeadCode
from edgec.passes.gemm_fusion import FuseMatMulAdd
from edgec.passes.identity import EliminateIdentity
from edgec.passes.pipelines import fold, fold_passes
from edgec.passes.transpose_reshape import CanonicalizeTransposeReshape

__all__ = [
    "CanonicalizeTransposeReshape",
    "ConstantFolding",
    "EliminateDeadCode",
    "EliminateIdentity",
    "FoldBatchNorm",
    "FuseActivation",
    "FuseMatMulAdd",
    "Pass",
    "PassManager",
    "PassResult",
    "fold",
    "fold_passes",
    "run_passes",
]
