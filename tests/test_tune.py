"""``edgec tune`` on the digits CNN: candidates compiled and validated on the emulated board as
Ray tasks, the best one within the budgets in OUT/best, the report in tune.html, a rerun from
the cache, and a clear message when no candidate fits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from browser import render

from edgec.errors import EdgecError
from edgec.harness.validate import ValidateOptions, validate
from edgec.tune import TuneOptions, tune
from edgec.tune.space import candidates

DIGITS = Path(__file__).resolve().parent.parent / "examples" / "digits"
FLASH = 13_500  # the plain int8 build takes 13,780 B: something must shrink it


def options(**changes) -> TuneOptions:
    settings = dict(
        calib=str(DIGITS / "calib.npz"),
        data=str(DIGITS / "test.npz"),
        flash=FLASH,
        max_candidates=4,
        subset=20,
        samples=60,
        keep=2,
        workers=2,
        progress=False,
    )
    return TuneOptions(**{**settings, **changes})


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    out = tmp_path_factory.mktemp("tune") / "out"
    return out, tune(DIGITS / "digits_cnn.onnx", out, options())


def test_every_candidate_is_validated_and_the_best_fits(tuned):
    out, result = tuned
    summary = json.loads((out / "tune.json").read_text())
    first = [c for c in summary["candidates"] if c["stage"] == "subset"]
    assert len(first) == 4
    assert all(c["bit_exact"] == c["samples"] == 20 for c in first if c["error"] is None)
    best = summary["best"]
    assert best["stage"] == "full" and best["samples"] == 60 and best["bit_exact"] == 60
    assert best["flash_bytes"] <= FLASH and not result.best.error
    fitting = [c for c in summary["candidates"] if c["stage"] == "full" and not c["breaks"]]
    assert best["accuracy"] == max(c["accuracy"] for c in fitting)


def test_the_best_folder_is_the_best_build(tuned, tmp_path):
    out, result = tuned
    report = validate(
        out / "best",
        ValidateOptions(
            data=str(DIGITS / "test.npz"), device="host", samples=20, report_dir=str(tmp_path)
        ),
    )
    assert report["bit_exact"] == 20
    manifest = json.loads((out / "best" / "manifest.json").read_text())
    for key, value in result.best.options.items():
        assert manifest["options"][key] == value


def test_a_rerun_reads_the_cache(tuned):
    out, result = tuned
    saved = sorted(out.glob("candidates/*/subset.json"))
    stamps = [p.stat().st_mtime_ns for p in saved]
    again = tune(DIGITS / "digits_cnn.onnx", out, options())
    assert [p.stat().st_mtime_ns for p in saved] == stamps
    assert again.best.key == result.best.key


def test_tune_html_draws_the_pareto_plots(tuned, tmp_path):
    out, _ = tuned
    page = render(out / "tune.html", tmp_path)
    assert page.console == [] and page.svg_count() >= 3
    assert "against flash" in page.dom


def test_no_candidate_within_the_budget_names_the_closest(tmp_path):
    with pytest.raises(EdgecError, match=r"no candidate meets every budget.*flash .* > 2,000"):
        tune(DIGITS / "digits_cnn.onnx", tmp_path / "out", options(flash=2_000, max_candidates=2))
    assert (tmp_path / "out" / "tune.json").is_file()


def test_the_space_starts_with_the_plain_and_the_smallest_builds():
    first, second, *_ = candidates(8)
    assert first.as_dict["quantize"] == "int8" and first.as_dict["cluster"] is None
    assert second.as_dict["weight_bits"] == 4 and second.as_dict["kernel_scratch"] == "free"
    assert second.as_dict["prune_budget"] == 3.0
    # clustering is never combined with 4-bit weights or 16x8 (the compiler refuses both)
    for c in candidates(1000):
        if c.as_dict["cluster"]:
            assert c.as_dict["weight_bits"] == 8 and c.as_dict["quantize"] == "int8"
    assert len({c.options for c in candidates(40)}) == len(candidates(40))
