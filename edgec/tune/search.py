"""The search of ``edgec tune``: successive halving over the candidates, on Ray.

1. Every candidate is compiled and validated on the first ``subset`` samples (a Ray task
   each, on the target's emulator). Flash and RAM are exact already; instructions and the
   metric are estimates from the subset.
2. The better half of the candidates that meet every budget (at least ``keep``) are validated
   on all samples. The best of them by the metric (then the smaller flash) is copied to
   ``OUT/best``.
Every measurement is cached under ``OUT/candidates/<hash>/`` (the hash covers the model, the
options, the target and the data), so a rerun, or an interrupted one, resumes.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgec.artifact import file_sha256
from edgec.errors import EdgecError
from edgec.harness.parallel import ray_session
from edgec.reports.tune import render_tune_report
from edgec.tune.evaluate import Measurement, evaluate
from edgec.tune.space import Candidate, candidates

log = logging.getLogger(__name__)
METRICS = ("accuracy", "agreement", "snr")


@dataclass
class TuneOptions:
    calib: str
    data: str
    labels: str | None = None
    target: str | None = None
    flash: int | None = None  # bytes of flash the firmware may take
    ram: int | None = None  # bytes of RAM: the arena and the stack
    instructions: int | None = None  # per inference (median)
    metric: str | None = None  # default: accuracy with labels, else agreement
    max_candidates: int = 16
    subset: int = 50  # samples of the first stage
    keep: int = 4  # candidates validated on every sample, at least
    ray_address: str | None = None
    workers: int = 2  # local Ray CPUs (each task runs one compile or emulator)
    samples: int | None = None  # the first N samples of DATA
    input_dtype: str | None = None
    input_shape: tuple[int, ...] | None = None
    data_scale: float | None = None
    data_zero_point: int | None = None
    progress: bool = True


@dataclass
class TuneResult:
    out_dir: Path
    measurements: list[Measurement]
    best: Measurement | None
    metric: str
    budgets: dict = field(default_factory=dict)


def tune(model: str | Path, out_dir: str | Path, options: TuneOptions) -> TuneResult:
    """Search, write ``OUT/tune.json``, ``OUT/tune.html`` and ``OUT/best/``; raise an
    ``EdgecError`` naming the closest candidates when none meets every budget."""
    model, out_dir = Path(model).resolve(), Path(out_dir)
    metric = options.metric or (
        "accuracy" if options.labels or _has_labels(options) else "agreement"
    )
    if metric not in METRICS:
        raise EdgecError(f"--metric must be one of {', '.join(METRICS)}")
    budgets = {
        "flash_bytes": options.flash,
        "ram_bytes": options.ram,
        "instructions": options.instructions,
    }
    budgets = {k: v for k, v in budgets.items() if v is not None}
    out_dir.mkdir(parents=True, exist_ok=True)
    chosen = candidates(options.max_candidates)
    context = {"model": file_sha256(model), "target": options.target, "data": _data_key(options)}
    base = _compile_base(options)
    with ray_session(options.ray_address, options.workers) as ray:
        task = ray.remote(num_cpus=1)(evaluate)
        subset = min(options.subset, options.samples or options.subset)
        first = _stage(ray, task, model, out_dir, chosen, context, base, options, "subset", subset)
        ranked = sorted(
            (m for m in first if m.error is None and not breaks(m, budgets)),
            key=lambda m: _rank(m, metric),
        )
        promoted = ranked[: max(options.keep, math.ceil(len(ranked) / 2))]
        keys = {m.key for m in promoted}
        picked = [c for c in chosen if c.key(context) in keys]
        final = _stage(
            ray, task, model, out_dir, picked, context, base, options, "full", options.samples
        )
    passing = sorted(
        (m for m in final if m.error is None and not breaks(m, budgets)),
        key=lambda m: _rank(m, metric),
    )
    best = passing[0] if passing else None
    measurements = first + final
    result = TuneResult(out_dir, measurements, best, metric, budgets)
    _write(result, options, model)
    if best is None:
        raise EdgecError(no_fit_message(first, budgets, metric))
    return result


def breaks(m: Measurement, budgets: dict) -> list[str]:
    """The budgets ``m`` breaks, with the numbers."""
    broken = []
    for name, limit in budgets.items():
        value = m.ram_bytes if name == "ram_bytes" else getattr(m, name)
        if value is None or value > limit:
            shown = "unknown" if value is None else f"{value:,}"
            broken.append(f"{name.replace('_bytes', '')} {shown} > {limit:,}")
    return broken


def no_fit_message(measured: list[Measurement], budgets: dict, metric: str) -> str:
    """No candidate meets every budget: the closest ones, each with what it breaks."""

    def excess(m: Measurement) -> float:
        total = 0.0
        for name, limit in budgets.items():
            value = m.ram_bytes if name == "ram_bytes" else getattr(m, name)
            total += math.inf if value is None else max(value / limit - 1.0, 0.0)
        return total

    closest = sorted((m for m in measured if m.error is None), key=excess)[:3]
    named = "; ".join(f"{_describe(m)} ({', '.join(breaks(m, budgets))})" for m in closest)
    wanted = ", ".join(f"{k} <= {v:,}" for k, v in budgets.items())
    return (
        f"no candidate meets every budget ({wanted}); closest: {named or 'none compiled'} "
        "(tune.json has them all)"
    )


def _stage(
    ray, task, model, out_dir, chosen, context, base, options, stage, samples
) -> list[Measurement]:
    check = {
        "data": options.data,
        "labels": options.labels,
        "device": "emulator",
        "samples": samples,
        "input_dtype": options.input_dtype,
        "input_shape": options.input_shape,
        "data_scale": options.data_scale,
        "data_zero_point": options.data_zero_point,
        "progress": False,
    }
    futures = {
        task.remote(
            str(model),
            str(out_dir / "candidates" / c.key(context)),
            c.key(context),
            c.as_dict,
            base,
            check,
            stage,
        ): c
        for c in chosen
    }
    results = []
    with _progress(len(futures), f"{stage} validation", options.progress) as advance:
        pending = list(futures)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            results.append(Measurement.from_json(ray.get(done[0])))
            advance()
    order = {c.key(context): i for i, c in enumerate(chosen)}
    return sorted(results, key=lambda m: order[m.key])


def _rank(m: Measurement, metric: str) -> tuple:
    value = {"accuracy": m.accuracy, "agreement": m.agreement, "snr": m.snr_db}[metric]
    score = -value if value is not None and math.isfinite(value) else math.inf
    return score, m.flash_bytes or 0, m.ram_bytes or 0


def _describe(m: Measurement) -> str:
    return Candidate(tuple(m.options.items())).describe()


def _compile_base(options: TuneOptions) -> dict:
    """What every candidate's compile shares: the target and the calibration data."""
    return {
        "target": options.target,
        "calib": options.calib,
        "calib_dtype": options.input_dtype,
        "calib_shape": options.input_shape,
        "data_scale": options.data_scale,
        "data_zero_point": options.data_zero_point,
    }


def _data_key(options: TuneOptions) -> dict:
    def stamp(path: str | None):
        if path is None:
            return None
        p = Path(path)
        return [str(p.resolve()), p.stat().st_mtime_ns if p.exists() else None]

    return {
        "calib": stamp(options.calib),
        "data": stamp(options.data),
        "labels": stamp(options.labels),
        "samples": options.samples,
        "reading": [
            options.input_dtype,
            options.input_shape,
            options.data_scale,
            options.data_zero_point,
        ],
    }


def _has_labels(options: TuneOptions) -> bool:
    data = Path(options.data)
    if data.is_dir():
        return (data / "y_labels.csv").is_file()
    if data.suffix == ".npz":
        import numpy as np

        with np.load(data) as archive:
            return "y" in archive.files
    return False


def _write(result: TuneResult, options: TuneOptions, model: Path) -> None:
    out = result.out_dir
    rows = []
    for m in result.measurements:
        row = m.to_json()
        row["breaks"] = breaks(m, result.budgets)
        row["description"] = _describe(m)
        rows.append(row)
    summary = {
        "model": str(model),
        "target": options.target,
        "metric": result.metric,
        "budgets": result.budgets,
        "options": {k: v for k, v in asdict(options).items() if k != "progress"},
        "best": result.best.to_json() if result.best else None,
        "candidates": rows,
    }
    (out / "tune.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    (out / "tune.html").write_text(render_tune_report(summary), encoding="utf-8")
    best = out / "best"
    if best.exists():
        shutil.rmtree(best)
    if result.best is not None:
        shutil.copytree(out / "candidates" / result.best.key / "build", best)


class _progress:
    """A rich progress bar on a terminal, else nothing."""

    def __init__(self, total: int, label: str, enabled: bool):
        self.total, self.label = total, label
        self.enabled = enabled and sys.stderr.isatty()

    def __enter__(self):
        if not self.enabled:
            return lambda: None
        from rich.progress import Progress

        self.bar = Progress(transient=True)
        self.bar.__enter__()
        task = self.bar.add_task(self.label, total=self.total)
        return lambda: self.bar.advance(task)

    def __exit__(self, *exc):
        if self.enabled:
            self.bar.__exit__(*exc)
        return False
