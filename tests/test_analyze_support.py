"""``edgec analyze`` tells which paths run each layer (float C, int8 C, TVM) and why not, and
never stops on a layer it cannot take: the verdicts must agree with what ``compile`` then does.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from onnx import helper
from onnx_cases import make_model

import edgec
from edgec import cli
from edgec.compiler import CompileOptions, compile_model
from edgec.errors import UnsupportedOpError
from edgec.support import PATHS

ZOO = Path(__file__).resolve().parent / "zoo" / "models"


def tvm_installed() -> bool:
    from edgec.backends.tvm.build import supported_onnx_ops

    return supported_onnx_ops() is not None


def save(model, path: Path) -> Path:
    path.write_bytes(model.SerializeToString())
    return path


def chain_model(tmp_path: Path, middle, constants: dict | None = None) -> Path:
    """x → Conv → ``middle`` → Relu → y, with ``middle`` a node reading "c" and writing "m"."""
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.5, (4, 3, 3, 3)).astype(np.float32)
    constants = {"w": w, **(constants or {})}
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        middle,
        helper.make_node("Relu", ["m"], ["y"], name="relu"),
    ]
    model = make_model(nodes, {"x": np.zeros((1, 3, 8, 8), np.float32)}, ["y"], constants)
    return save(model, tmp_path / "model.onnx")


def verdicts(path: Path) -> dict[str, dict]:
    return {row.name: row.support for row in edgec.analyze(path).rows}


def test_unet_runs_every_layer_on_every_path():
    support = verdicts(ZOO / "unet_lite.dynamo.onnx")
    assert {v["float_c"] for v in support.values()} == {"yes"}
    assert {v["int8_c"] for v in support.values()} == {"int8"}
    expected_tvm = {"yes"} if tvm_installed() else {"unknown: TVM is not installed"}
    assert {v["tvm"] for v in support.values()} == expected_tvm


def test_a_layer_edgec_cannot_take_is_listed_and_the_analysis_goes_on(tmp_path):
    """Cubic Resize (an attribute the registry refuses) used to stop analyze."""
    cubic = helper.make_node("Resize", ["c", "", "s"], ["m"], name="cubic", mode="cubic")
    scales = np.array([1.0, 1.0, 2.0, 2.0], np.float32)
    result = edgec.analyze(chain_model(tmp_path, cubic, {"s": scales}))
    assert "cubic" in result.problems and "cubic" in result.problems["cubic"]
    row = next(r for r in result.rows if r.name == "cubic")
    assert all(row.support[p].startswith("no: ") and "cubic" in row.support[p] for p in PATHS)
    conv = next(r for r in result.rows if r.name == "conv")
    assert conv.support["float_c"] == "yes" and conv.macs == 8 * 8 * 4 * 27


CASES = {
    # middle node → (float C verdict, int8 C verdict)
    "Softsign": (helper.make_node("Softsign", ["c"], ["m"], name="mid"), "yes", "float"),
    "Exp": (helper.make_node("Exp", ["c"], ["m"], name="mid"), "yes", "int8"),
    "MatMulOfTwo": (  # a product of two activations (attention's), batched over N, C
        helper.make_node("MatMul", ["c", "c"], ["m"], name="mid"),
        "yes",
        "int8",
    ),
    "LpNormalization": (
        helper.make_node("LpNormalization", ["c"], ["m"], name="mid"),
        "no",
        "no",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_verdicts_agree_with_compile(case, tmp_path):
    """A layer analyze marks "no" makes compile refuse, naming it; "yes"/"float"/"int8" compiles,
    and "float" in int8 means the node runs its float kernel in the int8 build."""
    node, float_c, int8_c = CASES[case]
    path = chain_model(tmp_path, node)
    support = verdicts(path)["mid"]
    assert support["float_c"].split(":")[0] == float_c
    assert support["int8_c"].split(" ")[0].split(":")[0] == int8_c
    for quantize in ("none", "int8"):
        expected = support["float_c" if quantize == "none" else "int8_c"]
        calib = tmp_path / "calib.npz"
        np.savez(calib, x=np.random.default_rng(1).normal(size=(4, 1, 3, 8, 8)).astype(np.float32))
        data = str(calib) if quantize == "int8" else None
        options = CompileOptions(quantize=quantize, calib=data)
        out = tmp_path / f"out-{quantize}"
        if expected.startswith("no"):
            with pytest.raises(UnsupportedOpError) as info:
                compile_model(path, out, options)
            assert "mid" in str(info.value)
            continue
        result = compile_model(path, out, options)
        steps = json.loads((out / "memory.json").read_text())["steps"]
        kernels = {s["kernel"] for s in steps if s["node"] == "mid"}
        assert kernels, "the layer runs no kernel"
        if expected.startswith("float"):
            assert all(k.endswith("_f32") for k in kernels), kernels
        elif expected == "int8":
            assert any(k.endswith("_s8") for k in kernels), kernels
        assert result.out_dir == out


def test_cli_prints_the_paths_and_their_reasons(tmp_path, capsys):
    path = chain_model(tmp_path, CASES["LpNormalization"][0])
    assert cli.main(["analyze", str(path)]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.lstrip().startswith("#"))
    assert header.split()[6:10] == ["float", "C", "int8", "C"]
    assert "float C:" in out and "1 of 3 layers cannot run: mid (LpNormalization)" in out
    assert cli.main(["analyze", str(path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert rows[1]["support"]["float_c"] == "no: an op edgec does not know"
