"""Which paths run each layer of a model, and why not: ``edgec analyze``'s support columns.

- **float C**: the C backend's check of the node (``backends.c.lower.node_reason``: an
  emitter exists and accepts its attributes, shapes and constants) on the folded graph.
- **int8 C**: the same checks on the graph the int8 quantizer builds
  (``quantize.ptq.synthetic_quantization``: the registry's integer facts decide which nodes
  get an integer kernel; a node the quantizer keeps float runs its float kernel between
  DequantizeLinear and QuantizeLinear, shown as ``float (why)``). Checks that depend on the
  calibrated scales (a multiplier out of range) can still fail at compile time.
- **TVM**: relax's ONNX importer has a converter for the op (when TVM is installed).

A layer's value is ``yes`` (``int8`` in the int8 column), ``float (…)`` or ``no: reason``.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from edgec.analysis import Analysis, analyze_graph, load_for_analysis
from edgec.backends.c.lower import node_reason
from edgec.backends.tvm.build import supported_onnx_ops
from edgec.ir.graph import Graph, Node
from edgec.ops import get_op
from edgec.quantize.ptq import quantizable, synthetic_quantization

PATHS = ("float_c", "int8_c", "tvm")


def analyze(
    model: str | os.PathLike | Graph,
    input_shapes: dict[str, list[int] | tuple[int, ...]] | None = None,
    fold: bool = True,
) -> Analysis:
    """``edgec.analysis.analyze`` with each row's ``support``: {path: verdict}."""
    graph, label, folded, notices, problems = load_for_analysis(model, input_shapes, fold)
    result = analyze_graph(graph, label, folded=folded, notices=notices)
    result.problems = problems
    support = layer_support(graph, problems)
    for row in result.rows:
        row.support = support.get(row.name)
    return result


def layer_support(graph: Graph, problems: dict[str, str] | None = None) -> dict[str, dict]:
    """Node name → {path: verdict} for every node of ``graph``."""
    problems = problems or {}
    float_c = {node.name: _verdict(node_reason(node)) for node in graph.nodes}
    int8_c = _int8_verdicts(graph, problems)
    tvm_ops = supported_onnx_ops()
    support = {}
    for node in graph.nodes:
        if node.name in problems:
            refused = f"no: {problems[node.name]}"
            support[node.name] = dict.fromkeys(PATHS, refused)
            continue
        if tvm_ops is None:
            tvm = "unknown: TVM is not installed"
        elif node.op_type in tvm_ops or node.domain:
            tvm = "yes" if not node.domain else "no: a custom domain op"
        else:
            tvm = "no: relax's ONNX importer has no converter for it"
        name = node.name
        support[name] = {"float_c": float_c[name], "int8_c": int8_c[name], "tvm": tvm}
    return support


def _verdict(reason: str | None, yes: str = "yes") -> str:
    return yes if reason is None else f"no: {reason}"


def _int8_verdicts(graph: Graph, problems: dict[str, str]) -> dict[str, str]:
    if problems:
        why = "not checked: the model has layers edgec cannot take"
        return {node.name: why for node in graph.nodes}
    try:
        quantized = synthetic_quantization(graph)
    except Exception as exc:  # a model the quantizer refuses: every layer says why
        reason = " ".join(str(exc).split()) or type(exc).__name__
        refused = f"no: the quantizer refuses the model ({reason})"
        return {node.name: refused for node in graph.nodes}
    by_name = {node.name: node for node in quantized.nodes}
    return {node.name: _int8_verdict(node, by_name.get(node.name)) for node in graph.nodes}


def _int8_verdict(source: Node, node: Node | None) -> str:
    if node is None:
        return "yes (removed by the quantizer)"
    reason = node_reason(node)
    if reason is not None:
        return f"no: {reason}"
    op = get_op(node.op_type, node.domain)
    x = node.inputs[0] if node.inputs else None
    integer = node.outputs[0].quant is not None or (
        op.integer == "index" and x is not None and x.quant is not None
    )
    if integer:
        return "int8"
    if op.integer is None:
        return "float (no integer kernel)"
    limit = op.integer_limits(source)
    if limit is not None:
        return f"float ({limit})"
    if op.integer == "arith" and not quantizable(source):
        return "float (kept float by the quantizer)"
    return "yes"


def summary(result: Analysis, printable: Callable[[str], str] = str) -> list[str]:
    """One line per path: how many layers run on it, and the first layers that do not."""
    rows = [r for r in result.rows if r.support is not None]
    lines = []
    for path, label in (("float_c", "float C"), ("int8_c", "int8 C"), ("tvm", "TVM")):
        verdicts = [(r, r.support[path]) for r in rows]
        refused = [(r, v) for r, v in verdicts if v.startswith(("no", "unknown", "not checked"))]
        floated = [r for r, v in verdicts if v.startswith("float")]
        if not refused:
            text = f"runs all {len(rows)} layers"
            if floated:
                text += f" ({len(floated)} in float: {', '.join(sorted({r.op for r in floated}))})"
        else:
            shown = "; ".join(
                f"{printable(r.name)} ({r.op}): {v.removeprefix('no: ')}" for r, v in refused[:3]
            )
            more = f"; and {len(refused) - 3} more" if len(refused) > 3 else ""
            text = f"{len(refused)} of {len(rows)} layers cannot run: {shown}{more}"
        lines.append(f"{label + ':':<19}{text}")
    return lines
