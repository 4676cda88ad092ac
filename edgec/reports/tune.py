"""``OUT/tune.html``: the candidates of ``edgec tune`` as Pareto plots (the metric against
flash, RAM and instructions, budgets drawn) and a table, the best one marked."""

from __future__ import annotations

from edgec.reports.html import fmt, page, section, table
from edgec.reports.svg import BAD, EXACT, OK, SKIPPED, scatter

AXES = (
    ("flash_bytes", "flash (bytes)"),
    ("ram_bytes", "RAM: arena + stack (bytes)"),
    ("instructions", "instructions per inference"),
)


def render_tune_report(summary: dict) -> str:
    metric = summary["metric"]
    key = {"accuracy": "accuracy", "agreement": "agreement", "snr": "snr_db"}[metric]
    budgets = summary.get("budgets") or {}
    best = (summary.get("best") or {}).get("key")
    full = [c for c in summary["candidates"] if c["stage"] == "full"]
    subset = [c for c in summary["candidates"] if c["stage"] == "subset"]
    shown = {c["key"]: c for c in subset} | {c["key"]: c for c in full}  # full figures win
    sections = [section("Search", table(["", ""], _summary_rows(summary, len(subset), len(full))))]
    for field, label in AXES:
        points = [
            (c[field], c[key], _colour(c, best), _title(c, metric, key))
            for c in shown.values()
            if c.get(field) is not None and c.get(key) is not None
        ]
        if points:
            sections.append(
                section(
                    f"{metric} against {label}",
                    scatter(points, f"{metric} vs {field}", label, metric, budgets.get(field)),
                    "Green: the best candidate; blue: within every budget; red: over a budget; "
                    "grey: only the first stage's samples. The dashed line is the budget.",
                )
            )
    head = [
        "candidate",
        "stage",
        "samples",
        "flash",
        "RAM",
        "instructions",
        metric,
        "bit-exact",
        "breaks",
    ]
    rows = [
        [
            c["description"],
            c["stage"],
            c["samples"],
            c["flash_bytes"],
            c["ram_bytes"],
            c["instructions"],
            c[key],
            c["bit_exact"],
            c.get("error") or ", ".join(c["breaks"]) or "–",
        ]
        for c in summary["candidates"]
    ]
    sections.append(section("Every candidate", table(head, rows, numeric={2, 3, 4, 5, 6, 7})))
    return page(f"edgec tune: {summary['model']}", sections)


def _summary_rows(summary: dict, first: int, second: int) -> list[list]:
    best = summary.get("best")
    rows = [
        ["model", summary["model"]],
        ["target", summary.get("target") or "default"],
        ["metric", summary["metric"]],
        ["budgets", ", ".join(f"{k} <= {v:,}" for k, v in summary["budgets"].items()) or "none"],
        ["candidates", f"{first} on the first samples, {second} on all"],
    ]
    if best:
        rows.append(["best", f"{best['description'] if 'description' in best else best['key']}"])
    return rows


def _colour(c: dict, best: str | None) -> str:
    if c["key"] == best and c["stage"] == "full":
        return EXACT
    if c["stage"] == "subset":
        return SKIPPED
    return BAD if c["breaks"] or c.get("error") else OK


def _title(c: dict, metric: str, key: str) -> str:
    return (
        f"{c['description']} ({c['stage']}, {c['samples']} samples)\n"
        f"{metric} {fmt(c[key])}, flash {fmt(c['flash_bytes'])} B, RAM {fmt(c['ram_bytes'])} B, "
        f"{fmt(c['instructions'])} instructions"
    )
