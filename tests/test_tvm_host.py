"""The TVM backend on this computer: every float model in ../shared and a light model-zoo
network, compiled with ``--backend tvm --target host`` and validated through ``edgec
validate --device host`` against onnxruntime on ten inputs each; the output folder; QDQ."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from edgec import protocol as P
from edgec.artifact import Manifest
from edgec.backends.tvm.compile import integer_numerics
from edgec.cli import main
from edgec.errors import DeviceError
from edgec.harness.device import DeviceClient, DeviceOptions
from edgec.harness.link import PipeLink
from tests.conftest import shared_path
from tests.tvm_cases import (
    SHARED_FLOAT_MODELS,
    light_inputs,
    light_model,
    shared_inputs,
)
from tests.tvm_helpers import (
    DIGITS,
    check_float_validation,
    compile_digits_quantized,
    compile_tvm,
    onnxruntime_outputs,
    validate_cli,
)


@pytest.mark.parametrize("case", SHARED_FLOAT_MODELS, ids=lambda c: c.key)
def test_shared_float_model_on_host(case, tmp_path):
    model = shared_path(*case.path)
    x = shared_inputs(case.key)
    np.savez(tmp_path / "data.npz", x=x)
    out = tmp_path / "out"
    compile_tvm(model, out, "host")
    name = onnx.load(str(model)).graph.input[0].name
    expected = onnxruntime_outputs(model, {name: x})
    status, report, saved = validate_cli(out, tmp_path / "data.npz", "host")
    check_float_validation(status, report, saved, expected)
    assert report["device"] == "host" and report["target"] == "host"
    assert report["timing"] == "wall-clock on this computer"


def test_light_squeezenet_with_random_weights_on_host(tmp_path):
    model = light_model("squeezenet", tmp_path / "squeezenet.onnx")
    data = light_inputs(model)
    np.savez(tmp_path / "data.npz", **data)
    out = tmp_path / "out"
    compile_tvm(model, out, "host")
    status, report, saved = validate_cli(out, tmp_path / "data.npz", "host")
    check_float_validation(status, report, saved, onnxruntime_outputs(model, data))


def test_output_folder_and_manifest(tmp_path):
    import tvm

    model = shared_path("models", "hello_world_sine", "hello_world_float.onnx")
    out = tmp_path / "out"
    compile_tvm(model, out, "aarch64-linux")
    manifest = json.loads((out / "manifest.json").read_text())
    from edgec.artifact import file_sha256

    assert manifest["model_sha256"] == file_sha256(model)
    assert manifest["backend"] == "tvm" and manifest["tvm_version"] == tvm.__version__
    assert manifest["target"] == "aarch64-linux" and manifest["arch"] == "aarch64"
    assert manifest["llvm_target"] == {
        "kind": "llvm",
        "mtriple": "aarch64-linux-gnu",
        "mattr": ["+neon"],
    }
    assert manifest["inputs"][0]["dtype"] == "float32" and manifest["numerics"] == "float32"
    library = (out / "model.so").read_bytes()
    assert library[:4] == b"\x7fELF" and library[18] == 183  # e_machine EM_AARCH64
    assert manifest["library_bytes"] == len(library)
    # The runner's protocol module is a copy of edgec's own, byte for byte.
    copy = out / "runner" / "edgec" / "protocol.py"
    assert copy.read_bytes() == Path(P.__file__).read_bytes()


def test_runner_refuses_per_layer_commands_and_answers_repeated_runs(tmp_path):
    model = shared_path("models", "hello_world_sine", "hello_world_float.onnx")
    out = tmp_path / "out"
    compile_tvm(model, out, "host")
    import sys

    with PipeLink([sys.executable, str(out / "runner" / "runner.py")]) as link:
        client = DeviceClient(link, DeviceOptions(connect_timeout=60))
        client.wait_boot(60)
        info = client.get_info()
        assert info.count_unit == "nanoseconds" and info.target == "host"
        assert [p.shape for p in info.inputs] == [(1, 1)]
        client.set_input(0, np.float32([[1.0]]).tobytes())
        first = client.run()
        client.seq -= 1  # the same sequence number again: answered from the cache
        assert client.run() == first
        out_bytes = client.get_output(0, 4)
        assert P.crc32(out_bytes) == first.output_crc
        with pytest.raises(DeviceError, match=r"UNKNOWN_COMMAND.*per-layer dumps"):
            client.dump(0)


def test_backend_and_target_kinds_must_match(tmp_path, capsys):
    model = shared_path("models", "hello_world_sine", "hello_world_float.onnx")
    status = main(
        [
            "compile",
            str(model),
            "-o",
            str(tmp_path / "a"),
            "--backend",
            "tvm",
            "--target",
            "mps2-an386",
        ]
    )
    assert status != 0
    assert "needs a Linux board (--backend tvm)" in capsys.readouterr().err
    status = main(["compile", str(model), "-o", str(tmp_path / "b"), "--target", "rpi4"])
    assert status != 0
    assert "needs a microcontroller (--backend c)" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_c_only_options_and_per_layer_are_refused(tmp_path, capsys):
    model = shared_path("models", "hello_world_sine", "hello_world_float.onnx")
    status = main(
        [
            "compile",
            str(model),
            "-o",
            str(tmp_path / "a"),
            "--backend",
            "tvm",
            "--io-layout",
            "nhwc",
        ]
    )
    assert status != 0 and "--io-layout applies to the C backend" in capsys.readouterr().err
    out = tmp_path / "out"
    compile_tvm(model, out, "host")
    np.savez(tmp_path / "d.npz", x=np.zeros((2, 1, 1), np.float32))
    status = main(["validate", str(out), "--data", str(tmp_path / "d.npz"), "--per-layer"])
    assert status != 0 and "a TVM library fuses layers" in capsys.readouterr().err


def test_missing_cross_compiler_is_named_and_leaves_no_folder(tmp_path, monkeypatch, capsys):
    model = shared_path("models", "hello_world_sine", "hello_world_float.onnx")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    out = tmp_path / "out"
    status = main(["compile", str(model), "-o", str(out), "--backend", "tvm"])
    err = capsys.readouterr().err
    assert status != 0 and "Traceback" not in err
    assert "the cross compiler aarch64-linux-gnu-g++ is not installed" in err
    assert "apt-get install g++-aarch64-linux-gnu libc6-dev-arm64-cross" in err
    assert not out.exists() and not list(tmp_path.glob(".out.*"))


def test_edgec_quantized_model_runs_in_integers_on_tvm(tmp_path):
    out = tmp_path / "out"
    status = compile_digits_quantized(out, "int8")
    assert status == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["numerics"] == integer_numerics("tflm")
    assert manifest["outputs"][0]["dtype"] == "int8"
    assert (out / "quantization.json").is_file()
    reference = onnx.load(str(out / "reference.onnx"))
    assert any(n.op_type == "QuantizeLinear" for n in reference.graph.node)
    status, report, _ = validate_cli(out, DIGITS / "test.npz", "host", "--samples", "60")
    assert status == 0 and report["samples"] == 60
    assert report["bit_exact"] == 60 and report["max_lsb_vs_reference"] == 0


def test_float_verdict_holds_compressed_graphs_to_their_own_graph():
    from edgec.harness.validate import passed

    def bound(within: int) -> dict:
        return {"rtol": 1e-4, "atol": 1e-5, "samples_within": within}

    def tvm_manifest(options: dict) -> Manifest:
        return Manifest(None, "", [], [], 0, None, "tvm", options=options, numerics="float32")

    plain = tvm_manifest({})
    pruned = tvm_manifest({"prune": "channels:0.25"})
    drifted = {"samples": 3, "vs_graph_tolerance": bound(3), "vs_float_tolerance": bound(0)}
    assert not passed(drifted, plain)  # nothing asked for a change of numerics
    assert passed(drifted, pruned)  # pruning changes them on purpose; TVM did not
    broken = {"samples": 3, "vs_graph_tolerance": bound(2), "vs_float_tolerance": bound(3)}
    assert not passed(broken, pruned) and not passed(broken, plain)
