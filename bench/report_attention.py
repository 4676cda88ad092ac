"""BENCHMARKS.md's transformer section, from bench/results_attention.json."""

from __future__ import annotations

from collections import defaultdict

from bench.report_float import _n, _table

BOARDS = {"mps2-an386": "Cortex-M4F", "mps3-an547": "Cortex-M55"}
MODES = {
    "int8": "int8",
    "auto": "auto (int8, 16x8 under 40 dB)",
    "int16x8": "16x8",
    "int8_output_grid_only": "float, only the outputs rounded to the int8 model's output grid",
}


FLOAT_HEADER = [
    "export",
    "host within 1e-4",
    "host max abs error",
    *(f"{b} ({c})" for b, c in BOARDS.items()),
]


def _median(row: dict) -> float | None:
    counts = row.get("instructions") or {}
    return counts.get("median")


def attention_section(res: dict) -> list[str]:
    models = res["models"]
    out = [
        "## Transformer blocks (issue 14: attention)",
        "",
        f"Command: `python bench/attention.py` — the zoo's `sensor_transformer` (2 pre-norm "
        f"blocks: LayerNorm, 4-head self-attention, GELU MLP; 16 tokens of 12 values; "
        f"tests/zoo), each export. PTQ on 64 standard-normal inputs; accuracy on "
        f"{res['samples']:,} others against onnxruntime (output SNR, top-1 agreement), in "
        f"the integer reference executor, which the generated C equals bit for bit (the host "
        f"build, sanitized, on every one of those samples: column *host bit-exact*).",
        "",
    ]
    rows = []
    for export, r in models.items():
        host = r["int8_host"]
        exact = f"{host['bit_exact']}/{host['samples']}"
        for mode, label in MODES.items():
            a = r["accuracy"].get(mode)
            if a is None:
                continue
            snr = f"{a['snr_db']:.2f}" if "snr_db" in a else "–"
            rows.append([export, label, snr, f"{100 * a['agreement']:.1f} %",
                         exact if mode == "int8" else ""])  # fmt: skip
    out += _table(["export", "quantization", "SNR vs float (dB)", "top-1 agreement",
                   "host bit-exact"], rows)  # fmt: skip
    out += [
        "",
        "The int8 model's top-1 agreement is bounded by its int8 outputs: rounding the float "
        "model's own outputs to the int8 output grid alone gives the agreement of the last "
        "row of each export (random weights give logits often within one output step of each "
        "other). `--quantize auto` keeps the layers below its SQNR threshold in 16x8.",
        "",
        f"int8 on the emulated boards ({res['board_samples']} samples each, QEMU's exact "
        "instruction counts per inference, median; MACs of the matrix products, the attention "
        "scores and values included): the default build (the optimized kernels: DSP on the "
        "M4F, Helium on the M55 — the projections and the attention products on the fast "
        "GEMM, softmax by a table of exp) and `--kernels portable`.",
        "",
    ]
    rows = []
    for export, r in models.items():
        for board, builds in r["int8_boards"].items():
            for kernels, row in builds.items():
                median = _median(row)
                per_mac = f"{median / r['macs']:.2f}" if median else "–"
                rows.append([
                    export, f"{board} ({BOARDS.get(board, board)})", kernels,
                    f"{row['bit_exact']}/{row['samples']}", _n(median), per_mac,
                    _n(row["memory"]["flash_bytes"]), _n(row["memory"]["arena_bytes"]),
                ])  # fmt: skip
    out += _table(["export", "board", "kernels", "bit-exact", "instructions", "per MAC",
                   "flash B", "arena B"], rows)  # fmt: skip
    out += ["", *_breakdown(models), ""]
    rows = []
    for export, r in models.items():
        f = r["float"]
        cells = [f"{_n(_median(f[b]))} ({_median(f[b]) / f['macs']:.2f})" for b in BOARDS if b in f]
        error = f"{f['host_max_abs_error_vs_onnxruntime']:.1e}"
        rows.append([export, f.get("host_within_1e-4", "–"), error, *cells])
    out += [
        "Float (the default build: the fast float GEMM for projections and attention "
        "products), the whole export: the sanitized host build against onnxruntime on every "
        "scored sample (samples within rtol = atol = 1e-4, largest |error|) and instructions "
        "per inference (per MAC) on the boards.",
        "",
        *_table(FLOAT_HEADER, rows),
        "",
    ]
    return out


def _breakdown(models: dict) -> list[str]:
    """Instructions by op of the default int8 build of the first export, per board."""
    export, r = next(iter(models.items()))
    rows = []
    totals = {}
    by_op: dict[str, dict[str, int]] = defaultdict(dict)
    for board, builds in r["int8_boards"].items():
        steps = builds["optimized"]["steps"]
        totals[board] = sum(s["instructions"] for s in steps) or 1
        for step in steps:
            by_op[step["op"]][board] = by_op[step["op"]].get(board, 0) + step["instructions"]
    for op, counts in sorted(by_op.items(), key=lambda kv: -sum(kv[1].values())):
        rows.append([op, *(f"{_n(counts.get(b))} ({100 * counts.get(b, 0) / totals[b]:.0f} %)"
                           for b in totals)])  # fmt: skip
    return [
        f"Where the default int8 build spends its instructions ({export}, one inference):",
        "",
        *_table(["op", *(f"{b} ({BOARDS.get(b, b)})" for b in totals)], rows),
    ]
