"""The results of ``edgec validate``: strict ``report.json``, and ``report.html`` (drawn by
``edgec.reports.validation``: self-contained, escaped, no scripts)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from edgec.metrics import top1
from edgec.reports.validation import render_html


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


def write_html(report: dict, memory_json: dict | None, path: str | Path) -> None:
    """``report.html``: one file, no external assets."""
    Path(path).write_text(render_html(report, memory_json), encoding="utf-8")
