"""Run the float graph over calibration samples and collect per-tensor statistics."""

from __future__ import annotations

import sys
from collections.abc import Iterable

import numpy as np

from edgec.data import Dataset
from edgec.errors import QuantizationError
from edgec.interp import Interpreter
from edgec.ir.graph import Graph
from edgec.ops.registry import Op, get_op
from edgec.quantize.observers import TensorStats


def progress(items: Iterable, total: int, label: str):
    """Iterate with a progress bar on a terminal (plain iteration otherwise)."""
    if not sys.stderr.isatty():
        yield from items
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(label, total=total)
        for item in items:
            yield item
            bar.advance(task)


def activation_names(graph: Graph) -> list[str]:
    """Float activations to observe: graph inputs and node outputs (not constants)."""
    names = [v.name for v in graph.inputs]
    for node in graph.nodes:
        names += [v.name for v in node.outputs if np.issubdtype(np.dtype(v.dtype), np.floating)]
    return names


# The axes whose means bias correction needs: a convolution's input channels (axis 1 of N, C,
# …), a Gemm's or MatMul's input features (the last axis; the same axis for 2-d tensors).
MEAN_AXES = {"channel_mean": 1, "feature_mean": -1}


def channel_means(data: np.ndarray, axis: int = 1) -> np.ndarray:
    """Mean over every axis but ``axis`` (1: channels of N, C, … tensors; -1: features)."""
    if data.ndim < 2:
        return np.atleast_1d(data.astype(np.float64).mean())
    keep = axis % data.ndim
    axes = tuple(i for i in range(data.ndim) if i != keep)
    return data.astype(np.float64).mean(axis=axes)


def calibrate(graph: Graph, data: Dataset, histogram: bool = True) -> dict[str, TensorStats]:
    """Statistics (range, histogram, channel means) of every activation over ``data``, and of
    the ops' internal tensors (a recurrent node's states) as "node::name"."""
    if len(data) == 0:
        raise QuantizationError("the calibration data holds no samples")
    interpreter = Interpreter(graph)
    names = activation_names(graph)
    inside = [
        (node, op)
        for node in graph.nodes
        if (op := get_op(node.op_type, node.domain)) is not None
        and type(op).internal_tensors is not Op.internal_tensors
    ]
    stats: dict[str, TensorStats] = {}
    sums: dict[tuple[str, str], np.ndarray] = {}
    passes = 2 if histogram else 1
    for step in range(passes):
        label = "calibrating (ranges)" if step == 0 else "calibrating (histograms)"
        for i in progress(range(len(data)), len(data), label):
            feeds = data.sample(i)
            values = interpreter.run(feeds, keep_all=True)
            observed = {name: values.get(name, feeds.get(name)) for name in names}
            for node, op in inside:
                inputs = [_value(v, values, feeds) for v in node.inputs]
                for state, array in op.internal_tensors(node, inputs).items():
                    observed[f"{node.name}::{state}"] = array
            for name, x in observed.items():
                if step == 0:
                    stats.setdefault(name, TensorStats()).update_range(x)
                    for key, axis in MEAN_AXES.items():
                        mean = channel_means(x, axis)
                        total = sums.get((name, key))
                        sums[name, key] = mean if total is None else total + mean
                    # the whole mean tensor: a convolution's mean im2col rows (zero padding)
                    sums[name, "mean"] = _add(sums.get((name, "mean")), x, first=i == 0)
                else:
                    stats[name].update_histogram(x)
    for (name, key), total in sums.items():
        if total is not None:
            stats[name].extra[key] = total / len(data)
    return stats


def _add(total: np.ndarray | None, x: np.ndarray, first: bool) -> np.ndarray | None:
    """Running elementwise sum; None once two samples disagree in shape."""
    if first:
        return np.asarray(x, np.float64).copy()
    if total is None or total.shape != np.shape(x):
        return None
    return total + x


def _value(value, values: dict, feeds: dict):
    if value is None:
        return None
    if value.is_const:
        return value.const
    return values.get(value.name, feeds.get(value.name))
