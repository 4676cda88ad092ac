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
may overlap in memory unless they are declared aliases).
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass
class Plan:
    arena_bytes: int
    buffers: dict[str, Buffer]
    groups: list[list[str]] = field(default_factory=list)

    def offset(self, name: str) -> int:
        return self.buffers[name].offset


def _align(value: int, alignment: int) -> int:
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


def plan_arena(buffers: list[Buffer], alignment: int = 16) -> Plan:
    """Assign offsets to ``buffers`` (in place) and return the plan."""
    by_name = {b.name: b for b in buffers}
    if len(by_name) != len(buffers):
        raise EdgecError("duplicate buffer names in the arena plan")
    groups = _groups(by_name)
    spans = {
        root: (
            min(by_name[m].first for m in members),
            max(by_name[m].last for m in members),
            _align(max(by_name[m].size for m in members), alignment),
        )
        for root, members in groups.items()
    }
    order = sorted(spans, key=lambda r: (-spans[r][2], spans[r][0], r))
    placed: list[tuple[int, int, int, int]] = []  # (first, last, offset, size)
    offsets: dict[str, int] = {}
    for root in order:
        first, last, size = spans[root]
        live = sorted((o, s) for f, l_, o, s in placed if f <= last and first <= l_ and s > 0)
        offsets[root] = _best_fit(live, size, alignment)
        placed.append((first, last, offsets[root], size))
    for root, members in groups.items():
        for m in members:
            by_name[m].offset = offsets[root]
    arena = max((o + s for _, _, o, s in placed), default=0)
    return Plan(arena, by_name, [sorted(m) for m in groups.values()])


def _best_fit(live: list[tuple[int, int]], size: int, alignment: int) -> int:
    """Smallest gap between live (offset, size) blocks that holds ``size``; else the top."""
    best, best_gap = None, None
    cursor = 0
    for offset, block in live:
        gap = offset - cursor
        if gap >= size and (best_gap is None or gap < best_gap):
            best, best_gap = cursor, gap
        cursor = max(cursor, _align(offset + block, alignment))
    return best if best is not None else cursor


def check_plan(plan: Plan) -> None:
    """Raise if two simultaneously live, non-aliased buffers overlap in memory."""
    aliased = {name: i for i, members in enumerate(plan.groups) for name in members}
    items = list(plan.buffers.values())
    for i, a in enumerate(items):
        if a.offset < 0 or a.offset + a.size > plan.arena_bytes:
            raise EdgecError(f"buffer {a.name!r} lies outside the arena")
        for b in items[i + 1 :]:
            if aliased[a.name] == aliased[b.name]:
                continue
            in_time = a.first <= b.last and b.first <= a.last
            in_space = a.offset < b.offset + b.size and b.offset < a.offset + a.size
            if in_time and in_space and a.size and b.size:
                raise EdgecError(f"buffers {a.name!r} and {b.name!r} overlap while both live")
