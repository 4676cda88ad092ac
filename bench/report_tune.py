"""BENCHMARKS.md's section on `edgec tune` and `validate --workers` (bench/results_tune.json)."""

from __future__ import annotations


def _n(value) -> str:
    return "–" if value is None else f"{int(value):,}"


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.2f} %"


def _run(name: str, run: dict, plain: dict | None) -> list[str]:
    best, again = run["best"], run["best_revalidated"]
    where = f"the Ray cluster at {run['ray_address']}" if run["ray_address"] else "a local Ray"
    loss = (
        f", {100 * (plain['accuracy'] - again['accuracy']):.2f} points below plain int8"
        if plain
        else ""
    )
    rows = [
        f"- **{name}** ({where}): {run['validated_candidates']} candidates validated in "
        f"{run['seconds']:,.0f} s. Best: `{best['options']}`: flash {_n(again['flash_bytes'])} B, "
        f"RAM {_n(again['ram_bytes'])} B (arena + stack), {_n(best['instructions'])} "
        f"instructions, accuracy {_pct(again['accuracy'])}{loss}; validated again: "
        f"{again['bit_exact']}/{again['samples']} bit-exact.",
    ]
    return rows


def tune_section(res: dict) -> list[str]:
    out = [
        "## Tuning and parallel validation (issue: edgec tune)",
        "",
        f"Commands: {', '.join(f'`{c}`' for c in res.get('commands', ['python bench/tune.py']))} "
        f"({res.get('machine', '')}). `edgec tune` of the KWS float model for mps2-an386 "
        "with `--flash 40000 --ram 12000` (calibration: kws01 samples 0–199; validation: "
        "200–399; the first 50 samples rank every candidate, the better half within budgets "
        "is validated on all 200).",
        "",
    ]
    plain = res.get("plain_int8")
    if plain:
        out.append(
            f"- Plain int8 (same calibration): flash {_n(plain['flash_bytes'])} B, RAM "
            f"{_n(plain['ram_bytes'])} B, accuracy {_pct(plain['accuracy'])}: over both budgets."
        )
    for key, name in (("cluster", "Against a `ray start --head` cluster"), ("local", "Local")):
        if key in res:
            out += _run(name, res[key], plain)
    workers = res.get("workers")
    if workers:
        seconds = workers["seconds"]
        same = (
            "identical"
            if workers["identical_except_wall_time"]
            else ("different in " + ", ".join(workers["differing_fields"]))
        )
        out.append(
            f"- `validate --workers 2` against `--workers 1`, KWS int8 on all "
            f"{workers['samples']} kws01 samples on mps2-an386: reports {same} but for the wall "
            f"time ({workers['bit_exact']} bit-exact); {seconds['1']} s with one emulator, "
            f"{seconds['2']} s with two."
        )
    return [*out, ""]
