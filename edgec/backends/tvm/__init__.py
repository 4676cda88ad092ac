"""The TVM backend for ARM Linux boards: relax import, build, export, and the runner."""

from edgec.backends.tvm.compile import check_tvm_options, compile_tvm

__all__ = ["check_tvm_options", "compile_tvm"]
