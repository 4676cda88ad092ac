"""BENCHMARKS.md's section on the zoo's int8 models: the default build against every kernel
and weight-storage flag on the emulated boards (bench/results_zoo_speed.json)."""

from __future__ import annotations

FLAGS = {
    "portable": "`--kernels portable --weight-storage dense`",
    "portable_auto": "`--kernels portable`",
    "dense": "`--weight-storage dense`",
    "small": "`--weight-storage small`",
}


def _cell(row: dict) -> str:
    exact = "" if row["bit_exact"] == row["samples"] else f" ({row['bit_exact']}/{row['samples']})"
    return f"{row['instructions']:,}{exact}"


def zoo_speed_section(res: dict) -> list[str]:
    rows, fastest, total, inexact = [], 0, 0, 0
    for model, boards in sorted(res.items()):
        for board, row in boards.items():
            if "skipped" in row:
                rows.append(f"| `{model}` | {board} | {row['skipped']} | | | | | |")
                continue
            total += 1
            fastest += bool(row["default_fastest"])
            builds = [row[v] for v in ("default", *FLAGS)]
            inexact += sum(b["bit_exact"] != b["samples"] for b in builds)
            cells = " | ".join(_cell(b) for b in builds)
            verdict = "yes" if row["default_fastest"] else "**no**"
            rows.append(f"| `{model}` | {board} | {cells} | {verdict} |")
    head = " | ".join(["model", "board", "default", *FLAGS.values(), "default fastest"])
    return [
        "### The zoo: the default build against every kernel and storage flag",
        "",
        "Command: `python bench/zoo_speed.py` (one export of each tests/zoo architecture, "
        "legacy17; int8 by `--quantize int8` on the zoo's calibration inputs; 2 samples per "
        "build on QEMU `-icount`; instructions per inference, each build checked bit for bit "
        "against edgec's integer reference, a mismatch shown in brackets).",
        "",
        f"The default build is the fastest of the five on {fastest} of {total} (model, board) "
        f"pairs; {inexact} builds not bit-exact.",
        "",
        f"| {head} |",
        "|" + "---|" * (len(FLAGS) + 4),
        *rows,
        "",
    ]
