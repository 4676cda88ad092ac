"""Graph passes and the pass manager."""

from edgec.passes.base import Pass, PassManager, PassResult, run_passes

__all__ = ["Pass", "PassManager", "PassResult", "run_passes"]
