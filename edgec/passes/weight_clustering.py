"""Weight clustering: at most K distinct int8 values per layer (or per output channel).

Runs on the quantized graph, in the int8 domain: the weights of each int8 Conv (groups 1),
Gemm and MatMul are replaced by the nearest of K integer centres (1-D k-means), so the
integer reference executes exactly the weights the C backend stores as 4-bit indices plus
a table (``backends/c/weight_storage.py``). Tables per layer cost K bytes; per output
channel K bytes a channel but fit each channel's own distribution.

k-means is deterministic: centres start at weighted quantiles, Lloyd iterations run on the
histogram of the 255 codes (cheap for any layer size). A zero, where the layer has any
(pruned weights), stays a centre so that pruning survives.
With calibration data (``input_stats``) k-means weighs each weight by the variance of the
input it multiplies (an error on a busy input costs more: the diagonal of the layer's
Hessian, less the mean, which the bias absorbs), and the bias absorbs the mean output shift
the clustering causes, as the quantizer's bias correction does for rounding. A layer table
is then re-solved by least squares (``covariances``: each weight keeps its cluster, the
table values best reproduce the unclustered layer's outputs over the input covariance).
"""

from __future__ import annotations

import numpy as np

from edgec.errors import EdgecError
from edgec.ir.graph import Graph, Node
from edgec.passes.base import Pass, PassResult
from edgec.passes.dead_code import drop_if_unused

SCOPES = ("layer", "channel")
MAX_CLUSTERS = 16
CODES = np.arange(-128, 128)


def parse_cluster_spec(spec: str | int) -> tuple[int, str]:
    """``K`` or ``K:layer`` / ``K:channel`` → (K, scope); 2 <= K <= 16."""
    text = str(spec)
    count, _, scope = text.partition(":")
    usage = f"--cluster {text!r}: expected K[:layer|:channel] with 2 <= K <= {MAX_CLUSTERS}"
    try:
        k = int(count)
    except ValueError:
        raise EdgecError(usage) from None
    scope = scope or "layer"
    if not 2 <= k <= MAX_CLUSTERS or scope not in SCOPES:
        raise EdgecError(usage)
    return k, scope


def output_axis(node: Node) -> int:
    """The weights' axis of output channels (the C kernels' rows)."""
    if node.op_type == "Conv":
        return 0
    if node.op_type == "MatMul":
        return 1
    return 0 if node.attrs.get("transB", 0) else 1


def clusterable(node: Node) -> bool:
    """An int8 matrix-product layer with int8 activations (the kernels that decode tables)."""
    if node.op_type not in ("Conv", "Gemm", "MatMul") or node.domain:
        return False
    w, y = node.input(1), node.outputs[0]
    if w is None or not w.is_const or w.quant is None or w.const.dtype != np.int8:
        return False
    if y.dtype != np.int8 or node.inputs[0].dtype != np.int8:
        return False
    return node.attrs.get("group", 1) == 1 if node.op_type == "Conv" else w.const.ndim == 2


def kmeans_codes(hist: np.ndarray, k: int, iterations: int = 100) -> np.ndarray:
    """Integer centres (sorted, at most k) for the code histogram ``hist`` (weights of the
    values -128..127); a zero with weight stays a centre."""
    present = hist > 0
    values, weights = CODES[present].astype(np.float64), hist[present]
    if values.size <= k:
        return values.astype(np.int64)
    keep_zero = bool(hist[128] > 0)
    cdf = np.cumsum(weights) / weights.sum()
    centres = np.interp((np.arange(k) + 0.5) / k, cdf, values)
    for _ in range(iterations):
        if keep_zero:
            centres[np.argmin(np.abs(centres))] = 0.0
        centres = np.unique(centres)
        label = np.argmin(np.abs(values[:, None] - centres[None, :]), axis=1)
        sums = np.bincount(label, weights * values, centres.size)
        mass = np.bincount(label, weights, centres.size)
        moved = np.where(mass > 0, sums / np.maximum(mass, 1e-300), centres)
        if np.allclose(moved, centres):
            break
        centres = moved
    if keep_zero:
        centres[np.argmin(np.abs(centres))] = 0.0
    return np.unique(np.clip(np.rint(centres), -127, 127)).astype(np.int64)


def snap(codes: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Each code replaced by its nearest centre (ties to the smaller)."""
    index = np.argmin(np.abs(codes[..., None].astype(np.int64) - centres), axis=-1)
    return centres[index].astype(np.int8)


def cluster_rows(rows: np.ndarray, importance: np.ndarray, k: int, scope: str) -> np.ndarray:
    """``rows`` [n][k'] int8 clustered per layer or per row; k-means weighs each weight's
    squared error by ``importance`` (same shape)."""
    codes = rows.astype(np.int64) + 128
    if scope == "channel":
        out = np.empty_like(rows)
        for o, row in enumerate(rows):
            out[o] = snap(row, kmeans_codes(np.bincount(codes[o], importance[o], 256), k))
        return out
    hist = np.bincount(codes.reshape(-1), importance.reshape(-1), 256)
    return snap(rows, kmeans_codes(hist, k))


def weight_importance(node: Node, shape, spread) -> np.ndarray:
    """The [n][k'] weights' importance: the variance of the input each one multiplies (1
    without data). Not times the channel's scale²: on the AD autoencoder that made a layer
    table serve the widest channels and doubled the reconstruction error it costs."""
    n, width = shape
    per_input = np.ones(width)
    if spread is not None:
        spread = np.asarray(spread, np.float64).reshape(-1)
        # Conv rows are ONNX [o][c][kh][kw]: a channel's variance at every tap
        per_input = np.repeat(spread, width // spread.size) if node.op_type == "Conv" else spread
        per_input = np.maximum(per_input, 1e-3 * max(float(per_input.mean()), 1e-12))
    return np.broadcast_to(per_input.reshape(1, width), (n, width))


REFIT_LIMIT = 2e9  # multiply-adds a table refit may take (n x k² x K)


def refit_table(
    rows: np.ndarray, clustered: np.ndarray, scales: np.ndarray, covariance: np.ndarray
) -> np.ndarray:
    """One layer table's values re-solved by least squares: with each weight's cluster
    fixed, the table that best reproduces the unclustered layer's outputs (real units) over
    the inputs' ``covariance`` [k][k]; a zero centre stays zero. Returns the new weights."""
    centres = np.unique(clustered).astype(np.int64)
    index = np.searchsorted(centres, clustered)
    free = centres != 0
    k, size = rows.shape[1], centres.size
    lhs, rhs = np.zeros((size, size)), np.zeros(size)
    for o in range(rows.shape[0]):
        onehot = np.zeros((k, size))
        onehot[np.arange(k), index[o]] = 1.0
        grouped = covariance @ onehot  # [k][K]
        weight = float(scales[o]) ** 2
        lhs += weight * (onehot.T @ grouped)
        rhs += weight * (grouped.T @ rows[o].astype(np.float64))
    sub = lhs[np.ix_(free, free)]
    sub += 1e-9 * max(float(np.trace(sub)), 1e-30) * np.eye(sub.shape[0])
    table = centres.astype(np.float64)
    table[free] = np.linalg.solve(sub, rhs[free])
    table = np.clip(np.rint(table), -127, 127)
    table[~free] = 0
    return table[index].astype(np.int8)


class ClusterWeights(Pass):
    """Cluster the int8 weights of every clusterable layer to at most ``k`` values.

    ``input_stats``: node name → (mean, mean square) of its integer input minus the zero
    point, per input channel (from calibration data); where given, k-means weighs each
    weight by its input's mean square and the int32 bias is corrected by the mean change of
    the accumulator. ``report`` lists each layer's distinct values and error.
    """

    def __init__(
        self,
        k: int,
        scope: str = "layer",
        input_stats: dict | None = None,
        covariances: dict | None = None,
    ):
        if not 2 <= k <= MAX_CLUSTERS or scope not in SCOPES:
            raise ValueError(f"k in [2, {MAX_CLUSTERS}] and scope in {SCOPES}")
        self.k, self.scope = k, scope
        self.input_stats = input_stats or {}
        # node name → covariance [k][k] of its input rows: one-table layers refit the table
        self.covariances = covariances or {}
        self.report: list[dict] = []

    def run(self, graph: Graph) -> PassResult:
        changed = False
        self.report = []
        for node in [n for n in graph.nodes if clusterable(n)]:
            w = node.inputs[1]
            axis = output_axis(node)
            rows = np.moveaxis(w.const, axis, 0)
            shape = rows.shape
            rows = rows.reshape(shape[0], -1)
            scales = np.broadcast_to(np.asarray(w.quant.scale, np.float64).reshape(-1), shape[:1])
            mean, moment = self.input_stats.get(node.name, (None, None))
            # the bias correction absorbs the mean: what remains costs the input's variance
            spread = None if moment is None else np.asarray(moment) - np.asarray(mean) ** 2
            importance = weight_importance(node, rows.shape, spread)
            clustered = cluster_rows(rows, importance, self.k, self.scope)
            covariance = self.covariances.get(node.name)
            if covariance is not None and self.scope == "layer":
                clustered = refit_table(rows, clustered, scales, covariance)
            self.report.append(self._describe(node, rows, clustered, scales))
            if np.array_equal(clustered, rows):
                continue
            data = np.moveaxis(clustered.reshape(shape), 0, axis).copy()
            value = graph.add_constant(f"{w.name}_clustered", data)
            value.quant = w.quant
            graph.set_input(node, 1, value)
            drop_if_unused(graph, w)
            if mean is not None:
                self._correct_bias(graph, node, rows, clustered, mean)
            changed = True
        return PassResult(graph, changed)

    def _describe(self, node, rows, clustered, scales) -> dict:
        error = (clustered.astype(np.float64) - rows) * scales[:, None]
        signal = rows.astype(np.float64) * scales[:, None]
        return {
            "node": node.name,
            "op": node.op_type,
            "weights": int(rows.size),
            "distinct_before": int(np.unique(rows).size),
            "distinct_after": int(np.unique(clustered).size),
            "max_per_channel": int(max(np.unique(r).size for r in clustered)),
            "weight_sqnr_db": _db(signal, error),
        }

    def _correct_bias(self, graph, node, rows, clustered, mean) -> None:
        """bias -= (W_c - W_q) · E[x - zp], in accumulator units (the int32 bias's)."""
        mean = np.asarray(mean, np.float64).reshape(-1)
        delta = clustered.astype(np.float64) - rows
        if node.op_type == "Conv":  # rows are ONNX [o][c][kh][kw]: a channel's mean at every tap
            taps = delta.reshape(delta.shape[0], mean.size, -1).sum(axis=2)  # ONNX [o][c][kh*kw]
            shift = taps @ mean
        else:
            shift = delta @ mean
        bias = node.input(2)
        if bias is None or bias.const.dtype != np.int32:
            return  # no int32 bias to correct (the correction is an improvement, not needed)
        corrected = np.clip(
            np.rint(bias.const.astype(np.float64) - shift), -(2**31) + 1, 2**31 - 1
        ).astype(np.int32)
        value = graph.add_constant(f"{bias.name}_corrected", corrected)
        value.quant = bias.quant
        graph.set_input(node, 2, value)
        drop_if_unused(graph, bias)


def _db(signal: np.ndarray, error: np.ndarray) -> float | None:
    noise = float(np.sum(error * error))
    return None if noise == 0 else round(10 * np.log10(float(np.sum(signal * signal)) / noise), 2)
