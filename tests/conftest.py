"""Shared fixtures: where the third-party models and data live, seeded RNGs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

# In CI every hypothesis test draws the same examples on every run, so a red CI names a
# change, not a lucky draw; on a developer's machine the draws vary and keep exploring
# (a failure found there becomes an explicit example or a fix).
settings.register_profile("ci", derandomize=True, database=None, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("EDGEC_SHARED", ROOT.parent / "shared"))


def shared_path(*parts: str) -> Path:
    """A path under ../shared; fails (never skips) in CI when the folder is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        message = f"{path} is missing (the shared models and data sit beside the checkout)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261122)


def pytest_terminal_summary(terminalreporter) -> None:
    """Counts of the ONNX conformance cases when they ran (tests/test_conformance.py)."""
    outcomes: dict[str, dict[str, tuple[str, str]]] = {"conformance": {}, "node_conformance": {}}
    for key in ("passed", "failed"):
        for report in terminalreporter.stats.get(key, []):
            properties = dict(getattr(report, "user_properties", ()))
            for kind, cases in outcomes.items():
                if kind in properties and report.when == "call":
                    case = report.nodeid.split("[", 1)[-1].rstrip("]")
                    cases[case] = (properties[kind], report.outcome)
    if not any(outcomes.values()):
        return
    write = terminalreporter.write_line
    terminalreporter.section("ONNX conformance")
    backend = outcomes["conformance"]
    if backend:
        supported = [c for c, (s, _) in backend.items() if s == "supported"]
        passed = [c for c in supported if backend[c][1] == "passed"]
        write(f"backend cases: {len(backend)}, supported {len(supported)}, passed {len(passed)}")
        declined: dict[str, list[str]] = {}
        for case, (status, outcome) in sorted(backend.items()):
            if status != "supported":
                mark = "" if outcome == "passed" else " (FAILED)"
                reason = status.removeprefix("unsupported: ")
                declined.setdefault(reason, []).append(case.split("/")[-1] + mark)
        for reason, cases in declined.items():
            write(f"  unsupported ({reason}): {', '.join(cases)}")
    nodes = outcomes["node_conformance"]
    if nodes:
        reasons: dict[str, int] = {}
        for status, _ in nodes.values():
            reasons[status] = reasons.get(status, 0) + 1
        failed = sum(1 for _, outcome in nodes.values() if outcome != "passed")
        shown = ", ".join(f"{count} {status}" for status, count in sorted(reasons.items()))
        write(f"onnx node cases of registered ops: {len(nodes)} ({shown}); {failed} failed")


def needs_tools(*tools: str):
    """Skip when an external tool is missing, except in CI, where .ci/run installs them all:
    there the test runs and fails, so a missing toolchain never hides behind a skip."""
    import shutil

    missing = [t for t in tools if shutil.which(t) is None]
    return pytest.mark.skipif(
        bool(missing) and not os.environ.get("CI"), reason=f"needs {', '.join(missing)}"
    )
