"""Structured channel pruning with least-squares reconstruction (``--prune channels:RATIO``).

For each channel group (``channel_groups``), in schedule order: run the graph pruned so far
over the calibration samples, set up the normal equations of every consumer towards the
*original* model's pre-activation outputs, choose the channels whose removal raises that
reconstruction error least, remove them (producer rows, depthwise and per-channel slices,
consumer columns, reshape targets) and re-fit the consumers by ridge regression.

The saliency is the exact increase of the consumers' least-squares error when a channel's
input features are dropped and the rest re-fitted (the Optimal Brain Surgeon formula for a
linear layer, per block of features), chosen greedily one channel at a time. Unlike weight
norms or activation magnitudes it sees correlated channels (a duplicate costs nothing) and
it ranks channels by the very error the re-fit then minimizes; it costs only the Gram
matrices that the re-fit needs anyway. Errors are relative to each consumer's output
energy, so consumers of different scales count alike.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from edgec.data import Dataset
from edgec.errors import EdgecError
from edgec.ir.graph import Graph, Node
from edgec.ops.shapes import infer_shapes
from edgec.passes.base import Pass, PassResult
from edgec.passes.channel_groups import ChannelGroup, Cut, prunable_groups
from edgec.passes.refit import (
    Normal,
    collect,
    normal_equations,
    replace_input,
    set_weight_matrix,
    weight_matrix,
)

log = logging.getLogger(__name__)


def remove_channels(graph: Graph, group: ChannelGroup, channels) -> None:
    """Remove ``channels`` (group-local indices) everywhere the group reaches; shapes follow."""
    # One deletion per (node, input, axis): a layer both producing and consuming the group
    # (a residual block's inner conv) loses rows and columns of the same weight.
    positions: dict[tuple[int, int, int], tuple[Cut, set[int]]] = {}
    for cut in group.cuts:
        entry = positions.setdefault((id(cut.node), cut.index, cut.axis), (cut, set()))
        entry[1].update(int(p) for p in cut.positions(channels))
    for cut, where in positions.values():
        data = cut.node.inputs[cut.index].const
        replace_input(graph, cut.node, cut.index, np.delete(data, sorted(where), axis=cut.axis))
    for node in group.depthwise:
        node.attrs["group"] = int(node.inputs[1].const.shape[0])
    for node in group.reshapes:
        replace_input(graph, node, 1, np.array([node.outputs[0].shape[0], -1], np.int64))
    infer_shapes(graph)
    for node in group.reshapes:
        replace_input(graph, node, 1, np.array(node.outputs[0].shape, np.int64))


def consumer_blocks(group: ChannelGroup) -> dict[int, tuple[Node, np.ndarray]]:
    """Per consumer node: [channel, block] feature indices of each group channel."""
    found: dict[int, tuple[Node, list[np.ndarray]]] = {}
    for consumer in group.consumers:
        starts = consumer.offset + np.arange(group.size) * consumer.block
        blocks = starts[:, None] + np.arange(consumer.block)[None, :]
        found.setdefault(id(consumer.node), (consumer.node, []))[1].append(blocks)
    return {k: (node, np.concatenate(parts, axis=1)) for k, (node, parts) in found.items()}


def removal_order(problems: list[tuple[Normal, np.ndarray]], count: int) -> list[int]:
    """The ``count`` channels to drop, greedily by least increase of the re-fitted error.

    ``problems``: per consumer, its normal equations and [channel, block] feature indices.
    """
    states = []
    for normal, blocks in problems:
        lam = normal.ridge()
        inverse = np.linalg.inv(normal.gram + lam * np.eye(normal.gram.shape[0]))
        states.append([inverse, inverse @ normal.cross, blocks, max(normal.energy, 1e-30)])
    size = problems[0][1].shape[0]
    alive = list(range(size))
    removed: list[int] = []
    for _ in range(count):
        costs = []
        for c in alive:
            cost = 0.0
            for h, w, blocks, energy in states:
                i = blocks[c]
                cost += float(np.sum(w[i] * np.linalg.solve(h[np.ix_(i, i)], w[i]))) / energy
            costs.append(cost)
        best = alive[int(np.argmin(costs))]
        for state in states:
            h, w, blocks, _ = state
            i = blocks[best]
            pivot = h[np.ix_(i, i)]
            state[1] = w - h[:, i] @ np.linalg.solve(pivot, w[i])
            state[0] = h - h[:, i] @ np.linalg.solve(pivot, h[i, :])
        alive.remove(best)
        removed.append(best)
    return removed


def refit(graph: Graph, node: Node, normal: Normal, removed: np.ndarray, columns=None) -> None:
    """Re-solve ``node`` (already cut) over the features left after ``removed``, for its
    output ``columns`` among those the normal equations cover (default all)."""
    keep = np.setdiff1d(np.arange(normal.gram.shape[0] - int(normal.bias)), removed)
    w, b = weight_matrix(node)
    prior = w if not normal.bias else np.concatenate([w, _column(b, w.shape[0])], axis=1)
    solved = normal.solve(keep, prior, columns)
    if normal.bias:
        set_weight_matrix(graph, node, solved[:, :-1], solved[:, -1])
    else:
        set_weight_matrix(graph, node, solved, None)


def _column(b: np.ndarray | None, rows: int) -> np.ndarray:
    return np.zeros((rows, 1)) if b is None else np.asarray(b, np.float64).reshape(rows, 1)


class Teacher:
    """The original model and its consumer inputs on the calibration samples; which of its
    output channels each pruned producer still has."""

    def __init__(self, graph: Graph, data: Dataset, names: list[str]):
        self.graph = graph.copy()
        self.data = data
        self.inputs = collect(self.graph, data, names)
        self.kept: dict[int, np.ndarray] = {}

    def outputs(self, node: Node) -> np.ndarray | None:
        return self.kept.get(id(node))

    def drop_outputs(self, node: Node, channels) -> None:
        current = self.kept.get(id(node), np.arange(node.outputs[0].shape[1]))
        self.kept[id(node)] = np.delete(current, list(channels))

    def twin(self, student: Graph, node: Node) -> Node:
        # Pruning never adds, removes or reorders nodes: positions pair them.
        return self.graph.nodes[student.nodes.index(node)]


def prune_group(
    graph: Graph, group: ChannelGroup, count: int, teacher: Teacher, data: Dataset
) -> list[int]:
    """Remove ``count`` channels of ``group`` and re-fit its consumers; returns the channels."""
    consumers = consumer_blocks(group)
    names = [node.inputs[0].name for node, _ in consumers.values()]
    student = collect(graph, data, names)
    problems = []
    for node, blocks in consumers.values():
        name = node.inputs[0].name
        normal = normal_equations(
            node,
            student[name],
            teacher.inputs[name],
            teacher.twin(graph, node),
            bias=node.op_type != "MatMul",
            outputs=teacher.outputs(node),
        )
        problems.append((normal, blocks))
    channels = removal_order(problems, count)
    for producer in group.producers:
        teacher.drop_outputs(producer, channels)
    remove_channels(graph, group, channels)
    refit_consumers(graph, group, consumers, problems, channels)
    return channels


def refit_consumers(graph, group, consumers, problems, channels) -> None:
    """Re-fit every consumer of ``group`` after ``channels`` were removed; a consumer that
    is also one of its producers (inside a residual block) keeps only its other outputs."""
    producers = {id(p) for p in group.producers}
    for (node, blocks), (normal, _) in zip(consumers.values(), problems):
        columns = None
        if id(node) in producers:
            columns = np.delete(np.arange(normal.cross.shape[1]), list(channels))
        refit(graph, node, normal, blocks[channels].reshape(-1), columns)


def channels_to_remove(size: int, ratio: float) -> int:
    """Channels removed at ``ratio`` (at least one channel stays)."""
    return int(min(size - 1, round(ratio * size)))


class ChannelPrune(Pass):
    """Remove a fraction of the output channels of every prunable group (``ratio``) or of
    the groups named in ``ratios`` (group key → fraction), re-fitting on ``data``."""

    def __init__(
        self, data: Dataset, ratio: float = 0.0, ratios: Mapping[str, float] | None = None
    ):
        if not 0.0 <= ratio < 1.0:
            raise EdgecError(f"prune ratio {ratio} must be in [0, 1)")
        self.data = data
        self.ratio = ratio
        self.ratios = dict(ratios or {})
        self.removed: dict[str, list[int]] = {}

    def run(self, graph: Graph) -> PassResult:
        groups = prunable_groups(graph)
        plan = {g.key: self.ratios.get(g.key, self.ratio) for g in groups}
        plan = {k: r for k, r in plan.items() if r > 0}
        if not plan:
            return PassResult(graph, False)
        linear = [n for n in graph.nodes if refittable(n)]
        teacher = Teacher(graph, self.data, [n.inputs[0].name for n in linear])
        refitted: set[int] = set()
        for key, ratio in plan.items():
            group = next((g for g in prunable_groups(graph) if g.key == key), None)
            if group is None:
                continue
            count = channels_to_remove(group.size, ratio)
            if count <= 0:
                continue
            self.removed[key] = prune_group(graph, group, count, teacher, self.data)
            refitted.update(id(c.node) for c in group.consumers)
            log.info("pruned %d of %d channels of %s", count, group.size, key)
        if self.removed:
            refit_downstream(graph, teacher, self.data, linear, refitted)
        return PassResult(graph, bool(self.removed))


def refittable(node: Node) -> bool:
    """A Conv (group 1), Gemm or MatMul with constant float weights on a plain input."""
    w = node.input(1)
    if node.op_type not in ("Conv", "Gemm", "MatMul") or node.domain or w is None:
        return False
    if not w.is_const or w.quant is not None or node.inputs[0].is_const:
        return False
    if node.op_type == "Conv":
        return node.attrs.get("group", 1) == 1
    if node.op_type == "Gemm":
        return not node.attrs.get("transA", 0) and len(node.inputs[0].shape) == 2
    return len(node.inputs[0].shape) == 2 and w.const.ndim == 2


def refit_downstream(graph, teacher: Teacher, data, linear: list[Node], done: set[int]) -> None:
    """Re-fit, in schedule order, every linear layer whose input changed but that no prune
    re-fitted (it reads an unpruned group downstream of a pruned one): the error that
    reached it is absorbed there too."""
    order = {id(n): i for i, n in enumerate(graph.nodes)}
    first = min((order[i] for i in done), default=len(graph.nodes))
    for node in linear:
        if id(node) in done or order[id(node)] < first:
            continue
        name = node.inputs[0].name
        student = collect(graph, data, [name])[name]
        twin = teacher.twin(graph, node)
        if np.array_equal(student, teacher.inputs[name]):
            continue
        normal = normal_equations(
            node,
            student,
            teacher.inputs[name],
            twin,
            bias=node.op_type != "MatMul",
            outputs=teacher.outputs(node),
        )
        refit(graph, node, normal, np.array([], dtype=np.int64))
