"""What the schedules need to know about the target CPU: vector width, int8 dot products.

A Linux target names an LLVM triple, CPU and features (``targets/<name>.toml``); ``host``
names none, and gets this computer's CPU (``-mcpu`` from LLVM's host detection), so that
AVX2 / AVX-512 code is generated where the CPU has it rather than LLVM's generic x86-64.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgec.backends.tvm.dot_kernels import DotInstruction
from edgec.linux_targets import LinuxTarget


@dataclass(frozen=True)
class CpuInfo:
    """The schedules' view of a target CPU."""

    llvm: dict  # the dict form of tvm.target.Target
    arch: str  # x86_64, aarch64, ...
    vector_bits: int  # the widest SIMD register the schedules fill
    registers: int  # SIMD registers available for a tile of accumulators
    dot: DotInstruction | None = None  # the int8 dot-product instruction, if the CPU has one
    # The same instruction on half the lanes, for layers whose output channels fill only
    # half of ``dot``'s register (8 channels on AVX-512: no padded channels to slice off).
    half_dot: DotInstruction | None = None

    @property
    def f32_lanes(self) -> int:
        return self.vector_bits // 32

    @property
    def i32_lanes(self) -> int:
        return self.vector_bits // 32


def llvm_target(target: LinuxTarget) -> dict:
    """The target's LLVM options; ``host`` gets this computer's CPU name."""
    llvm = target.llvm_target()
    if target.mtriple is None and "mcpu" not in llvm:
        from tvm.target import codegen

        cpu = codegen.llvm_get_system_cpu()
        if cpu and cpu != "generic":
            llvm["mcpu"] = cpu
    return llvm


def cpu_info(target: LinuxTarget) -> CpuInfo:
    """Vector width and register count of ``target``'s CPU."""
    import tvm
    from tvm.target import codegen

    llvm = llvm_target(target)
    tvm_target = tvm.target.Target(llvm)
    arch = target.arch

    def has(*features: str) -> bool:
        with tvm_target:
            return bool(codegen.llvm_cpu_has_features(list(features), tvm_target))

    dot = half_dot = None
    if arch in ("x86_64", "i686"):
        if has("avx512f", "avx512bw"):
            bits, registers = 512, 32
            if has("avx512vnni"):
                dot = DotInstruction("llvm.x86.avx512.vpdpbusd.512", 16, True)
                if has("avx512vl") or has("avxvnni"):  # the 256-bit form of the same instruction
                    half_dot = DotInstruction("llvm.x86.avx512.vpdpbusd.256", 8, True)
        elif has("avx2", "fma"):
            bits, registers = 256, 16
            if has("avxvnni"):
                dot = DotInstruction("llvm.x86.avx512.vpdpbusd.256", 8, True)
        else:
            bits, registers = 128, 16
    elif arch == "aarch64":
        bits, registers = 128, 32
        if has("dotprod"):
            dot = DotInstruction("llvm.aarch64.neon.sdot.v4i32.v16i8", 4, False)
    else:
        bits, registers = 128, 16
    return CpuInfo(llvm, arch, bits, registers, dot, half_dot)
