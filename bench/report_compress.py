"""BENCHMARKS.md's compression rows measured against another row (bench/compress.py's ``vs``)."""

from __future__ import annotations

from bench.report_float import _table


def _signed(value: float) -> str:
    return f"{value:+.2f}".replace("-", "−")


def compress_ratio_section(res: dict) -> list[str]:
    """The rows measured against another row of the same run (``vs``: 4-bit weights against
    int8, clustered storage against the same weights stored dense)."""
    rows = []
    for model in ("kws", "ad01"):
        for name, r in (res.get(model) or {}).items():
            vs = r.get("vs")
            if not vs:
                continue
            points = vs.get("accuracy_points")
            rows.append(
                [
                    f"{model}: {name}",
                    vs["row"],
                    f"{vs['flash']:.3f}",
                    f"{vs['instructions']:.3f}" if vs.get("instructions") else "–",
                    "–" if points is None else _signed(points),
                ]
            )
    if not rows:
        return []
    header = ["setting", "against", "firmware flash ×", "instructions ×", "accuracy points"]
    return [
        "### 4-bit weights and clustered storage against their reference rows (same run)",
        "",
        *_table(header, rows),
        "",
    ]
