"""report.json (strict JSON) and report.html (escaped, self-contained, with its SVG plots)."""

from __future__ import annotations

import json
import math
from html.parser import HTMLParser

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from test_per_layer import (
    CONV1,
    CONV2,
    HOSTILE,
    SAMPLES,
    float_cnn,
    int8_cnn,
    quantize_inputs,
    refuse,
    sample_inputs,
    write_data,
)

from edgec.compiler import CompileOptions, compile_model
from edgec.harness.report import json_safe, render_html, write_html, write_json
from edgec.harness.validate import ValidateOptions, validate
from tests.conftest import needs_tools


def strict_load(path):
    return json.loads(path.read_text(), parse_constant=refuse)


class Page(HTMLParser):
    """Everything a browser would see: tags with attributes, text, and <title> texts in SVG."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.titles: list[str] = []
        self.stack: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.stack:
            while self.stack.pop() != tag:
                pass

    def handle_data(self, data):
        self.text.append(data)
        if self.stack and self.stack[-1] == "title" and "svg" in self.stack:
            self.titles.append(data)

    def rects(self, fill: str | None = None) -> list[dict]:
        return [a for t, a in self.tags if t == "rect" and (fill is None or a.get("fill") == fill)]


def assert_safe(page: Page) -> None:
    """No markup from the model became markup in the page, and nothing loads from outside."""
    names = {tag for tag, _ in page.tags}
    assert names.isdisjoint({"script", "img", "iframe", "object", "link", "b"})
    for _, attrs in page.tags:
        assert not any(key.startswith("on") for key in attrs)
        assert not any(key in ("src", "href") for key in attrs)


# ---- report.json -------------------------------------------------------------------------------
def test_report_json_is_strict_and_says_what_non_finite_values_were(tmp_path):
    report = {
        "samples": np.int64(3),
        "snr_db": math.inf,
        "vs_reference": {"snr_db": -math.inf, "cosine": math.nan, "mae": np.float32(0.5)},
        "l2_relative": math.inf,
        "instructions": {"min": 10.0, "median": np.float64(11.0), "max": 12},
        "series": [1.0, math.nan, np.int8(-3)],
        "flags": [np.bool_(True)],
    }
    path = tmp_path / "report.json"
    write_json(report, path)
    saved = strict_load(path)
    assert saved["samples"] == 3 and saved["snr_db"] is None and saved["snr_db_exact"] is True
    assert saved["vs_reference"] == {
        "snr_db": None,
        "snr_db_nonfinite": "-inf",
        "cosine": None,
        "cosine_nonfinite": "nan",
        "mae": 0.5,
    }
    assert saved["l2_relative"] is None and saved["l2_relative_nonfinite"] == "inf"
    assert saved["instructions"] == {"min": 10.0, "median": 11.0, "max": 12}
    assert saved["series"] == [1.0, None, -3] and saved["flags"] == [True]
    assert json_safe({"a": 1.5}) == {"a": 1.5}  # finite values are left alone, no extra keys


# ---- report.html from hand-made reports --------------------------------------------------------
def hand_report() -> tuple[dict, dict]:
    """A report and memory.json whose model-supplied names are all hostile."""
    layers = [
        {
            "step": 0,
            "op": "Conv",
            "node": CONV1,
            "kernel": "edgec_conv_s8",
            "value": HOSTILE,
            "shape": [1, 4, 4, 2],
            "compared": True,
            "integer": True,
            "exact_samples": 4,
            "mismatched_elements": 0,
            "max_abs_error": 0.0,
            "max_abs_error_lsb": 0,
            "snr_db": math.inf,
            "diverges": False,
        },
        {
            "step": 1,
            "op": "Relu<svg onload=alert(1)>",
            "node": CONV2,
            "kernel": "edgec_conv_s8",
            "value": "v'\"&",
            "shape": [1, 4, 4, 2],
            "compared": True,
            "integer": True,
            "exact_samples": 2,
            "mismatched_elements": 5,
            "max_abs_error": 0.25,
            "max_abs_error_lsb": 2,
            "snr_db": 20.0,
            "diverges": True,
        },
        {"step": 2, "op": "Reshape", "node": "r", "compared": False, "reason": "partial"},
    ]
    report = {
        "samples": 4,
        "target": "mps2-an386",
        "device": "emulator:mps2-an386",
        "model_sha256": "ab" * 32,
        "bit_exact": 2,
        "accuracy": {"device": 0.5, "float": 0.75},
        "agreement": 0.75,
        "max_abs_error": 0.5,
        "snr_db": math.inf,
        "instructions": {"min": 100.0, "median": 150.0, "max": 200.0},
        "memory": {"flash_bytes": 4096, "arena_bytes": 320, "stack_bytes": None},
        "per_layer": {"samples": 4, "layers": layers, "first_divergent_step": 1},
        "first_divergent_layer": f"Conv {CONV2!r} (step 1)",
        "first_divergent_step": 1,
        "predictions": {"labels": [0, 0, 1, 2], "device": [0, 1, 1, 1]},
    }
    memory = {
        "arena_bytes": 320,
        "steps": [{"op": "Conv", "node": CONV1}, {"op": "Conv", "node": CONV2}, {"op": "x"}],
        "tensors": [
            {"buffer": "t0", "value": HOSTILE, "offset": 256, "bytes": 64, "first_step": -1,
             "last_step": -1, "alias_of": None},
            {"buffer": "t1", "value": "in NHWC </title><script>", "offset": 256, "bytes": 64,
             "first_step": 0, "last_step": 0, "alias_of": "t0"},
            {"buffer": "t2", "value": "a", "offset": 0, "bytes": 256, "first_step": 0,
             "last_step": 1, "alias_of": None},
            {"buffer": "t3", "value": "b", "offset": 256, "bytes": 32, "first_step": 1,
             "last_step": 3, "alias_of": None},
            {"buffer": "t4", "value": "io", "offset": -1, "bytes": 8, "first_step": 2,
             "last_step": 3, "alias_of": None},
        ],
    }  # fmt: skip
    return report, memory


def test_html_escapes_every_model_name_and_draws_three_plots(tmp_path):
    report, memory = hand_report()
    path = tmp_path / "report.html"
    write_html(report, memory, path)
    text = path.read_text()
    page = Page(text)
    assert_safe(page)
    assert "<script" not in text and "<img" not in text and "<svg onload" not in text
    assert [t for t, _ in page.tags].count("svg") == 3
    # The names reach the reader as text, exactly as the model spelled them.
    seen = "".join(page.text)
    assert CONV1 in seen and CONV2 in seen and "Relu<svg onload=alert(1)>" in seen
    assert any("in NHWC </title><script>" in t for t in page.titles)
    # Per-layer plot: one bit-exact, one diverging and one skipped step.
    assert len(page.rects("#2a9d5c")) == 1  # bit-exact
    assert len(page.rects("#c83232")) == 1  # diverging
    assert len(page.rects("#b0b0b0")) == 1  # not compared
    rows = {cells[0]: cells[1] for cells in _summary_rows(text)}
    assert rows["bit-exact vs host reference"] == "2/4"
    assert rows["accuracy vs labels (device)"] == "50.00 %"
    assert rows["accuracy vs labels (float)"] == "75.00 %"
    assert rows["SNR (dB) vs float"] == "exact"
    assert rows["instructions / inference (min / median / max)"] == "100 / 150 / 200"
    assert rows["stack bytes"] == "–" and rows["arena bytes"] == "320 B"


def test_confusion_matrix_counts_label_prediction_pairs():
    report, _ = hand_report()
    page = Page(render_html(report, None))
    cells = [t for t in page.titles if t.startswith("label ")]
    assert len(cells) == 9  # classes 0, 1, 2
    # labels 0,0,1,2 against predictions 0,1,1,1, counted by hand
    want = {(0, 0): 1, (0, 1): 1, (1, 1): 1, (2, 1): 1}
    for r in range(3):
        for c in range(3):
            assert f"label {r}, predicted {c}: {want.get((r, c), 0)}" in cells


def test_memory_timeline_draws_one_rectangle_per_arena_buffer():
    report, memory = hand_report()
    del report["per_layer"], report["predictions"]
    page = Page(render_html(report, memory))
    buffers = [t for t in page.titles if t.startswith("t")]
    # t1 shares t0's bytes (one rectangle naming both values); t4 lives outside the arena.
    assert sorted(b.split(":")[0] for b in buffers) == ["t0", "t2", "t3"]
    t0 = next(b for b in buffers if b.startswith("t0"))
    assert HOSTILE in t0 and "in NHWC </title><script>" in t0 and "steps -1…0" in t0
    t3 = next(b for b in buffers if b.startswith("t3"))
    assert "32 B at offset 256" in t3 and "steps 1…3" in t3
    # Heights are proportional to bytes: t2 (256 B) is 8 times t3 (32 B).
    heights = {t: float(a["height"]) for t, a in zip(("t0", "t2", "t3"), _buffer_rects(page))}
    assert heights["t2"] == pytest.approx(8 * heights["t3"], rel=1e-3)
    assert "1 buffer(s) live outside the arena" in "".join(page.text)


def _buffer_rects(page: Page) -> list[dict]:
    return [a for a in page.rects() if a.get("fill", "").startswith("hsl(")]


def _summary_rows(text: str) -> list[list[str]]:
    class Rows(HTMLParser):
        def __init__(self):
            super().__init__()
            self.rows, self.cell = [], None

        def handle_starttag(self, tag, attrs):
            if tag == "tr":
                self.rows.append([])
            elif tag in ("td", "th"):
                self.cell = []

        def handle_endtag(self, tag):
            if tag in ("td", "th") and self.cell is not None:
                self.rows[-1].append("".join(self.cell))
                self.cell = None

        def handle_data(self, data):
            if self.cell is not None:
                self.cell.append(data)

    parser = Rows()
    parser.feed(text)
    return [r for r in parser.rows if len(r) == 2]


# ---- validate --device host writes both reports ------------------------------------------------
@needs_tools("gcc")
def test_validate_on_host_writes_strict_json_and_escaped_html(tmp_path):
    model = float_cnn()
    onnx.save(model, tmp_path / "cnn.onnx")
    x = sample_inputs(SAMPLES)
    session = ort.InferenceSession(str(tmp_path / "cnn.onnx"), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    classes = np.array([session.run(None, {name: s[None]})[0].argmax() for s in x])
    labels = classes.copy()
    labels[:3] = (labels[:3] + 1) % 3  # 3 of 8 wrong: accuracy 62.5 % if the device agrees
    data = write_data(tmp_path / "data.npz", x, labels)
    out = compile_model(tmp_path / "cnn.onnx", tmp_path / "out", CompileOptions()).out_dir
    report = validate(out, ValidateOptions(data=str(data), device="host", progress=False))
    saved = strict_load(out / "validation" / "report.json")
    assert saved["samples"] == SAMPLES and saved["bit_exact"] is None
    assert saved["accuracy"] == {"device": 0.625, "float": 0.625}
    assert saved["predictions"] == {
        "labels": labels.tolist(),
        "device": classes.tolist(),
        "float": classes.tolist(),
    }
    assert "per_layer" not in saved  # the host build dumps no layers
    text = (out / "validation" / "report.html").read_text()
    page = Page(text)
    assert_safe(page)
    assert [t for t, _ in page.tags].count("svg") == 2  # confusion matrix, memory timeline
    assert any(HOSTILE in t for t in page.titles)  # the input buffer's value name, as text
    rows = {cells[0]: cells[1] for cells in _summary_rows(text)}
    assert rows["accuracy vs labels (device)"] == "62.50 %"
    assert (
        rows["samples"] == str(SAMPLES)
        and rows["arena bytes"] == f"{report['memory']['arena_bytes']:,} B"
    )


@needs_tools("gcc")
def test_validate_int8_on_host_is_bit_exact_and_reports_it(tmp_path):
    model, act = int8_cnn(sample_inputs(32, seed=3))
    onnx.save(model, tmp_path / "cnn8.onnx")
    xq = quantize_inputs(sample_inputs(SAMPLES))
    data = write_data(tmp_path / "data.npz", xq, np.zeros(SAMPLES, dtype=np.int64))
    out = compile_model(tmp_path / "cnn8.onnx", tmp_path / "out", CompileOptions()).out_dir
    validate(out, ValidateOptions(data=str(data), device="host", report_dir=str(tmp_path / "r")))
    saved = strict_load(tmp_path / "r" / "report.json")
    assert saved["bit_exact"] == SAMPLES
    assert saved["vs_reference"]["max_abs_error"] == 0.0
    assert saved["vs_reference"]["snr_db"] is None and saved["vs_reference"]["snr_db_exact"]
    # vs onnxruntime (float rescaling) the int8 outputs are at most 1 LSB apart.
    assert saved["max_abs_error"] <= float(act[3][0]) * (1 + 1e-6)
    rows = {
        cells[0]: cells[1] for cells in _summary_rows((tmp_path / "r" / "report.html").read_text())
    }
    assert rows["bit-exact vs host reference"] == f"{SAMPLES}/{SAMPLES}"


@needs_tools("gcc")
@pytest.mark.parametrize("done", [5, 0])
def test_a_run_that_stops_early_still_writes_both_reports(tmp_path, monkeypatch, done):
    from edgec.errors import EdgecError
    from edgec.harness import validate as validate_module

    onnx.save(float_cnn(), tmp_path / "cnn.onnx")
    data = write_data(tmp_path / "data.npz", sample_inputs(SAMPLES), np.arange(SAMPLES) % 3)
    out = compile_model(tmp_path / "cnn.onnx", tmp_path / "out", CompileOptions()).out_dir
    host_run = validate_module.run_device
    fault = f"sample {done} ({HOSTILE}): the device faulted"

    def fails_after(*args):
        run = host_run(*args)
        run.outputs, run.error = run.outputs[:done], fault
        return run

    monkeypatch.setattr(validate_module, "run_device", fails_after)
    with pytest.raises(EdgecError, match=f"report written for {done} completed samples"):
        validate(out, ValidateOptions(data=str(data), device="host", report_dir=str(tmp_path)))
    saved = strict_load(tmp_path / "report.json")
    assert saved["samples"] == done and saved["error"] == fault
    if done:
        assert len(saved["predictions"]["labels"]) == done
    text = (tmp_path / "report.html").read_text()
    assert_safe(Page(text))
    rows = {cells[0]: cells[1] for cells in _summary_rows(text)}
    assert rows["stopped early"] == fault
    assert rows["samples"] == str(done)
