"""Which stage to run tile by tile (tiling.py), and in how many tiles: the smallest arena
whose estimated instructions stay within the ``--memory`` mode's budget.

The instructions are estimated per kernel call from its MACs and output (constants fitted
to the optimized kernels' per-step counts on mps2-an386, the DSP family; a fixed cost per
call for the tiles' extra calls); only the ratio to the untiled build matters, and the
chosen build is measured on the emulated board by bench/memory.py.

The search looks at stages over the layers where the arena reaches its top,
first four tiles each, then other tile counts for the best few, and runs the full in-place
search only on the most promising.
"""

from __future__ import annotations

from collections.abc import Callable

from edgec.backends.c.planner import Plan
from edgec.backends.c.program import Program
from edgec.backends.c.tiling import Stage, candidates
from edgec.ir.graph import Graph

# instructions the mode may add over the fastest build (None: any); the estimate's own
# error is kept inside "balanced"'s +10 % by budgeting 7 %
BUDGETS: dict[str, float | None] = {"fast": 0.0, "balanced": 0.07, "min": None}
# Per call, fitted to the per-step counts of KWS, IC and VWW on mps2-an386 (QEMU -icount):
# a convolution per output element 1.05 k + 14 + (3.2 k + PIXEL) / n (k products, n
# channels; PIXEL: the im2col set-up of a pixel, none for 1x1), within ~15 %.
DEPTHWISE_PER_MAC = 3.4
PIXEL = 300
PER_ELEMENT = {"add": 19, "permute": 8}
CALL_COST = 400  # a kernel call: its parameters and the loops' set-up
TILE_COUNTS = (2, 3, 6, 8, 12, 16, 24)
BUDGETED_TILES = 8  # more tiles recompute more than a +10 % budget allows: not tried
SHORTLIST = 2


def estimate_instructions(program: Program) -> float:
    """A rough count of the program's instructions (for ratios between builds)."""
    total = 0.0
    for call in program.calls:
        out = program.buffers.get(call.outputs[0]) if call.outputs else None
        elements = out.nbytes // out.dtype.itemsize if out is not None else 0
        total += CALL_COST
        if call.macs and "dwconv" in call.kernel:
            total += DEPTHWISE_PER_MAC * call.macs
        elif call.macs and elements and call.op == "Conv":
            n = out.shape[-1] if out.layout == "channels_last" else out.shape[1]
            k = call.macs / elements
            pixel = 0 if "1x1" in call.kernel else PIXEL
            total += elements * (1.05 * k + 14 + (3.2 * k + pixel) / n)
        elif call.macs:
            total += 1.3 * call.macs
        else:
            kind = next((key for key in PER_ELEMENT if key in call.kernel), None)
            total += PER_ELEMENT.get(kind, 4) * elements
    return total


def _peak_nodes(graph: Graph, program: Program, alignment: int) -> set[int]:
    """Indices of the graph nodes whose steps reach the arena's top."""
    steps = len(program.calls)
    top = [0] * steps
    for b in program.buffers.values():
        if b.offset < 0 or not b.nbytes:
            continue
        for s in range(max(b.first, 0), min(max(b.last, b.first), steps - 1) + 1):
            top[s] = max(top[s], b.offset + b.nbytes)
    index = {n.name: i for i, n in enumerate(graph.nodes)}
    found, pending = set(), []
    for step, call in enumerate(program.calls):
        pending.append(top[step] > program.arena_bytes - alignment)
        if call.node in index:  # a permute's step belongs to the node that needed it
            if any(pending):
                found.add(index[call.node])
            pending = []
    return found


def choose_stage(
    graph: Graph,
    program: Program,
    plan: Plan,
    quick: Callable[[Stage | None], Program],
    follow_peak: Callable[[Stage], tuple[Program, Plan]],
    alignment: int,
    core: str,
    budget: float | None,
) -> tuple[Program, Plan]:
    """The untiled ``program`` or a tiled one with a smaller arena within ``budget`` (the
    stages tried are those over the top of the plain build's arena, ``quick(None)``)."""
    plain = quick(None)
    peak = _peak_nodes(graph, plain, alignment)
    if not peak:
        return program, plan
    index = {n.name: i for i, n in enumerate(graph.nodes)}
    lo = min(peak)  # the first layer at the top: the stage starts at most 2 layers before
    stages = [
        s
        for s in candidates(graph, max_layers=5, counts=(4,))
        if lo - 2 <= index[s.nodes[0]] <= lo <= index[s.nodes[-1]]
    ]
    if not stages:
        return program, plan
    fastest = estimate_instructions(program)
    limit = None if budget is None else fastest * (1 + budget)

    def tried(stage: Stage) -> tuple[int, float, Stage] | None:
        trial = quick(stage)
        cost = estimate_instructions(trial)
        return None if limit is not None and cost > limit else (trial.arena_bytes, cost, stage)

    ranked = sorted((r for r in map(tried, stages) if r is not None), key=lambda r: r[:2])
    for _, _, stage in ranked[:SHORTLIST]:
        counts = [k for k in TILE_COUNTS if budget is None or k <= BUDGETED_TILES]
        more = [Stage(stage.nodes, k) for k in counts]
        heights = graph.nodes[index[stage.nodes[-1]]].outputs[0].shape[2]
        ranked += [r for s in more if s.tiles <= heights and (r := tried(s)) is not None]
    best = (program, plan)
    # only stages that lower the plain build's arena are worth the in-place search
    ranked = [r for r in ranked if r[0] < plain.arena_bytes]
    for _, _, stage in sorted(ranked, key=lambda r: r[:2])[:SHORTLIST]:
        tiled, tiled_plan = follow_peak(stage)
        if tiled.arena_bytes < best[0].arena_bytes:
            best = (tiled, tiled_plan)
    return best
