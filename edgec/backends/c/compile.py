"""``edgec compile --backend c``: the checks of the C backend's options and its output files.

The C generator itself is ``generate.py`` (lower, plan the arena, render); this module turns
the options into its arguments, refuses a model that cannot fit the board before its C is
rendered, and lists what the manifest records of the build.
"""

from __future__ import annotations

from edgec.artifact import BackendOutput
from edgec.backends.c.generate import SCRATCH_POLICIES, generate_c
from edgec.backends.c.lower import KERNEL_SETS
from edgec.backends.c.weight_storage import POLICIES
from edgec.errors import EdgecError, TargetError
from edgec.ir.graph import Graph
from edgec.options import CompileOptions
from edgec.targets import Target

KERNEL_CHOICES = ("auto", *KERNEL_SETS)
IO_LAYOUTS = ("declared", "nhwc")  # the generated API's: the model's own, or channels-last


def check_c_options(options: CompileOptions, target: Target) -> None:
    """Refuse what the C backend cannot do, before the model is read."""
    if options.rounding != "tflm":
        raise EdgecError(
            f"--rounding {options.rounding}: the C backend implements TFLite Micro's rounding "
            "only; the other modes run in the reference executor (edgec.interp.Interpreter)"
        )
    if options.kernels not in KERNEL_CHOICES:
        raise EdgecError(f"--kernels must be one of {', '.join(KERNEL_CHOICES)}")
    if options.io_layout not in IO_LAYOUTS:
        raise EdgecError(f"--io-layout must be one of {', '.join(IO_LAYOUTS)}")
    if options.kernel_scratch not in SCRATCH_POLICIES:
        raise EdgecError(f"--kernel-scratch must be one of {', '.join(SCRATCH_POLICIES)}")
    if options.weight_storage not in POLICIES:
        raise EdgecError(f"--weight-storage must be one of {', '.join(POLICIES)}")


def resolve_kernels(options: CompileOptions, target: Target) -> str:
    """``--kernels auto``: optimized where the target's core has a fast path for them (the
    DSP extension, Helium, or the plain multiply-add paths of RV32 and the Cortex-M0)."""
    if options.kernels != "auto":
        return options.kernels
    return "optimized" if target.fast_kernels else "portable"


def kernel_core(target: Target) -> str:
    """The optimized int8 kernels' family for the target's core: "mve" (Helium) or "dsp"."""
    return "mve" if target.mve != "none" else "dsp"


def memory_check(target: Target):
    """A check that the weights fit the target's flash and the arena its RAM."""

    def fits(weight_bytes: int, arena_bytes: int) -> None:
        problems = []
        if weight_bytes > target.flash.length:
            problems.append(f"weights {weight_bytes:,} B > flash {target.flash.length:,} B")
        if arena_bytes > target.ram.length:
            problems.append(f"arena {arena_bytes:,} B > RAM {target.ram.length:,} B")
        if problems:
            raise TargetError(
                f"the model does not fit {target.name}: {'; '.join(problems)} "
                "(choose a larger target with --target, or quantize with --quantize int8)"
            )

    return fits


def compile_c(graph: Graph, target: Target, options: CompileOptions, sha256: str) -> BackendOutput:
    """Generate the C folder for ``graph`` on ``target``."""
    kernels = resolve_kernels(options, target)
    notices = []

    def generate(storage: str):
        return generate_c(
            graph,
            options.prefix,
            sha256,
            options.io_layout,
            kernels=kernels,
            scratch=options.kernel_scratch,
            fits=memory_check(target),
            weight_storage=storage,
            core=kernel_core(target),
        )

    try:
        generated = generate(options.weight_storage)
    except TargetError:
        if options.weight_storage != "auto":
            raise
        # the fastest storage does not fit: compact weights wherever they save flash
        generated = generate("small")
        notices.append(
            f"weight storage: the fastest layout does not fit {target.name}; weights are "
            "stored compact wherever that saves flash (--weight-storage small)"
        )
    program = generated.program
    return BackendOutput(
        files={**generated.files, **generated.kernel_files},
        manifest={
            "prefix": options.prefix,
            "kernels": kernels,
            "arena_bytes": generated.arena_bytes,
            "weight_bytes": generated.weight_bytes,
            "weight_storage": program.weight_storage,
        },
        device_shapes={
            "inputs": [p.shape for p in program.inputs],
            "outputs": [p.shape for p in program.outputs],
        },
        notices=notices,
    )
