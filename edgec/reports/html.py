"""The page around a report's charts: one self-contained HTML file (inline CSS, no scripts),
and the formatting of its numbers."""

from __future__ import annotations

import math
from html import escape

import numpy as np

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:0.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:13px}
th{background:#f0f0f0} td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.bad td{background:#fbe4e4} .plot{overflow-x:auto} svg text{font-size:11px;fill:#333}
.note{color:#666;font-size:13px}
"""


def page(title: str, sections: list[str]) -> str:
    """A whole HTML document: ``sections`` are trusted fragments built by this package."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{escape(title)}</h1>\n" + "\n".join(sections) + "\n</body>\n</html>\n"
    )


def section(heading: str, body: str, note: str = "") -> str:
    paragraph = f'\n<p class="note">{escape(note)}</p>' if note else ""
    return f"<h2>{escape(heading)}</h2>\n{body}{paragraph}"


def table(head: list[str], rows: list[list], numeric: set[int] = frozenset()) -> str:
    """Rows of cells (escaped); columns in ``numeric`` right-aligned."""
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "\n".join(
        "<tr>"
        + "".join(
            f'<td class="num">{escape(fmt(v))}</td>'
            if i in numeric
            else f"<td>{escape(fmt(v))}</td>"
            for i, v in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table>\n<tr>{th}</tr>\n{body}\n</table>"


def fmt(value, digits: int = 4, infinite: str = "exact") -> str:
    if value is None:
        return "–"
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return infinite if value > 0 else "-inf"
        return f"{value:.{digits}g}"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    return str(value)


def pct(value) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{100 * value:.2f} %"


def as_int(value):
    return int(value) if isinstance(value, (int, float)) and math.isfinite(value) else value


def short(name, limit: int = 48) -> str:
    text = "" if name is None else str(name)
    return text if len(text) <= limit else text[: limit - 1] + "…"
