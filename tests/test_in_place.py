"""Layers planned in place over their input (edgec/backends/c/overlap.py).

The lag each kernel needs is checked against a byte-by-byte replay of the kernel's loops
written here; the planner's checker must refuse an output placed closer than its lag; and
convolutions planned in place run bit-exact (host build with sanitizers) against the
reference executor.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import shared_path

from edgec.backends.c import generate, generate_c
from edgec.backends.c.layout import permute_fields
from edgec.backends.c.lower import lower
from edgec.backends.c.overlap import conv_lag, permute_lag
from edgec.backends.c.planner import Buffer, check_plan, plan_arena
from edgec.compiler import CompileOptions, compile_model, prepare_graph
from edgec.errors import EdgecError
from edgec.harness.validate import ValidateOptions, validate
from tests.c_cases import random_int, run_cases
from tests.conftest import needs_tools
from tests.test_c_int_kernels import act, const, prepare, single_op
from tests.test_planner import MODELS, check_lifetimes_cover_every_use, check_memory_report


# ---- the lag against a replay of the kernels' loops ---------------------------------------------
def collides(events, lag: int, in_bytes: int) -> bool:
    """events: (bytes read, bytes written) per step in kernel order. With the input ``lag``
    bytes above the output, does any write land on an input byte read then or later?"""
    pending = np.zeros(lag + in_bytes + 1, bool)  # output-relative addresses still to read
    for reads, writes in reversed(events):
        pending[lag + np.asarray(reads, np.int64)] = True
        writes = np.asarray(writes, np.int64)
        if pending[writes[writes < pending.size]].any():
            return True
    return False


def conv_events(n, h, w, c, oh, ow, oc, kh, kw, stride, pad, dil):
    """edgec_conv_s8 / edgec_dwconv_s8: per output pixel, every tap's channels, then the
    pixel's outputs (a superset of what a depthwise pixel reads)."""
    events = []
    for b in range(n):
        for oy in range(oh):
            for ox in range(ow):
                reads = [
                    ((b * h + iy) * w + ix) * c + ch
                    for ky in range(kh)
                    for kx in range(kw)
                    if 0 <= (iy := oy * stride - pad + ky * dil) < h
                    and 0 <= (ix := ox * stride - pad + kx * dil) < w
                    for ch in range(c)
                ]
                pixel = (b * oh + oy) * ow + ox
                events.append((reads, range(pixel * oc, (pixel + 1) * oc)))
    return events


GEOMETRIES = [  # n, h, w, c, oc, k, stride, pad, dilation
    (1, 6, 5, 4, 8, 1, 1, 0, 1),  # a widening 1x1
    (1, 6, 6, 8, 3, 1, 2, 0, 1),  # a narrowing strided 1x1
    (1, 7, 6, 5, 5, 3, 1, 1, 1),  # depthwise-like stride 1
    (2, 8, 7, 3, 6, 3, 2, 1, 1),  # strided, two images
    (1, 9, 9, 2, 4, 3, 1, 2, 2),  # dilated
]


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_conv_lag_is_safe_and_tight(geometry):
    n, h, w, c, oc, k, stride, pad, dil = geometry
    oh = (h + 2 * pad - dil * (k - 1) - 1) // stride + 1
    ow = (w + 2 * pad - dil * (k - 1) - 1) // stride + 1
    fields = {"stride_h": stride, "stride_w": stride, "pad_top": pad, "pad_left": pad}
    lag = conv_lag((n, h, w, c), (n, oh, ow, oc), fields)
    events = conv_events(n, h, w, c, oh, ow, oc, k, k, stride, pad, dil)
    assert not collides(events, lag, n * h * w * c)
    assert lag == 0 or collides(events, lag - 1, n * h * w * c)
    # edgec_conv_(1x1_)fast_inplace_s8: two pixels read, then both written
    pairs = [
        ([*events[i][0], *events[i + 1][0]], [*events[i][1], *events[i + 1][1]])
        if i + 1 < len(events)
        else events[i]
        for i in range(0, len(events), 2)
    ]
    lag = conv_lag((n, h, w, c), (n, oh, ow, oc), fields, pixels=2)
    assert not collides(pairs, lag, n * h * w * c)
    assert collides(pairs, lag - 1, n * h * w * c)


def permute_events(in_shape, perm, elem):
    """edgec_permute (move.c) in bytes: the output in order, one row (or, for rows of fewer
    than 8 one-byte elements, a block of the last two axes) per step."""
    source = np.arange(np.prod(in_shape)).reshape(in_shape).transpose(perm)
    rows, cols = source.shape[-2:]
    short = elem == 1 and cols < 8 and rows > cols
    block = source.reshape(-1, rows * cols if short else cols)
    width = block.shape[1]

    def spread(elements):  # element indices -> their bytes
        return (np.asarray(elements)[:, None] * elem + np.arange(elem)).ravel()

    return [
        (spread(block[i]), spread(range(i * width, (i + 1) * width))) for i in range(block.shape[0])
    ]


@pytest.mark.parametrize(
    "in_shape,perm,elem",
    [
        ((3, 6, 5), (1, 2, 0), 1),
        ((4, 9, 10), (1, 2, 0), 1),
        ((2, 3, 12), (0, 2, 1), 1),
        ((3, 6, 5), (1, 2, 0), 4),
        ((2, 5, 4, 3), (0, 2, 3, 1), 2),
    ],
)
def test_permute_lag_is_safe_and_tight(in_shape, perm, elem):
    lag = permute_lag(permute_fields(in_shape, perm, elem))
    events = permute_events(in_shape, perm, elem)
    size = int(np.prod(in_shape)) * elem
    assert not collides(events, lag, size)
    assert lag == 0 or collides(events, lag - 1, size)


# ---- the checker ---------------------------------------------------------------------------------
def in_place_pair(lag: int) -> list[Buffer]:
    return [
        Buffer("x", 64, 0, 1),
        Buffer("y", 96, 1, 2, overlap=("x", lag)),
        Buffer("z", 32, 2, 3),
    ]


def test_planner_lays_an_in_place_pair_out_as_one_block():
    plan = plan_arena(in_place_pair(40), alignment=16)
    x, y = plan.buffers["x"], plan.buffers["y"]
    assert x.offset - y.offset == 48  # the lag, aligned
    assert plan.arena_bytes < 64 + 96 + 32
    check_plan(plan)


def test_checker_refuses_an_output_closer_than_its_lag():
    plan = plan_arena(in_place_pair(40), alignment=16)
    plan.buffers["y"].overlap = ("x", 49)  # the layout leaves 48 bytes
    with pytest.raises(EdgecError, match="overlap while both live"):
        check_plan(plan)


def test_checker_refuses_in_place_over_an_input_read_later():
    plan = plan_arena(in_place_pair(40), alignment=16)
    plan.buffers["x"].last = 2  # another step still reads x after y was written over it
    with pytest.raises(EdgecError, match="overlap while both live"):
        check_plan(plan)


def test_planner_passes_over_a_layout_the_checker_refuses():
    """Read after its overlapping output's birth, x cannot sit under y: the planner keeps the
    pair apart rather than returning the block layout check_plan refuses."""
    buffers = in_place_pair(40)
    buffers[0].last = 2
    plan = plan_arena(buffers, alignment=16)
    check_plan(plan)
    x, y = plan.buffers["x"], plan.buffers["y"]
    assert x.offset >= y.offset + y.size or y.offset >= x.offset + x.size


def test_planner_places_an_output_further_below_its_input_than_its_lag():
    """Laid out as one block at exactly its lag, this pair leaves no room for ``other`` below
    the input (arena 112); the output may start any distance >= the lag below it (96)."""
    buffers = [
        Buffer("x", 48, 0, 1),
        Buffer("y", 80, 1, 2, overlap=("x", 16)),
        Buffer("other", 48, 0, 0),
    ]
    plan = plan_arena(buffers, alignment=16)
    check_plan(plan)
    x, y = plan.buffers["x"], plan.buffers["y"]
    assert plan.arena_bytes == 96
    assert x.offset - y.offset == 48 and y.offset + y.size > x.offset  # overlapping, 48 >= 16


def test_checker_refuses_an_output_above_the_input_it_overlaps():
    plan = plan_arena(in_place_pair(40), alignment=16)
    x, y = plan.buffers["x"], plan.buffers["y"]
    x.offset, y.offset = 0, 16  # the output's writes would land on input still to be read
    plan.arena_bytes = 112
    with pytest.raises(EdgecError, match="overlap while both live"):
        check_plan(plan)


# ---- bit-exact on the host -----------------------------------------------------------------------
def conv_graph(seed, c, o, hw, k, stride, pad, depthwise=False):
    rng = np.random.default_rng(seed)
    group = c if depthwise else 1
    weights = random_int(rng, (o, c // group, k, k), np.int8)
    s_in, s_w = np.float32(0.05), np.float32(2.0 ** rng.uniform(-9, -5, size=o))
    bias = rng.integers(-2000, 2000, size=o).astype(np.int32)
    attrs = {"strides": [stride] * 2, "pads": [pad] * 4, "group": group}
    inputs = [
        act((1, c, hw, hw), "int8", s_in, 3),
        const("w", weights, s_w.astype(np.float32), axis=0),
        const("b", bias, (s_w * s_in).astype(np.float32), axis=0),
    ]
    return single_op("Conv", inputs, "int8", 0.02, -5, attrs)


CONVS = {
    "pointwise widening": dict(c=8, o=16, hw=12, k=1, stride=1, pad=0),
    "depthwise": dict(c=8, o=8, hw=11, k=3, stride=1, pad=1, depthwise=True),
    "depthwise strided": dict(c=16, o=16, hw=12, k=3, stride=2, pad=1, depthwise=True),
    "first layer": dict(c=3, o=8, hw=16, k=3, stride=2, pad=1),
}


def test_convolutions_planned_in_place_are_bit_exact(tmp_path, monkeypatch):
    # In a one-layer graph the fast kernels' scratch sits at the peak, so --kernel-scratch
    # free would make them lean (portable); keep them fast to run their in-place variants.
    monkeypatch.setattr(generate, "scratch_at_peak", lambda program, alignment: frozenset())
    cases, kernels = [], []
    for seed, params in enumerate(CONVS.values()):
        case = prepare(conv_graph(seed, **params), seed)
        gen = generate_c(case.graph, kernels="optimized", scratch="free", io_layout="nhwc")
        (conv,) = gen.program.in_place  # the one layer is planned over its input
        kernels.append(gen.program.calls[0].kernel)
        x, y = (gen.program.buffers[conv[k]] for k in ("input", "output"))
        assert x.offset - y.offset >= conv["lag_bytes"]
        assert gen.arena_bytes < x.nbytes + y.nbytes
        channels_last = [[a.transpose(0, 2, 3, 1) for a in arrays] for arrays in case.samples]
        case.samples = channels_last
        case.expected = [[a.transpose(0, 2, 3, 1) for a in arrays] for arrays in case.expected]
        cases.append(case)
    run_cases(cases, tmp_path, "optimized-lean", io_layout="nhwc")
    # the fast convolutions have in-place variants; the fast depthwise one is safe as it is
    assert kernels == [
        "edgec_conv_1x1_fast_inplace_s8",
        "edgec_dwconv_fast_s8",
        "edgec_dwconv_fast_s8",
        "edgec_conv_fast_inplace_s8",
    ]


def test_depthwise_with_leftover_channels_is_not_planned_in_place(monkeypatch):
    """The DSP kernel runs a 3x3 row's blocks of four channels before the row's leftover
    channels, so its writes run ahead of the reads overlap.py models: six channels on
    mps2-an386 in place gave 0 of 6 outputs right. Such a layer keeps its own buffer."""
    monkeypatch.setattr(generate, "scratch_at_peak", lambda program, alignment: frozenset())
    graph = conv_graph(4, c=6, o=6, hw=9, k=3, stride=1, pad=1, depthwise=True)
    case = prepare(graph, 4)
    gen = generate_c(case.graph, kernels="optimized", scratch="free", io_layout="nhwc")
    assert gen.program.calls[0].kernel == "edgec_dwconv_fast_s8"
    assert not gen.program.in_place


# ---- the shared model --------------------------------------------------------------------------
@pytest.mark.parametrize("io_layout", ["declared", "nhwc"])
def test_vww_int8_arena_falls_below_its_largest_layer(io_layout):
    options = CompileOptions(io_layout=io_layout)
    graph = prepare_graph(shared_path("models", "vww_mobilenet", "vww_96_int8_qdq.onnx"), options)
    gen = generate_c(
        graph, kernels="optimized", scratch="free", io_layout=io_layout, memory="fast"
    )  # untiled: tiles have smaller layers (test_tiling.py)
    report = json.loads(gen.files["memory.json"])
    check_memory_report(report)
    largest_layer = max(
        sum(report_bytes(report, name) for name in [*call.inputs, *call.outputs])
        for call in gen.program.calls
    )
    assert report["in_place"] and gen.arena_bytes < largest_layer


@pytest.mark.parametrize("name", sorted(MODELS))
def test_in_place_plans_of_the_shared_models_pass_the_independent_check(name):
    graph = prepare_graph(shared_path("models", *MODELS[name]), CompileOptions())
    default = generate_c(graph, kernels="optimized")
    gen = generate_c(graph, kernels="optimized", scratch="free")
    report = json.loads(gen.files["memory.json"])
    check_memory_report(report)
    check_lifetimes_cover_every_use(gen)
    assert gen.arena_bytes <= default.arena_bytes
    assert all(layer["saved_bytes"] > 0 for layer in report["in_place"])


def test_fast_mode_writes_layers_in_place_without_changing_their_kernels():
    """--memory fast: KWS's 1x1 layers switch to their in-place twins and nothing else
    changes; the ResNet's residual Add writes over an input: below three 32x32x16
    activations."""
    arenas = {}
    for name in ("kws_int8", "ic_int8"):
        graph = prepare_graph(shared_path("models", *MODELS[name]), CompileOptions())
        gen = generate_c(graph, kernels="optimized", memory="fast")
        check_lifetimes_cover_every_use(gen)
        report = json.loads(gen.files["memory.json"])
        check_memory_report(report)
        assert report["in_place"] and report["lean_nodes"] == []
        untouched = lower(graph, "declared", "optimized")
        for before, after in zip(untouched.calls, gen.program.calls, strict=True):
            assert after.kernel in (before.kernel, generate.IN_PLACE_TWINS.get(before.kernel))
        arenas[name] = gen.arena_bytes
    assert arenas["kws_int8"] < 16000  # the arena without layers in place
    assert arenas["ic_int8"] < 3 * 32 * 32 * 16


def report_bytes(report: dict, name: str) -> int:
    return next((t["bytes"] for t in report["tensors"] if t["buffer"] == name), 0)


@needs_tools("qemu-system-arm", "arm-none-eabi-gcc")
def test_vww_int8_in_place_is_bit_exact_on_the_emulated_board(tmp_path):
    """--memory fast and min on mps2-an386: layers in place (reported); fast's arena below
    the largest layer's input and output together; min's smaller still, tiled; outputs
    bit-exact."""
    model = shared_path("models", "vww_mobilenet", "vww_96_int8_qdq.onnx")
    rng = np.random.default_rng(7)
    samples = rng.integers(-128, 128, (3, 1, 3, 96, 96)).astype(np.int8)
    np.savez(tmp_path / "data.npz", input_1_int8=samples)
    arena = {}
    for memory in ("fast", "min"):
        options = CompileOptions(target="mps2-an386", memory=memory)
        result = compile_model(model, tmp_path / memory, options)
        arena[memory] = result.arena_bytes
        report = validate(
            result.out_dir, ValidateOptions(data=str(tmp_path / "data.npz"), device="emulator")
        )
        assert report["samples"] == report["bit_exact"] == 3
        plan = json.loads((tmp_path / memory / "memory.json").read_text())
        assert plan["in_place"] and result.arena_bytes == plan["arena_bytes"]
        sizes = {t["buffer"]: t["bytes"] for t in plan["tensors"]}
        steps = {s["step"]: s["output"] for s in plan["steps"]}
        readers = [t for t in plan["tensors"] if t["last_step"] in steps and not t["scratch_for"]]
        largest = max(t["bytes"] + sizes[steps[t["last_step"]]] for t in readers)
        assert result.arena_bytes < largest or memory == "min"
        assert bool(plan["tiles"]) == (memory == "min")
    assert arena["min"] < arena["fast"]
