"""Per-group pruning ratios within a loss budget (``--prune-budget POINTS``).

1. Sensitivity: the calibration samples are split in ``folds``; for each fold, every group
   is pruned alone at each ratio of ``RATIOS`` (channels chosen and consumers re-fitted on
   the other folds) and scored on the held-out fold. The loss of a setting is in points
   (percent) of the metric, over all held-out samples: top-1 *agreement* with the unpruned
   model by default (a disagreement rate bounds the accuracy lost, and needs no labels), or
   *accuracy* against the labels.
2. Allocation: greedily raise the ratio of the group whose next step saves the most MACs
   per point of loss, while the summed losses stay within the budget.
3. Check: the whole allocation is pruned in sequence on each fold and scored held out; when
   the measured loss exceeds the budget, the allocation's last step is forbidden and the
   greedy goes on from the state before it (a bounded number of checks).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from edgec.data import Dataset
from edgec.errors import EdgecError
from edgec.interp import Interpreter
from edgec.ir.graph import Graph
from edgec.ops.registry import graph_macs
from edgec.passes.base import Pass, PassResult
from edgec.passes.channel_groups import prunable_groups
from edgec.passes.channel_prune import (
    ChannelPrune,
    Teacher,
    channels_to_remove,
    consumer_blocks,
    refit_consumers,
    removal_order,
    remove_channels,
)
from edgec.passes.refit import normal_equations

log = logging.getLogger(__name__)

RATIOS = (0.125, 0.25, 0.375, 0.5, 0.625, 0.75)
TIE = 0.25  # points: a step's loss counts at least this much when ranking steps
CHECKS = 8  # held-out checks of whole allocations (each prunes every fold once)


@dataclass
class BudgetReport:
    budget: float
    metric: str
    folds: int
    sensitivity: dict[str, dict[str, float]] = field(default_factory=dict)
    ratios: dict[str, float] = field(default_factory=dict)
    predicted_loss: float = 0.0
    measured_loss: float | None = None
    macs_before: int = 0
    macs_after: int = 0
    seconds: float = 0.0


def outputs(graph: Graph, data: Dataset) -> np.ndarray:
    """The first output over every sample, [N, …]."""
    interpreter = Interpreter(graph)
    name = graph.outputs[0].name
    return np.stack([interpreter.run(data.sample(i))[name][0] for i in range(len(data))])


def score(out: np.ndarray, reference: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
    """Per sample: 1 where the top-1 matches (the labels, or the reference's top-1)."""
    truth = labels if labels is not None else reference.reshape(len(out), -1).argmax(1)
    return (out.reshape(len(out), -1).argmax(1) == truth).astype(np.float64)


def plan_macs(graph: Graph, ratios: dict[str, float]) -> int:
    """MACs of ``graph`` with ``ratios`` applied (any channels: the count is what matters)."""
    g = graph.copy()
    for key, ratio in ratios.items():
        group = next((x for x in prunable_groups(g) if x.key == key), None)
        if group is not None and ratio > 0:
            remove_channels(g, group, range(channels_to_remove(group.size, ratio)))
    return graph_macs(g)


METRICS = ("agreement", "accuracy")  # top-1 agreement with the unpruned model, or labels


class PruneBudget(Pass):
    """Channel pruning with per-group ratios chosen to keep the loss within ``budget`` points."""

    def __init__(self, data: Dataset, budget: float, metric: str = "agreement", folds: int = 4):
        if budget < 0:
            raise EdgecError(f"--prune-budget {budget}: the budget must be >= 0 points")
        if metric not in METRICS:
            raise EdgecError(f"budget metric {metric!r}: choose agreement or accuracy")
        if metric == "accuracy" and data.labels is None:
            raise EdgecError("a budget on accuracy needs labels with the calibration data")
        if len(data) < 2 * folds:
            raise EdgecError(
                f"--prune-budget needs at least {2 * folds} calibration samples, got {len(data)}"
            )
        self.data = data
        self.report = BudgetReport(budget, metric, folds)
        self.labels_used = data.labels if metric == "accuracy" else None

    def splits(self) -> list[tuple[Dataset, Dataset]]:
        n, k = len(self.data), self.report.folds
        held = np.array_split(np.arange(n), k)
        return [
            (self.data.subset(np.setdiff1d(np.arange(n), h)), self.data.subset(h)) for h in held
        ]

    def run(self, graph: Graph) -> PassResult:
        start = time.monotonic()
        report = self.report
        groups = prunable_groups(graph)
        if not groups:
            return PassResult(graph, False)
        splits = self.splits()
        references = [outputs(graph, held) for _, held in splits]
        base = [
            score(ref, ref, None if self.labels_used is None else held.labels)
            for ref, (_, held) in zip(references, splits)
        ]
        total = sum(len(b) for b in base)
        correct: dict[str, dict[float, float]] = {g.key: {} for g in groups}
        for (fit, held), ref, _ in zip(splits, references, base):
            self._sensitivity_fold(graph, groups, fit, held, ref, correct)
        base_correct = sum(float(b.sum()) for b in base)
        loss = {
            key: {r: 100.0 * (base_correct - c) / total for r, c in by_ratio.items()}
            for key, by_ratio in correct.items()
        }
        report.sensitivity = {k: {str(r): v for r, v in d.items()} for k, d in loss.items()}
        report.macs_before = graph_macs(graph)
        ratios, measured = self._search(graph, loss, splits, references, base_correct, total)
        report.ratios = ratios
        report.predicted_loss = sum(loss[k][r] for k, r in ratios.items())
        report.measured_loss = measured
        if ratios:
            ChannelPrune(self.data, ratios=ratios).run(graph)
        report.macs_after = graph_macs(graph)
        report.seconds = time.monotonic() - start
        return PassResult(graph, bool(ratios))

    def _sensitivity_fold(self, graph, groups, fit, held, ref, correct) -> None:
        names = [c.node.inputs[0].name for g in groups for c in g.consumers]
        teacher = Teacher(graph, fit, names)
        labels = None if self.labels_used is None else held.labels
        for group in groups:
            consumers = consumer_blocks(group)
            problems = []
            for node, blocks in consumers.values():
                x = teacher.inputs[node.inputs[0].name]
                twin = teacher.twin(graph, node)
                bias = node.op_type != "MatMul"
                problems.append((normal_equations(twin, x, x, twin, bias), blocks))
            most = channels_to_remove(group.size, max(RATIOS))
            order = removal_order(problems, most)
            for ratio in RATIOS:
                count = channels_to_remove(group.size, ratio)
                if count <= 0:
                    continue
                g = graph.copy()
                twin_group = next(x for x in prunable_groups(g) if x.key == group.key)
                remove_channels(g, twin_group, order[:count])
                twins = consumer_blocks(twin_group)
                refit_consumers(g, twin_group, twins, problems, order[:count])
                hits = float(score(outputs(g, held), ref, labels).sum())
                correct[group.key][ratio] = correct[group.key].get(ratio, 0.0) + hits

    def _search(self, graph, loss, splits, references, base_correct, total):
        """Greedy allocation, checked held out; a step whose check fails is forbidden and
        the greedy goes on from the state before it (at most ``CHECKS`` checks)."""
        forbidden: set[tuple[str, float]] = set()
        trail: list[dict[str, float]] = [{}]  # the states of the greedy path so far
        for _ in range(CHECKS):
            trail += self._allocate(graph, loss, trail[-1], forbidden)
            if len(trail) == 1:
                break
            ratios = trail[-1]
            measured = self._check(graph, ratios, splits, references, base_correct, total)
            log.info("budget: ratios %s lose %.2f points held out", ratios, measured)
            if measured <= self.report.budget:
                return ratios, measured
            trail.pop()
            forbidden |= set(ratios.items()) - set(trail[-1].items())
        return {}, 0.0

    def _allocate(self, graph: Graph, loss, start, forbidden) -> list[dict[str, float]]:
        """Each accepted step's allocation from ``start``, in order (the greedy path),
        never taking a (group, ratio) step in ``forbidden``."""
        levels = {k: [0.0, *sorted(d)] for k, d in loss.items()}
        current = {k: start.get(k, 0.0) for k in levels}
        # Pruning more cannot truly help: a dip in a measured curve is noise, so each ratio
        # costs at least what any smaller one did.
        cost = {}
        for key, by_ratio in loss.items():
            running, cost[key] = 0.0, {0.0: 0.0}
            for ratio in sorted(by_ratio):
                running = max(running, by_ratio[ratio])
                cost[key][ratio] = running
        macs = plan_macs(graph, {k: r for k, r in current.items() if r})
        path = []
        while True:
            spent = sum(cost[k][r] for k, r in current.items())
            best = None
            for key, ratio in current.items():
                i = levels[key].index(ratio)
                if i + 1 >= len(levels[key]) or (key, levels[key][i + 1]) in forbidden:
                    continue
                nxt = levels[key][i + 1]
                extra = cost[key][nxt] - cost[key][ratio]
                if spent + extra > self.report.budget:
                    continue
                trial = {**current, key: nxt}
                saved = macs - plan_macs(graph, {k: r for k, r in trial.items() if r})
                value = saved / max(extra, TIE)
                if best is None or value > best[0]:
                    best = (value, trial, saved)
            if best is None:
                return path
            current = best[1]
            macs -= best[2]
            path.append({k: r for k, r in current.items() if r})

    def _check(self, graph, ratios, splits, references, base_correct, total) -> float:
        if not ratios:
            return 0.0
        hits = 0.0
        for (fit, held), ref in zip(splits, references):
            g = graph.copy()
            ChannelPrune(fit, ratios=ratios).run(g)
            labels = None if self.labels_used is None else held.labels
            hits += float(score(outputs(g, held), ref, labels).sum())
        return 100.0 * (base_correct - hits) / total
