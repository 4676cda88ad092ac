"""Static arena planner: every activation gets a fixed offset in one arena at compile time.

Algorithm (the classic greedy-by-size planner, as in TFLite Micro's GreedyMemoryPlanner):

1. Each buffer lives over an inclusive range of schedule steps ``[first, last]``: written
   by step ``first``, last read by step ``last``.
2. Buffers that share storage (a reshape's output aliases its input; an elementwise op may
   write over an input that dies at that step) are merged into one *group* whose lifetime is
   the union and whose size is the largest member's.
3. Groups are placed largest first (ties: earliest first, then name, so plans are
   deterministic). For each group, the groups already placed that are live at the same time
   leave gaps in the arena; the group goes into the smallest gap that holds it (best fit),
   or at the end of the highest live group when no gap fits. Offsets are aligned.
4. The arena size is the highest end offset.

A plan is checked independently by :func:`check_plan` (no two buffers whose lifetimes overlap
may overlap in memory unless they are declared aliases, or an output declared written in
place over its input lies at least its lag below that input: see overlap.py).

An in-place output joins its input's group at a fixed offset: the group is laid out as one
block, the input ``lag`` bytes above the output, instead of two separate buffers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgec.backends.c.planner_fit import plan_free
from edgec.errors import EdgecError


@dataclass
class Buffer:
    """One arena tensor: byte size, live steps, optional storage alias."""

    name: str
    size: int
    first: int
    last: int
    alias_of: str | None = None
    offset: int = -1
    overlap: tuple[str, int] | None = None  # (input, lag): written in place over input
    view_offset: int = 0  # an alias lying this many bytes into its group's storage
    tiled: bool = False  # the overlap is a tiled stage's (its views are checked one by one)


@dataclass
class Plan:
    arena_bytes: int
    buffers: dict[str, Buffer]
    groups: list[list[str]] = field(default_factory=list)

    def offset(self, name: str) -> int:
        return self.buffers[name].offset


def align(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


def _groups(buffers: dict[str, Buffer]) -> dict[str, list[str]]:
    """Alias root → member names (a buffer aliasing an alias joins the root's group)."""

    def root(name: str) -> str:
        seen = set()
        while buffers[name].alias_of is not None:
            if name in seen:
                raise EdgecError(f"alias cycle through buffer {name!r}")
            seen.add(name)
            name = buffers[name].alias_of
        return name

    groups: dict[str, list[str]] = {}
    for name in buffers:
        groups.setdefault(root(name), []).append(name)
    return groups


def _blocks(
    by_name: dict[str, Buffer], alias_groups: dict[str, list[str]], alignment: int
) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Alias groups joined by in-place pairs into blocks: block root → alias roots, and
    each alias root's offset inside its block (an input sits its lag, aligned, above the
    output written over it)."""
    root_of = {m: r for r, members in alias_groups.items() for m in members}
    edges: dict[str, list[tuple[str, int]]] = {r: [] for r in alias_groups}
    for b in by_name.values():
        if b.overlap is not None:
            out, inp = root_of[b.name], root_of[b.overlap[0]]
            lag = align(b.overlap[1], alignment)
            edges[out].append((inp, lag))
            edges[inp].append((out, -lag))
    blocks: dict[str, list[str]] = {}
    rel: dict[str, int] = {}
    for start in alias_groups:
        if start in rel:
            continue
        rel[start], todo, members = 0, [start], [start]
        while todo:
            here = todo.pop()
            for other, delta in edges[here]:
                if other not in rel:
                    rel[other] = rel[here] + delta
                    todo.append(other)
                    members.append(other)
                elif rel[other] != rel[here] + delta:
                    raise EdgecError(f"in-place buffers around {other!r} do not fit one block")
        low = min(rel[m] for m in members)
        for m in members:
            rel[m] -= low
        blocks[start] = members
    return blocks, rel


def plan_arena(buffers: list[Buffer], alignment: int = 16) -> Plan:
    """Assign offsets to ``buffers`` (in place) and return the plan: the smallest of the
    block layout (each in-place pair exactly at its lag) and, when there are in-place pairs,
    the free layouts (an output anywhere at least its lag below its input, or clear of it;
    planner_fit.py), first fit and best fit, that :func:`check_plan` accepts."""
    by_name = {b.name: b for b in buffers}
    if len(by_name) != len(buffers):
        raise EdgecError("duplicate buffer names in the arena plan")
    alias_groups = _groups(by_name)
    layouts = []
    if any(b.overlap is not None for b in buffers):
        layouts += [plan_free(by_name, alias_groups, alignment, fit) for fit in (True, False)]
    try:
        layouts.append(_plan_blocks(by_name, alias_groups, alignment))
    except EdgecError:  # in-place pairs that do not chain into one block: the free layouts
        if not layouts:
            raise
    # smallest first; a layout check_plan refuses is passed over (the block layout can put
    # two outputs written over one input, both live, at the same place)
    refused: EdgecError | None = None
    for arena, offsets in sorted(layouts, key=lambda layout: layout[0]):
        for root, members in alias_groups.items():
            for m in members:
                by_name[m].offset = offsets[root] + by_name[m].view_offset
        plan = Plan(arena, by_name, [sorted(m) for m in alias_groups.values()])
        try:
            check_plan(plan)
        except EdgecError as error:
            refused = error
            continue
        return plan
    raise refused


def _plan_blocks(
    by_name: dict[str, Buffer], alias_groups: dict[str, list[str]], alignment: int
) -> tuple[int, dict[str, int]]:
    """Greedy by size with each in-place pair laid out as one block: (arena, offset per
    alias root)."""
    blocks, rel = _blocks(by_name, alias_groups, alignment)

    def members(root: str) -> list[Buffer]:
        return [by_name[m] for m in alias_groups[root]]

    # each alias group's extent: (first, last, offset inside its block, size)
    parts = {
        a: (
            min(by_name[m].first for m in alias_groups[a]),
            max(by_name[m].last for m in alias_groups[a]),
            rel[a],
            align(max(m_.view_offset + m_.size for m_ in members(a)), alignment),
        )
        for a in alias_groups
    }
    sizes = {r: max(parts[a][2] + parts[a][3] for a in roots) for r, roots in blocks.items()}
    starts = {r: min(parts[a][0] for a in roots) for r, roots in blocks.items()}
    order = sorted(blocks, key=lambda r: (-sizes[r], starts[r], r))
    placed: list[tuple[int, int, int, int]] = []  # (first, last, offset, size)
    offsets: dict[str, int] = {}
    for root in order:
        members = [parts[a] for a in blocks[root]]
        if len(members) == 1:
            first, last, _, size = members[0]
            live = sorted((o, s) for f, l_, o, s in placed if f <= last and first <= l_ and s > 0)
            offsets[root] = _best_fit(live, size, alignment)
        else:  # an in-place block: its parts are live at different steps
            offsets[root] = _lowest_fit(placed, members, alignment)
        placed += [(f, l_, offsets[root] + r, s) for f, l_, r, s in members]
    arena = max((o + s for _, _, o, s in placed), default=0)
    return arena, {a: offsets[root] + rel[a] for root, roots in blocks.items() for a in roots}


def _lowest_fit(
    placed: list[tuple[int, int, int, int]], parts: list[tuple[int, int, int, int]], alignment: int
) -> int:
    """Lowest offset where no part (first, last, offset in block, size) meets a placed one."""

    def clash(base: int) -> int | None:
        """The offset past the first placed block a part at ``base`` would meet."""
        for f, l_, r, s in parts:
            for pf, pl, po, ps in placed:
                if pf <= l_ and f <= pl and s and ps and po < base + r + s and base + r < po + ps:
                    return align(po + ps - r, alignment)
        return None

    base = 0
    while (past := clash(base)) is not None:
        base = max(past, base + alignment)
    return base


def _best_fit(live: list[tuple[int, int]], size: int, alignment: int) -> int:
    """Smallest gap between live (offset, size) blocks that holds ``size``; else the top."""
    best, best_gap = None, None
    cursor = 0
    for offset, block in live:
        gap = offset - cursor
        if gap >= size and (best_gap is None or gap < best_gap):
            best, best_gap = cursor, gap
        cursor = max(cursor, align(offset + block, alignment))
    return best if best is not None else cursor


def _in_place_ok(plan: Plan, aliased: dict[str, int], inp: Buffer, out: Buffer) -> bool:
    """``out`` (or the buffer it is a view of) is declared written over ``inp`` (or an alias
    of it) and the layout keeps every write below what is still to be read: the input is
    last read by the output's own step and lies at least the lag above it."""
    while out.overlap is None and out.alias_of is not None:  # a tile's view of the output
        out = plan.buffers[out.alias_of]
    if out.overlap is None or out.tiled:  # a tiled stage's views are checked one by one
        return False
    declared, lag = out.overlap
    return (
        aliased[inp.name] == aliased[declared]
        and inp.last <= out.first
        and plan.buffers[declared].offset - out.offset >= lag
    )


def check_plan(plan: Plan) -> None:
    """Raise if two simultaneously live buffers overlap in memory, unless they are aliases or
    an output lies correctly below the input it is written over (overlap.py)."""
    aliased = {name: i for i, members in enumerate(plan.groups) for name in members}
    items = list(plan.buffers.values())
    for i, a in enumerate(items):
        if a.offset < 0 or a.offset + a.size > plan.arena_bytes:
            raise EdgecError(f"buffer {a.name!r} lies outside the arena")
        root = a
        while root.alias_of is not None:
            root = plan.buffers[root.alias_of]
        if a.offset < root.offset or a.offset + a.size > root.offset + root.size:
            raise EdgecError(f"view {a.name!r} reaches outside the buffer {root.name!r}")
        for b in items[i + 1 :]:
            if aliased[a.name] == aliased[b.name]:
                continue
            if _in_place_ok(plan, aliased, a, b) or _in_place_ok(plan, aliased, b, a):
                continue
            in_time = a.first <= b.last and b.first <= a.last
            in_space = a.offset < b.offset + b.size and b.offset < a.offset + a.size
            if in_time and in_space and a.size and b.size:
                raise EdgecError(f"buffers {a.name!r} and {b.name!r} overlap while both live")
