"""The zoo section of BENCHMARKS.md, from bench/results_zoo.json (written by bench/zoo.py)."""

from __future__ import annotations

from collections import Counter, defaultdict

EXPORTS = ("legacy13", "legacy17", "dynamo")
PATHS = {"analyze": "analyze", "float": "float C", "int8": "int8 C"}


def _rate(cases: list[dict]) -> str:
    if not cases:
        return "–"
    passed = sum(c["passed"] for c in cases)
    return f"{passed}/{len(cases)} ({100 * passed / len(cases):.0f} %)"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def _cell(case: dict | None) -> str:
    if case is None:
        return "–"
    if case["passed"]:
        if case["path"] == "int8" and case.get("snr_db") is not None:
            peer = case.get("onnxruntime_int8_snr_db")
            vs = "" if peer is None else f"; onnxruntime {peer:.1f}"
            floats = f"; float {', '.join(case['float_ops'])}" if case.get("float_ops") else ""
            return f"pass ({case['snr_db']:.1f} dB{vs}{floats})"
        return "pass"
    detail = case["detail"].replace("|", "/")
    return detail if len(detail) <= 140 else detail[:137] + "…"


def rates_table(cases: list[dict]) -> list[str]:
    rows = []
    for path, label in [*PATHS.items(), (None, "all paths")]:
        chosen = [c for c in cases if path is None or c["path"] == path]
        rows.append(
            [
                label,
                *(_rate([c for c in chosen if c["export"] == e]) for e in EXPORTS),
                _rate(chosen),
            ]
        )
    return _table(["path", *EXPORTS, "all exports"], rows)


def causes_table(cases: list[dict]) -> list[str]:
    """Every cause with the number of failing cases it stops (a case may have several)."""
    counted: Counter = Counter()
    per_path: dict[str, Counter] = defaultdict(Counter)
    models: dict[str, set] = defaultdict(set)
    for case in cases:
        if case["passed"]:
            continue
        for group in case.get("groups") or [case["cause"]]:
            counted[group] += 1
            per_path[group][case["path"]] += 1
            models[group].add(case["model"])
    rows = []
    for group, count in counted.most_common():
        paths = ", ".join(f"{PATHS[p]} {n}" for p, n in per_path[group].items())
        shown = sorted(models[group])
        names = ", ".join(shown[:6]) + (f" and {len(shown) - 6} more" if len(shown) > 6 else "")
        rows.append([group.replace("|", "/"), str(count), paths, names])
    return _table(["cause", "cases", "by path", "models"], rows)


def matrix_table(cases: list[dict], order: list[str]) -> list[str]:
    index = {(c["model"], c["export"], c["path"]): c for c in cases}
    rows = []
    for model in order:
        for path, label in PATHS.items():
            cells = [_cell(index.get((model, e, path))) for e in EXPORTS]
            if any(c != "–" for c in cells):
                rows.append([f"`{model}`", label, *cells])
    return _table(["model", "path", *EXPORTS], rows)


def param_mismatches(cases: list[dict]) -> list[str]:
    """Models whose parameter count (analyze) differs between exports."""
    params: dict[str, dict[str, int]] = defaultdict(dict)
    for c in cases:
        if c["path"] == "analyze" and c.get("params") is not None:
            params[c["model"]][c["export"]] = c["params"]
    return [
        f"`{m}` ({', '.join(f'{e} {n:,}' for e, n in p.items())})"
        for m, p in params.items()
        if len(set(p.values())) > 1
    ]


def coverage_table(rows: list[dict]) -> list[str]:
    """The zoo's op types that edgec lacks something for."""
    mark = {True: "yes", False: "**no**", "yes": "yes", "no": "**no**"}
    mark["float fallback"] = "float fallback"
    body = []
    for r in rows:
        if r["known"] and r["float_c"] and r["int8_c"] == "yes":
            continue
        shown = ", ".join(r["models"][:5]) + (" …" if len(r["models"]) > 5 else "")
        have = [mark[r["known"]], mark[r["float_c"]], mark[r["int8_c"]]]
        body.append([r["op"], str(r["exports"]), *have, shown])
    header = ["op", "exports using it", "edgec knows it", "float C kernel", "int8 C kernel"]
    return _table([*header, "models"], body)


def zoo_section(res: dict) -> list[str]:
    cases = res["cases"]
    order = list(dict.fromkeys(c["model"] for c in cases))
    versions = ", ".join(f"{k} {v}" for k, v in res.get("zoo_versions", {}).items())
    out = [
        "## The model zoo: real PyTorch exports (issues 14 and 15)",
        "",
        "Command: `python bench/zoo.py -j 2`. The models of `tests/zoo` (seeded random "
        f"weights, exported by {versions}), each export through three paths: `analyze` "
        "(passes when every op, shape and MAC count is known), float C (compiled for "
        "mps2-an386, host build with ASan/UBSan, every output within "
        f"rtol {res['rtol']:g}, atol {res['atol']:g} of onnxruntime on {res['samples']} seeded "
        "random inputs) and int8 C (`--quantize int8` calibrated on "
        f"{res['calib_samples']} other random inputs; host build bit-exact with edgec's "
        f"integer reference and output SNR vs float ≥ {res['min_snr_db']:g} dB).",
        "",
        "### Pass rate",
        "",
        *rates_table(cases),
        "",
        "### Failure causes (a case stopped by several ops counts under each)",
        "",
        *(
            causes_table(cases)
            if not all(c["passed"] for c in cases)
            else ["None: every case passed."]
        ),
        "",
    ]
    mismatches = param_mismatches(cases)
    if mismatches:
        out += ["Parameter counts that differ between exports: " + "; ".join(mismatches) + ".", ""]
    if res.get("op_coverage"):
        out += [
            "### Op types of the zoo that edgec lacks something for",
            "",
            "After edgec's fold passes (the exported graph where the import fails). A kernel "
            "listed as present may still refuse some attributes or shapes: the cases say which. "
            "int8: an integer kernel, a float kernel between dequantize and quantize seen in a "
            "passing int8 case (float fallback), or neither.",
            "",
            *coverage_table(res["op_coverage"]),
            "",
        ]
    out += ["### Every case", "", *matrix_table(cases, order), ""]
    if res.get("qemu"):
        out += qemu_section(res["qemu"], res)
    return out


def _qemu_cell(case: dict | None) -> list[str]:
    """Verdict, instructions per inference, per MAC, flash and arena of one QEMU case."""
    if case is None:
        return ["–"] * 5
    if case["passed"] is None:  # does not fit the board: the numbers, not a failure
        detail = case["detail"].replace("|", "/")  # the need against the board's memory
        return [f"does not fit: {detail}", "–", "–", "–", _n(case.get("arena_bytes"))]
    if case["path"] == "qemu_int8" and case.get("bit_exact") is not None:
        verdict = f"{case['bit_exact']}/{case['samples']} bit-exact"
    elif case.get("samples_within") is not None:
        verdict = f"{case['samples_within']}/{case['samples']} (max {case['max_abs_error']:.1e})"
    else:
        verdict = "–"
    if not case["passed"]:
        detail = case["detail"].replace("|", "/")
        verdict = "**fail**: " + (detail if len(detail) <= 100 else detail[:97] + "…")
    per_mac = case.get("instructions_per_mac")
    return [
        verdict,
        _n((case.get("instructions") or {}).get("median")),
        "–" if per_mac is None else f"{per_mac:.2f}",
        _n(case.get("flash_bytes")),
        _n(case.get("arena_bytes")),
    ]


def _n(value) -> str:
    return "–" if value is None else f"{int(value):,}"


def qemu_section(qemu: dict, res: dict) -> list[str]:
    """The zoo's int8 and float builds on the emulated board, one export per model."""
    cases = qemu["cases"]
    index = {(c["model"], c["path"]): c for c in cases}
    counts = []
    for path, label in (("qemu_int8", "int8"), ("qemu_float", "float")):
        chosen = [c for c in cases if c["path"] == path]
        unfit = sum(c["passed"] is None for c in chosen)
        passed = sum(c["passed"] is True for c in chosen)
        fits = f", {unfit} not fitting the board" if unfit else ""
        counts.append(f"{label} {passed}/{len(chosen) - unfit} pass{fits}")
    exports = sorted({c["export"] for c in cases})
    rows = [
        [f"`{model}`", *_qemu_cell(index.get((model, "qemu_int8"))),
         *_qemu_cell(index.get((model, "qemu_float")))]
        for model in dict.fromkeys(c["model"] for c in cases)
    ]  # fmt: skip
    header = ["model", "int8 outputs", "int8 instr.", "int8 instr./MAC", "int8 flash"]
    header += ["int8 arena", "float outputs within tol. (max abs error)", "float instr."]
    header += ["float instr./MAC", "float flash", "float arena"]
    return [
        f"### On the emulated board ({qemu['board']}, QEMU)",
        "",
        "Command: `python bench/zoo.py -j 2 --paths qemu` (part of the default sweep). "
        f"The {', '.join(exports)} export of every model, compiled as on the host (int8: "
        "`--quantize int8` on the same calibration inputs; the default build for the board, "
        f"its optimized DSP kernels), {qemu['samples']} of the same inputs run on QEMU "
        "(`-icount`: exact instruction counts per inference, median shown). int8 passes "
        "when every output equals edgec's integer reference bit for bit (and its SNR vs "
        f"float is ≥ {res['min_snr_db']:g} dB, as on the host); float when every output is "
        f"within rtol {res['rtol']:g}, atol {res['atol']:g} of onnxruntime. Instructions per "
        "MAC: over the compiled graph's MACs; instructions, not cycles (on a Cortex-M4 a float "
        "multiply-accumulate takes several cycles, an SMLAD two int8 ones in one). Flash: the "
        "whole firmware image; arena: the model's activations. A model that does not fit the "
        "board's flash or RAM is listed with its sizes, not counted as a failure.",
        "",
        f"Result: {'; '.join(counts)}.",
        "",
        *_table(header, rows),
        "",
    ]
