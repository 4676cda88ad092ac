"""The compile report (``OUT/report.html``): per-layer MACs and weight bytes by storage
format, the arena over the schedule (timeline, and live bytes by kind at each step), each
quantized tensor's SQNR against float, and where flash and RAM go.

Inputs are plain data: one row per layer (``LayerFacts``), ``memory.json`` (C backend), and
the pass reports (``quantization.json`` …) as dicts.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgec.reports.html import fmt, page, section, table
from edgec.reports.memory import memory_svg
from edgec.reports.svg import bar_chart


@dataclass(frozen=True)
class LayerFacts:
    """One node of the compiled graph: what it computes and the constant bytes it carries."""

    name: str
    op: str
    macs: int
    weight_bytes: int  # its constant inputs as the compiled graph holds them


def render_compile_report(
    title: str,
    summary: list[tuple[str, object]],
    layers: list[LayerFacts],
    memory: dict | None,
    reports: dict,
) -> str:
    sections = [section("Summary", table(["", ""], [[k, v] for k, v in summary]))]
    heavy = [layer for layer in layers if layer.macs or layer.weight_bytes]
    if heavy:
        labels = [str(i) for i, _ in enumerate(heavy)]
        titles = [f"#{i} {layer.op} {layer.name}" for i, layer in enumerate(heavy)]
        sections.append(
            section(
                "Multiply-accumulates per layer",
                bar_chart(
                    labels, {"MACs": [layer.macs for layer in heavy]}, "MACs", "MACs", titles
                ),
                f"{sum(layer.macs for layer in heavy):,} MACs per inference in all.",
            )
        )
        by_format = weight_formats(heavy, memory)
        sections.append(
            section(
                "Weight bytes per layer, by storage format",
                bar_chart(labels, by_format, "weight bytes", "bytes", titles),
                "Stored bytes in flash; sparse and clustered layers are stored compactly "
                "(memory.json weight_storage).",
            )
        )
    if memory and memory.get("tensors"):
        sections.append(section("Arena timeline", memory_svg(memory)))
        sections.append(
            section(
                "Arena bytes live at each step, by kind",
                live_bytes_chart(memory),
                f"The arena is {memory['arena_bytes']:,} B: the plan's peak of live bytes, "
                "rounded to the alignment, plus what overlapping lifetimes cost.",
            )
        )
    flash = flash_breakdown(layers, memory)
    if flash:
        sections.append(
            section(
                "Flash: weight bytes by format",
                bar_chart(["weights"], flash, "flash breakdown", "bytes"),
                "The firmware's code comes on top (edgec compile --firmware, or validate, "
                "measures it from the linked image).",
            )
        )
    quantization = reports.get("quantization")
    if quantization and quantization.get("tensors"):
        sections.append(
            section("Quantization: SQNR of each tensor against float", sqnr_chart(quantization))
        )
    return page(title, sections)


def weight_formats(layers: list[LayerFacts], memory: dict | None) -> dict[str, list[int]]:
    """Per layer, its weight bytes under the storage format the C backend chose."""
    chosen = {s["node"]: s for s in (memory or {}).get("weight_storage", [])}
    formats: dict[str, list[int]] = {"dense": [0] * len(layers)}
    for i, layer in enumerate(layers):
        storage = chosen.get(layer.name)
        kind = storage["storage"] if storage else "dense"
        stored = storage["stored_bytes"] if storage else 0
        rest = layer.weight_bytes - (storage["dense_bytes"] if storage else 0)
        formats.setdefault(kind, [0] * len(layers))[i] += stored
        formats["dense"][i] += max(rest, 0)
    return formats


def flash_breakdown(layers: list[LayerFacts], memory: dict | None) -> dict[str, list[int]]:
    totals = {k: [sum(v)] for k, v in weight_formats(layers, memory).items() if sum(v)}
    return totals


def live_bytes_chart(memory: dict) -> str:
    """Bytes of arena buffers live at each step: activations, the model's I/O, scratch."""
    steps = len(memory.get("steps", []))
    tensors = memory["tensors"]
    owners = [t for t in tensors if not t.get("alias_of") and t.get("offset", -1) >= 0]
    kinds = {"activations": [0] * steps, "scratch": [0] * steps, "inputs/outputs": [0] * steps}
    ports = {t["buffer"] for t in owners if t["first_step"] < 0 or t["last_step"] >= steps}
    for t in owners:
        first, last = max(t["first_step"], 0), min(max(t["last_step"], t["first_step"]), steps - 1)
        kind = "scratch" if t.get("scratch_for") else "activations"
        kind = "inputs/outputs" if t["buffer"] in ports else kind
        for step in range(first, last + 1):
            kinds[kind][step] += t["bytes"]
    labels = [str(i) for i in range(steps)]
    titles = [f"step {i}: {s.get('op')} {s.get('node')}" for i, s in enumerate(memory["steps"])]
    return bar_chart(labels, kinds, "live arena bytes", "bytes", titles)


def sqnr_chart(quantization: dict) -> str:
    rows = [t for t in quantization["tensors"] if t.get("sqnr_db") is not None]
    labels = [str(i) for i, _ in enumerate(rows)]
    titles = [
        f"{t['name']} ({t['op']}, {t['dtype']}): SQNR {fmt(t['sqnr_db'])} dB, "
        f"max |error| {fmt(t['max_abs_error'])}"
        for t in rows
    ]
    by_dtype: dict[str, list[float]] = {}
    for i, t in enumerate(rows):
        by_dtype.setdefault(t["dtype"], [0.0] * len(rows))[i] = min(max(t["sqnr_db"], 0.0), 120.0)
    return bar_chart(labels, by_dtype, "SQNR per tensor", "dB", titles)
