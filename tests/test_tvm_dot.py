"""int8 on dot-product instructions (``dot_kernels.py``) and ``--tune-trials``.

The dot-product kernels are chosen from the target CPU's features: SDOT for the Cortex-A76
target ``rpi5``, run under ``qemu-aarch64 -cpu cortex-a76`` and checked bit for bit against
edgec's integer reference (the host runs them too where it has AVX-512 VNNI: the int8 tests of
test_tvm_integer.py). ``--tune-trials``: its refusals, and the database carried over when OUT
is rebuilt (a real search takes minutes: bench material, not a test).
"""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from edgec.backends.tvm.cpu import cpu_info
from edgec.cli import main
from edgec.targets import load_board
from tests.conftest import needs_tools, shared_path
from tests.test_tvm_integer import INT8_MODELS, int8_inputs
from tests.tvm_helpers import aarch64_root, compile_tvm, validate_cli


def test_dot_product_instruction_follows_the_target_cpu():
    rpi5 = cpu_info(load_board("rpi5", "linux"))
    assert rpi5.dot is not None and "sdot" in rpi5.dot.intrinsic and rpi5.dot.lanes == 4
    assert not rpi5.dot.unsigned_input
    for plain in ("rpi4", "aarch64-linux"):  # Armv8.0: widening multiplies
        assert cpu_info(load_board(plain, "linux")).dot is None


@needs_tools("qemu-aarch64", "aarch64-linux-gnu-g++", "aarch64-linux-gnu-objdump")
@pytest.mark.parametrize("key", ["kws", "ic"])
def test_int8_on_sdot_is_bit_exact_under_qemu_cortex_a76(key, tmp_path):
    aarch64_root()
    out = tmp_path / "out"
    compile_tvm(shared_path("models", *INT8_MODELS[key]), out, "rpi5")
    listing = subprocess.run(
        ["aarch64-linux-gnu-objdump", "-d", str(out / "model.so")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "\tsdot\t" in listing  # the convolutions do run on the dot product
    np.savez(tmp_path / "data.npz", x=int8_inputs(key, 3))
    status, report, _ = validate_cli(out, tmp_path / "data.npz", "emulator")
    assert status == 0, report.get("error")
    assert report["bit_exact"] == 3 == report["samples"] and report["max_lsb_vs_reference"] == 0
    assert report["device"] == "emulator:rpi5 (qemu-aarch64 -cpu cortex-a76)"


def _compile(model, out, *extra) -> int:
    return main(["compile", str(model), "-o", str(out), "--backend", "tvm", *extra])


def test_tune_trials_are_refused_where_they_cannot_be_measured(tmp_path, capsys):
    model = shared_path("models", "hello_world_sine", "hello_world_float.onnx")
    assert _compile(model, tmp_path / "a", "--target", "rpi5", "--tune-trials", "8") != 0
    assert "use it with --target host" in capsys.readouterr().err
    assert _compile(model, tmp_path / "b", "--target", "host", "--tune-trials", "-1") != 0
    assert "give a number of trials >= 0" in capsys.readouterr().err
    args = ["compile", str(model), "-o", str(tmp_path / "c"), "--tune-trials", "8"]
    assert main(args) != 0  # the C backend
    assert "--tune-trials tunes TVM builds" in capsys.readouterr().err
    assert not any((tmp_path / name).exists() for name in "abc")


def test_the_tuning_database_survives_a_rebuild_of_the_same_out(tmp_path):
    """OUT/tuning/ is read back and written again by a recompile into OUT (0 trials: the
    records found before are applied, none searched)."""
    model = shared_path("models", "hello_world_sine", "hello_world_float.onnx")
    out = tmp_path / "out"
    compile_tvm(model, out, "host")
    assert not (out / "tuning").exists()  # untuned by default: nothing to keep
    (out / "tuning").mkdir()
    workload = '{"kind": "a workload no function of this model has"}\n'
    (out / "tuning" / "database_workload.json").write_text(workload)
    (out / "tuning" / "database_tuning_record.json").write_text("")
    assert _compile(model, out, "--target", "host", "--force") == 0
    assert (out / "tuning" / "database_workload.json").read_text() == workload
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["schedule"].startswith("edgec CPU rules")  # no record: nothing applied
    shutil.rmtree(out)


def test_tuning_with_an_ffi_that_crashes_serializing_is_refused_clearly(
    tmp_path, monkeypatch, capsys
):
    import tvm_ffi

    monkeypatch.setattr(tvm_ffi, "__version__", "0.1.15.post2")
    model = shared_path("models", "hello_world_sine", "hello_world_float.onnx")
    assert _compile(model, tmp_path / "o", "--target", "host", "--tune-trials", "4") != 0
    err = capsys.readouterr().err
    assert "apache-tvm-ffi 0.1.15.post2 crashes serializing" in err and "Traceback" not in err
    assert "pip install 'edgec[tvm-tune]'" in err and not (tmp_path / "o").exists()
