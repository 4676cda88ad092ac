"""The compile pipeline's output folder and ``validate --device host`` on a float model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgec.compiler import CompileOptions, compile_model
from edgec.errors import EdgecError, UnsupportedOpError
from edgec.harness.validate import ValidateOptions, validate
from tests.conftest import shared_path

KWS_FLOAT = ("models", "kws_dscnn", "kws_ref_model_float32.onnx")


@pytest.fixture(scope="module")
def kws_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("c") / "kws"
    compile_model(shared_path(*KWS_FLOAT), out, CompileOptions(prefix="kws"))
    return out


def test_output_folder_is_self_contained(kws_out):
    names = {p.name for p in kws_out.iterdir()}
    assert {
        "kws.h",
        "kws.c",
        "kws_weights.c",
        "CMakeLists.txt",
        "kws.mk",
        "memory.json",
        "manifest.json",
        "reference.onnx",
        "edgec_kernels.h",
    } <= names
    manifest = json.loads((kws_out / "manifest.json").read_text())
    memory = json.loads((kws_out / "memory.json").read_text())
    assert manifest["arena_bytes"] == memory["arena_bytes"] > 0
    assert manifest["inputs"][0]["shape"] == [1, 1, 49, 10]
    header = (kws_out / "kws.h").read_text()
    assert f"#define KWS_ARENA_BYTES {manifest['arena_bytes']}" in header
    assert manifest["model_sha256"] in header
    weights = (kws_out / "kws_weights.c").read_text()
    assert "static const float" in weights


def test_existing_folder_needs_force(kws_out):
    with pytest.raises(EdgecError, match="--force"):
        compile_model(shared_path(*KWS_FLOAT), kws_out, CompileOptions(prefix="kws"))


def test_failed_compile_leaves_nothing_behind(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    model = helper.make_model(
        helper.make_graph([helper.make_node("Hardmax", ["x"], ["y"])], "g", [x], [y]),
        opset_imports=[helper.make_opsetid("", 13)],
    )
    path = tmp_path / "hardmax.onnx"
    onnx.save(model, path)
    with pytest.raises(UnsupportedOpError, match="Hardmax"):
        compile_model(path, tmp_path / "out", CompileOptions())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hardmax.onnx"]


def test_force_replaces_the_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    compile_model(shared_path(*KWS_FLOAT), out, CompileOptions(prefix="m", force=True))
    assert not (out / "stale.txt").exists() and (out / "m.c").exists()


def test_validate_on_host_against_onnxruntime(kws_out, tmp_path):
    folder = shared_path("data", "kws01")
    files = sorted(folder.glob("*.bin"))[:20]
    q = np.stack([np.fromfile(f, dtype=np.int8) for f in files]).reshape(20, 1, 1, 49, 10)
    x = ((q.astype(np.float32) - 83) * np.float32(0.5847029089927673)).astype(np.float32)
    labels = np.array([int(f.stem.rsplit("_", 1)[1]) for f in files])
    np.savez(tmp_path / "d.npz", x=x, y=labels)
    report = validate(
        kws_out,
        ValidateOptions(
            data=str(tmp_path / "d.npz"),
            device="host",
            report_dir=str(tmp_path / "r"),
            save_outputs=str(tmp_path / "o.npy"),
            sanitize=True,
        ),
    )
    assert report["samples"] == 20 and report["bit_exact"] is None
    assert report["max_abs_error"] < 1e-5 and report["agreement"] == 1.0
    assert report["accuracy"]["device"] == report["accuracy"]["float"]
    saved = np.load(tmp_path / "o.npy")
    assert saved.shape == (20, 1, 12) and saved.dtype == np.float32
    on_disk = json.loads((tmp_path / "r" / "report.json").read_text())
    assert on_disk["model_sha256"] == report["model_sha256"]
