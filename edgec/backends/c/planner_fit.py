"""The free layout of in-place pairs: an output written over its input may start anywhere
at least its lag below the input (or lie clear of it), not only exactly at the lag.

Why the direction: the kernel writes its output forward while reading its input forward,
and every byte it writes must lie below every input byte still to be read (overlap.py). With
the input at ``in`` and the output at ``out``, that holds whenever ``in - out >= lag``; an
output placed higher would overwrite input not yet read, unless it lies wholly above the
input. So for an output ``X`` over a placed input ``P`` the offsets ruled out are the open
interval ``(P - lag, P + size(P))``, narrower than a plain neighbour's
``(P - size(X), P + size(P))``; for an input ``X`` under a placed output ``P`` it is
``(P - size(X), P + lag)``.

Groups are placed largest first (as planner.py does); each takes the feasible aligned offset
that does not raise the arena's top if one exists, either the lowest (first fit) or the one
in the tightest room (best fit), else the one that raises it least.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edgec.backends.c.planner import Buffer

Group = tuple[int, int, int]  # first step, last step, aligned size


def _up(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment


def _down(value: int, alignment: int) -> int:
    return value // alignment * alignment


def in_place_lags(
    by_name: dict[str, Buffer], alias_groups: dict[str, list[str]], extents: dict[str, Group]
) -> dict[tuple[str, str], int]:
    """(output root, input root) -> lag, for the declared pairs whose input group is last
    read at the output's own step, or a tiled stage's (whose views check_plan checks one by
    one); any other pair is planned as two plain neighbours."""
    root_of = {m: r for r, members in alias_groups.items() for m in members}
    lags: dict[tuple[str, str], int] = {}
    for b in by_name.values():
        if b.overlap is None:
            continue
        out, inp = root_of[b.name], root_of[b.overlap[0]]
        timely = extents[inp][1] <= b.first and extents[out][0] == b.first
        if out != inp and (timely or b.tiled):
            lags[(out, inp)] = max(lags.get((out, inp), 0), b.overlap[1])
    return lags


def plan_free(
    by_name: dict[str, Buffer],
    alias_groups: dict[str, list[str]],
    alignment: int,
    best_fit: bool = True,
) -> tuple[int, dict[str, int]]:
    """(arena bytes, offset per alias root) with in-place pairs placed freely."""
    extents: dict[str, Group] = {
        root: (
            min(by_name[m].first for m in members),
            max(by_name[m].last for m in members),
            _up(max(by_name[m].view_offset + by_name[m].size for m in members), alignment),
        )
        for root, members in alias_groups.items()
    }
    lags = in_place_lags(by_name, alias_groups, extents)
    order = sorted(extents, key=lambda r: (-extents[r][2], extents[r][0], r))
    offsets: dict[str, int] = {}
    top = 0
    for root in order:
        first, last, size = extents[root]
        if size == 0:
            offsets[root] = 0
            continue
        banned = []  # open intervals of offsets ruled out
        for other, at in offsets.items():
            f, l_, s = extents[other]
            if s == 0 or f > last or first > l_:
                continue
            if (root, other) in lags:  # root written over other
                banned.append((at - lags[(root, other)], at + s))
            elif (other, root) in lags:  # other written over root
                banned.append((at - size, at + lags[(other, root)]))
            else:
                banned.append((at - size, at + s))
        offsets[root] = _choose(banned, size, top, alignment, best_fit)
        top = max(top, offsets[root] + size)
    return top, offsets


def _choose(
    banned: list[tuple[int, int]], size: int, top: int, alignment: int, best_fit: bool
) -> int:
    """The offset for a group of ``size`` bytes among the banned open intervals."""
    candidates = {0}
    for lo, hi in banned:
        candidates.add(_up(hi, alignment))
        if lo >= 0:
            candidates.add(_down(lo, alignment))
    feasible = sorted(o for o in candidates if o >= 0 and not any(lo < o < hi for lo, hi in banned))

    def room(o: int) -> int:  # bytes free above o before the next ruled-out offset
        return min((lo - o for lo, _ in banned if lo >= o), default=top + size) + size

    inside = [o for o in feasible if o + size <= top]
    if inside:
        return min(inside, key=lambda o: (room(o), o)) if best_fit else inside[0]
    return min(feasible, key=lambda o: o + size)
