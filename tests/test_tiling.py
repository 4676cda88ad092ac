"""Patch-based (tiled) execution (edgec/backends/c/tiling.py, tile_search.py).

Tiled builds run bit-exact with the reference executor (host builds with sanitizers) on a
small synthetic CNN and on the shared VWW and IC models; the rows a tile reads are derived
by hand here; and the planner's checker refuses a tile plan whose output bands would land
on input rows still to be read, or a view outside its buffer.
"""

from __future__ import annotations

import json
import re

import numpy as np
import onnx
import pytest
from conftest import shared_path
from onnx import TensorProto, helper, numpy_helper

from edgec.backends.c import generate_c
from edgec.backends.c.planner import Buffer, Plan, check_plan
from edgec.backends.c.tiling import bands, input_rows
from edgec.compiler import CompileOptions, compile_model, prepare_graph
from edgec.errors import EdgecError
from edgec.harness.validate import ValidateOptions, validate
from edgec.ir.graph import Node, Value
from edgec.reports.memory import memory_svg


def early_heavy_cnn(seed: int = 4, channels: int = 3) -> onnx.ModelProto:
    """channels x 40 x 40 -> conv 3x3 (8) -> depthwise 3x3 -> 1x1 (16) -> conv 3x3 stride 2
    (16), with a residual Add: its first layers hold the largest activations."""
    rng = np.random.default_rng(seed)

    def w(name, shape):
        return numpy_helper.from_array(rng.normal(0, 0.3, shape).astype(np.float32), name)

    inits = [
        w("w1", (8, channels, 3, 3)), w("b1", (8,)), w("w2", (8, 1, 3, 3)), w("b2", (8,)),
        w("w3", (16, 8, 1, 1)), w("b3", (16,)), w("w4", (16, 16, 3, 3)), w("b4", (16,)),
        w("w5", (16, 16, 3, 3)), w("b5", (16,)),
    ]  # fmt: skip
    conv = dict(pads=[1, 1, 1, 1])
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", **conv),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="dw", group=8, **conv),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Conv", ["r2", "w3", "b3"], ["c3"], name="pw"),
        helper.make_node("Relu", ["c3"], ["r3"], name="relu3"),
        helper.make_node("Conv", ["r3", "w5", "b5"], ["c5"], name="conv5", **conv),
        helper.make_node("Add", ["c5", "r3"], ["s"], name="add"),
        helper.make_node("Conv", ["s", "w4", "b4"], ["y"], name="down", strides=[2, 2], **conv),
    ]
    graph = helper.make_graph(
        nodes,
        "early_heavy",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, 40, 40])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_a_tile_reads_the_rows_its_window_covers():
    x = Value("x", np.int8, (1, 4, 20, 9))
    y = Value("y", np.int8, (1, 4, 10, 9))
    w = Value("w", np.int8, (4, 4, 3, 3), const=np.zeros((4, 4, 3, 3), np.int8))
    node = Node("Conv", [x, w], [y], {"strides": [2, 1], "pads": [1, 1, 1, 1]}, "c")
    # output row r reads input rows 2r-1 .. 2r+1, clipped to the image
    assert input_rows(node, (0, 3)) == (0, 6)
    assert input_rows(node, (3, 7)) == (5, 14)
    assert input_rows(node, (7, 10)) == (13, 20)
    assert bands(10, 3) == [(0, 3), (3, 7), (7, 10)]
    assert bands(2, 4) == [(0, 1), (1, 2)]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    work = tmp_path_factory.mktemp("tiling")
    rng = np.random.default_rng(8)
    for channels in (1, 3):
        folder = work / f"c{channels}"
        folder.mkdir()
        onnx.save(early_heavy_cnn(channels=channels), folder / "model.onnx")
        shape = (1, channels, 40, 40)
        np.savez(folder / "calib.npz", x=rng.uniform(-1, 1, (16, *shape)).astype(np.float32))
        np.savez(folder / "data.npz", x=rng.uniform(-1, 1, (4, *shape)).astype(np.float32))
    return work


# one input channel: a channels-first row band is also a channels-last one (an alias of
# the view, which must lie where the view does)
@pytest.mark.parametrize("io_layout,channels", [("declared", 3), ("nhwc", 3), ("declared", 1)])
def test_tiled_synthetic_cnn_is_bit_exact_and_smaller(synthetic, io_layout, channels):
    synthetic = synthetic / f"c{channels}"
    arena, reports = {}, {}
    for memory in ("fast", "min"):
        options = CompileOptions(
            quantize="int8", calib=str(synthetic / "calib.npz"), memory=memory,
            io_layout=io_layout, force=True,
        )  # fmt: skip
        out = synthetic / f"{memory}_{io_layout}"
        result = compile_model(synthetic / "model.onnx", out, options)
        arena[memory] = result.arena_bytes
        reports[memory] = json.loads((out / "memory.json").read_text())
        report = validate(
            out, ValidateOptions(data=str(synthetic / "data.npz"), device="host", sanitize=True)
        )
        assert report["samples"] == report["bit_exact"] == 4
    assert reports["fast"]["tiles"] == []  # fast never recomputes rows
    (stage,) = reports["min"]["tiles"]
    assert stage["tiles"] >= 2 and len(stage["nodes"]) >= 2
    assert arena["min"] < arena["fast"]
    # every tile's calls are in memory.json's steps, in tile order
    names = [s["node"] for s in reports["min"]["steps"]]
    first = stage["nodes"][0]
    assert [n for n in names if n.startswith(f"{first} tile")] == [
        f"{first} tile {t + 1}/{stage['tiles']}" for t in range(stage["tiles"])
    ]


@pytest.mark.parametrize(
    "parts",
    [
        ("vww_mobilenet", "vww_96_int8_qdq.onnx"),
        ("ic_resnet8", "pretrainedResnet_quant_int8_qdq.onnx"),
    ],
)
def test_default_build_of_a_shared_model_tiles_bit_exact(parts, tmp_path):
    model = shared_path("models", *parts)
    result = compile_model(model, tmp_path / "out", CompileOptions())
    memory = json.loads((tmp_path / "out" / "memory.json").read_text())
    assert memory["tiles"], "the default build runs its early stage tile by tile"
    (stage,) = memory["tiles"]
    timeline = memory_svg(memory)  # the report's timeline shades each tile's steps
    labels = re.findall(r">tile (\d+)/(\d+)<", timeline)
    assert labels == [(str(t + 1), str(stage["tiles"])) for t in range(stage["tiles"])]
    spec = result.manifest.inputs[0]
    rng = np.random.default_rng(3)
    samples = rng.integers(-128, 128, (2, *spec.shape)).astype(np.int8)
    np.savez(tmp_path / "data.npz", x=samples)
    report = validate(
        tmp_path / "out",
        ValidateOptions(data=str(tmp_path / "data.npz"), device="host", sanitize=True),
    )
    assert report["samples"] == report["bit_exact"] == 2


def _planned_ic():
    graph = prepare_graph(
        shared_path("models", "ic_resnet8", "pretrainedResnet_quant_int8_qdq.onnx"),
        CompileOptions(),
    )
    gen = generate_c(graph, kernels="optimized")
    (stage,) = gen.program.tiles
    return gen.plan, stage


def _moved(plan: Plan, root: str, by: int) -> Plan:
    buffers = {n: Buffer(**vars(b)) for n, b in plan.buffers.items()}
    group = next(g for g in plan.groups if root in g)
    for name in group:
        buffers[name].offset += by
    return Plan(plan.arena_bytes + abs(by), buffers, plan.groups)


def test_checker_refuses_output_bands_over_input_rows_still_to_read():
    plan, stage = _planned_ic()
    check_plan(plan)
    out, src = plan.buffers[stage["output"]], plan.buffers[stage["input"]]
    assert src.offset - out.offset >= stage["lag_bytes"] > 0
    # the output one row of the input (512 bytes) closer than its lag: a tile's band lands
    # on rows the next tile still reads
    gap = src.offset - out.offset - stage["lag_bytes"]
    with pytest.raises(EdgecError, match="overlap while both live"):
        check_plan(_moved(plan, stage["output"], gap + 512))


def test_checker_refuses_a_view_outside_its_buffer():
    plan, stage = _planned_ic()
    view = next(b for b in plan.buffers.values() if b.alias_of == stage["output"] and b.view_offset)
    broken = _moved(plan, view.name, 0)
    broken.buffers[view.name].offset += plan.buffers[stage["output"]].size
    with pytest.raises(EdgecError, match="outside"):
        check_plan(broken)
