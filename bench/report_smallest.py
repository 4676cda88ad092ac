"""The storage table's ``--weight-storage smallest`` rows (bench/compress.py, rendered by
bench/report.py under the compact weight storage table)."""

from __future__ import annotations

from collections.abc import Callable


def smallest_storage_table(res: list[dict], n: Callable, table: Callable) -> list[str]:
    """`--weight-storage smallest` (Huffman-coded weights) against the default build;
    ``n`` and ``table`` are bench/report.py's number and table formatters."""
    if not res:
        return []
    out = [
        "`--weight-storage smallest` against the default build (same calibration, same run): "
        "per layer the fewest bytes of dense, sparse, clustered and canonical Huffman coding, "
        "decoded in chunks into arena scratch. It is lossless: the same weights as the "
        "default build. `--weight-bits 7` is lossy: int8 codes in [-63, 63], run by the same "
        "kernels, about a bit fewer per weight once coded. Output SNR: against the float "
        "model on the scored windows. Decode cost: the per-layer estimate in memory.json and "
        "the instructions measured over the default build on QEMU.",
        "",
    ]
    rows = []
    for r in res:
        s, d = r["smallest"], r["default"]
        coded = sum(1 for layer in r["layers"] if layer["storage"] == "entropy")
        rows.append(
            [
                r["model"],
                r["compression"].replace("int8, ", ""),
                f"{coded} of {len(r['layers'])}",
                f"{n(s['weight_bytes'])} ({n(d['weight_bytes'])})",
                f"{n(s['flash_bytes'])} ({n(d['flash_bytes'])})",
                f"{r['flash_ratio']:.3f}",
                f"{n(s['instructions'])} ({n(d['instructions'])})",
                f"{n(r['decode_instructions_estimate'])} / {n(r['extra_instructions_measured'])}",
                f"{n(s['arena_bytes'])} ({n(d['arena_bytes'])})",
                f"{s['host_bit_exact']} / {s['device_bit_exact']}",
                f"{s['output_snr_db']:.2f} ({d['output_snr_db']:.2f})",
            ]
        )
    header = [
        "model",
        "options",
        "Huffman layers",
        "weights B (default)",
        "flash B (default)",
        "ratio",
    ]
    header += ["instructions (default)", "decode est. / measured", "arena B (default)"]
    header += ["bit-exact host / QEMU", "output SNR dB (default)"]
    return [*out, *table(header, rows), ""]
