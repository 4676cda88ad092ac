"""The pass contract and the ``PassManager`` that runs passes to a fixed point.

A pass is a class with ``run(graph) -> PassResult(graph, changed)``. It may rewrite the
graph in place (``in_place = True``, the default) or return a new one. ``requires`` and
``ensures`` are checks on the graph before and after the pass: they raise ``PassError``
when a precondition or promise does not hold, so a broken pass is caught where it broke.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from edgec.errors import EdgecError, PassError
from edgec.ir.graph import Graph, Node

log = logging.getLogger(__name__)


@dataclass
class PassResult:
    graph: Graph
    changed: bool


class Pass:
    """Base class; subclasses implement ``run`` and may override the two checks."""

    in_place = True

    @property
    def name(self) -> str:
        return type(self).__name__

    def run(self, graph: Graph) -> PassResult:
        raise NotImplementedError

    def requires(self, graph: Graph) -> None:
        """Raise ``PassError`` if ``graph`` is not a valid input of this pass."""

    def ensures(self, graph: Graph) -> None:
        """Raise ``PassError`` if the result breaks this pass's promise."""

    def fail(self, message: str, node: Node | None = None) -> PassError:
        return PassError(self.name, message, node.name if node is not None else None)

    def __call__(self, graph: Graph) -> PassResult:
        return self.run(graph)


class PassManager:
    """Runs passes in order; with ``fixed_point`` repeats the list until nothing changes.

    Each pass's failure surfaces as a ``PassError`` naming the pass; with ``check`` the graph
    invariants and each pass's ``requires``/``ensures`` are verified around every run.
    """

    def __init__(
        self,
        passes: Sequence[Pass],
        fixed_point: bool = True,
        max_iterations: int = 20,
        check: bool = True,
    ):
        self.passes = list(passes)
        self.fixed_point = fixed_point
        self.max_iterations = max_iterations
        self.check = check

    def run(self, graph: Graph) -> PassResult:
        changed_any = False
        for iteration in range(self.max_iterations):
            changed = False
            for p in self.passes:
                graph, did = self._run_one(p, graph)
                changed |= did
            changed_any |= changed
            if not self.fixed_point or not changed:
                return PassResult(graph, changed_any)
            log.debug("pass list changed the graph; iteration %d", iteration + 1)
        raise PassError("PassManager", f"no fixed point after {self.max_iterations} iterations")

    __call__ = run

    def _run_one(self, p: Pass, graph: Graph) -> tuple[Graph, bool]:
        try:
            if self.check:
                p.requires(graph)
            result = p.run(graph)
            if p.in_place and result.graph is not graph:
                raise p.fail("declared in-place but returned a new graph")
            if self.check:
                result.graph.validate()
                p.ensures(result.graph)
        except PassError:
            raise
        except EdgecError as exc:
            raise PassError(p.name, str(exc)) from exc
        except Exception as exc:  # a bug in the pass: keep the pass name in the message
            raise PassError(p.name, f"internal error: {type(exc).__name__}: {exc}") from exc
        log.debug("%s: changed=%s", p.name, result.changed)
        return result.graph, result.changed


def run_passes(graph: Graph, passes: Iterable[Pass], **kwargs) -> Graph:
    """Convenience: run ``passes`` with a ``PassManager`` and return the graph."""
    return PassManager(list(passes), **kwargs).run(graph).graph
