"""Every model of the zoo (tests/zoo) through edgec: analyze, float C and int8 C on the host.

    python bench/zoo.py [-j 2] [--models a,b] [--exports legacy13,dynamo] [--paths float,int8,qemu]

A case is (model, export, path). ``analyze`` passes when the analysis runs and knows every
op, shape and MAC count. ``float`` compiles for the default target (mps2-an386) and runs the
host build (ASan/UBSan) on seeded random inputs: every output within rtol 1e-4, atol 1e-5 of
onnxruntime on the exported model. ``int8`` quantizes with ``--quantize int8`` (calibration
on other seeded random inputs from the same distribution), then the host build must equal
edgec's integer reference bit for bit, with output SNR against the float model in
onnxruntime >= 25 dB (class-index outputs: bit-exact only). ``qemu`` runs the int8 and the
float build of one export per model on the emulated mps2-an386 (bench/zoo_qemu.py). Each
case runs in its own process (a crash or a hang is a finding, not the end of the sweep);
every failure is classified by its cause. Results merge into bench/results_zoo.json after
each case, so a sweep can be done in parts; ``python bench/report.py`` puts the table in
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
import traceback
import zlib
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ZOO = ROOT / "tests" / "zoo"
RESULTS = Path(__file__).with_name("results_zoo.json")
EXPORTS = ("legacy13", "legacy17", "dynamo")
PATHS = ("analyze", "float", "int8")
QEMU_PATHS = ("qemu_int8", "qemu_float")  # ``--paths qemu``: both, on one export
RTOL, ATOL = 1e-4, 1e-5
MIN_SNR_DB = 25.0
SAMPLES, CALIB_SAMPLES = 8, 32


def zoo_manifest() -> dict:
    return json.loads((ZOO / "manifest.json").read_text())


def write_data(model: dict, work: Path) -> tuple[Path, Path]:
    """Seeded standard-normal inputs (the distribution the BatchNorm statistics were measured
    on): SAMPLES to validate, CALIB_SAMPLES other ones to calibrate."""
    seed = zlib.crc32(model["name"].encode())
    shape = model["input_shape"]
    paths = []
    for name, count, offset in (("data", SAMPLES, 10), ("calib", CALIB_SAMPLES, 20)):
        rng = np.random.default_rng(seed + offset)
        path = work / f"{name}.npz"
        np.savez(path, input=rng.standard_normal((count, *shape)).astype(np.float32))
        paths.append(path)
    return paths[0], paths[1]


def onnxruntime_outputs(model_path: Path, data: Path) -> list[np.ndarray]:
    """Per sample, every output of the exported model concatenated flat (as --save-outputs)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    outs = []
    for x in np.load(data)["input"]:
        outs.append(np.concatenate([o.reshape(-1) for o in session.run(None, {name: x})]))
    return outs


# ---- one case, in its own process ---------------------------------------------------------
def run_analyze(model_path: Path) -> dict:
    import edgec

    result = edgec.analyze(model_path)
    totals = result.totals
    entry = {"params": totals.params, "macs": totals.macs, "notices": result.notices}
    entry["ops_after_fold"] = sorted({op for row in result.rows for op in row.op.split("+")})
    if result.unsupported_ops:
        problems = [f"unknown op: {op}" for op in sorted(result.unsupported_ops)]
        return fail(entry, "analyze", "unknown op", "; ".join(problems), problems)
    if not (totals.macs_complete and totals.activations_complete):
        unknown = [r.name for r in result.rows if r.macs is None or None in r.shapes]
        return fail(entry, "analyze", "incomplete analysis", f"unknown figures at {unknown[:3]}")
    return {**entry, "passed": True}


def run_float(
    model_path: Path, work: Path, device: str = "host", samples: int | None = None
) -> dict:
    """The float build on ``device`` (the host build with sanitizers, or the emulator)."""
    import edgec

    data, _ = write_data(model_meta(model_path), work)
    out = work / "out"
    stage = "compile"
    try:
        result = edgec.compile_model(model_path, out, edgec.CompileOptions(force=True))
        entry = {"arena_bytes": result.arena_bytes, "weight_bytes": result.weight_bytes}
        stage = "validate"
        saved = work / "outputs.npy"
        options = edgec.ValidateOptions(
            str(data),
            device=device,
            samples=samples,
            sanitize=device == "host",
            save_outputs=str(saved),
            progress=False,
        )
        report = edgec.validate(out, options)
    except Exception as exc:
        return failure(exc, stage)
    entry.update(device_figures(report, out, device))
    got = np.load(saved)
    want = onnxruntime_outputs(model_path, data)[: len(got)]
    within = [
        bool(np.allclose(g.reshape(-1).astype(np.float64), w, rtol=RTOL, atol=ATOL))
        for g, w in zip(got, want)
    ]
    diff = max(float(np.max(np.abs(g.reshape(-1) - w))) for g, w in zip(got, want))
    entry.update(
        samples=len(within),
        samples_within=sum(within),
        max_abs_error=diff,
        max_abs_error_vs_reference=report.get("vs_reference", {}).get("max_abs_error"),
        output_scale=max(float(np.max(np.abs(w))) for w in want),
    )
    if all(within):
        return {**entry, "passed": True}
    ref_err = entry["max_abs_error_vs_reference"]
    where = (
        "C differs from edgec's float reference"
        if ref_err is not None and ref_err > ATOL + RTOL * entry["output_scale"]
        else "edgec's float reference differs from onnxruntime"
    )
    detail = f"{sum(within)}/{len(within)} within tolerance, max |error| {diff:.3g}"
    return fail(entry, "validate", f"numerics: {where}", detail)


def run_int8(
    model_path: Path, work: Path, device: str = "host", samples: int | None = None
) -> dict:
    """The int8 build on ``device`` (onnxruntime's PTQ as the SNR peer on the host only)."""
    import edgec

    data, calib = write_data(model_meta(model_path), work)
    out = work / "out"
    stage = "compile"
    try:
        options = edgec.CompileOptions(quantize="int8", calib=str(calib), force=True)
        result = edgec.compile_model(model_path, out, options)
        entry = {"arena_bytes": result.arena_bytes, "weight_bytes": result.weight_bytes}
        entry["float_ops"] = float_steps(out)
        stage = "validate"
        options = edgec.ValidateOptions(
            str(data), device=device, samples=samples, sanitize=device == "host", progress=False
        )
        report = edgec.validate(out, options)
    except Exception as exc:
        return failure(exc, stage)
    entry.update(device_figures(report, out, device))
    classes = model_meta(model_path)["output_std"] is None  # an ArgMax output: class indices
    entry.update(
        samples=report["samples"],
        bit_exact=report["bit_exact"],
        snr_db=None if classes else report.get("snr_db"),
        agreement=report.get("agreement"),
    )
    if device == "host":
        peer = None if classes else onnxruntime_ptq_snr(model_path, data, calib)
        entry["onnxruntime_int8_snr_db"] = peer
    if report["bit_exact"] != report["samples"]:
        detail = f"{report['bit_exact']}/{report['samples']} bit-exact"
        return fail(entry, "validate", "numerics: C differs from edgec's integer reference", detail)
    if not classes and not (entry["snr_db"] >= MIN_SNR_DB):
        peer = entry.get("onnxruntime_int8_snr_db")
        also = "" if peer is None or peer >= MIN_SNR_DB else ", onnxruntime's PTQ too"
        detail = f"SNR {entry['snr_db']:.1f} dB < {MIN_SNR_DB:g} dB (onnxruntime's PTQ: "
        detail += "–" if peer is None else f"{peer:.1f} dB)"
        cause = f"numerics: int8 SNR vs float < {MIN_SNR_DB:g} dB{also}"
        return fail(entry, "validate", cause, detail)
    return {**entry, "passed": True}


def device_figures(report: dict, out: Path, device: str) -> dict:
    """Instructions, MACs and memory of an emulator run (nothing for the host)."""
    if device == "host":
        return {}
    from bench.zoo_qemu import emulator_figures

    return emulator_figures(report, out)


def float_steps(out: Path) -> list[str]:
    """Ops of an int8 build that run a float kernel (between dequantize and quantize)."""
    steps = json.loads((out / "memory.json").read_text())["steps"]
    boundary = ("QuantizeLinear", "DequantizeLinear")
    return sorted({s["op"] for s in steps if "_f32" in s["kernel"] and s["op"] not in boundary})


def onnxruntime_ptq_snr(model_path: Path, data: Path, calib: Path) -> float | None:
    """The peer: onnxruntime's quantize_static (QDQ, int8 per-channel weights, min-max
    calibration on the same samples), its output SNR against the float model on the same
    inputs. What a standard PTQ reaches on this model; None when it cannot quantize it."""
    from onnxruntime.quantization import CalibrationDataReader, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.samples = iter(np.load(calib)["input"])

        def get_next(self) -> dict | None:
            sample = next(self.samples, None)
            return None if sample is None else {"input": sample}

    quantized = data.with_name("onnxruntime_int8.onnx")
    try:
        quantize_static(
            str(model_path),
            str(quantized),
            Reader(),
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
        )
        got = onnxruntime_outputs(quantized, data)
    except Exception:  # the peer's own limits are not this benchmark's finding
        return None
    want = onnxruntime_outputs(model_path, data)
    noise = sum(float(np.sum((g - w) ** 2)) for g, w in zip(got, want))
    signal = sum(float(np.sum(w.astype(np.float64) ** 2)) for w in want)
    return float(10 * np.log10(signal / noise)) if noise > 0 else float("inf")


def model_meta(model_path: Path) -> dict:
    name = model_path.name.split(".")[0]
    return next(m for m in zoo_manifest()["models"] if m["name"] == name)


def fail(entry: dict, stage: str, cause: str, detail: str, groups: list | None = None) -> dict:
    """A failed case; ``groups`` are the causes it is counted under in the report."""
    groups = groups or [cause]
    return {
        **entry,
        "passed": False,
        "stage": stage,
        "cause": cause,
        "detail": detail,
        "groups": groups,
    }


# The order in which a case's unsupported-op problems name its cause (the most basic first).
PROBLEM_ORDER = ("unknown op", "shape unknown", "no integer kernel", "no C kernel", "C kernel")


def failure(exc: Exception, stage: str) -> dict:
    """A cause for an exception: the kind of missing support, or where edgec broke."""
    from edgec.errors import BuildError, EdgecError, TargetError, UnsupportedOpError

    message = " ".join(str(exc).split())
    if isinstance(exc, UnsupportedOpError):
        what = message.split(" for ", 1)[1].split(":", 1)[0] if " for " in message else "edgec"
        problems = sorted({unsupported(key, what) for key in exc.ops}, key=problem_rank)
        # an op after an unknown one has no shape: the unknown op is the cause
        if problems[0].startswith("unknown op"):
            problems = [p for p in problems if not p.startswith("shape unknown")]
        cause = problems[0].split(":")[0]
        return fail({}, stage, cause, "; ".join(problems), problems)
    if isinstance(exc, TargetError) and "does not fit" in message:
        return fail({}, stage, "does not fit mps2-an386", message[:300])
    if isinstance(exc, BuildError):
        lines = [line for line in exc.output.splitlines() if "error" in line]
        return fail({}, stage, "C build error", (lines[0] if lines else message)[:300])
    if isinstance(exc, EdgecError):
        cause = f"error: {type(exc).__name__}"
        # one group for the same refusal at different nodes: node names left out
        general = re.sub(r"node '[^']*'", "node", message)[:160]
        return fail({}, stage, cause, message[:300], [f"{cause}: {general}"])
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/edgec/" in f.filename]
    where = (
        f" at {Path(frames[-1].filename).name}:{frames[-1].lineno} ({frames[-1].name})"
        if frames
        else ""
    )
    cause = f"internal error: {type(exc).__name__}"
    return fail({}, stage, cause, f"{type(exc).__name__}{where}: {message[:200]}", [cause + where])


def problem_rank(problem: str) -> tuple[int, str]:
    kinds = [i for i, kind in enumerate(PROBLEM_ORDER) if problem.startswith(kind)]
    return (kinds[0] if kinds else len(PROBLEM_ORDER), problem)


def unsupported(key: str, what: str) -> str:
    """``kind: op`` for one entry of an UnsupportedOpError. The C backend's keys read
    ``OP (reason; dtype)``; the others are the bare op type."""
    if what in ("edgec", "the reference executor"):
        return f"unknown op: {key}"
    if what == "integer execution":
        return f"no integer kernel: {key}"
    if not what.startswith("the C backend"):
        return f"unsupported by {what}: {key}"
    op, _, rest = key.partition(" (")
    reason, _, dtype = rest.rstrip(")").rpartition("; ")
    if reason == "an op edgec does not know":
        return f"unknown op: {op}"
    if reason.startswith("shape unknown"):
        return f"shape unknown: {op}"
    kind = "no C kernel" if reason == "no C kernel" else f"C kernel refuses ({reason})"
    return f"{kind}: {op} {dtype}".strip()


def run_case(model: str, export: str, path: str) -> dict:
    model_path = ZOO / "models" / f"{model}.{export}.onnx"
    if not model_path.is_file():
        return fail({}, "export", "export failed", f"{model_path.name} is not in the zoo")
    with tempfile.TemporaryDirectory(prefix="edgec-zoo-") as tmp:
        if path == "analyze":
            try:
                return run_analyze(model_path)
            except Exception as exc:
                return failure(exc, "analyze")
        if path in QEMU_PATHS:
            from bench.zoo_qemu import run_qemu

            return run_qemu(model_path, Path(tmp), path)
        return (run_float if path == "float" else run_int8)(model_path, Path(tmp))


# ---- the sweep ----------------------------------------------------------------------------
def spawn(case: tuple[str, str, str], timeout: float) -> dict:
    """Run a case in a child process; a crash or a timeout is recorded as its cause."""
    model, export, path = case
    started = time.monotonic()
    entry: dict = {"model": model, "export": export, "path": path}
    command = [sys.executable, __file__, "--case", model, export, path]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
        lines = done.stdout.strip().splitlines()
        if done.returncode == 0 and lines:
            entry.update(json.loads(lines[-1]))
        else:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            entry.update(fail({}, "process", f"crash (exit {done.returncode})", tail[:300]))
    except subprocess.TimeoutExpired:
        entry.update(fail({}, "process", "timeout", f"no result within {timeout:.0f} s"))
    entry["seconds"] = round(time.monotonic() - started, 1)
    return entry


def merge(entry: dict) -> None:
    """Replace this case's entry in the results file (other cases stay)."""
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {"cases": []}
    if entry["path"] in QEMU_PATHS:
        from bench.zoo_qemu import merge_qemu

        merge_qemu(results, entry, [m["name"] for m in zoo_manifest()["models"]])
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
        return
    key = (entry["model"], entry["export"], entry["path"])
    results["cases"] = [
        c for c in results["cases"] if (c["model"], c["export"], c["path"]) != key
    ] + [entry]
    order = {m["name"]: i for i, m in enumerate(zoo_manifest()["models"])}
    results["cases"].sort(
        key=lambda c: (
            order.get(c["model"], 99),
            EXPORTS.index(c["export"]),
            PATHS.index(c["path"]),
        )
    )
    results.update(
        rtol=RTOL,
        atol=ATOL,
        min_snr_db=MIN_SNR_DB,
        samples=SAMPLES,
        calib_samples=CALIB_SAMPLES,
        zoo_versions=zoo_manifest()["versions"],
    )
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")


def op_coverage(cases: list[dict]) -> list[dict]:
    """Every op type the zoo's graphs hold after edgec's fold passes (the exported ops where
    the import fails), and whether edgec knows it and has a float and an int8 C emitter for
    it (an emitter may still refuse some attributes: the cases say which); an op with no int8
    emitter that ran as a float kernel in a passing int8 case is a "float fallback"."""
    from edgec.backends.c.lower import (
        BOUNDARY_EMITTERS,
        FLOAT_EMITTERS,
        INT_EMITTERS,
        MOVE_EMITTERS,
    )
    from edgec.ops.registry import get_op

    exported = {
        (m["name"], kind): e.get("ops", [])
        for m in zoo_manifest()["models"]
        for kind, e in m["exports"].items()
    }
    folded = {
        (c["model"], c["export"]): c.get("ops_after_fold") for c in cases if c["path"] == "analyze"
    }
    fallback = {op for c in cases if c["passed"] for op in c.get("float_ops", [])}
    # ops a passing float build ran (ArgMax's kernel sits in the integer-output table)
    ran_float = {
        op
        for c in cases
        if c["path"] == "float" and c["passed"]
        for op in folded.get((c["model"], c["export"])) or []
    }
    users: dict[str, set] = {}
    for key, ops in exported.items():
        for op in folded.get(key) or ops:
            if op != "Constant":  # data, never a kernel (left only where the import failed)
                users.setdefault(op, set()).add(key)
    rows = []
    for op, keys in sorted(users.items()):
        rows.append(
            {
                "op": op,
                "exports": len(keys),
                "models": sorted({m for m, _ in keys}),
                "known": get_op(op) is not None,
                "float_c": op in FLOAT_EMITTERS
                or op in MOVE_EMITTERS
                or op in BOUNDARY_EMITTERS
                or op in ran_float,
                "int8_c": "yes"
                if op in INT_EMITTERS or op in MOVE_EMITTERS
                else ("float fallback" if op in fallback else "no"),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-j", "--jobs", type=int, default=1, choices=(1, 2))
    parser.add_argument("--models", help="comma-separated (default: the whole zoo)")
    parser.add_argument("--exports", default=",".join(EXPORTS))
    parser.add_argument("--paths", default=",".join([*PATHS, "qemu"]))
    parser.add_argument("--qemu-export", default="legacy17", help="the export run on QEMU")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per case")
    parser.add_argument("--coverage", action="store_true", help="only redo the op table")
    parser.add_argument(
        "--case", nargs=3, metavar=("MODEL", "EXPORT", "PATH"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(*args.case), default=str))
        return
    if args.coverage:
        write_coverage()
        return
    models = [m["name"] for m in zoo_manifest()["models"]]
    if args.models:
        models = [m for m in models if m in args.models.split(",")]
    paths = [q for p in args.paths.split(",") for q in (QEMU_PATHS if p == "qemu" else [p])]
    cases = [
        (m, e, p) for m in models for e in args.exports.split(",") for p in paths if p in PATHS
    ]
    cases += [(m, args.qemu_export, p) for m in models for p in paths if p in QEMU_PATHS]
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(spawn, case, args.timeout) for case in cases]
        for future in as_completed(futures):
            entry = future.result()
            merge(entry)
            verdict = {True: "pass", None: "does not fit"}.get(entry["passed"], "FAIL")
            verdict += "" if entry["passed"] else f" {entry['detail']}"
            print(
                f"{entry['model']:20s} {entry['export']:9s} {entry['path']:8s} {verdict}",
                flush=True,
            )
    write_coverage()


def write_coverage() -> None:
    results = json.loads(RESULTS.read_text())
    results["op_coverage"] = op_coverage(results["cases"])
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
