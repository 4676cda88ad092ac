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
    """``--kernels auto``: optimized where the target core has the DSP extension."""
    if options.kernels != "auto":
        return options.kernels
    return "optimized" if target.dsp else "portable"


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
    generated = generate_c(
        graph,
        options.prefix,
        sha256,
        options.io_layout,
        kernels=kernels,
        scratch=options.kernel_scratch,
        fits=memory_check(target),
        weight_storage=options.weight_storage,
        stateful=options.stateful,
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
    )
