"""The reference executor: runs a Graph with the registry's numpy references.

It is the golden model for every comparison edgec makes (passes, backends, devices), so it
is deliberately plain: nodes in schedule order, one ``Op.run`` each, fused activations
applied as the ops they came from. Integer nodes of a quantized graph (see
``edgec.ops.integer``) run their TFLite Micro integer reference instead; ``rounding``
selects TFLM's fixed-point requantization (default) or the float32 rescale of
onnxruntime / LiteRT.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from edgec.errors import ShapeError, ValidationError, show_name
from edgec.ir.graph import Graph, Node
from edgec.ops import lookup, require_supported
from edgec.ops.integer import integer_params, is_integer_node, run_integer
from edgec.ops.quant import quantize
from edgec.ops.registry import get_op


class Interpreter:
    """Runs ``graph``; construction fails with one ``UnsupportedOpError`` listing every gap."""

    def __init__(self, graph: Graph, rounding: str = "tflm"):
        require_supported(graph)
        self.graph = graph
        self.rounding = rounding
        # Integer kernel parameters, derived once per node (as TFLM's Prepare does).
        self._int_params = {
            id(n): integer_params(n, rounding) for n in graph.nodes if is_integer_node(n)
        }
        # Index of the last node reading each value, so intermediates can be freed early.
        self._last_use: dict[int, int] = {}
        for i, node in enumerate(graph.nodes):
            for v in node.inputs:
                if v is not None:
                    self._last_use[id(v)] = i
        self._keep = {id(v) for v in graph.outputs}

    def run(self, feeds: Mapping[str, np.ndarray], keep_all: bool = False) -> dict[str, np.ndarray]:
        """Outputs by name (every value's data by name when ``keep_all``)."""
        env: dict[int, np.ndarray] = {id(v): v.const for v in self.graph.constants()}
        for value in self.graph.inputs:
            env[id(value)] = self._checked_feed(value, feeds)
        kept: dict[str, np.ndarray] = {}
        for index, node in enumerate(self.graph.nodes):
            inputs = [env[id(v)] if v is not None else None for v in node.inputs]
            if id(node) in self._int_params:
                results = run_integer(node, inputs, self._int_params[id(node)], self.rounding)
            else:
                results = run_node(node, inputs)
            for out, data in zip(node.outputs, results):
                env[id(out)] = data
                if keep_all:
                    kept[out.name] = data
            if keep_all:
                continue
            for v in node.inputs:  # free intermediates after their last reader
                last = v is not None and self._last_use.get(id(v)) == index
                if last and id(v) not in self._keep and not v.is_const:
                    env.pop(id(v), None)
        outputs = {v.name: env[id(v)] for v in self.graph.outputs}
        return {**kept, **outputs} if keep_all else outputs

    def _checked_feed(self, value, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        if value.name not in feeds:
            raise ValidationError(f"no data for input {show_name(value.name)}")
        data = np.asarray(feeds[value.name])
        if data.shape != value.shape:
            raise ShapeError(
                f"input {show_name(value.name)} expects shape {value.shape}, got {data.shape}"
            )
        if data.dtype != value.dtype:
            raise ValidationError(
                f"input {show_name(value.name)} expects {value.dtype}, got {data.dtype}"
            )
        return data


def run_node(node: Node, inputs: list[np.ndarray | None]) -> list[np.ndarray]:
    """One node's float reference, followed by its fused activation if any."""
    with np.errstate(all="ignore"):  # NaN and inf are results here, as in ONNX, not warnings
        results = lookup(node).run(node, inputs)
        if node.fused is not None:
            results[0] = _apply_fused(node, results[0])
    return results


def _apply_fused(node: Node, y: np.ndarray) -> np.ndarray:
    act = get_op(node.fused.op_type)
    if node.fused.op_type == "Clip":
        lo, hi = node.fused.attrs.get("min"), node.fused.attrs.get("max")
        bounds = [None if b is None else np.asarray(b, y.dtype) for b in (lo, hi)]
        return act.run(node, [y, *bounds])[0]
    return np.asarray(act.apply(_AttrView(node.fused.attrs), y), dtype=y.dtype)


class _AttrView:
    """Stands in for a node so an activation's ``attr`` reads a fused activation's attributes."""

    def __init__(self, attrs):
        self.attrs = attrs
        self.op_type, self.name = "fused", "fused"


def run_graph(
    graph: Graph, feeds: Mapping[str, np.ndarray], rounding: str = "tflm"
) -> dict[str, np.ndarray]:
    """Convenience: build an ``Interpreter`` and run it once."""
    return Interpreter(graph, rounding).run(feeds)


def quantized_feeds(graph: Graph, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Float samples for ``graph``'s inputs, quantized where an input is integer."""
    out = {}
    for v in graph.inputs:
        x = feeds[v.name]
        if v.quant is not None and np.issubdtype(x.dtype, np.floating):
            x = quantize(x, v.quant.scale, v.quant.zero_point, v.dtype)
        out[v.name] = x
    return out
