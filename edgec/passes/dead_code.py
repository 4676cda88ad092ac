"""Dead-code elimination: drop nodes that cannot reach a graph output and unread constants."""

from __future__ import annotations

from edgec.ir.graph import Graph, Node, Value
from edgec.passes.base import Pass, PassResult


def drop_if_unused(graph: Graph, value: Value | None) -> None:
    """Forget a constant that no node reads any more (and that is not a graph output)."""
    if value is not None and value.is_const and not value.users and not graph.is_output(value):
        graph.remove_value(value)


def live_nodes(graph: Graph) -> set[int]:
    """Ids of the nodes with an output that a graph output depends on."""
    needed = {id(v) for v in graph.outputs}
    live: set[int] = set()
    for node in reversed(graph.nodes):
        if any(id(out) in needed for out in node.outputs):
            live.add(id(node))
            needed.update(id(v) for v in node.inputs if v is not None)
    return live


def _is_orphan(graph: Graph, value: Value) -> bool:
    """Registered but unused: no reader, no producer, not a graph input or output."""
    if value.users or value.producer is not None:
        return False
    return not graph.is_output(value) and all(v is not value for v in graph.inputs)


class EliminateDeadCode(Pass):
    """Remove nodes whose results no graph output needs, then values nobody reads.

    Graph inputs always stay (the model's interface), even when unused.
    """

    def run(self, graph: Graph) -> PassResult:
        live = live_nodes(graph)
        dead: list[Node] = [n for n in graph.nodes if id(n) not in live]
        for node in dead:
            graph.remove_node(node)
        removed_values = 0
        for value in list(graph.values()):
            if _is_orphan(graph, value):
                graph.remove_value(value)
                removed_values += 1
        return PassResult(graph, bool(dead) or removed_values > 0)

    def ensures(self, graph: Graph) -> None:
        live = live_nodes(graph)
        for node in graph.nodes:
            if id(node) not in live:
                raise self.fail("node does not reach a graph output", node)
        for value in graph.constants():
            if _is_orphan(graph, value):
                raise self.fail(f"constant {value.name!r} is never read")
