"""Graph → generated C files: lower, plan the arena, render, describe memory."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from edgec.backends.c.emit_common import FIXEDPOINT
from edgec.backends.c.lower import lower
from edgec.backends.c.planner import Buffer, Plan, plan_arena
from edgec.backends.c.program import Program
from edgec.backends.c.render import render, weight_bytes
from edgec.backends.c.rounding import fixedpoint_header
from edgec.backends.c.tile_search import BUDGETS, choose_stage
from edgec.backends.c.tiling import Stage
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
        first, into = buf.first, 0
        link = buf
        while link is not None:  # an alias of a tile's view lies where the view does
            if link.view_offset or link.strides is not None:
                first = min(first, link.first)  # and its bytes live since the view's
            into += link.view_offset
            link = program.buffers[link.alias_of] if link.alias_of is not None else None
        last = max(buf.last, first)
        buffers.append(
            Buffer(
                buf.name,
                buf.nbytes,
                first,
                min(last, end),
                buf.alias_of,
                overlap=buf.overlap,
                view_offset=into,
                tiled=buf.tiled,
            )
        )
    plan = plan_arena(buffers, alignment)  # checked there (check_plan)
    for name, planned in plan.buffers.items():
        program.buffers[name].offset = planned.offset
    program.arena_bytes = plan.arena_bytes
    return plan


SCRATCH_POLICIES = ("always", "free")
MEMORY_MODES = ("fast", "balanced", "min")
# An in-place layer's kernel and the kernel it replaces, where it runs no more instructions
# (mps2-an386, QEMU -icount: KWS's 1x1 layers 608,734 -> 607,828 each, VWW's first 3x3
# convolution 1,672,043 -> 1,656,867); every other kernel in place is the same kernel.
IN_PLACE_TWINS = {
    "edgec_conv_1x1_fast_s8": "edgec_conv_1x1_fast_inplace_s8",
    "edgec_conv_fast_s8": "edgec_conv_fast_inplace_s8",
}


def _same_cost(program: Program, trial: Program) -> bool:
    """Every call of ``trial`` runs the kernel of ``program``'s or its in-place twin."""
    if len(trial.calls) != len(program.calls):
        return False
    return all(
        t.node == c.node and t.kernel in (c.kernel, IN_PLACE_TWINS.get(c.kernel))
        for c, t in zip(program.calls, trial.calls)
    )


def lower_and_plan(
    graph: Graph,
    io_layout: str,
    kernels: str,
    alignment: int,
    scratch: str = "always",
    weight_storage: str = "auto",
    core: str = "dsp",
    rounding: str = "tflm",
    stateful: bool = False,
    memory: str = "balanced",
) -> tuple[Program, Plan]:
    """Lower and plan, following the arena's peak down with layers written in place, and
    (``memory`` "balanced" or "min") with one stage of early layers run tile by tile.

    Every mode plans in place over their input the layers at the peak whose kernel does not
    change or changes to its no-slower twin (``IN_PLACE_TWINS``; overlap.py): RAM for no
    instructions. With ``scratch="free"`` or ``memory="min"`` any layer at the peak may also
    run in place or "lean" (the portable kernel, which needs no im2col scratch) as long as
    that lowers the peak: the smallest RAM, at the price of those layers' speed. The tiled
    stage (tiling.py) is chosen by tile_search.py: the smallest arena within the mode's
    instruction budget.
    """
    if scratch not in SCRATCH_POLICIES:
        raise ValueError(f"scratch must be one of {', '.join(SCRATCH_POLICIES)}")
    if memory not in MEMORY_MODES:
        raise ValueError(f"memory must be one of {', '.join(MEMORY_MODES)}")
    trade = scratch == "free" or memory == "min"  # instructions may buy RAM
    memo: dict = {}

    def lowered(
        more_lean: frozenset[str], more_in_place: frozenset[str], tiling: Stage | None = None
    ) -> Program:
        return lower(
            graph, io_layout, kernels, more_lean, weight_storage, more_in_place, core,
            rounding, stateful, tiling, memo,
        )  # fmt: skip

    def follow_peak(tiling: Stage | None) -> tuple[Program, Plan]:
        def with_tiling(lean: frozenset[str], in_place: frozenset[str]) -> Program:
            return lowered(lean, in_place, tiling)

        if tiling is None:
            return _follow_peak(with_tiling, alignment, trade)
        # a tile's small layers pack differently: also try their neighbours together first
        found = [_follow_peak(with_tiling, alignment, trade, eager) for eager in (False, True)]
        return min(found, key=lambda f: f[0].arena_bytes)

    program, plan = follow_peak(None)
    if memory != "fast":

        def quick(tiling: Stage | None) -> Program:  # without the in-place search
            trial = lowered(frozenset(), frozenset(), tiling)
            plan_program(trial, alignment)
            return trial

        program, plan = choose_stage(
            graph, program, plan, quick, follow_peak, alignment, core, BUDGETS[memory]
        )
    return program, plan


def _follow_peak(lowered, alignment: int, trade: bool, eager: bool = False) -> tuple[Program, Plan]:
    """The in-place (and, with ``trade``, lean) search for one tiling; ``eager`` tries the
    layers at the peak all together alongside each alone."""
    lean: frozenset[str] = frozenset()
    in_place: frozenset[str] = frozenset()
    program = lowered(lean, in_place)
    plan = plan_program(program, alignment)
    fastest = program
    best = (program, plan, lean, in_place)
    # Follow the peak down one change at a time: the lean scratch users at the peak, or one
    # more layer in place (each tried alone: two neighbours in place can cost more than the
    # one; when none helps alone, all of them together: neighbours may pay only together,
    # through the plan's fragmentation). A change counts if it lowers the arena or the peak
    # of live bytes (the arena's lower bound); the smallest arena seen is kept.
    together = False
    while True:
        culprits = scratch_at_peak(program, alignment) - lean if trade else frozenset()
        changes = [(lean | culprits, in_place)] if culprits and not together else []
        candidates = sorted(in_place_at_peak(program, alignment) - in_place)
        if together or (eager and len(candidates) > 1):
            changes += [(lean | culprits, in_place | set(candidates))]
        if not together:
            changes += [(lean | culprits, in_place | {node}) for node in candidates]
        trials = []
        for more_lean, more_in_place in changes:
            trial = lowered(more_lean, more_in_place)
            if not trade and not _same_cost(fastest, trial):
                continue
            trial_plan = plan_program(trial, alignment)
            key = (trial.arena_bytes, *_peak_key(trial, alignment))
            if key[0] < program.arena_bytes or key[1:] < _peak_key(program, alignment):
                trials.append((key, trial, trial_plan, more_lean, more_in_place))
        if not trials:
            if together or len(candidates) < 2:
                break
            together = True
            continue
        together = False
        _, program, plan, lean, in_place = min(trials, key=lambda t: t[0])
        if program.arena_bytes < best[0].arena_bytes:
            best = (program, plan, lean, in_place)
    program, plan, lean, in_place = best
    program.lean_nodes = sorted(lean)
    program.in_place = in_place_report(program, alignment)
    return program, plan


def _owners(program: Program) -> list:
    return [b for b in program.buffers.values() if b.alias_of is None and b.offset >= 0]


def _root(program: Program, name: str) -> str:
    while program.buffers[name].alias_of is not None:
        name = program.buffers[name].alias_of
    return name


def _in_place_saving(program: Program, out, alignment: int) -> int:
    """Bytes an in-place output and its input save against two separate buffers."""
    source = program.buffers[_root(program, out.overlap[0])]
    lag = -(-out.overlap[1] // alignment) * alignment
    block = max(out.nbytes, lag + source.nbytes)
    return sum(-(-n // alignment) * alignment for n in (out.nbytes, source.nbytes, -block))


def live_bytes(program: Program, alignment: int) -> tuple[list[int], dict[str, range]]:
    """Bytes live at each step (in-place pairs counted as their block) and each owner's
    live steps (inputs are live from the start)."""
    steps = len(program.calls)
    spans = {
        b.name: range(max(b.first, 0), min(max(b.last, b.first), steps - 1) + 1)
        for b in _owners(program)
    }
    live = [0] * steps
    for b in _owners(program):
        for step in spans[b.name]:
            live[step] += -(-b.nbytes // alignment) * alignment
        if b.overlap is not None and 0 <= b.first < steps:
            live[b.first] -= _in_place_saving(program, b, alignment)
    return live, spans


def _peak_key(program: Program, alignment: int) -> tuple[int, int]:
    """The most bytes live at one step, then at how many steps (a peak shared by several
    steps falls one node at a time)."""
    live, _ = live_bytes(program, alignment)
    peak = max(live, default=0)
    return peak, live.count(peak)


def scratch_at_peak(program: Program, alignment: int) -> frozenset[str]:
    """Nodes whose scratch buffers are live at a step where the most bytes are live."""
    live, spans = live_bytes(program, alignment)
    peak = max(live, default=0)
    return frozenset(
        b.scratch_for
        for b in _owners(program)
        if b.scratch_for and any(live[s] == peak for s in spans[b.name])
    )


def in_place_at_peak(program: Program, alignment: int) -> frozenset[str]:
    """int8 convolutions, permutes and residual Adds at a peak step (of live bytes, or where
    the plan reaches the arena's top) whose input dies there: they could write over it
    (overlap.py models their kernels' order; an Add writes element i after reading it)."""
    live, spans = live_bytes(program, alignment)
    top = [0] * len(live)
    for b in _owners(program):
        for step in spans[b.name]:
            top[step] = max(top[step], b.offset + b.nbytes)
    peak = max(live, default=0)
    at_peak = {s for s, n in enumerate(live) if n == peak}
    at_peak |= {s for s, n in enumerate(top) if n > program.arena_bytes - alignment}
    last_read: dict[str, int] = {}
    for b in program.buffers.values():
        root = _root(program, b.name)
        last_read[root] = max(last_read.get(root, -1), b.last)
    outputs = {_root(program, port.buffer) for port in program.outputs}
    found = set()
    tiled = {s for t in program.tiles for s in range(t["first_step"], t["last_step"] + 1)}
    for step, call in enumerate(program.calls):
        if step not in at_peak or not call.inputs:
            continue
        node = call.node
        if step in tiled:  # a layer inside a tile: in place in every tile, or in none
            if program.buffers[call.main_output].alias_of is not None:
                continue  # it writes the stage's output rows
            node = node.rsplit(" tile ", 1)[0] + " tiles"
        if call.kernel == "edgec_add_fast_s8":  # over whichever input dies here
            dying = [
                k
                for k, name in enumerate(call.inputs)
                if name in program.buffers
                and last_read[_root(program, name)] == step
                and _root(program, name) not in outputs
            ]
            found |= {node if k == 0 else f"{node}:{k}" for k in dying[:1]}
            continue
        if call.inputs[0] not in program.buffers:
            continue
        source = _root(program, call.inputs[0])
        out = program.buffers[call.main_output]
        int8 = out.dtype == np.int8 and program.buffers[source].dtype == np.int8
        if (
            (call.kernel == "edgec_permute" or (call.op == "Conv" and int8))
            and last_read[source] == step
            and source not in outputs
        ):
            found.add(node)
    return frozenset(found)


def in_place_report(program: Program, alignment: int) -> list[dict]:
    """memory.json's account of the layers planned in place and the bytes each saves."""
    return [
        {
            "node": next((c.node for c in program.calls if b.name in c.outputs), b.source),
            "input": b.overlap[0],
            "output": b.name,
            "lag_bytes": b.overlap[1],
            "saved_bytes": _in_place_saving(program, b, alignment),
        }
        for b in program.buffers.values()
        if b.overlap is not None
    ]


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
    core: str = "dsp",
    rounding: str = "tflm",
    stateful: bool = False,
    memory: str = "balanced",
) -> GeneratedC:
    """Lower a folded (optionally quantized) graph and render its C sources; ``kernels``
    "optimized" uses the fast_*.c int8 kernels where they apply; ``scratch`` "always" gives
    them their working memory, "free" only where it does not grow the arena. ``fits(weight
    bytes, arena bytes)`` may refuse the program before its C is rendered; ``weight_storage``
    "auto" stores int8 weight matrices sparse or clustered where that saves flash and runs
    faster on ``core``, "small" wherever it saves flash, "dense" never (weight_storage.py);
    ``core`` "dsp", "scalar" or "mve": the optimized kernels' family; ``rounding`` the
    integer kernels' requantization; ``stateful`` keeps recurrent states across calls
    (``model_reset`` sets them); ``memory`` "fast", "balanced" or "min" (lower_and_plan)."""
    program, plan = lower_and_plan(
        graph,
        io_layout,
        kernels,
        alignment,
        scratch,
        weight_storage,
        core,
        rounding,
        stateful,
        memory,
    )
    if fits is not None:
        fits(weight_bytes(program), program.arena_bytes)  # before rendering megabytes of C
    files = render(program, prefix, sha256, alignment)
    kernels = templates_dir() / "c" / "kernels"
    kernel_files = {
        name: (kernels / name).read_text()
        for name in (
            "edgec_kernels.h",
            "edgec_kernels_int.h",
            "edgec_kernels_compact.h",
            "edgec_kernels_int4.h",
            "edgec_kernels_entropy.h",
            "edgec_kernels_f32_fast.h",
            "edgec_kernels_attention.h",
            "edgec_kernels_recurrent.h",
        )
    }
    for source in sorted(program.kernel_sources):
        kernel_files[source] = (kernels / source).read_text()
    if FIXEDPOINT in kernel_files:
        kernel_files[FIXEDPOINT] = fixedpoint_header(kernel_files[FIXEDPOINT], rounding)
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
        # layers whose output is planned over their input (overlap.py), and what each saves
        "in_place": program.in_place,
        # the stage run tile by tile (tiling.py): its layers, tiles, rows and steps
        "tiles": program.tiles,
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
                "output": c.main_output,
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
                # [input, lag]: written in place over input, which lies >= lag bytes above
                "in_place_over": list(b.overlap) if b.overlap else None,
                # a tiled stage's output over its input (tiling.py): its views are checked
                "tiled": b.tiled,
                "view_offset": b.view_offset,
            }
            for b in program.buffers.values()
        ],
        "weights": [
            {"name": w.name, "dtype": str(w.data.dtype), "bytes": w.nbytes, "what": w.comment}
            for w in program.weights.values()
        ],
    }
