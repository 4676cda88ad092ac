"""The TVM backend for ARM Linux boards: relax import, build, export, and the runner."""

from edgec.backends.tvm.compile import compile_tvm

__all__ = ["compile_tvm"]
