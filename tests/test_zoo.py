"""The zoo folder (tests/zoo) is whole: every model its README lists is there in its three
exports, each file is the one manifest.json describes and passes onnx.checker, within the
size caps. (What edgec does with them is bench/zoo.py's table, not a test yet.)"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import onnx
import pytest

ZOO = Path(__file__).resolve().parent / "zoo"
EXPORTS = ("legacy13", "legacy17", "dynamo")
MAX_FILE_BYTES, MAX_ZOO_BYTES = 1_500_000, 25_000_000


def readme_models() -> list[str]:
    text = (ZOO / "README.md").read_text()
    table = text.split("<!-- zoo table start -->", 1)[1].split("<!-- zoo table end -->", 1)[0]
    return re.findall(r"^\| `([a-z0-9_]+)` \|", table, flags=re.MULTILINE)


MANIFEST = json.loads((ZOO / "manifest.json").read_text())
ENTRIES = {m["name"]: m for m in MANIFEST["models"]}


def test_readme_and_manifest_list_the_same_models():
    names = readme_models()
    assert len(names) >= 20
    assert names == list(ENTRIES)


@pytest.mark.parametrize("name", readme_models())
def test_model_has_three_checked_exports(name):
    entry = ENTRIES[name]
    assert sorted(entry["exports"]) == sorted(EXPORTS)
    for kind in EXPORTS:
        info = entry["exports"][kind]
        path = ZOO / info["file"]
        assert path.name == f"{name}.{kind}.onnx"
        data = path.read_bytes()
        assert len(data) == info["bytes"] <= MAX_FILE_BYTES
        assert hashlib.sha256(data).hexdigest() == info["sha256"]
        model = onnx.load_from_string(data)
        onnx.checker.check_model(model)
        opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
        assert opset == info["opset"]
        assert {n.op_type for n in model.graph.node} == set(info["ops"])
        (graph_input,) = model.graph.input
        dims = [d.dim_value for d in graph_input.type.tensor_type.shape.dim]
        assert dims == entry["input_shape"]


def test_zoo_holds_nothing_else_and_fits_its_size_cap():
    listed = {ZOO / e["file"] for m in MANIFEST["models"] for e in m["exports"].values()}
    present = set((ZOO / "models").iterdir())
    assert present == listed
    assert sum(p.stat().st_size for p in present) <= MAX_ZOO_BYTES
