"""The static arena planner: hand-made lifetimes with exact expected offsets, and on every
shared model an independent check that no two simultaneously live tensors share bytes.

The model check reads the plan as ``memory.json`` reports it and re-derives everything it
needs (alias groups, lifetime overlap, byte overlap) here, without calling the planner's own
``check_plan``.
"""

from __future__ import annotations

import json

import pytest
from conftest import shared_path

from edgec.backends.c import generate_c
from edgec.backends.c.planner import Buffer, plan_arena
from edgec.compiler import CompileOptions, prepare_graph
from edgec.errors import EdgecError

MODELS = {
    "kws_int8": ("kws_dscnn", "kws_ref_model_int8_qdq.onnx"),
    "kws_float": ("kws_dscnn", "kws_ref_model_float32.onnx"),
    "kws_tf2onnx_float": ("kws_dscnn", "tf2onnx_nhwc", "kws_ref_model_float32.onnx"),
    "kws_tf2onnx_int8": ("kws_dscnn", "tf2onnx_nhwc", "kws_ref_model.onnx"),
    "ic_int8": ("ic_resnet8", "pretrainedResnet_quant_int8_qdq.onnx"),
    "ic_float": ("ic_resnet8", "pretrainedResnet.onnx"),
    "vww_int8": ("vww_mobilenet", "vww_96_int8_qdq.onnx"),
    "vww_float": ("vww_mobilenet", "vww_96_float.onnx"),
    "vww_tf2onnx_float": ("vww_mobilenet", "tf2onnx_nhwc", "vww_96_float.onnx"),
    "ad01_int8": ("ad_autoencoder", "ad01_int8_qdq.onnx"),
    "ad01_float": ("ad_autoencoder", "ad01_fp32.onnx"),
    "ad01_tf2onnx_int8": ("ad_autoencoder", "tf2onnx", "ad01_int8.onnx"),
    "ad01_tf2onnx_float": ("ad_autoencoder", "tf2onnx", "ad01_fp32.onnx"),
    "hello_world_int8": ("hello_world_sine", "hello_world_int8_qdq.onnx"),
    "hello_world_float": ("hello_world_sine", "hello_world_float.onnx"),
    "mnist8": ("mnist8", "model.onnx"),
}


# ---- plan_arena on hand-made lifetimes -----------------------------------------------------------
def offsets(plan) -> dict[str, int]:
    return {name: b.offset for name, b in plan.buffers.items()}


def test_buffers_with_disjoint_lifetimes_share_memory():
    plan = plan_arena([Buffer("a", 100, 0, 1), Buffer("b", 60, 2, 3)], alignment=16)
    assert offsets(plan) == {"a": 0, "b": 0}
    assert plan.arena_bytes == 112  # 100 rounded up to the alignment


def test_overlapping_lifetimes_stack_largest_first():
    plan = plan_arena([Buffer("small", 50, 1, 3), Buffer("big", 100, 0, 2)], alignment=16)
    assert offsets(plan) == {"big": 0, "small": 112}
    assert plan.arena_bytes == 112 + 64


def test_touching_lifetimes_overlap():
    """Inclusive ranges: a buffer last read at step 2 is still live when step 2 writes."""
    plan = plan_arena([Buffer("x", 32, 0, 2), Buffer("y", 32, 2, 3)], alignment=1)
    assert offsets(plan) == {"x": 0, "y": 32}


def test_best_fit_takes_the_smallest_gap_that_holds_the_buffer():
    buffers = [
        Buffer("a", 50, 0, 0),
        Buffer("b", 40, 0, 5),
        Buffer("c", 30, 0, 0),
        Buffer("d", 20, 0, 5),
        Buffer("e", 10, 1, 5),  # gaps while b and d live: [0, 50) and [90, 120)
    ]
    plan = plan_arena(buffers, alignment=1)
    assert offsets(plan) == {"a": 0, "b": 50, "c": 90, "d": 120, "e": 90}
    assert plan.arena_bytes == 140


def test_offsets_are_aligned():
    for alignment, second, arena in ((16, 16, 32), (4, 12, 24), (1, 10, 20)):
        plan = plan_arena([Buffer("p", 10, 0, 1), Buffer("q", 10, 1, 2)], alignment)
        assert offsets(plan) == {"p": 0, "q": second}
        assert plan.arena_bytes == arena
        assert all(b.offset % alignment == 0 for b in plan.buffers.values())


def test_alias_group_shares_one_offset_over_the_union_of_lifetimes():
    buffers = [
        Buffer("conv_out", 64, 0, 2),
        Buffer("reshaped", 64, 2, 4, alias_of="conv_out"),
        Buffer("flattened", 64, 4, 6, alias_of="reshaped"),  # an alias of an alias
        Buffer("other", 48, 5, 5),  # live only while the group's last member is
        Buffer("later", 80, 7, 8),
    ]
    plan = plan_arena(buffers, alignment=16)
    got = offsets(plan)
    assert got["conv_out"] == got["reshaped"] == got["flattened"]
    assert sorted(plan.groups) == [["conv_out", "flattened", "reshaped"], ["later"], ["other"]]
    # Largest first: "later" (80) at 0; the group (64, steps 0-6) does not meet it: 0 too;
    # "other" (48) lives at step 5, with the group: above it.
    assert got == {"later": 0, "conv_out": 0, "reshaped": 0, "flattened": 0, "other": 64}
    assert plan.arena_bytes == 112


def test_alias_cycles_and_duplicate_names_are_errors():
    with pytest.raises(EdgecError, match="cycle"):
        plan_arena([Buffer("a", 8, 0, 1, alias_of="b"), Buffer("b", 8, 0, 1, alias_of="a")])
    with pytest.raises(EdgecError, match="duplicate"):
        plan_arena([Buffer("a", 8, 0, 1), Buffer("a", 8, 2, 3)])


def test_zero_size_buffers_take_no_space():
    plan = plan_arena([Buffer("empty", 0, 0, 3), Buffer("x", 16, 0, 3)], alignment=16)
    assert plan.arena_bytes == 16


# ---- the invariant on every shared model ---------------------------------------------------
def alias_root(tensors: dict[str, dict], name: str) -> str:
    seen = set()
    while tensors[name]["alias_of"] is not None:
        assert name not in seen, f"alias cycle through {name}"
        seen.add(name)
        name = tensors[name]["alias_of"]
    return name


def written_in_place(tensors: dict, roots: dict, a: dict, b: dict) -> bool:
    """``b`` (or the buffer it is a tile's view of) is declared written over ``a``'s storage
    (overlap.py): allowed when ``a`` is last read at that buffer's own step and lies at least
    the declared lag above it. A tiled stage's output over its input exempts nothing: its
    views are checked one by one."""
    while b.get("in_place_over") is None and b["alias_of"] is not None:
        b = tensors[b["alias_of"]]
    over = b.get("in_place_over")
    if over is None or b.get("tiled") or roots[over[0]] != roots[a["buffer"]]:
        return False
    return a["last_step"] <= b["first_step"] and tensors[over[0]]["offset"] - b["offset"] >= over[1]


def check_memory_report(report: dict) -> None:
    """No two tensors live at the same step share a byte unless one aliases the other or
    one is written in place over the other."""
    arena = report["arena_bytes"]
    tensors = {t["buffer"]: t for t in report["tensors"]}
    items = list(tensors.values())
    for t in items:
        assert t["offset"] >= 0 and t["offset"] + t["bytes"] <= arena, t["buffer"]
        assert t["first_step"] <= max(t["last_step"], t["first_step"])
    roots = {t["buffer"]: alias_root(tensors, t["buffer"]) for t in items}
    for i, a in enumerate(items):
        if not a["bytes"]:
            continue
        a_last = max(a["last_step"], a["first_step"])
        for b in items[i + 1 :]:
            if not b["bytes"] or roots[a["buffer"]] == roots[b["buffer"]]:
                continue
            if written_in_place(tensors, roots, a, b) or written_in_place(tensors, roots, b, a):
                continue
            b_last = max(b["last_step"], b["first_step"])
            in_time = a["first_step"] <= b_last and b["first_step"] <= a_last
            in_space = (
                a["offset"] < b["offset"] + b["bytes"] and b["offset"] < a["offset"] + a["bytes"]
            )
            assert not (in_time and in_space), (
                f"{a['buffer']} ({a['value']!r}) and {b['buffer']} ({b['value']!r}) overlap "
                f"while both live"
            )


def check_lifetimes_cover_every_use(gen) -> None:
    """Every buffer a step reads or writes is live at that step (else the plan could reuse it)."""
    program = gen.program
    for step, call in enumerate(program.calls):
        for name in [*call.inputs, *call.outputs]:
            if name not in program.buffers:
                continue  # a constant operand in flash
            buf = program.buffers[name]
            assert buf.first <= step <= max(buf.last, buf.first), (name, step, call.kernel)
    for port in [*program.inputs, *program.outputs]:
        assert program.buffers[port.buffer].nbytes > 0


@pytest.mark.parametrize("name", sorted(MODELS))
def test_no_two_live_tensors_overlap_on_shared_models(name):
    graph = prepare_graph(shared_path("models", *MODELS[name]), CompileOptions())
    gen = generate_c(graph, prefix="model")
    report = json.loads(gen.files["memory.json"])
    assert report["arena_bytes"] == gen.arena_bytes > 0
    check_memory_report(report)
    check_lifetimes_cover_every_use(gen)


def test_the_check_catches_an_overlap():
    """The independent check is not vacuous: a hand-broken report fails it."""
    report = {
        "arena_bytes": 64,
        "tensors": [
            {"buffer": "t0", "value": "a", "offset": 0, "bytes": 32, "first_step": 0,
             "last_step": 2, "alias_of": None},
            {"buffer": "t1", "value": "b", "offset": 16, "bytes": 32, "first_step": 2,
             "last_step": 3, "alias_of": None},
        ],
    }  # fmt: skip
    with pytest.raises(AssertionError, match="overlap"):
        check_memory_report(report)
    report["tensors"][1]["alias_of"] = "t0"
    check_memory_report(report)
