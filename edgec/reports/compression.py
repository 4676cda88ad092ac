"""``compression.json``'s ``compiled`` section and the compile summary's lines about it: per
layer and in total, parameters, MACs, weight bytes by storage format, and what the
compression cost in accuracy, measured on the calibration data.

Inputs are plain data: one ``LayerFacts`` per node (with its parameter count), memory.json
(C backend) and the pass reports. The accuracy figures are the quantization report's: the
SQNR of each layer's output and of the model's outputs, integer reference against the float
graph on the calibration samples; the weight storage formats are lossless (bit-exact with
the dense build), so they add no cost of their own.
"""

from __future__ import annotations

from edgec.reports.compile import LayerFacts, weight_formats

STORAGE_NOTE = "weight storage formats are lossless: the cost is that of quantization/clustering"


def compiled_summary(
    layers: list[LayerFacts],
    params: list[int],
    outputs: list[str],
    model_outputs: list[str],
    memory: dict | None,
    reports: dict,
    flash_weight_bytes: int,
) -> dict:
    """The ``compiled`` section: ``layers`` with their ``params`` and output tensor names
    (``outputs``), the graph's ``model_outputs``, and the build's emitted weight bytes."""
    formats = weight_formats(layers, memory)
    quant = reports.get("quantization") or {}
    sqnr = {t["name"]: t.get("sqnr_db") for t in quant.get("tensors", [])}
    rows = []
    for i, (layer, count, output) in enumerate(zip(layers, params, outputs, strict=True)):
        if not (layer.macs or layer.weight_bytes):
            continue
        by_format = {kind: values[i] for kind, values in formats.items() if values[i]}
        rows.append(
            {
                "node": layer.name,
                "op": layer.op,
                "params": count,
                "macs": layer.macs,
                "weight_bytes": by_format,
                "sqnr_db": sqnr.get(output),
            }
        )
    totals = {
        "params": sum(r["params"] for r in rows),
        "macs": sum(r["macs"] for r in rows),
        "weight_bytes": {k: sum(v) for k, v in formats.items() if sum(v)},
        "flash_weight_bytes": flash_weight_bytes,
    }
    return {
        "layers": rows,
        "totals": totals,
        "accuracy": _accuracy(quant, reports, sqnr, model_outputs),
    }


def _accuracy(quant: dict, reports: dict, sqnr: dict, model_outputs: list[str]) -> dict:
    if not quant.get("samples"):
        return {
            "measured": False,
            "note": "no calibration data (the model was not quantized by edgec): the accuracy "
            "cost is not measured; " + STORAGE_NOTE,
        }
    measured = [sqnr[name] for name in model_outputs if sqnr.get(name) is not None]
    result = {
        "measured": True,
        "calibration_samples": quant["samples"],
        "output_sqnr_db": min(measured) if measured else None,
        "note": "SQNR of the integer model against the float graph on the calibration data; "
        + STORAGE_NOTE,
    }
    clustering = (reports.get("clustering") or {}).get("calibration", {})
    if clustering.get("snr_db") is not None:
        result["clustering_snr_db"] = clustering["snr_db"]
    return result


def summary_rows(compiled: dict) -> list[tuple[str, str]]:
    """The compile summary's rows: weight bytes by format and the measured SQNR."""
    totals, accuracy = compiled["totals"], compiled["accuracy"]
    formats = ", ".join(f"{kind} {n:,} B" for kind, n in totals["weight_bytes"].items())
    rows = [
        ("params, MACs", f"{totals['params']:,}, {totals['macs']:,}"),
        ("weights by format", formats),
    ]
    if accuracy["measured"] and accuracy["output_sqnr_db"] is not None:
        sqnr = f"{accuracy['output_sqnr_db']:.1f} dB on {accuracy['calibration_samples']} samples"
        rows.append(("output SQNR (calibration)", sqnr))
    else:
        rows.append(("accuracy cost", "not measured: no calibration data"))
    return rows


def summary_lines(compiled: dict) -> list[str]:
    """The command line's summary lines (the rows, citing compression.json)."""
    rows = summary_rows(compiled)
    return [f"  {key}: {value}" for key, value in rows[:-1]] + [
        f"  {rows[-1][0]}: {rows[-1][1]} (compression.json)"
    ]
