"""``--tune-trials N``: TVM's MetaSchedule searches schedules for the fused functions.

The search is TVM's own (``meta_schedule.relax_integration.tune_relax``: evolutionary search,
XGBoost cost model, candidates built and timed on this computer), run on the module as
``pipeline.fused_module`` leaves it, so its records match the functions the build schedules.
Its JSON database is kept in ``OUT/tuning/`` and read again on the next compile into the same
folder: a recompile (with or without more trials) applies the records found so far, and more
trials continue from them. Records name their workload by its structure and their target, so
those of another model or target are simply not used. Functions without a record keep
edgec's rules (``schedule.py``); the default (0 trials) searches nothing.

Candidates are timed here, so tuning is offered for ``--target host`` only: a board's
timings cannot be had without running on it.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from edgec.errors import EdgecError

log = logging.getLogger(__name__)

TUNING_DIR = "tuning"
BUILD_SECONDS, RUN_SECONDS = 120, 60
# apache-tvm-ffi from this version on crashes (SIGSEGV) serializing IR with apache-tvm 0.27,
# which MetaSchedule's database and builder do for every candidate.
BROKEN_FFI = (0, 1, 15)
DATABASE_FILES = ("database_workload.json", "database_tuning_record.json")


def check_tuning(trials: int, cross: bool) -> None:
    """``--tune-trials`` must be >= 0, and > 0 only for targets that run on this computer."""
    if trials < 0:
        raise EdgecError(f"--tune-trials {trials}: give a number of trials >= 0")
    if trials and cross:
        raise EdgecError(
            "--tune-trials times each candidate schedule on this computer: use it with "
            "--target host (a board's build would be tuned to the wrong CPU)"
        )


def check_search_available() -> None:
    """MetaSchedule's search needs psutil, xgboost and an apache-tvm-ffi that serializes."""
    import re

    import tvm_ffi

    numbers = tuple(int(n) for n in re.findall(r"\d+", tvm_ffi.__version__)[:3])
    if numbers >= BROKEN_FFI:
        raise EdgecError(
            f"--tune-trials: apache-tvm-ffi {tvm_ffi.__version__} crashes serializing TVM "
            "0.27's IR (MetaSchedule's database does): pip install 'edgec[tvm-tune]' "
            "(apache-tvm-ffi 0.1.14.post0)"
        )
    for module in ("psutil", "xgboost"):
        try:
            __import__(module)
        except ImportError:
            raise EdgecError(
                f"--tune-trials needs {module} (MetaSchedule's search): pip install "
                "'edgec[tvm-tune]'"
            ) from None


def previous_database(previous: Path | None) -> dict[str, bytes]:
    """The tuning database files of an earlier build in ``previous`` (OUT), if any."""
    if previous is None:
        return {}
    folder = previous / TUNING_DIR
    return {
        name: (folder / name).read_bytes() for name in DATABASE_FILES if (folder / name).is_file()
    }


def tune(mod, cpu, float_graph: bool, trials: int, work: Path, seed: dict[str, bytes]) -> bool:
    """Run ``trials`` MetaSchedule trials over ``mod``'s fused functions with the database in
    ``work`` (``seed``'s files first); True when ``work`` then holds records to apply."""
    work.mkdir(parents=True, exist_ok=True)
    for name, data in seed.items():
        (work / name).write_bytes(data)
    if trials > 0:
        check_search_available()
        import tvm
        from tvm.s_tir import meta_schedule as ms

        from edgec.backends.tvm.pipeline import fused_module

        fused = fused_module(mod, cpu, float_graph)
        log.info("MetaSchedule: %d trials in %s", trials, work)
        try:
            ms.relax_integration.tune_relax(
                fused,
                {},
                tvm.target.Target(_tuning_target(cpu.llvm)),
                str(work),
                max_trials_global=trials,
                num_trials_per_iter=min(64, trials),
                # one build and one timing at a time, with room for a busy machine: the
                # defaults (a worker per core, 30 s) time out while TVM starts its workers
                builder=ms.builder.LocalBuilder(max_workers=1, timeout_sec=BUILD_SECONDS),
                runner=ms.runner.LocalRunner(timeout_sec=RUN_SECONDS),
                seed=0,
            )
        except Exception as exc:  # TVM raises its own errors from the search
            raise EdgecError(f"MetaSchedule tuning failed: {exc}") from None
        for junk in work.iterdir():  # logs and the cost model: only the database is kept
            if junk.name not in DATABASE_FILES:
                shutil.rmtree(junk) if junk.is_dir() else junk.unlink()
    record = work / DATABASE_FILES[1]
    return record.is_file() and record.stat().st_size > 0


def _tuning_target(llvm: dict) -> dict:
    """MetaSchedule's CPU rules want the thread count in the target."""
    import os

    return {**llvm, "num-cores": os.cpu_count() or 1}


def database_files(work: Path) -> dict[str, bytes]:
    """The database as OUT's files (``tuning/...``)."""
    return {
        f"{TUNING_DIR}/{name}": (work / name).read_bytes()
        for name in DATABASE_FILES
        if (work / name).is_file()
    }
