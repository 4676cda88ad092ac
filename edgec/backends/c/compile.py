"""``edgec compile --backend c``: the checks of the C backend's options and its output files.

The C generator itself is ``generate.py`` (lower, plan the arena, render); this module turns
the options into its arguments, refuses a model that cannot fit the board before its C is
rendered, and lists what the manifest records of the build.
"""

from __future__ import annotations

import numpy as np

from edgec.analysis import analyze_graph, const_data, parameter_inputs
from edgec.artifact import BackendOutput
from edgec.backends.c.generate import MEMORY_MODES, SCRATCH_POLICIES, generate_c
from edgec.backends.c.lower import FLOAT_EMITTERS, KERNEL_SETS, TFLM_ROUNDING_ONLY, emitter_for
from edgec.backends.c.weight_storage import POLICIES
from edgec.errors import EdgecError, TargetError
from edgec.ir.graph import Graph, Node
from edgec.ops.integer import is_integer_node
from edgec.ops.integer.common import ROUNDINGS
from edgec.options import CompileOptions
from edgec.targets import Target

KERNEL_CHOICES = ("auto", *KERNEL_SETS)
IO_LAYOUTS = ("declared", "nhwc")  # the generated API's: the model's own, or channels-last


def check_c_options(options: CompileOptions, target: Target) -> None:
    """Refuse what the C backend cannot do, before the model is read."""
    if options.rounding not in ROUNDINGS:
        raise EdgecError(f"--rounding must be one of {', '.join(ROUNDINGS)}")
    if options.kernels not in KERNEL_CHOICES:
        raise EdgecError(f"--kernels must be one of {', '.join(KERNEL_CHOICES)}")
    if options.io_layout not in IO_LAYOUTS:
        raise EdgecError(f"--io-layout must be one of {', '.join(IO_LAYOUTS)}")
    if options.kernel_scratch not in SCRATCH_POLICIES:
        raise EdgecError(f"--kernel-scratch must be one of {', '.join(SCRATCH_POLICIES)}")
    if options.memory not in MEMORY_MODES:
        raise EdgecError(f"--memory must be one of {', '.join(MEMORY_MODES)}")
    if options.weight_storage not in POLICIES:
        raise EdgecError(f"--weight-storage must be one of {', '.join(POLICIES)}")
    if options.tune_trials:
        raise EdgecError("--tune-trials tunes TVM builds (--backend tvm)")


def integer_refusal(node: Node, options: CompileOptions) -> str | None:
    """Why the C backend cannot run integer ``node`` in integer while a float kernel of its
    op exists (it then stays in float: ``quantize.fallback``), else None."""
    if not is_integer_node(node) or node.op_type not in FLOAT_EMITTERS:
        return None
    if options.rounding != "tflm" and node.op_type in TFLM_ROUNDING_ONLY:
        return f"its integer C kernel rounds as TFLM only, not --rounding {options.rounding}"
    emitter = emitter_for(node, options.rounding)
    reason = "no integer C kernel" if emitter is None else emitter.check(node)
    return reason


def resolve_kernels(options: CompileOptions, target: Target) -> str:
    """``--kernels auto``: optimized where the target's core has a fast path for them (the
    DSP extension, Helium, or the plain multiply-add paths of RV32 and the Cortex-M0)."""
    if options.kernels != "auto":
        return options.kernels
    return "optimized" if target.fast_kernels else "portable"


def kernel_core(target: Target) -> str:
    """The optimized int8 kernels' family for the target's core: "mve" (Helium), "scalar"
    (RV32 and the Cortex-M0: the DSP kernels' layouts through fast_scalar.h, with their own
    instruction costs) or "dsp"."""
    if target.mve != "none":
        return "mve"
    return "scalar" if target.fast_kernels and not target.dsp else "dsp"


def memory_check(target: Target, quantized: bool = False):
    """A check that the weights fit the target's flash and the arena its RAM (``quantized``:
    the graph is already integer, so quantizing is no advice)."""

    def fits(weight_bytes: int, arena_bytes: int) -> None:
        problems = []
        if weight_bytes > target.flash.length:
            problems.append(f"weights {weight_bytes:,} B > flash {target.flash.length:,} B")
        if arena_bytes > target.ram.length:
            problems.append(f"arena {arena_bytes:,} B > RAM {target.ram.length:,} B")
        if problems:
            advice = "choose a larger target with --target"
            if not quantized:
                advice += ", or quantize with --quantize int8"
            raise TargetError(
                f"the model does not fit {target.name}: {'; '.join(problems)} ({advice})"
            )

    return fits


def check_weights_fit(graph: Graph, target: Target, options: CompileOptions) -> None:
    """Before calibration (which takes long on a large model): refuse a model whose weights
    cannot fit the flash even at int8 (the analysis' int8 weight bytes, TFLite's scheme)."""
    if not options.quantizing or options.cluster:  # clustering may store fewer bits
        return
    if options.weight_storage != "dense" and _compactable(graph):
        return  # sparse or clustered storage may fit: the check after lowering decides
    if options.weight_storage == "smallest":
        return  # entropy-coded weights may fit: the check after lowering decides
    int8_bytes = analyze_graph(graph).totals.weight_bytes_int8
    if int8_bytes > target.flash.length:
        raise TargetError(
            f"the model does not fit {target.name}: its weights take {int8_bytes:,} B even at "
            f"int8 > flash {target.flash.length:,} B (choose a larger target with --target, "
            "or compress the model: --prune, --lowrank, --cluster)"
        )


def _compactable(graph: Graph) -> bool:
    """Whether some weight matrix could be stored compact (weight_storage.py): few distinct
    values (clustered) or a quarter of zeros (sparse)."""
    for node in graph.nodes:
        for _, value in parameter_inputs(node):
            data = const_data(value)
            if data is None or data.ndim < 2 or data.size < 64:
                continue
            if np.count_nonzero(data) <= 0.75 * data.size or len(np.unique(data)) <= 16:
                return True
    return False


def compile_c(graph: Graph, target: Target, options: CompileOptions, sha256: str) -> BackendOutput:
    """Generate the C folder for ``graph`` on ``target``."""
    kernels = resolve_kernels(options, target)
    notices = []
    quantized = any(v.quant is not None for v in graph.values())

    def generate(storage: str):
        return generate_c(
            graph,
            options.prefix,
            sha256,
            options.io_layout,
            kernels=kernels,
            scratch=options.kernel_scratch,
            fits=memory_check(target, quantized),
            weight_storage=storage,
            core=kernel_core(target),
            rounding=options.rounding,
            stateful=options.stateful,
            memory=options.memory,
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
