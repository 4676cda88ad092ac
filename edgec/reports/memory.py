"""The arena over time: each buffer of memory.json as a rectangle (bytes × lifetime)."""

from __future__ import annotations

import math
from html import escape

from edgec.reports.svg import axis_label, rect, svg, text


def memory_svg(memory: dict) -> str:
    """Each arena buffer as a rectangle: its bytes (vertical) over its lifetime in steps."""
    steps = memory.get("steps", [])
    tensors = memory["tensors"]
    by_name = {t["buffer"]: t for t in tensors}
    groups: dict[str, list[dict]] = {}
    for t in tensors:  # aliases share their owner's bytes: one rectangle per owner
        groups.setdefault(_owner(t, by_name), []).append(t)
    arena = max(
        [int(memory.get("arena_bytes") or 0)]
        + [by_name[o]["offset"] + by_name[o]["bytes"] for o in groups if by_name[o]["offset"] >= 0]
    )
    columns = len(steps) + 2  # before the first step (inputs) … after the last (outputs)
    col = max(8.0, min(40.0, 900.0 / columns))
    left, top, plot_h = 80.0, 20.0, 260.0
    width, height = left + col * columns + 20, top + plot_h + 50
    body = [
        f'<rect x="{left}" y="{top}" width="{col * columns:.1f}" height="{plot_h}" '
        'fill="#fafafa" stroke="#999"/>'
    ]
    for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = top + frac * plot_h
        body.append(text(left - 6, y + 4, f"{round(frac * arena):,}", "end"))
    body.append(axis_label(top + plot_h / 2, "arena offset (bytes)"))
    body += _tile_bands(memory.get("tiles") or [], left, top, col, plot_h)
    every = max(1, math.ceil(columns / 30))
    for k, step in enumerate(steps):
        x = left + (k + 1) * col
        title = f"step {k}: {step.get('op')} {step.get('node')}"
        body.append(
            f'<rect x="{x:.1f}" y="{top + plot_h:.1f}" width="{col:.1f}" height="18" fill="none">'
            f"<title>{escape(title)}</title></rect>"
        )
        if k % every == 0:
            body.append(text(x + col / 2, top + plot_h + 14, k))
    body.append(text(left + col / 2, top + plot_h + 14, "in"))
    body.append(text(left + col * (columns - 0.5), top + plot_h + 14, "out"))
    body.append(text(left + col * columns / 2, top + plot_h + 36, "schedule step"))
    outside = []
    for n, (owner, members) in enumerate(groups.items()):
        t = by_name[owner]
        if t["offset"] < 0 or arena <= 0:
            outside.append(t)
            continue
        first = min(m["first_step"] for m in members)
        last = max(max(m["last_step"], m["first_step"]) for m in members)
        last = min(max(last, first), len(steps))
        x = left + (first + 1) * col
        y = top + t["offset"] / arena * plot_h
        names = sorted({str(m.get("value")) for m in members})
        title = (
            f"{owner}: {', '.join(names)}\n{t['bytes']:,} B at offset {t['offset']:,}, "
            f"steps {first}…{last}"
        )
        hue = (n * 47) % 360
        body.append(
            rect(
                x + 0.5,
                y,
                (last - first + 1) * col - 1,
                t["bytes"] / arena * plot_h,
                f"hsl({hue},55%,65%)",
                title,
                ' stroke="#555" stroke-width="0.5"',
            )
        )
    note = (
        '<p class="note">Each rectangle is one arena buffer (views sharing its bytes included), '
        f"from the step that writes it to the last that reads it; arena {arena:,} B. "
        "The first column is before step 0 (inputs), the last after the final step (outputs)."
    )
    if outside:
        note += f" {len(outside)} buffer(s) live outside the arena."
    for stage in memory.get("tiles") or []:
        note += (
            f" Steps {stage['first_step']}…{stage['last_step']} run {stage['tiles']} tiles of"
            f" rows (shaded; memory.json tiles): {', '.join(stage['nodes'])}."
        )
    return svg(width, height, body, "memory timeline") + "\n" + note + "</p>"


def _owner(tensor: dict, by_name: dict) -> str:
    seen = set()
    while tensor.get("alias_of") and tensor["alias_of"] in by_name and tensor["buffer"] not in seen:
        seen.add(tensor["buffer"])
        tensor = by_name[tensor["alias_of"]]
    return tensor["buffer"]


def _tile_bands(stages: list[dict], left: float, top: float, col: float, plot_h: float):
    """A shaded band behind each tile's steps of a tiled stage, labelled "tile k/n"."""
    body = []
    for stage in stages:
        starts = list(stage["steps"])
        ends = [s - 1 for s in starts[1:]] + [stage["last_step"]]
        for k, (first, last) in enumerate(zip(starts, ends)):
            x = left + (first + 1) * col
            label = f"tile {k + 1}/{stage['tiles']}"
            rows = stage["rows"][k]
            title = f"{label}: output rows {rows[0]}…{rows[1] - 1}, steps {first}…{last}"
            fill = "#dde8f6" if k % 2 == 0 else "#eef3fa"
            body.append(rect(x, top, (last - first + 1) * col, plot_h, fill, title))
            body.append(text(x + 2, top + 10, label, "start", ' font-size="9"'))
    return body
