"""The compile and validation reports as a person sees them: rendered by headless Chromium,
each page must show its charts, draw something and log nothing to the console."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser import render

from edgec.compiler import CompileOptions, compile_model
from edgec.harness.validate import ValidateOptions, validate

DIGITS = Path(__file__).resolve().parent.parent / "examples" / "digits"


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    work = tmp_path_factory.mktemp("reports")
    options = CompileOptions(quantize="int8", calib=str(DIGITS / "calib.npz"))
    out = compile_model(DIGITS / "digits_cnn.onnx", work / "out", options).out_dir
    validate(
        out,
        ValidateOptions(
            data=str(DIGITS / "test.npz"),
            device="emulator",
            samples=24,
            per_layer=True,
            profile=True,
            progress=False,
        ),
    )
    return work, out


def test_compile_report_shows_its_charts_in_chromium(reports):
    work, out = reports
    page = render(out / "report.html", work)
    assert page.console == []
    # MACs, weight bytes by format, arena timeline, live bytes by kind, flash, SQNR
    assert page.svg_count() >= 3
    assert page.inked_fraction() > 0.02 and page.colours() > 8
    assert "Multiply-accumulates per layer" in page.dom


def test_validation_report_shows_its_charts_in_chromium(reports):
    work, out = reports
    page = render(out / "validation" / "report.html", work)
    assert page.console == []
    # per-layer error, per-layer vs float, profile, per-sample counts, confusion, timeline
    assert page.svg_count() >= 5
    assert page.inked_fraction() > 0.02 and page.colours() > 8
    for heading in ("Instructions per layer", "Per-layer error against the float model"):
        assert heading in page.dom


def test_the_checks_see_a_blank_page_and_a_console_error(tmp_path):
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>")
    page = render(blank, tmp_path, height=600)
    assert page.inked_fraction() < 0.001 and page.svg_count() == 0
    noisy = tmp_path / "noisy.html"
    noisy.write_text("<!DOCTYPE html><html><body><script>missing()</script></body></html>")
    assert render(noisy, tmp_path, height=600).console != []
