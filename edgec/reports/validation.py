"""The validation report (``edgec validate``): summary, per-layer error, per-layer
instruction profile, per-sample instruction counts, confusion matrix, memory timeline."""

from __future__ import annotations

import math
from html import escape

import numpy as np

from edgec.reports.html import as_int, fmt, page, pct, section, short
from edgec.reports.memory import memory_svg
from edgec.reports.svg import (
    BAD,
    EXACT,
    OK,
    SKIPPED,
    axis_label,
    bar_chart,
    histogram,
    rect,
    svg,
    text,
)

MAX_MATRIX_CLASSES = 60


def render_html(report: dict, memory_json: dict | None) -> str:
    sections = [section("Summary", summary_table(report))]
    per_layer = report.get("per_layer")
    if per_layer and per_layer.get("layers"):
        sections.append(
            "<h2>Per-layer error (device vs host reference)</h2>\n"
            f"{per_layer_svg(per_layer)}\n{per_layer_table(per_layer)}"
        )
        if any(e.get("vs_float") for e in per_layer["layers"]):
            sections.append(
                section("Per-layer error against the float model", float_svg(per_layer))
            )
    profile = report.get("profile")
    if profile:
        sections.append(section("Instructions per layer (--profile)", profile_svg(profile)))
    unit = next(
        (u for u in ("instructions", "cycles", "nanoseconds") if f"{u}_per_sample" in report), None
    )
    if unit:
        counts = report[f"{unit}_per_sample"]
        sections.append(
            section(
                f"{unit.capitalize()} per inference, over the samples",
                histogram(counts, f"{unit} per sample", unit),
                f"{len(counts)} samples; min {min(counts):,}, max {max(counts):,}.",
            )
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
    return page(title, sections)


def profile_svg(rows: list[dict]) -> str:
    """Each schedule step's count on one inference, by step (hover: op, node, kernel, /MAC)."""
    unit = next(u for u in ("instructions", "cycles") if u in rows[0])
    titles = [
        f"step {r['step']}: {r['op']} {r['node']}\nkernel {r['kernel']}, {r['macs']:,} MACs"
        + (f", {r['per_mac']:.2f}/MAC" if r.get("per_mac") else "")
        for r in rows
    ]
    labels = [str(r["step"]) for r in rows]
    return bar_chart(
        labels, {unit: [r[unit] for r in rows]}, "instructions per layer", unit, titles
    )


def float_svg(per_layer: dict) -> str:
    """SNR (dB) of each compared step's dequantized device output against the same tensor of
    the float model in onnxruntime (steps without a float twin are left out)."""
    rows = [e for e in per_layer["layers"] if e.get("vs_float")]
    labels = [str(e["step"]) for e in rows]
    snr = [min(max(e["vs_float"]["snr_db"] or 0.0, 0.0), 120.0) for e in rows]
    titles = [
        f"step {e['step']}: {e.get('op')} {e.get('node')}\nSNR {fmt(e['vs_float']['snr_db'])} dB, "
        f"max |error| {fmt(e['vs_float']['max_abs_error'])}"
        for e in rows
    ]
    return bar_chart(labels, {"SNR": snr}, "per-layer SNR against float", "dB", titles)


STATS = (("max_abs_error", "max |error|"), ("mae", "MAE"), ("rmse", "RMSE"))
STATS += (("l2_relative", "L2-relative error"), ("cosine", "cosine"), ("snr_db", "SNR (dB)"))


def summary_table(report: dict) -> str:
    n = report.get("samples", 0)
    rows = [
        ("samples", fmt(n)),
        ("device", fmt(report.get("device"))),
        ("target", fmt(report.get("target") or "host")),
        ("model SHA-256", fmt(report.get("model_sha256"))),
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
            rows.append((f"accuracy vs labels ({key})", pct(accuracy[key])))
    if "agreement" in report:
        rows.append(("top-1 agreement, device vs float", pct(report["agreement"])))
    rows += [(f"{label} vs float", fmt(report[k])) for k, label in STATS if k in report]
    if exact is None or exact < n:  # bit-exact integer outputs: no error to show
        reference = report.get("vs_reference") or {}
        rows += [
            (f"{label} vs host reference", fmt(reference[k]))
            for k, label in STATS
            if k in reference
        ]
    for unit in ("instructions", "cycles"):
        if unit in report:
            counts = [fmt(as_int(report[unit].get(k))) for k in ("min", "median", "max")]
            rows.append((f"{unit} / inference (min / median / max)", " / ".join(counts)))
    memory = report.get("memory") or {}
    for key in ("flash_bytes", "arena_bytes", "stack_bytes", "firmware_ram_bytes"):
        if key in memory:
            value = memory[key]
            rows.append((key.replace("_", " "), "–" if value is None else f"{value:,} B"))
    if "first_divergent_layer" in report:
        rows.append(("first divergent layer", report["first_divergent_layer"] or "none"))
    if "wall_seconds" in report:
        rows.append(("wall time", f"{fmt(report['wall_seconds'])} s"))
    body = "\n".join(
        f"<tr><th>{escape(label)}</th><td>{escape(str(value))}</td></tr>" for label, value in rows
    )
    return f"<table>\n{body}\n</table>"


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
        body.append(text(left + 10, top + plot_h / 2, "no error at any compared step", "start"))
    for decade in range(lo, hi + 1) if positive else ():
        y = y_of(10.0**decade)
        body.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - 30:.1f}" y2="{y:.1f}" stroke="#eee"/>'
        )
        body.append(text(left - 6, y + 4, f"1e{decade}", "end"))
    body.append(axis_label(top + plot_h / 2, "max |error|"))
    first = next((e["step"] for e in layers if e.get("diverges")), None)
    every = max(1, math.ceil(count / 40))
    for i, e in enumerate(layers):
        x = left + i * bar + 1
        title = _layer_title(e)
        if not e.get("compared"):
            body.append(rect(x, base - 6, bar - 2, 6, SKIPPED, title))
        elif e["max_abs_error"] == 0:
            body.append(rect(x, base - 4, bar - 2, 4, EXACT, title))
        else:
            y = _bar_top(e["max_abs_error"], y_of, top)
            body.append(rect(x, y, bar - 2, base - y, BAD if e.get("diverges") else OK, title))
        if e.get("compared") and e.get("tolerance"):
            y = y_of(e["tolerance"])
            body.append(
                f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{x + bar - 2:.1f}" y2="{y:.1f}" '
                'stroke="#222" stroke-dasharray="2,1"/>'
            )
        if i % every == 0:
            body.append(text(x + bar / 2 - 1, base + 14, e["step"]))
        if e["step"] == first:
            y = _bar_top(e["max_abs_error"], y_of, top) if e["max_abs_error"] != 0 else base - 4
            body.append(text(x + bar / 2 - 1, y - 4, "▼", extra=f' style="fill:{BAD}"'))
    body.append(text(left + bar * count / 2, base + 48, "schedule step"))
    legend = (
        f'<p class="note">Bars: largest |device − reference| over {per_layer.get("samples")} '
        "samples, in real units (integer steps dequantized). Green: bit-exact; red: diverging "
        "(integer: any difference; float: above the dashed tolerance); grey: not compared. "
        + (f"▼ first divergence: step {first}." if first is not None else "No step diverges.")
        + "</p>"
    )
    return svg(width, height, body, "per-layer error") + "\n" + legend


def _bar_top(error, y_of, top: float) -> float:
    """Where a bar ends; NaN, infinite or missing errors (null in report.json) fill the plot."""
    if error is None or not math.isfinite(error):
        return top
    return max(top, y_of(error))


def _layer_title(e: dict) -> str:
    parts = [f"step {e['step']}: {e.get('op')} {e.get('node')}", f"value {e.get('value')}"]
    if e.get("compared"):
        parts.append(f"max |error| {fmt(e['max_abs_error'])}, SNR {fmt(e.get('snr_db'))} dB")
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
            (fmt(e.get("mismatched_elements")), True),
            (fmt(e.get("max_abs_error")), True),
            (fmt(e.get("max_abs_error_lsb")), True),
            (fmt(e.get("snr_db")), True),
            (status, False),
        ]
        tds = "".join(
            f'<td class="num">{escape(str(v))}</td>'
            if num
            else f'<td title="{escape(str(v))}">{escape(short(v))}</td>'
            for v, num in cells
        )
        row_class = ' class="bad"' if e.get("diverges") else ""
        rows.append(f"<tr{row_class}>{tds}</tr>")
    return "<table>\n" + head + "\n" + "\n".join(rows) + "\n</table>"


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
        text(left + cell * k / 2, 14, "predicted"),
        axis_label(top + cell * k / 2, "label"),
    ]
    every = max(1, math.ceil(14 / cell))
    for i, c in enumerate(classes):
        if i % every == 0:
            body.append(text(left + (i + 0.5) * cell, top - 6, c))
            body.append(text(left - 6, top + (i + 0.6) * cell, c, "end"))
    for r in range(k):
        for c in range(k):
            count = int(matrix[r, c])
            share = count / totals[r] if totals[r] else 0.0
            shade = int(255 - 190 * share)
            fill = f"rgb({shade},{shade + (255 - shade) // 3},255)"
            stroke = ' stroke="#2a9d5c" stroke-width="1.5"' if r == c else ' stroke="#ddd"'
            title = f"label {classes[r]}, predicted {classes[c]}: {count}"
            x, y = left + c * cell, top + r * cell
            body.append(rect(x, y, cell, cell, fill, title, stroke))
            if count and cell >= 18:
                color = ' style="fill:#fff"' if share > 0.6 else ""
                body.append(text(x + cell / 2, y + cell / 2 + 4, count, extra=color))
    correct = int(np.trace(matrix))
    note = f'<p class="note">{correct} of {int(matrix.sum())} on the diagonal.</p>'
    return svg(width, height, body, "confusion matrix") + "\n" + note


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
