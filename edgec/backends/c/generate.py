"""Graph → generated C files: lower, plan the arena, render, describe memory."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from edgec.backends.c.lower import lower
from edgec.backends.c.planner import Buffer, Plan, check_plan, plan_arena
from edgec.backends.c.program import Program
from edgec.backends.c.render import render, weight_bytes
from edgec.ir.graph import Graph
from edgec.resources import templates_dir


@dataclass
class GeneratedC:
    """Everything ``edgec compile`` writes for the C backend, still in memory."""

    prefix: str
    program: Program
    plan: Plan
    files: dict[str, str] = field(default_factory=dict)
    kernel_files: dict[str, str] = field(default_factory=dict)

    @property
    def arena_bytes(self) -> int:
        return self.plan.arena_bytes

    @property
    def weight_bytes(self) -> int:
        return weight_bytes(self.program)


def plan_program(program: Program, alignment: int = 16) -> Plan:
    """Give every buffer an arena offset (see planner.py for the algorithm)."""
    end = len(program.calls)
    buffers = []
    for buf in program.buffers.values():
        first = buf.first
        last = max(buf.last, first)
        buffers.append(Buffer(buf.name, buf.nbytes, first, min(last, end), buf.alias_of))
    plan = plan_arena(buffers, alignment)
    check_plan(plan)
    for name, planned in plan.buffers.items():
        program.buffers[name].offset = planned.offset
    program.arena_bytes = plan.arena_bytes
    return plan


SCRATCH_POLICIES = ("always", "free")


def lower_and_plan(
    graph: Graph,
    io_layout: str,
    kernels: str,
    alignment: int,
    scratch: str = "always",
    weight_storage: str = "auto",
) -> tuple[Program, Plan]:
    """Lower and plan; with ``scratch="free"``, never let a kernel's scratch memory grow the
    arena.

    The optimized convolutions ask for working memory (two im2col rows). Under "free", the
    nodes whose scratch is live at the arena's peak are lowered again "lean" (the portable
    kernel, which needs none), as long as that lowers the arena: the smallest RAM, at the
    price of those layers' speed.
    """
    if scratch not in SCRATCH_POLICIES:
        raise ValueError(f"scratch must be one of {', '.join(SCRATCH_POLICIES)}")
    lean: frozenset[str] = frozenset()
    program = lower(graph, io_layout, kernels, lean, weight_storage)
    plan = plan_program(program, alignment)
    while scratch == "free" and (culprits := scratch_at_peak(program, alignment) - lean):
        trial = lower(graph, io_layout, kernels, lean | culprits, weight_storage)
        trial_plan = plan_program(trial, alignment)
        if trial.arena_bytes >= program.arena_bytes:
            break
        lean, program, plan = lean | culprits, trial, trial_plan
    program.lean_nodes = sorted(lean)
    return program, plan


def scratch_at_peak(program: Program, alignment: int) -> frozenset[str]:
    """Nodes whose scratch buffers are live at a step where the most bytes are live."""
    steps = len(program.calls)
    owners = [b for b in program.buffers.values() if b.alias_of is None and b.offset >= 0]
    spans = {  # buffer → the steps it is live (inputs are live from the start)
        b.name: range(max(b.first, 0), min(max(b.last, b.first), steps - 1) + 1) for b in owners
    }
    live = [0] * steps
    for b in owners:
        for step in spans[b.name]:
            live[step] += -(-b.nbytes // alignment) * alignment
    peak = max(live, default=0)
    return frozenset(
        b.scratch_for
        for b in owners
        if b.scratch_for and any(live[s] == peak for s in spans[b.name])
    )


def generate_c(
    graph: Graph,
    prefix: str = "model",
    sha256: str = "",
    io_layout: str = "declared",
    alignment: int = 16,
    kernels: str = "portable",
    scratch: str = "always",
    fits=None,
    weight_storage: str = "auto",
) -> GeneratedC:
    """Lower a folded (optionally quantized) graph and render its C sources; ``kernels``
    "optimized" uses the fast_*.c int8 kernels where they apply; ``scratch`` "always" gives
    them their working memory, "free" only where it does not grow the arena. ``fits(weight
    bytes, arena bytes)`` may refuse the program before its C is rendered; ``weight_storage``
    "auto" stores int8 weight matrices sparse or clustered where that saves flash, "dense"
    never (see weight_storage.py)."""
    program, plan = lower_and_plan(graph, io_layout, kernels, alignment, scratch, weight_storage)
    if fits is not None:
        fits(weight_bytes(program), program.arena_bytes)  # before rendering megabytes of C
    files = render(program, prefix, sha256, alignment)
    kernels = templates_dir() / "c" / "kernels"
    kernel_files = {
        name: (kernels / name).read_text()
        for name in ("edgec_kernels.h", "edgec_kernels_int.h", "edgec_kernels_compact.h")
    }
    for source in sorted(program.kernel_sources):
        kernel_files[source] = (kernels / source).read_text()
    generated = GeneratedC(prefix, program, plan, files, kernel_files)
    files["memory.json"] = json.dumps(memory_report(generated), indent=2) + "\n"
    return generated


def memory_report(gen: GeneratedC) -> dict:
    """memory.json: arena size, each tensor's offset/size/lifetime, flash bytes of weights."""
    program = gen.program
    return {
        "arena_bytes": program.arena_bytes,
        "weight_bytes": gen.weight_bytes,
        # nodes whose kernels run without scratch memory, which would have grown the arena
        "lean_nodes": program.lean_nodes,
        # each int8 matrix-product layer's weight storage: dense, sparse or clustered, and
        # the bytes of each format that applies (compact kept only where it pays)
        "weight_storage": program.weight_storage,
        "steps": [
            {
                "step": i,
                "op": c.op,
                "node": c.node,
                "kernel": c.kernel,
                "macs": c.macs,
                "output": c.outputs[0],
            }
            for i, c in enumerate(program.calls)
        ],
        "tensors": [
            {
                "buffer": b.name,
                "value": b.source,
                "dtype": str(b.dtype),
                "shape": list(b.shape),
                "offset": b.offset,
                "bytes": b.nbytes,
                "first_step": b.first,
                "last_step": b.last,
                "alias_of": b.alias_of,
                "layout": b.layout,
                "scratch_for": b.scratch_for,
            }
            for b in program.buffers.values()
        ],
        "weights": [
            {"name": w.name, "dtype": str(w.data.dtype), "bytes": w.nbytes, "what": w.comment}
            for w in program.weights.values()
        ],
    }
