"""The readable results of ``edgec validate``: strict ``report.json`` and a self-contained
``report.html`` (summary, per-layer error, confusion matrix, memory timeline as inline SVG).

Everything in the HTML that comes from the model or the data (node, value and op names,
labels) is escaped: an ONNX file is untrusted input and its names can hold markup. The page
has no scripts and loads nothing.
"""

from __future__ import annotations

import json
import math
from html import escape
from pathlib import Path

import numpy as np

from edgec.metrics import top1

# Colours of the plots: within tolerance, bit-exact, diverging, not compared.
OK, EXACT, BAD, SKIPPED = "#3b6ea8", "#2a9d5c", "#c83232", "#b0b0b0"
MAX_MATRIX_CLASSES = 60


# ---- report.json -------------------------------------------------------------------------------
def json_safe(value):
    """A copy of ``value`` that strict JSON can hold: numpy types unwrapped, NaN/±inf as null.

    In a dict, a non-finite entry ``k`` also gets a sibling saying what it was: ``k_exact:
    true`` for an infinite SNR (no error at all), else ``k_nonfinite: "inf"|"-inf"|"nan"``.
    """
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            key = str(key)
            if _nonfinite(item):
                out[key] = None
                if key.startswith("snr") and float(item) > 0:
                    out[f"{key}_exact"] = True
                else:
                    out[f"{key}_nonfinite"] = _nonfinite_name(float(item))
            else:
                out[key] = json_safe(item)
        return out
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if _nonfinite(value) else float(value)
    if isinstance(value, Path):
        return str(value)
    return value


def _nonfinite(value) -> bool:
    return isinstance(value, (float, np.floating)) and not math.isfinite(value)


def _nonfinite_name(value: float) -> str:
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def write_json(report: dict, path: str | Path) -> None:
    """``report.json``, valid for any strict JSON parser (``allow_nan=False``)."""
    Path(path).write_text(dumps(json_safe(report)) + "\n")


def dumps(value, indent: int = 0) -> str:
    """Indented JSON whose lists of plain numbers stay on one line (per-sample predictions)."""
    pad, inner = " " * indent, " " * (indent + 2)
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(k)}: {dumps(v, indent + 2)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and value and any(isinstance(v, (dict, list)) for v in value):
        items = [f"{inner}{dumps(v, indent + 2)}" for v in value]
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    return json.dumps(value, allow_nan=False)


def predictions(
    device: np.ndarray, labels: np.ndarray, float_outputs: np.ndarray | None = None
) -> dict:
    """Top-1 classes per sample (device, float) beside the labels: what a confusion matrix needs."""
    found = {"labels": [int(v) for v in labels], "device": [int(v) for v in top1(device)]}
    if float_outputs is not None:
        found["float"] = [int(v) for v in top1(float_outputs)]
    return found


def load_memory(out_dir: str | Path) -> dict | None:
    path = Path(out_dir) / "memory.json"
    return json.loads(path.read_text()) if path.is_file() else None


# ---- report.html -------------------------------------------------------------------------------
def write_html(report: dict, memory_json: dict | None, path: str | Path) -> None:
    """``report.html``: one file, no external assets."""
    Path(path).write_text(render_html(report, memory_json), encoding="utf-8")


def render_html(report: dict, memory_json: dict | None) -> str:
    sections = [f"<h2>Summary</h2>\n{summary_table(report)}"]
    per_layer = report.get("per_layer")
    if per_layer and per_layer.get("layers"):
        sections.append(
            "<h2>Per-layer error (device vs host reference)</h2>\n"
            f"{per_layer_svg(per_layer)}\n{per_layer_table(per_layer)}"
        )
    found = report.get("predictions") or {}
    if found.get("labels") and found.get("device"):
        sections.append(
            "<h2>Confusion matrix (device, rows: label, columns: prediction)</h2>\n"
            + confusion_section(found["labels"], found["device"])
        )
    if memory_json and memory_json.get("tensors"):
        sections.append(f"<h2>Memory timeline (arena)</h2>\n{memory_svg(memory_json)}")
    title = f"edgec validation: {report.get('target') or 'host'} ({report.get('device')})"
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{escape(title)}</h1>\n" + "\n".join(sections) + "\n</body>\n</html>\n"
    )


STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:0.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:13px}
th{background:#f0f0f0} td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.bad td{background:#fbe4e4} .plot{overflow-x:auto} svg text{font-size:11px;fill:#333}
.note{color:#666;font-size:13px}
"""


def _fmt(value, digits: int = 4, infinite: str = "exact") -> str:
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


STATS = (("max_abs_error", "max |error|"), ("mae", "MAE"), ("rmse", "RMSE"))
STATS += (("l2_relative", "L2-relative error"), ("cosine", "cosine"), ("snr_db", "SNR (dB)"))


def _pct(value) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{100 * value:.2f} %"


def summary_table(report: dict) -> str:
    n = report.get("samples", 0)
    rows = [
        ("samples", _fmt(n)),
        ("device", _fmt(report.get("device"))),
        ("target", _fmt(report.get("target") or "host")),
        ("model SHA-256", _fmt(report.get("model_sha256"))),
    ]
    if report.get("error"):
        rows.append(("stopped early", report["error"]))
    exact = report.get("bit_exact")
    rows.append(
        ("bit-exact vs host reference", "– (float model)" if exact is None else f"{exact}/{n}")
    )
    accuracy = report.get("accuracy") or {}
    for key in ("device", "float"):
        if key in accuracy:
            rows.append((f"accuracy vs labels ({key})", _pct(accuracy[key])))
    if "agreement" in report:
        rows.append(("top-1 agreement, device vs float", _pct(report["agreement"])))
    rows += [(f"{label} vs float", _fmt(report[k])) for k, label in STATS if k in report]
    if exact is None or exact < n:  # bit-exact integer outputs: no error to show
        reference = report.get("vs_reference") or {}
        rows += [
            (f"{label} vs host reference", _fmt(reference[k]))
            for k, label in STATS
            if k in reference
        ]
    for unit in ("instructions", "cycles"):
        if unit in report:
            counts = [_fmt(_int(report[unit].get(k))) for k in ("min", "median", "max")]
            rows.append((f"{unit} / inference (min / median / max)", " / ".join(counts)))
    memory = report.get("memory") or {}
    for key in ("flash_bytes", "arena_bytes", "stack_bytes"):
        if key in memory:
            value = memory[key]
            rows.append((key.replace("_", " "), "–" if value is None else f"{value:,} B"))
    if "first_divergent_layer" in report:
        rows.append(("first divergent layer", report["first_divergent_layer"] or "none"))
    if "wall_seconds" in report:
        rows.append(("wall time", f"{_fmt(report['wall_seconds'])} s"))
    body = "\n".join(
        f"<tr><th>{escape(label)}</th><td>{escape(str(value))}</td></tr>" for label, value in rows
    )
    return f"<table>\n{body}\n</table>"


def _int(value):
    return int(value) if isinstance(value, (int, float)) and math.isfinite(value) else value


def _short(name, limit: int = 48) -> str:
    text = "" if name is None else str(name)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _svg(width: float, height: float, body: list[str], label: str) -> str:
    return (
        f'<div class="plot"><svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'aria-label="{escape(label)}">\n' + "\n".join(body) + "\n</svg></div>"
    )


def _text(x: float, y: float, text, anchor: str = "middle", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>{escape(str(text))}</text>'


def _axis_label(y: float, text: str) -> str:
    """A vertical axis title at the left edge."""
    return _text(14, y, text, extra=f' transform="rotate(-90 14 {y:.1f})"')


def _rect(x, y, w, h, fill: str, title: str, extra: str = "") -> str:
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0.5):.1f}" height="{max(h, 0.5):.1f}" '
        f'fill="{fill}"{extra}><title>{escape(title)}</title></rect>'
    )


# ---- per-layer plot ----------------------------------------------------------------------------
def per_layer_svg(per_layer: dict) -> str:
    """Bars of each step's max |error| in real units on a log scale; exact steps sit at the base."""
    layers = per_layer["layers"]
    count = len(layers)
    bar = max(6.0, min(28.0, 900.0 / max(count, 1)))
    left, top, plot_h = 70.0, 24.0, 200.0
    width, height = left + bar * count + 30, top + plot_h + 60
    errors = [e["max_abs_error"] for e in layers if e.get("compared")]
    errors += [e["tolerance"] for e in layers if e.get("compared") and "tolerance" in e]
    positive = [v for v in errors if v and math.isfinite(v) and v > 0]
    lo = math.floor(math.log10(min(positive))) if positive else -1
    hi = math.ceil(math.log10(max(positive))) if positive else 0
    hi = hi if hi > lo else lo + 1
    base = top + plot_h

    def y_of(v: float) -> float:
        return base - (math.log10(v) - lo) / (hi - lo) * plot_h

    body = [f'<line x1="{left}" y1="{top}" x2="{left}" y2="{base}" stroke="#333"/>']
    if not positive:
        body.append(_text(left + 10, top + plot_h / 2, "no error at any compared step", "start"))
    for decade in range(lo, hi + 1) if positive else ():
        y = y_of(10.0**decade)
        body.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - 30:.1f}" y2="{y:.1f}" stroke="#eee"/>'
        )
        body.append(_text(left - 6, y + 4, f"1e{decade}", "end"))
    body.append(_axis_label(top + plot_h / 2, "max |error|"))
    first = next((e["step"] for e in layers if e.get("diverges")), None)
    every = max(1, math.ceil(count / 40))
    for i, e in enumerate(layers):
        x = left + i * bar + 1
        title = _layer_title(e)
        if not e.get("compared"):
            body.append(_rect(x, base - 6, bar - 2, 6, SKIPPED, title))
        elif e["max_abs_error"] == 0:
            body.append(_rect(x, base - 4, bar - 2, 4, EXACT, title))
        else:
            y = _bar_top(e["max_abs_error"], y_of, top)
            body.append(_rect(x, y, bar - 2, base - y, BAD if e.get("diverges") else OK, title))
        if e.get("compared") and e.get("tolerance"):
            y = y_of(e["tolerance"])
            body.append(
                f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{x + bar - 2:.1f}" y2="{y:.1f}" '
                'stroke="#222" stroke-dasharray="2,1"/>'
            )
        if i % every == 0:
            body.append(_text(x + bar / 2 - 1, base + 14, e["step"]))
        if e["step"] == first:
            y = _bar_top(e["max_abs_error"], y_of, top) if e["max_abs_error"] != 0 else base - 4
            body.append(_text(x + bar / 2 - 1, y - 4, "▼", extra=f' style="fill:{BAD}"'))
    body.append(_text(left + bar * count / 2, base + 48, "schedule step"))
    legend = (
        f'<p class="note">Bars: largest |device − reference| over {per_layer.get("samples")} '
        "samples, in real units (integer steps dequantized). Green: bit-exact; red: diverging "
        "(integer: any difference; float: above the dashed tolerance); grey: not compared. "
        + (f"▼ first divergence: step {first}." if first is not None else "No step diverges.")
        + "</p>"
    )
    return _svg(width, height, body, "per-layer error") + "\n" + legend


def _bar_top(error, y_of, top: float) -> float:
    """Where a bar ends; NaN, infinite or missing errors (null in report.json) fill the plot."""
    if error is None or not math.isfinite(error):
        return top
    return max(top, y_of(error))


def _layer_title(e: dict) -> str:
    parts = [f"step {e['step']}: {e.get('op')} {e.get('node')}", f"value {e.get('value')}"]
    if e.get("compared"):
        parts.append(f"max |error| {_fmt(e['max_abs_error'])}, SNR {_fmt(e.get('snr_db'))} dB")
        parts.append(f"exact samples {e['exact_samples']}")
    else:
        parts.append(f"not compared: {e.get('reason')}")
    return "\n".join(parts)


def per_layer_table(per_layer: dict) -> str:
    samples = per_layer.get("samples", 0)
    head = (
        "<tr><th>step</th><th>op</th><th>node</th><th>kernel</th><th>shape</th>"
        "<th>exact samples</th><th>mismatched elements</th><th>max |error|</th>"
        "<th>max LSB</th><th>SNR (dB)</th><th>status</th></tr>"
    )
    rows = []
    for e in per_layer["layers"]:
        if not e.get("compared"):
            status = f"not compared: {e.get('reason')}"
        else:
            status = "diverges" if e.get("diverges") else "ok"
        cells = [
            (e["step"], True),
            (e.get("op"), False),
            (e.get("node"), False),
            (e.get("kernel"), False),
            ("×".join(str(d) for d in e.get("shape") or []), False),
            (f"{e['exact_samples']}/{samples}" if e.get("compared") else "–", True),
            (_fmt(e.get("mismatched_elements")), True),
            (_fmt(e.get("max_abs_error")), True),
            (_fmt(e.get("max_abs_error_lsb")), True),
            (_fmt(e.get("snr_db")), True),
            (status, False),
        ]
        tds = "".join(
            f'<td class="num">{escape(str(v))}</td>'
            if num
            else f'<td title="{escape(str(v))}">{escape(_short(v))}</td>'
            for v, num in cells
        )
        row_class = ' class="bad"' if e.get("diverges") else ""
        rows.append(f"<tr{row_class}>{tds}</tr>")
    return "<table>\n" + head + "\n" + "\n".join(rows) + "\n</table>"


# ---- confusion matrix --------------------------------------------------------------------------
def confusion_section(labels: list[int], predicted: list[int]) -> str:
    classes = sorted(set(labels) | set(predicted))
    index = {c: i for i, c in enumerate(classes)}
    matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for true, pred in zip(labels, predicted):
        matrix[index[true], index[pred]] += 1
    if len(classes) > MAX_MATRIX_CLASSES:
        return _top_confusions(classes, matrix)
    return confusion_svg(classes, matrix)


def confusion_svg(classes: list, matrix: np.ndarray) -> str:
    """Cells shaded by the share of the row (label); counts written when they fit."""
    k = len(classes)
    cell = max(8.0, min(36.0, 480.0 / k))
    left, top = 60.0, 40.0
    width, height = left + cell * k + 20, top + cell * k + 20
    totals = matrix.sum(axis=1)
    body = [
        _text(left + cell * k / 2, 14, "predicted"),
        _axis_label(top + cell * k / 2, "label"),
    ]
    every = max(1, math.ceil(14 / cell))
    for i, c in enumerate(classes):
        if i % every == 0:
            body.append(_text(left + (i + 0.5) * cell, top - 6, c))
            body.append(_text(left - 6, top + (i + 0.6) * cell, c, "end"))
    for r in range(k):
        for c in range(k):
            count = int(matrix[r, c])
            share = count / totals[r] if totals[r] else 0.0
            shade = int(255 - 190 * share)
            fill = f"rgb({shade},{shade + (255 - shade) // 3},255)"
            stroke = ' stroke="#2a9d5c" stroke-width="1.5"' if r == c else ' stroke="#ddd"'
            title = f"label {classes[r]}, predicted {classes[c]}: {count}"
            x, y = left + c * cell, top + r * cell
            body.append(_rect(x, y, cell, cell, fill, title, stroke))
            if count and cell >= 18:
                color = ' style="fill:#fff"' if share > 0.6 else ""
                body.append(_text(x + cell / 2, y + cell / 2 + 4, count, extra=color))
    correct = int(np.trace(matrix))
    note = f'<p class="note">{correct} of {int(matrix.sum())} on the diagonal.</p>'
    return _svg(width, height, body, "confusion matrix") + "\n" + note


def _top_confusions(classes: list, matrix: np.ndarray, limit: int = 20) -> str:
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    pairs = sorted(
        ((int(off[r, c]), classes[r], classes[c]) for r, c in zip(*np.nonzero(off))),
        reverse=True,
    )[:limit]
    rows = "".join(
        f'<tr><td>{escape(str(t))}</td><td>{escape(str(p))}</td><td class="num">{n}</td></tr>'
        for n, t, p in pairs
    )
    return (
        f'<p class="note">{len(classes)} classes: the most frequent confusions.</p>'
        f"<table><tr><th>label</th><th>predicted</th><th>samples</th></tr>{rows}</table>"
    )


# ---- memory timeline ---------------------------------------------------------------------------
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
        body.append(_text(left - 6, y + 4, f"{round(frac * arena):,}", "end"))
    body.append(_axis_label(top + plot_h / 2, "arena offset (bytes)"))
    every = max(1, math.ceil(columns / 30))
    for k, step in enumerate(steps):
        x = left + (k + 1) * col
        title = f"step {k}: {step.get('op')} {step.get('node')}"
        body.append(
            f'<rect x="{x:.1f}" y="{top + plot_h:.1f}" width="{col:.1f}" height="18" fill="none">'
            f"<title>{escape(title)}</title></rect>"
        )
        if k % every == 0:
            body.append(_text(x + col / 2, top + plot_h + 14, k))
    body.append(_text(left + col / 2, top + plot_h + 14, "in"))
    body.append(_text(left + col * (columns - 0.5), top + plot_h + 14, "out"))
    body.append(_text(left + col * columns / 2, top + plot_h + 36, "schedule step"))
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
            _rect(
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
    return _svg(width, height, body, "memory timeline") + "\n" + note + "</p>"


def _owner(tensor: dict, by_name: dict) -> str:
    seen = set()
    while tensor.get("alias_of") and tensor["alias_of"] in by_name and tensor["buffer"] not in seen:
        seen.add(tensor["buffer"])
        tensor = by_name[tensor["alias_of"]]
    return tensor["buffer"]
