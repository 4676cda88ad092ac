"""SVG building blocks and the generic charts the reports draw (bars, histograms, scatter).

Every chart is a function of plain numbers and labels returning an ``<svg>`` fragment; labels
are escaped here. Hover titles (``<title>``) carry the exact values, readable without
JavaScript.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

# Colours: within tolerance, bit-exact, diverging, not compared; a palette for series.
OK, EXACT, BAD, SKIPPED = "#3b6ea8", "#2a9d5c", "#c83232", "#b0b0b0"
PALETTE = ("#3b6ea8", "#e0923a", "#2a9d5c", "#8e5bb5", "#c83232", "#6b8e23", "#b0b0b0")


def svg(width: float, height: float, body: list[str], label: str) -> str:
    return (
        f'<div class="plot"><svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'aria-label="{escape(label)}">\n' + "\n".join(body) + "\n</svg></div>"
    )


def text(x: float, y: float, value, anchor: str = "middle", extra: str = "") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>{escape(str(value))}</text>'
    )


def axis_label(y: float, value: str) -> str:
    """A vertical axis title at the left edge."""
    return text(14, y, value, extra=f' transform="rotate(-90 14 {y:.1f})"')


def rect(x, y, w, h, fill: str, title: str, extra: str = "") -> str:
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0.5):.1f}" height="{max(h, 0.5):.1f}" '
        f'fill="{fill}"{extra}><title>{escape(title)}</title></rect>'
    )


def line(x1, y1, x2, y2, stroke: str = "#333", extra: str = "") -> str:
    return (
        f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}"{extra}/>'
    )


def nice_max(value: float) -> float:
    """The axis top: 1, 2 or 5 times a power of ten, at least ``value``."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= value)


def legend(series: Sequence[str], x: float, y: float) -> list[str]:
    body = []
    for i, name in enumerate(series):
        body.append(rect(x, y + 16 * i, 10, 10, PALETTE[i % len(PALETTE)], name))
        body.append(text(x + 14, y + 16 * i + 9, name, "start"))
    return body


def bar_chart(
    labels: Sequence[str],
    series: dict[str, Sequence[float]],
    label: str,
    unit: str,
    titles: Sequence[str] | None = None,
) -> str:
    """Vertical bars, one per label, stacked by series (e.g. weight bytes by storage format)."""
    count = len(labels)
    names = list(series)
    totals = [sum(series[s][i] for s in names) for i in range(count)]
    top_value = nice_max(max(totals, default=0))
    bar = max(6.0, min(32.0, 900.0 / max(count, 1)))
    left, top, plot_h = 80.0, 20.0, 200.0
    width = left + bar * count + (150 if len(names) > 1 else 30)
    height = top + plot_h + 60
    base = top + plot_h
    body = [line(left, top, left, base)]
    for frac in (0.0, 0.5, 1.0):
        y = base - frac * plot_h
        body.append(line(left, y, left + bar * count, y, "#eee"))
        body.append(text(left - 6, y + 4, _short_number(frac * top_value), "end"))
    body.append(axis_label(top + plot_h / 2, unit))
    every = max(1, math.ceil(count / 30))
    for i in range(count):
        x, y = left + i * bar + 1, base
        for k, name in enumerate(names):
            value = series[name][i]
            if value <= 0:
                continue
            h = value / top_value * plot_h
            y -= h
            title = (titles[i] if titles else labels[i]) + f"\n{name}: {value:,.6g} {unit}"
            body.append(rect(x, y, bar - 2, h, PALETTE[k % len(PALETTE)], title))
        if i % every == 0:
            body.append(text(x + bar / 2 - 1, base + 14, labels[i]))
    if len(names) > 1:
        body += legend(names, left + bar * count + 16, top)
    return svg(width, height, body, label)


def histogram(values: Sequence[float], label: str, unit: str, bins: int = 30) -> str:
    """How many values fall in each of ``bins`` equal ranges; one value: a single bar."""
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    span = (hi - lo) or 1.0
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - lo) / span * bins))] += 1
    top_count = nice_max(max(counts, default=1))
    left, top, plot_h, bar = 60.0, 20.0, 160.0, 18.0
    width, height = left + bar * bins + 30, top + plot_h + 56
    base = top + plot_h
    body = [line(left, top, left, base), line(left, base, left + bar * bins, base)]
    body.append(text(left - 6, top + 4, f"{top_count:g}", "end"))
    body.append(text(left - 6, base + 4, "0", "end"))
    body.append(axis_label(top + plot_h / 2, "samples"))
    for i, count in enumerate(counts):
        start, end = lo + span * i / bins, lo + span * (i + 1) / bins
        h = count / top_count * plot_h
        title = f"{start:,.0f} – {end:,.0f} {unit}: {count} samples"
        body.append(rect(left + i * bar + 1, base - h, bar - 2, h, OK, title))
    body.append(text(left, base + 16, f"{lo:,.0f}", "start"))
    body.append(text(left + bar * bins, base + 16, f"{hi:,.0f}", "end"))
    body.append(text(left + bar * bins / 2, base + 40, unit))
    return svg(width, height, body, label)


def scatter(
    points: Sequence[tuple[float, float, str, str]],
    label: str,
    x_unit: str,
    y_unit: str,
    x_limit: float | None = None,
) -> str:
    """Points (x, y, colour, title); a dashed vertical budget line at ``x_limit``."""
    xs = [p[0] for p in points] + ([x_limit] if x_limit else [])
    ys = [p[1] for p in points]
    x_top = nice_max(max(xs, default=1) * 1.05)
    y_lo, y_hi = min(ys, default=0.0), max(ys, default=1.0)
    pad = (y_hi - y_lo) * 0.1 or 0.01
    y_lo, y_hi = y_lo - pad, y_hi + pad
    left, top, plot_w, plot_h = 70.0, 20.0, 420.0, 240.0
    base = top + plot_h
    body = [line(left, top, left, base), line(left, base, left + plot_w, base)]

    def at(x: float, y: float) -> tuple[float, float]:
        return left + x / x_top * plot_w, base - (y - y_lo) / (y_hi - y_lo) * plot_h

    for frac in (0.0, 0.5, 1.0):
        body.append(text(left + frac * plot_w, base + 16, _short_number(frac * x_top)))
        y_value = y_lo + frac * (y_hi - y_lo)
        body.append(text(left - 6, base - frac * plot_h + 4, f"{y_value:.3g}", "end"))
    body.append(text(left + plot_w / 2, base + 40, x_unit))
    body.append(axis_label(top + plot_h / 2, y_unit))
    if x_limit:
        x, _ = at(x_limit, y_lo)
        body.append(line(x, top, x, base, BAD, ' stroke-dasharray="4,3"'))
        body.append(text(x + 4, top + 10, "budget", "start", f' style="fill:{BAD}"'))
    for x_value, y_value, colour, title in points:
        x, y = at(x_value, y_value)
        body.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{colour}" fill-opacity="0.8">'
            f"<title>{escape(title)}</title></circle>"
        )
    return svg(left + plot_w + 30, base + 56, body, label)


def _short_number(value: float) -> str:
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}"
