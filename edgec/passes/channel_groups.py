"""Which output channels can be removed together: the channel groups of a folded float graph.

A *group* is a set of channels that must be removed at once. It starts at a *producer*
(a Conv with ``group == 1``, a Gemm, or a MatMul with a constant weight) and follows its
output through ops that keep channel ``c`` at channel ``c``: activations, pooling,
BatchNorm and per-channel constants, depthwise convolutions (their channel ``c`` reads
only input channel ``c``). A residual ``Add`` of two activations merges the groups of its
inputs (all producers of the sum must drop the same channels); ``Concat`` on the channel
axis places each input's group at an offset; ``Flatten`` / a ``Reshape`` to ``[N, -1]``
widens each channel to ``H*W`` consecutive features. The group ends at its *consumers*
(Conv, Gemm, MatMul), whose input channels are removed and whose weights are re-fitted.

A group is *blocked* (never pruned) when its channels reach a graph output, an op this
analysis does not know, or an op that would mix them with another layout (an ``Add`` of a
concatenation and a plain tensor, a broadcast activation). Every removal is described as a
``Cut``: which constant input of which node loses which slices along which axis.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgec.ir.graph import Graph, Node, Value
from edgec.ops import get_op

BINARY = {"Add", "Sub", "Mul", "Div", "Max", "Min"}


def _channelwise(node: Node) -> bool:
    op = get_op(node.op_type, node.domain)
    return op is not None and op.channelwise


@dataclass(frozen=True)
class Cut:
    """Remove channel ``c`` of a group from ``node.inputs[index]`` (a constant): the
    slices ``offset + c*block … offset + (c+1)*block`` along ``axis``."""

    node: Node
    index: int
    axis: int
    offset: int = 0
    block: int = 1

    def positions(self, channels) -> np.ndarray:
        starts = self.offset + np.asarray(sorted(channels), dtype=np.int64) * self.block
        return (starts[:, None] + np.arange(self.block)[None, :]).reshape(-1)


@dataclass
class Consumer:
    """A node reading the group's channels; re-fitted after a prune. ``offset``/``block``
    place channel ``c`` among the node's input features (``c*block + offset …``)."""

    node: Node
    offset: int
    block: int


@dataclass
class ChannelGroup:
    """Channels removed together. ``key`` (producer names) identifies it across rewrites."""

    size: int
    producers: list[Node] = field(default_factory=list)
    cuts: list[Cut] = field(default_factory=list)
    consumers: list[Consumer] = field(default_factory=list)
    reshapes: list[Node] = field(default_factory=list)
    depthwise: list[Node] = field(default_factory=list)
    blocked: str | None = None

    @property
    def key(self) -> str:
        return "+".join(sorted(p.name for p in self.producers))


# A tensor's channel axis as segments: (group id or None for fixed channels, count, block).
Layout = list[tuple[int | None, int, int]]


class _Analysis:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.groups: dict[int, ChannelGroup] = {}
        self.parent: dict[int, int] = {}
        self.layouts: dict[int, Layout] = {}

    # ---- union-find over group ids ------------------------------------------------------
    def root(self, gid: int) -> int:
        while self.parent[gid] != gid:
            self.parent[gid] = self.parent[self.parent[gid]]
            gid = self.parent[gid]
        return gid

    def new_group(self, size: int) -> int:
        gid = len(self.parent)
        self.parent[gid] = gid
        self.groups[gid] = ChannelGroup(size)
        return gid

    def merge(self, a: int, b: int) -> None:
        a, b = self.root(a), self.root(b)
        if a == b:
            return
        self.parent[b] = a
        ga, gb = self.groups[a], self.groups.pop(b)
        ga.producers += gb.producers
        ga.cuts += gb.cuts
        ga.consumers += gb.consumers
        ga.reshapes += gb.reshapes
        ga.depthwise += gb.depthwise
        ga.blocked = ga.blocked or gb.blocked

    def group(self, gid: int) -> ChannelGroup:
        return self.groups[self.root(gid)]

    def block(self, layout: Layout | None, reason: str) -> None:
        for gid, _, _ in layout or []:
            if gid is not None and self.group(gid).blocked is None:
                self.group(gid).blocked = reason

    def layout(self, value: Value) -> Layout | None:
        return self.layouts.get(id(value))

    def fixed(self, value: Value) -> None:
        channels = value.shape[1] if value.shape and len(value.shape) >= 2 else 0
        self.layouts[id(value)] = [(None, channels, 1)]

    # ---- the walk -----------------------------------------------------------------------
    def run(self) -> list[ChannelGroup]:
        for value in self.graph.inputs:
            self.fixed(value)
        for node in self.graph.nodes:
            self.visit(node)
        for value in self.graph.outputs:
            self.block(self.layout(value), f"reaches graph output {value.name!r}")
        return list(self.groups.values())

    def visit(self, node: Node) -> None:
        acts = [v for v in node.inputs if v is not None and not v.is_const]
        if node.domain or any(v.shape is None for v in (*acts, *node.outputs)):
            return self.unknown(node, acts)
        if node.op_type in ("Conv", "Gemm", "MatMul") and self.linear(node):
            return None
        if node.op_type == "Conv" and self.depthwise(node):
            return None
        if _channelwise(node) and len(acts) == 1 and acts[0] is node.inputs[0]:
            return self.same_layout(node, acts[0])
        if self.foldless_batchnorm(node, acts):
            return self.same_layout(node, acts[0], const_axis=0)
        if node.op_type in BINARY and self.binary(node, acts):
            return None
        if node.op_type == "Concat" and self.concat(node, acts):
            return None
        if node.op_type in ("Flatten", "Reshape") and self.flatten(node, acts):
            return None
        return self.unknown(node, acts)

    @staticmethod
    def foldless_batchnorm(node: Node, acts: list[Value]) -> bool:
        """A BatchNormalization the fold passes left (its producer is not a Conv/Gemm)."""
        if node.op_type != "BatchNormalization" or len(acts) != 1 or acts[0] is not node.inputs[0]:
            return False
        return all(v is not None and v.is_const for v in node.inputs[1:5])

    def unknown(self, node: Node, acts: list[Value]) -> None:
        for v in acts:
            self.block(self.layout(v), f"read by {node.op_type} node {node.name!r}")
        for out in node.outputs:
            if out.shape is not None:
                self.fixed(out)

    def same_layout(self, node: Node, x: Value, const_axis: int | None = None) -> None:
        layout = self.layout(x)
        if const_axis is not None:
            for index in range(1, len(node.inputs)):
                self.add_cuts(layout, node, index, const_axis)
        self.layouts[id(node.outputs[0])] = layout
        for out in node.outputs[1:]:
            self.fixed(out)

    def add_cuts(self, layout: Layout, node: Node, index: int, axis: int, shift=0) -> None:
        offset = shift
        for gid, count, block in layout:
            if gid is not None:
                self.group(gid).cuts.append(Cut(node, index, axis, offset, block))
            offset += count * block

    # Conv (group 1), Gemm and MatMul with a constant weight: a consumer and a producer.
    def linear(self, node: Node) -> bool:
        x, w = node.inputs[0], node.input(1)
        if x is None or x.is_const or w is None or not w.is_const or w.quant is not None:
            return False
        bias = node.input(2)
        if bias is not None and not bias.is_const:
            return False
        out = node.outputs[0]
        if node.op_type == "Conv":
            if node.attrs.get("group", 1) != 1:
                return False
            in_axis, out_axis, per_channel = 1, 0, int(np.prod(w.shape[2:]))
        elif node.op_type == "Gemm":
            if node.attrs.get("transA", 0) or len(x.shape) != 2:
                return False
            trans_b = node.attrs.get("transB", 0)
            in_axis, out_axis, per_channel = (1, 0, 1) if trans_b else (0, 1, 1)
            if bias is not None and bias.const.ndim and bias.const.shape[-1] != out.shape[1]:
                return False  # a bias broadcast along the batch cannot be cut per feature
        else:
            if len(x.shape) != 2 or w.const.ndim != 2:
                return False
            in_axis, out_axis, per_channel = 0, 1, 1
        layout = self.layout(x) or [(None, x.shape[1], 1)]
        # The weight is cut along its input axis (channels of a Conv's 4-d weight); the
        # re-fit sees features (a Conv's channel c is its kh*kw im2col columns).
        offset = 0
        for gid, count, block in layout:
            if gid is not None:
                group = self.group(gid)
                group.cuts.append(Cut(node, 1, in_axis, offset, block))
                group.consumers.append(Consumer(node, offset * per_channel, block * per_channel))
            offset += count * block
        gid = self.new_group(out.shape[1])
        group = self.groups[gid]
        group.producers.append(node)
        group.cuts.append(Cut(node, 1, out_axis))
        if bias is not None and bias.const.size > 1:
            group.cuts.append(Cut(node, 2, bias.const.ndim - 1))
        self.layouts[id(out)] = [(gid, out.shape[1], 1)]
        return True

    def depthwise(self, node: Node) -> bool:
        x, w, bias = node.inputs[0], node.input(1), node.input(2)
        channels = x.shape[1]
        if w is None or not w.is_const or w.shape[:2] != (channels, 1):
            return False
        if node.attrs.get("group", 1) != channels or (bias is not None and not bias.is_const):
            return False
        layout = self.layout(x)
        self.add_cuts(layout, node, 1, 0)
        if bias is not None:
            self.add_cuts(layout, node, 2, 0)
        for gid, _, _ in layout:
            if gid is not None:
                self.group(gid).depthwise.append(node)
        self.layouts[id(node.outputs[0])] = layout
        return True

    def binary(self, node: Node, acts: list[Value]) -> bool:
        out = node.outputs[0]
        if any(v.shape != out.shape for v in acts) or len(out.shape) < 2:
            return False
        layouts = [self.layout(v) for v in acts]
        first = layouts[0]
        for other in layouts[1:]:
            if [(c, b) for _, c, b in other] != [(c, b) for _, c, b in first]:
                return False
            for (ga, _, _), (gb, _, _) in zip(first, other):
                if (ga is None) != (gb is None):
                    # A fixed tensor added to a prunable one: that one can no longer move.
                    self.block(first, f"added to fixed channels in {node.op_type} {node.name!r}")
                    self.block(other, f"added to fixed channels in {node.op_type} {node.name!r}")
                elif ga is not None:
                    self.merge(ga, gb)
        rank = len(out.shape)
        for index, v in enumerate(node.inputs):
            if v is None or not v.is_const:
                continue
            shape = (1,) * (rank - v.const.ndim) + v.const.shape
            if len(shape) > rank or any(d not in (1, o) for d, o in zip(shape, out.shape)):
                return False
            if shape[1] != 1:
                # Per-channel constant: the cut runs along its own (unaligned) axis.
                axis = 1 - (rank - v.const.ndim)
                if axis < 0:
                    return False
                self.add_cuts(first, node, index, axis)
        self.layouts[id(out)] = first
        return True

    def concat(self, node: Node, acts: list[Value]) -> bool:
        out = node.outputs[0]
        axis = node.attrs.get("axis", 1)
        if axis < 0:
            axis += len(out.shape)
        if axis != 1:
            return False
        layout: Layout = []
        for v in node.inputs:
            segments = self.layout(v) if not v.is_const else None
            layout += segments if segments is not None else [(None, v.shape[1], 1)]
        self.layouts[id(out)] = layout
        return True

    def flatten(self, node: Node, acts: list[Value]) -> bool:
        x, out = node.inputs[0], node.outputs[0]
        if len(acts) != 1 or acts[0] is not x or len(x.shape) < 2 or len(out.shape) != 2:
            return False
        if out.shape[0] != x.shape[0]:
            return False
        if node.op_type == "Flatten" and node.attrs.get("axis", 1) != 1:
            return False
        spatial = int(np.prod(x.shape[2:], dtype=np.int64))
        layout = [(gid, count, block * spatial) for gid, count, block in self.layout(x)]
        for gid, _, _ in layout:
            if gid is not None and node.op_type == "Reshape":
                self.group(gid).reshapes.append(node)
        self.layouts[id(out)] = layout
        return True


def channel_groups(graph: Graph) -> list[ChannelGroup]:
    """Every channel group of ``graph`` (blocked ones too), producers in schedule order."""
    groups = _Analysis(graph).run()
    order = {id(n): i for i, n in enumerate(graph.nodes)}
    for group in groups:
        group.producers.sort(key=lambda n: order[id(n)])
    return sorted(groups, key=lambda g: order[id(g.producers[0])] if g.producers else -1)


def prunable_groups(graph: Graph) -> list[ChannelGroup]:
    """The groups that can lose channels: not blocked, with producers and consumers."""
    return [g for g in channel_groups(graph) if g.blocked is None and g.producers and g.consumers]
