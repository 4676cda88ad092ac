"""The ``edgec`` command line: in-process ``main(argv)`` and ``python -m edgec`` subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from conftest import ROOT, shared_path
from onnx import TensorProto, helper, save_model

import edgec
from edgec import cli

KWS = ("models", "kws_dscnn", "kws_ref_model_float32.onnx")
VWW_NHWC = ("models", "vww_mobilenet", "tf2onnx_nhwc", "vww_96_float.onnx")
KWS_MACS = 2_656_768  # models/README.md


def run_edgec(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120"}
    for forcing in ("FORCE_COLOR", "TTY_COMPATIBLE"):  # rich would draw boxes into the pipe
        env.pop(forcing, None)
    return subprocess.run(
        [sys.executable, "-m", "edgec", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_line_error(stderr: str, *fragments: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("edgec: error: "), stderr
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in lines[0]


def small_model(path: Path, op: str = "Relu", dims=(1, 4)) -> Path:
    """x -> Relu -> <op> -> Relu -> y, float32; ``dims`` may hold symbolic names."""
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="first"),
        helper.make_node(op, ["a"], ["b"], name="middle"),
        helper.make_node("Relu", ["b"], ["y"], name="last"),
    ]
    graph = helper.make_graph(
        nodes,
        "small",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(dims))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    save_model(model, str(path))
    return path


# ---- the happy path -------------------------------------------------------------------------
def test_python_dash_m_json():
    result = run_edgec("analyze", str(shared_path(*KWS)), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["totals"]["macs"] == KWS_MACS
    assert data["folded"] is True
    assert result.stderr == ""


def test_plain_table_when_not_a_terminal():
    result = run_edgec("analyze", str(shared_path(*KWS)))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "┃" not in out and "│" not in out  # no box drawing in a pipe
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["#", "op", "output", "shape", "params"]
    assert any(line.split()[1:3] == ["Conv+Relu", "1x64x25x5"] for line in lines[1:])
    assert f"{KWS_MACS:,}" in next(line for line in lines if line.startswith("MACs:"))


def test_main_in_process(capsys):
    assert cli.main(["analyze", str(shared_path(*KWS)), "--json", "--no-fold"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["folded"] is False
    assert data["totals"]["macs"] == KWS_MACS
    assert "Relu" in [row["op"] for row in data["rows"]]


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"edgec {edgec.__version__}"
    result = run_edgec("--help")
    assert result.returncode == 0
    assert "analyze" in result.stdout


def test_verbose_before_or_after_the_subcommand(capsys):
    model = str(shared_path(*KWS))
    assert cli.main(["-v", "analyze", model, "--json"]) == 0
    assert cli.main(["analyze", model, "--json", "-vv"]) == 0
    capsys.readouterr()


def test_dynamic_batch_notice_goes_to_stderr(capsys):
    assert cli.main(["analyze", str(shared_path(*VWW_NHWC)), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["inputs"][0]["shape"] == [1, 96, 96, 3]
    assert "edgec: note: " in captured.err and "symbolic batch dim" in captured.err


def test_input_shape_fixes_a_symbolic_dim(tmp_path, capsys):
    model = small_model(tmp_path / "seq.onnx", dims=(1, "T"))
    assert cli.main(["analyze", str(model), "--json", "--input-shape", "x=1,16"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["inputs"][0]["shape"] == [1, 16]
    assert data["outputs"][0]["shape"] == [1, 16]


def test_unknown_op_is_listed_and_analysis_succeeds(tmp_path):
    model = small_model(tmp_path / "custom.onnx", op="MyCustomOp")
    result = run_edgec("analyze", str(model), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["unsupported_ops"] == {"MyCustomOp": ["middle"]}
    assert data["totals"]["macs_complete"] is False
    table = run_edgec("analyze", str(model))
    assert table.returncode == 0, table.stderr
    assert "unsupported ops:" in table.stdout and "MyCustomOp (middle)" in table.stdout
    middle = next(line for line in table.stdout.splitlines() if line.rstrip().endswith("middle"))
    assert middle.split()[1:3] == ["MyCustomOp", "?"]


# ---- errors: one line, no traceback, non-zero -----------------------------------------------
def test_missing_file(tmp_path):
    result = run_edgec("analyze", str(tmp_path / "nope.onnx"))
    assert result.returncode == 1
    assert_one_line_error(result.stderr, "nope.onnx", "no such file")


def test_not_an_onnx_file(tmp_path):
    bogus = tmp_path / "notes.onnx"
    bogus.write_text("this is not a protobuf\n" * 20)
    result = run_edgec("analyze", str(bogus))
    assert result.returncode == 1
    assert_one_line_error(result.stderr, "notes.onnx")


def test_symbolic_dim_without_input_shape(tmp_path):
    model = small_model(tmp_path / "seq.onnx", dims=(1, "T"))
    result = run_edgec("analyze", str(model))
    assert result.returncode == 1
    assert_one_line_error(result.stderr, "symbolic", "--input-shape")


@pytest.mark.parametrize("spec", ["x", "x=1,a", "=1,2", "x=1,0", "x=1,-3", "x=1,,2"])
def test_bad_input_shape_syntax(spec, capsys):
    status = cli.main(["analyze", str(shared_path(*KWS)), "--input-shape", spec])
    assert status == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert_one_line_error(captured.err, "--input-shape", "NAME=D0,D1")


def test_input_shape_naming_no_input(capsys):
    status = cli.main(["analyze", str(shared_path(*KWS)), "--input-shape", "nope=1,2"])
    assert status == 1
    assert_one_line_error(capsys.readouterr().err, "nope")


def test_internal_error_is_one_line_without_verbose(monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr("edgec.support.analyze", broken)
    assert cli.main(["analyze", "model.onnx"]) == cli.EXIT_INTERNAL
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "internal error" in err and "simulated bug" in err and "report" in err
    assert "Traceback" not in err

    assert cli.main(["-v", "analyze", "model.onnx"]) == cli.EXIT_INTERNAL
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("edgec: internal error")


def test_keyboard_interrupt_exits_130(monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("edgec.support.analyze", interrupted)
    assert cli.main(["analyze", "model.onnx"]) == 130
    assert "Traceback" not in capsys.readouterr().err


def test_model_names_cannot_break_lines(tmp_path):
    model = small_model(tmp_path / "names.onnx")
    proto = onnx.load(str(model))
    proto.graph.node[1].name = "evil\nname [bold]x[/bold]"
    save_model(proto, str(model))
    result = run_edgec("analyze", str(model))
    assert result.returncode == 0, result.stderr
    assert "evil\\nname [bold]x[/bold]" in result.stdout


def test_public_api_names_resolve_to_the_objects_the_modules_define():
    import edgec.compiler
    import edgec.harness.validate

    for name in edgec.__all__:
        assert getattr(edgec, name) is not None, name
    assert edgec.compile_model is edgec.compiler.compile_model
    assert edgec.validate is edgec.harness.validate.validate
    assert issubclass(edgec.LinkError, edgec.EdgecError)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = edgec.nope
