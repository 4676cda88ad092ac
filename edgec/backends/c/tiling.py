"""Patch-based (tiled) execution: a stage of early layers run band of rows by band of rows.

A stage is a run of int8 convolutions and residual Adds whose activations only flow inside
it: one input ``x`` (read by any of its layers) and one output. It runs tile by tile, each
tile the output rows ``[a, b)`` of the stage: every layer computes the rows its readers need
(the halo of a 3x3 layer recomputed by the neighbouring tile), so only one tile's
intermediates are ever live. In channels-last memory a band of rows is contiguous: a tile
reads its input rows through a *view* (a buffer aliasing ``x`` at a byte offset) and writes
its output rows through a view of the stage's output; a channels-first input's rows are
strided (one run per channel), gathered by the layout permute with input strides.

The stage's output may overlap its input (written over it at a lag, as a layer in place,
overlap.py): tile ``t`` writes output rows below the input rows tiles ``t+1…`` still read.
The planner places the pair; ``check_plan`` checks every view against every buffer live
with it, so a wrong lag or a wrong view is refused.

Each layer of a tile is an ordinary IR node with band shapes and adjusted pads, lowered by
the ordinary emitters (so tiles run the same kernels and are bit-exact with the untiled
build); their weights are shared between tiles.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from edgec.backends.c import layout as L
from edgec.backends.c.overlap import lag_bytes
from edgec.ir.graph import Graph, Node, Value

TILE_OPS = ("Conv", "Add")


@dataclass(frozen=True)
class Stage:
    """Nodes (by name, in schedule order) run as ``tiles`` bands of output rows."""

    nodes: tuple[str, ...]
    tiles: int


def _activations(node: Node) -> list[Value]:
    return [v for v in node.inputs if v is not None and not v.is_const]


def stage_input(graph: Graph, nodes: list[Node]) -> Value | None:
    """The one value from outside ``nodes`` they read, if they form a stage (else None)."""
    produced = {id(n.outputs[0]) for n in nodes}
    outside = {id(v): v for n in nodes for v in _activations(n) if id(v) not in produced}
    if len(outside) != 1:
        return None
    last = nodes[-1].outputs[0]
    for n in nodes:
        if n.op_type not in TILE_OPS or len(n.outputs) != 1:
            return None
        y = n.outputs[0]
        if y.dtype != np.int8 or y.shape is None or len(y.shape) != 4 or y.shape[0] != 1:
            return None
        if n.op_type == "Add" and any(v.shape != y.shape for v in n.inputs):
            return None  # broadcasting: not row by row
        readers = set(map(id, y.users))
        if y is not last and (graph.is_output(y) or len(readers) != 1 or y.users[0] not in nodes):
            return None  # an intermediate has one reader, in the stage
    (x,) = outside.values()
    if graph.is_output(x) or any(u not in nodes for u in x.users) or len(x.shape) != 4:
        return None
    return x


def _conv_window(node: Node) -> tuple[int, int, int, int, int]:
    """(kernel rows, stride, dilation, pad top, pad bottom) of a 2-d Conv."""
    kh = node.inputs[1].shape[2]
    stride = node.attrs.get("strides", [1, 1])[0]
    dil = node.attrs.get("dilations", [1, 1])[0]
    x, y = node.inputs[0].shape[2], node.outputs[0].shape[2]
    pads = node.attrs.get("pads")
    if pads is None or node.attrs.get("auto_pad", "NOTSET") not in ("NOTSET", b"NOTSET"):
        total = max((y - 1) * stride + (kh - 1) * dil + 1 - x, 0)  # SAME_*: the rest below
        auto = node.attrs.get("auto_pad", "NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        top = total - total // 2 if auto == "SAME_LOWER" else total // 2
        return kh, stride, dil, top, total - top
    return kh, stride, dil, int(pads[0]), int(pads[2])


def input_rows(node: Node, rows: tuple[int, int]) -> tuple[int, int]:
    """The rows of ``node``'s activation input its output rows ``[a, b)`` read."""
    a, b = rows
    if node.op_type != "Conv":
        return rows
    kh, stride, dil, top, _ = _conv_window(node)
    height = node.inputs[0].shape[2]
    return max(a * stride - top, 0), min((b - 1) * stride - top + (kh - 1) * dil + 1, height)


def row_ranges(nodes: list[Node], x: Value, rows: tuple[int, int]) -> dict[int, tuple[int, int]]:
    """Rows of every value of the stage (by id) that output rows ``rows`` need."""
    need = {id(nodes[-1].outputs[0]): rows}
    for n in reversed(nodes):
        want = input_rows(n, need[id(n.outputs[0])])
        for v in _activations(n):
            have = need.get(id(v))
            need[id(v)] = want if have is None else (min(have[0], want[0]), max(have[1], want[1]))
    return need


def bands(height: int, tiles: int) -> list[tuple[int, int]]:
    """``tiles`` bands of output rows, as even as they come (the larger ones first)."""
    edges = [round(height * t / tiles) for t in range(tiles + 1)]
    return [(a, b) for a, b in itertools.pairwise(edges) if b > a]


def _band_value(lw, value: Value, rows: tuple[int, int], tag: str) -> Value:
    n, c, _, w = value.shape
    shape = (n, c, rows[1] - rows[0], w)
    band = Value(f"{value.name} {tag}", value.dtype, shape, quant=value.quant)
    lw.hold(band)
    return band


def _band_node(node: Node, inputs: list, output: Value, rows, in_rows, tag: str) -> Node:
    attrs = dict(node.attrs)
    if node.op_type == "Conv":
        kh, stride, dil, top, _ = _conv_window(node)
        a, b = rows
        pad_top = in_rows[0] - (a * stride - top)
        reach = (b - a - 1) * stride + (kh - 1) * dil + 1  # rows the window spans
        pads = list(attrs.get("pads") or [0, 0, 0, 0])
        if attrs.get("auto_pad", "NOTSET") not in ("NOTSET", b"NOTSET"):
            width = _conv_window_w(node)
            pads = [0, width[0], 0, width[1]]
        attrs.pop("auto_pad", None)
        pads[0], pads[2] = pad_top, reach - pad_top - (in_rows[1] - in_rows[0])
        attrs["pads"] = pads
    band = Node(node.op_type, inputs, [output], attrs, f"{node.name} {tag}", node.domain)
    band.fused = node.fused
    return band


def _conv_window_w(node: Node) -> tuple[int, int]:
    """SAME_* padding of the columns: (left, right)."""
    kw = node.inputs[1].shape[3]
    stride = node.attrs.get("strides", [1, 1])[1]
    dil = node.attrs.get("dilations", [1, 1])[1]
    x, y = node.inputs[0].shape[3], node.outputs[0].shape[3]
    total = max((y - 1) * stride + (kw - 1) * dil + 1 - x, 0)
    auto = node.attrs.get("auto_pad")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    left = total - total // 2 if auto == "SAME_LOWER" else total // 2
    return left, total - left


def _view(lw, parent: str, value: Value, layout: str, rows, full: Value) -> str:
    """A buffer aliasing ``parent`` (which holds ``full``) at ``rows``, holding ``value``."""
    buf = lw.program.buffers[parent]
    _, c, h, w = full.shape
    item = full.dtype.itemsize
    name = lw.alias(value, parent, layout)
    view = lw.program.buffers[name]
    view.first = buf.first  # the rows live from the parent's birth until the tile reads them
    if layout == L.CHANNELS_LAST:
        view.view_offset = rows[0] * w * c * item
    else:  # one run of rows per channel, a plane apart
        view.view_offset = rows[0] * w * item
        view.strides = (c * h * w, h * w, w, 1)
        view.span = ((c - 1) * h * w + (rows[1] - rows[0]) * w) * item
    return name


def emit_stage(lw, emitter_for, nodes: list[Node], tiles: int) -> None:
    """Lower ``nodes`` tile by tile (see the module's docstring)."""
    x, y = stage_input(lw.graph, nodes), nodes[-1].outputs[0]
    layout = lw.stored_layout(x)
    if layout != L.LOGICAL:
        layout = L.CHANNELS_LAST
    src = lw.read(x, layout)
    start = len(lw.program.calls)
    lw.share_weights(True)
    outputs, events = [], []
    for t, rows in enumerate(bands(y.shape[2], tiles)):
        tag = f"tile {t + 1}/{tiles}"
        need = row_ranges(nodes, x, rows)
        band = {id(v): _band_value(lw, v, need[id(v)], tag) for n in nodes for v in _activations(n)}
        band[id(y)] = _band_value(lw, y, rows, tag)
        for n in nodes:
            y_n = n.outputs[0]
            if id(y_n) not in band:
                band[id(y_n)] = _band_value(lw, y_n, need[id(y_n)], tag)
        step = len(lw.program.calls)
        for n in nodes:
            if x in n.inputs:  # each reader of x gets its own view of the rows it reads
                rows_x = input_rows(n, need[id(n.outputs[0])])
                band[id(x)] = _band_value(lw, x, rows_x, f"{tag} {n.name}")
                _view(lw, src, band[id(x)], layout, rows_x, x)
            inputs = [band.get(id(v), v) if v is not None else None for v in n.inputs]
            out = band[id(n.outputs[0])]
            in_rows = need.get(id(n.inputs[0]))
            if n.inputs[0] is x:
                in_rows = input_rows(n, need[id(n.outputs[0])])
            node = _band_node(n, inputs, out, need[id(n.outputs[0])], in_rows, tag)
            lw.hold(node)
            for suffix in ("", ":1"):  # in place in every tile (generate.in_place_at_peak)
                if f"{n.name} tiles{suffix}" in lw.in_place:
                    lw.in_place = lw.in_place | {node.name + suffix}
            emitter_for(node, lw.rounding).emit(lw, node)
        outputs.append((lw.stored_buffer(band[id(y)]), rows))
        first_x = min(input_rows(n, need[id(n.outputs[0])])[0] for n in nodes if x in n.inputs)
        events.append((rows, first_x, step))
    lw.share_weights(False)
    end = len(lw.program.calls) - 1
    dst = lw.write(y, L.CHANNELS_LAST)
    _, c, _, w = y.shape
    row_bytes = w * c * y.dtype.itemsize
    for name, rows in outputs:
        view = lw.program.buffers[name]
        view.alias_of, view.view_offset, view.last = dst, rows[0] * row_bytes, end
    # the output over the input: tile t writes rows below those tiles t, t+1… read
    in_row = x.shape[3] * x.dtype.itemsize * (x.shape[1] if layout == L.CHANNELS_LAST else 1)
    write_end = np.array([r[1] * row_bytes for r, _, _ in events], np.int64)
    read_start = np.array([f * in_row for _, f, _ in events], np.int64)
    lag = lag_bytes(write_end, read_start)
    out_buf = lw.program.buffers[dst]
    out_buf.overlap, out_buf.tiled = (src, lag), True
    lw.program.tiles.append(
        {
            "nodes": [n.name for n in nodes],
            "tiles": len(events),
            "input": src,
            "output": dst,
            "first_step": start,
            "last_step": end,
            "lag_bytes": lag,
            "rows": [list(r) for r, _, _ in events],
            "steps": [s for _, _, s in events],
        }
    )


def candidates(graph: Graph, max_layers: int = 6, counts=(2, 3, 4, 6, 8)) -> list[Stage]:
    """Stages of 2..``max_layers`` consecutive nodes and their tile counts."""
    found = []
    nodes = graph.nodes
    for i in range(len(nodes)):
        for j in range(i + 2, min(i + max_layers, len(nodes)) + 1):
            run = nodes[i:j]
            if stage_input(graph, run) is None:
                continue
            height = run[-1].outputs[0].shape[2]
            found += [Stage(tuple(n.name for n in run), k) for k in counts if k <= height]
    return found
