"""The TVM backend's aarch64 path end to end: cross-built libraries run by the runner under
qemu-aarch64 over the Debian arm64 root of ``edgec emulator setup aarch64`` (``make test``
prepares it), validated through ``edgec validate`` against onnxruntime on ten inputs each;
and the clear errors when the emulator is not set up or cannot be made."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest

from edgec.cli import main
from tests.conftest import needs_tools, shared_path
from tests.tvm_cases import SHARED_FLOAT_MODELS, shared_inputs
from tests.tvm_helpers import (
    aarch64_root,
    check_float_validation,
    compile_tvm,
    onnxruntime_outputs,
    validate_cli,
)

pytestmark = needs_tools("qemu-aarch64", "aarch64-linux-gnu-g++", "debootstrap")


@pytest.mark.parametrize("case", SHARED_FLOAT_MODELS, ids=lambda c: c.key)
def test_shared_float_model_under_qemu_aarch64(case, tmp_path):
    aarch64_root()
    model = shared_path(*case.path)
    x = shared_inputs(case.key)
    np.savez(tmp_path / "data.npz", x=x)
    out = tmp_path / "out"
    compile_tvm(model, out, "aarch64-linux")
    name = onnx.load(str(model)).graph.input[0].name
    expected = onnxruntime_outputs(model, {name: x})
    status, report, saved = validate_cli(out, tmp_path / "data.npz", None)  # default: emulator
    check_float_validation(status, report, saved, expected)
    assert report["device"] == "emulator:aarch64-linux (qemu-aarch64)"
    assert "user-mode emulation" in report["timing"] and "not board speed" in report["timing"]


def test_rpi4_build_runs_under_qemu_as_a_cortex_a72(tmp_path):
    aarch64_root()
    model = shared_path("models", "hello_world_sine", "hello_world_float.onnx")
    x = shared_inputs("hello_world")
    np.savez(tmp_path / "data.npz", x=x)
    out = tmp_path / "out"
    compile_tvm(model, out, "rpi4")
    status, report, saved = validate_cli(out, tmp_path / "data.npz", "emulator")
    name = onnx.load(str(model)).graph.input[0].name
    check_float_validation(status, report, saved, onnxruntime_outputs(model, {name: x}))
    assert report["device"] == "emulator:rpi4 (qemu-aarch64 -cpu cortex-a72)"


def test_without_the_emulator_root_the_error_names_the_setup_command(tmp_path, monkeypatch, capsys):
    model = shared_path("models", "hello_world_sine", "hello_world_float.onnx")
    out = tmp_path / "out"
    compile_tvm(model, out, "aarch64-linux")
    np.savez(tmp_path / "data.npz", x=shared_inputs("hello_world"))
    monkeypatch.setenv("EDGEC_CACHE", str(tmp_path / "empty-cache"))
    status = main(["validate", str(out), "--data", str(tmp_path / "data.npz")])
    err = capsys.readouterr().err
    assert status != 0 and "Traceback" not in err
    assert "run `edgec emulator setup aarch64` once" in err
    # --device host cannot load an aarch64 library here, and says what to do instead.
    status = main(["validate", str(out), "--data", str(tmp_path / "data.npz"), "--device", "host"])
    assert status != 0 and "compile with --target host" in capsys.readouterr().err


def test_setup_is_idempotent(capsys):
    root = aarch64_root()
    assert main(["emulator", "setup", "aarch64"]) == 0
    assert "already set up" in capsys.readouterr().out
    assert root.python.exists() and not list(root.site.glob("tvm/lib/libtvm_compiler.so"))


@pytest.mark.skipif(
    os.geteuid() != 0 and not os.environ.get("CI"), reason="debootstrap needs root (CI has it)"
)
def test_setup_with_an_unreachable_mirror_fails_clearly_and_leaves_nothing(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("EDGEC_CACHE", str(tmp_path / "cache"))
    status = main(["emulator", "setup", "aarch64", "--mirror", "http://127.0.0.1:9/debian"])
    err = capsys.readouterr().err
    assert status != 0 and "Traceback" not in err
    assert "debootstrap of Debian bookworm arm64 from http://127.0.0.1:9/debian failed" in err
    assert not (tmp_path / "cache" / "aarch64").exists()
    assert not [p for p in (tmp_path / "cache").glob(".aarch64.*")]  # no half-made root
