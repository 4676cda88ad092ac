"""Post-training quantization of a float graph to edgec's integer IR (TFLite's scheme).

- weights: int8, symmetric, per output channel (``max|w| / 127``);
- activations: int8 asymmetric per tensor from the calibration range (or int16 symmetric
  in 16×8 mode); outputs of Softmax / Sigmoid / Tanh use TFLite's fixed parameters, and
  pooling and data-movement ops keep their input's parameters (their kernels require it);
- biases: int32 (int64 in 16×8) at scale ``s_in * s_w``, optionally corrected for the
  mean error the weight rounding causes (``b -= (W_q - W) · E[x]``, from calibration);
- ``auto``: quantize in int8, measure each layer's output SQNR against the float graph on the
  calibration data, and move the layers below the threshold to 16×8.

Ops without an integer kernel stay float between DequantizeLinear / QuantizeLinear nodes;
a tensor read at another precision passes through a requantizing QuantizeLinear.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from edgec.data import Dataset
from edgec.errors import QuantizationError, node_error
from edgec.ir.graph import Graph, Node, QuantParams, Value
from edgec.ops import get_op
from edgec.ops.integer.int4 import weight_dtype
from edgec.ops.quant import quantize
from edgec.quantize.calibrate import calibrate
from edgec.quantize.correct import correct_biases, mean_rows, rounding_shift
from edgec.quantize.lattice import grid_inputs
from edgec.quantize.observers import METHODS, TensorStats, choose_range
from edgec.quantize.ranges import RANGE_SEARCHES, search_ranges
from edgec.quantize.reconstruct import reconstruct
from edgec.quantize.recurrent import (
    RECURRENT,
    internal_name,
    quantize_recurrent,
    recurrent_quantizable,
)
from edgec.quantize.report import layer_sqnr
from edgec.quantize.rounding import ROUNDINGS, round_weights
from edgec.quantize.weight_choice import choose_weight_bits, equalized, output_snr

MODES = ("int8", "int16x8", "auto")
DTYPES = {"int8": np.dtype(np.int8), "int16": np.dtype(np.int16)}


@dataclass
class PTQConfig:
    mode: str = "int8"
    method: str = "minmax"
    percentile: float = 99.99
    per_channel: bool = True
    bias_correction: bool = True
    float_io: bool = False
    sqnr_threshold_db: float = 40.0
    input_params: dict[str, tuple[float, int]] = field(default_factory=dict)
    weight_bits: int | str = 8  # 4: int4 weights ([-7, 7]); "auto": 4 or 8 per layer
    weight_rounding: str = "nearest"  # or "optimized" (rounding.py)
    input_grid: bool = True  # int8 inputs whose calibration data lies on a grid use it
    # int8 ranges judged by the error downstream (ranges.py): of the tensors an averaging pool
    # shares ("pooled"), of every calibrated tensor ("all"), or none
    range_search: str = "pooled"
    # each layer's bias re-solved on the integer graph's own inputs (correct.py); off by
    # default: on KWS it fits the calibration samples, not the held-out ones
    empirical_bias: bool = False

    def __post_init__(self):
        if self.mode not in MODES:
            raise QuantizationError(
                f"quantization mode {self.mode!r}: choose from {', '.join(MODES)}"
            )
        if self.method not in METHODS:
            raise QuantizationError(
                f"calibration method {self.method!r}: choose from {', '.join(METHODS)}"
            )
        if self.weight_rounding not in ROUNDINGS:
            raise QuantizationError(
                f"weight rounding {self.weight_rounding!r}: choose from {', '.join(ROUNDINGS)}"
            )
        if self.range_search not in RANGE_SEARCHES:
            raise QuantizationError(
                f"range search {self.range_search!r}: choose from {', '.join(RANGE_SEARCHES)}"
            )
        if self.weight_bits != "auto":
            weight_dtype(self.weight_bits)  # 4 to 8


@dataclass
class QuantizedModel:
    graph: Graph
    precision: dict[str, str]  # layer name → "int8" | "int16"
    layer_sqnr: dict[str, float] = field(default_factory=dict)
    # what the optimized weight quantization chose: bits per layer, equalization
    choices: dict = field(default_factory=dict)


def quantizable(node: Node) -> bool:
    """Whether ``node`` gets an integer kernel (else it stays a float island)."""
    op = get_op(node.op_type, node.domain)
    if op is None or op.integer != "arith" or op.integer_limits(node) is not None:
        return False
    if node.op_type == "QuantizeLinear" or not node.outputs:
        return False
    if not np.issubdtype(np.dtype(node.outputs[0].dtype), np.floating):
        return False
    if op.is_weighted(node):
        weights_const = node.inputs[1].is_const and (
            node.input(2) is None or node.inputs[2].is_const
        )
        if not weights_const or node.inputs[0].is_const:
            return False
        if node.op_type == "Gemm" and get_op("Gemm").attr(node, "transA"):
            return False
        if node.op_type == "MatMul" and len(node.inputs[1].shape) != 2:
            return False
        if node.op_type == "ConvTranspose" and len(node.inputs[0].shape) not in (3, 4):
            return False
    if node.op_type in ("Add", "Mul") and all(v.is_const for v in node.inputs):
        return False
    if node.op_type in RECURRENT:
        return recurrent_quantizable(node)
    if node.op_type == "MaxPool" and len(node.outputs) > 1:
        return False
    return not (node.op_type in ("Relu", "Clip") and node.fused is not None)


def _integer_kind(node: Node) -> str | None:
    op = get_op(node.op_type, node.domain)
    return None if op is None else op.integer


def _reads_integers(node: Node) -> bool:
    """An "index" op (ArgMax) on a tensor quantized per tensor with a positive scale."""
    x = node.inputs[0]
    return (
        _integer_kind(node) == "index"
        and x.quant is not None
        and x.quant.axis is None
        and float(np.asarray(x.quant.scale).reshape(-1)[0]) > 0
    )


def activation_params(
    stats: TensorStats, dtype: str, config: PTQConfig, symmetric: bool = False
) -> QuantParams:
    """int8 asymmetric (or ``symmetric``: zero point 0, range ±127) or int16 symmetric."""
    lo, hi = choose_range(stats, config.method, 8 if dtype == "int8" else 16, config.percentile)
    if dtype == "int16" or symmetric:
        limit = 32767.0 if dtype == "int16" else 127.0
        scale = max(abs(lo), abs(hi)) / limit
        return QuantParams(np.float32(scale or 1e-8), 0, DTYPES[dtype])
    scale = (hi - lo) / 255.0 or 1e-8
    zero_point = int(np.clip(np.round(-128 - lo / scale), -128, 127))
    return QuantParams(np.float32(scale), zero_point, np.int8)


def quantize_weights(w: np.ndarray, axis: int, per_channel: bool) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 weights (range ±127) and their scales (per ``axis`` or one)."""
    q, scales = round_weights(w, axis, 8, per_channel)
    return q.astype(np.int8), scales


def symmetric_operands(graph: Graph) -> set[str]:
    """Values read, through data-movement ops, as B of a product of two activations: int8
    with zero point 0, so that the optimized GEMM applies (it folds A's zero point only)."""
    names = set()
    for node in graph.nodes:
        if node.op_type != "MatMul" or get_op("MatMul").is_weighted(node) or not quantizable(node):
            continue
        value = node.inputs[1]
        while value.producer is not None and get_op(value.producer.op_type).integer == "move":
            value = value.producer.inputs[0]
        names.add(value.name)
    return names


class _Builder:
    """Rewrites a copy of the float graph into the integer IR for one precision assignment."""

    def __init__(
        self,
        graph: Graph,
        stats: dict[str, TensorStats],
        precision: dict[str, str],
        config: PTQConfig,
        decisions: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
        weight_bits: dict[str, int] | None = None,
    ):
        self.symmetric = symmetric_operands(graph)
        self.g = graph.copy()
        # integer weights [out, d] and scales chosen by the reconstruction (reconstruct.py)
        self.decisions = decisions or {}
        self.weight_bits = weight_bits or {}
        self.stats = stats
        self.precision = precision
        self.config = config
        self.views: dict[tuple[int, str], Value] = {}
        self.source_name: dict[int, str] = {}  # integer view → the float value it stands for

    def params_for(self, value: Value, dtype: str) -> QuantParams:
        if value.name in self.config.input_params and any(value is v for v in self.g.inputs):
            scale, zp = self.config.input_params[value.name]
            return QuantParams(np.float32(scale), zp, DTYPES[dtype])
        if value.name not in self.stats:
            raise QuantizationError(f"no calibration statistics for {value.name!r}")
        try:
            symmetric = value.name in self.symmetric
            return activation_params(self.stats[value.name], dtype, self.config, symmetric)
        except QuantizationError as exc:
            raise QuantizationError(f"tensor {value.name!r}: {exc}") from None

    def stats_params(self, key: str, dtype: str) -> QuantParams:
        """Activation parameters from the statistics stored under ``key`` (an op's internal
        tensor, "node::state")."""
        if key not in self.stats:
            raise QuantizationError(f"no calibration statistics for {key!r}")
        return activation_params(self.stats[key], dtype, self.config)

    def _quantize_node(
        self, source: Value, params: QuantParams, before: Node | None, base: str
    ) -> Value:
        scale = self.g.add_constant(f"{base}_scale", np.asarray(params.scale, np.float32))
        zero = self.g.add_constant(
            f"{base}_zero_point", np.asarray(params.zero_point, params.dtype)
        )
        out = self.g.new_value(base, params.dtype, source.shape)
        out.quant = params
        self.g.add_node(
            "QuantizeLinear",
            [source, scale, zero],
            [out],
            before=before,
            name=self.g.unique_node_name(base),
        )
        return out

    def int_view(self, value: Value, dtype: str, reader: Node) -> Value:
        """``value`` as an integer tensor of ``dtype`` (quantizing or requantizing if needed)."""
        current = value.dtype.name if value.quant is not None else None
        if current == dtype:
            return value
        key = (id(value), dtype)
        if key not in self.views:
            params = self.params_for(value, dtype)
            view = self._quantize_node(value, params, reader, f"{value.name}_{dtype}")
            self.source_name[id(view)] = self.source_name.get(id(value), value.name)
            self.views[key] = view
        return self.views[key]

    def float_view(self, value: Value, reader: Node | None) -> Value:
        if value.quant is None:
            return value
        key = (id(value), "float")
        if key not in self.views:
            q = value.quant
            scale = self.g.add_constant(f"{value.name}_scale", np.asarray(q.scale, np.float32))
            zero = self.g.add_constant(
                f"{value.name}_zero_point", np.asarray(q.zero_point, q.dtype)
            )
            out = self.g.new_value(f"{value.name}_dq", np.float32, value.shape)
            self.g.add_node(
                "DequantizeLinear",
                [value, scale, zero],
                [out],
                before=reader,
                name=self.g.unique_node_name(f"{value.name}_dq"),
            )
            self.views[key] = out
        return self.views[key]

    def build(self) -> Graph:
        g = self.g
        first_dtype = self._input_dtypes()
        for value in list(g.inputs):
            dtype = first_dtype.get(value.name)
            if dtype is None or self.config.float_io:
                continue
            value.quant = self.params_for(value, dtype)
            value.dtype = value.quant.dtype
        for node in list(g.nodes):
            if node.name in self.precision:
                self._integer_node(node, self.precision[node.name])
            elif _integer_kind(node) == "move" and node.inputs[0].quant is not None:
                for out in node.outputs:
                    out.quant, out.dtype = node.inputs[0].quant, node.inputs[0].dtype
            elif _reads_integers(node):
                pass  # an index of the integer values themselves (ArgMax)
            else:
                for i, value in enumerate(node.inputs):
                    if value is not None and value.quant is not None:
                        g.set_input(node, i, self.float_view(value, node))
        self._float_outputs()
        g.topo_sort()
        return g

    def _input_dtypes(self) -> dict[str, str]:
        """Each graph input's precision: that of its first integer reader."""
        found = {}
        for node in self.g.nodes:
            if node.name not in self.precision:
                continue
            for v in node.inputs:
                if v is not None and any(v is i for i in self.g.inputs):
                    found.setdefault(v.name, self.precision[node.name])
        return found

    def _integer_node(self, node: Node, dtype: str) -> None:
        if node.op_type in RECURRENT:
            quantize_recurrent(self, node, dtype)
            return
        g = self.g
        op = get_op(node.op_type)
        fixed = (*op.const_inputs, *op.operand_inputs)
        data_inputs = (
            [0]
            if op.is_weighted(node)
            else [i for i, v in enumerate(node.inputs) if v is not None and i not in fixed]
        )
        for i in data_inputs:
            value = node.inputs[i]
            if value.is_const:  # a constant operand of Add/Mul: quantize it like an activation
                q = activation_params(_const_stats(value.const), dtype, self.config)
                data = quantize(value.const, q.scale, q.zero_point, q.dtype)
                const = g.add_constant(f"{value.name}_q", data)
                const.quant = q
                g.set_input(node, i, const)
            else:
                g.set_input(node, i, self.int_view(value, dtype, node))
        if op.is_weighted(node):
            self._weights(node, dtype)
        out = node.outputs[0]
        fixed_output = op.fixed_output.get(dtype)
        if fixed_output is not None:
            out.quant = QuantParams(np.float32(fixed_output[0]), fixed_output[1], DTYPES[dtype])
        elif op.keeps_input_quant:
            out.quant = node.inputs[0].quant
        else:
            out.quant = self.params_for(out, dtype)
        out.dtype = out.quant.dtype
        for index, (data, params) in op.integer_operands(node, dtype).items():
            const = g.add_constant(f"{node.inputs[index].name}_q", data)
            const.quant = params
            g.set_input(node, index, const)

    def _weights(self, node: Node, dtype: str) -> None:
        g = self.g
        x, w = node.inputs[0], node.inputs[1]
        bias = node.input(2)
        weights = w.const.astype(np.float64)
        b = None if bias is None else bias.const.astype(np.float64)
        if node.op_type == "Gemm":
            op = get_op("Gemm")
            weights = weights * op.attr(node, "alpha")
            if b is not None:
                b = b * op.attr(node, "beta")
            node.attrs.pop("alpha", None)
            node.attrs.pop("beta", None)
            trans_b = bool(op.attr(node, "transB"))
            n_out = weights.shape[0] if trans_b else weights.shape[1]
            if b is not None:
                b = np.broadcast_to(b.reshape(-1) if b.size == n_out else b, (n_out,)).copy()
            axis = 0 if trans_b else 1
        elif node.op_type == "MatMul":
            axis, n_out = 1, weights.shape[1]
        elif node.op_type == "ConvTranspose":
            axis = get_op("ConvTranspose").weight_axis(node)
            n_out = weights.shape[1] * node.attrs.get("group", 1)
        else:
            axis, n_out = 0, weights.shape[0]
        per_channel = self.config.per_channel and axis is not None
        axis = 0 if axis is None else axis
        bits = self.weight_bits.get(node.name, self.config.weight_bits)
        decided = self.decisions.get(node.name)
        if decided is not None:
            q, scales = decided
            q = q.reshape(weights.shape) if axis == 0 else q.T
        else:
            q, scales = round_weights(weights, axis, bits, per_channel)
        q = q.astype(np.int8).astype(weight_dtype(bits))
        source = self.source_name.get(id(x), x.name)
        key = "feature_mean" if node.op_type in ("Gemm", "MatMul") else "channel_mean"
        extra = self.stats[source].extra if source in self.stats else {}
        mean = extra.get(key)
        if node.op_type == "Conv" and extra.get("mean") is not None:
            # per weight column, zero padding included (else per input channel)
            rows = mean_rows(node, extra["mean"])
            mean = mean if rows is None else rows
        if self.config.bias_correction and mean is not None and decided is None:
            shift = rounding_shift(node, q, scales, weights, axis, mean)
            b = -shift if b is None else b - shift
        wq = g.add_constant(f"{w.name}_q", q)
        if per_channel:
            wq.quant = QuantParams(scales, np.zeros(scales.shape, np.int64), q.dtype, axis)
        else:
            wq.quant = QuantParams(scales.reshape(()), 0, q.dtype)
        g.set_input(node, 1, wq)
        if b is not None and node.op_type == "MatMul":
            if len(x.shape) == 2:
                node.op_type = "Gemm"  # a bias needs Gemm's C input (B stays [K, N])
            else:
                b = None  # a batched MatMul has no bias slot: no correction
        if b is not None:
            bias_scale = np.broadcast_to(
                np.float64(x.quant.scale) * scales.astype(np.float64), (n_out,)
            )
            wide = dtype == "int16"
            limit = 2**63 - 1 if wide else 2**31 - 1
            bq = np.clip(np.rint(b / bias_scale), -limit, limit).astype(
                np.int64 if wide else np.int32
            )
            bq_value = g.add_constant(f"{(bias.name if bias is not None else node.name)}_q", bq)
            bq_value.quant = QuantParams(
                bias_scale.astype(np.float32), np.zeros(n_out, np.int64), bq.dtype, 0
            )
            if bias is None:
                node.inputs.append(None)
            g.set_input(node, 2, bq_value)

    def _float_outputs(self) -> None:
        g = self.g
        for index, value in enumerate(list(g.outputs)):
            if value.quant is None or not self.config.float_io:
                continue
            name = value.name
            g.rename_value(value, g.unique_name(f"{name}_q"))
            floated = self.float_view(value, None)
            g.rename_value(floated, name)
            g.outputs[index] = floated


def _const_stats(data: np.ndarray) -> TensorStats:
    stats = TensorStats()
    stats.update_range(np.asarray(data, np.float64))
    return stats


def synthetic_quantization(graph: Graph) -> Graph:
    """The int8 graph PTQ builds from ``graph`` with every tensor's range taken as [-1, 1]:
    which nodes get an integer kernel and with what operands, for checks of the kernels
    that apply (``edgec analyze``); its numbers mean nothing."""
    names = [value.name for value in graph.values()]
    for node in graph.nodes:  # a recurrent node's states, which calibration observes too
        if node.op_type in RECURRENT:
            names += [internal_name(node, s) for s in get_op(node.op_type).state_names()]
    stats = {}
    for name in names:
        stats[name] = TensorStats()
        stats[name].update_range(np.array([-1.0, 1.0]))
    precision = {node.name: "int8" for node in graph.nodes if quantizable(node)}
    return _Builder(graph, stats, precision, PTQConfig(bias_correction=False)).build()


def quantize_float_graph(
    graph: Graph, data: Dataset, config: PTQConfig, original: Graph | None = None
) -> QuantizedModel:
    """Calibrate ``graph`` on ``data`` and return its integer version.

    With optimized rounding the weights are first reconstructed layer by layer
    (reconstruct.py), on the graph as given and on its cross-layer-equalized version; the
    quantized model whose outputs are closer to the float model's on the calibration data
    is kept (``choices`` says which, and both SNRs). ``original``: the model before pruning,
    which the reconstruction of the graph as given aims at (reconstruct.py)."""
    for node in graph.nodes:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            raise node_error(QuantizationError, node, "the model is already quantized")
    if config.input_grid and config.mode == "int8" and not config.float_io:
        found = grid_inputs(data.inputs, [v.name for v in graph.inputs])
        config = replace(config, input_params={**found, **config.input_params})
    base = "int16" if config.mode == "int16x8" else "int8"
    precision = {}
    for node in graph.nodes:
        if quantizable(node):
            if base == "int16" and not get_op(node.op_type).int16:
                continue
            precision[node.name] = base
    weighted = [
        n.name for n in graph.nodes if n.name in precision and get_op(n.op_type).is_weighted(n)
    ]
    candidates = [("as given", graph)]
    if config.weight_rounding == "optimized":
        equal = equalized(graph)
        candidates += [("equalized", equal)] if equal is not None else []
    best, scores = None, {}
    for label, candidate in candidates:
        bits = dict.fromkeys(weighted, config.weight_bits)
        if config.weight_bits == "auto":
            bits = choose_weight_bits(candidate, data, weighted)
        decisions = None
        if config.weight_rounding == "optimized":
            aim = original if label == "as given" else None  # equalizing rescales outputs
            candidate, decisions = reconstruct(candidate, data, bits, aim)
        model = _quantize(candidate, data, config, dict(precision), decisions, bits)
        if len(candidates) > 1:
            scores[label] = round(output_snr(graph, model.graph, data), 2)
            if best is not None and scores[label] <= scores[best.choices["equalization"]]:
                continue
        best = model
        best.choices = {"weight_bits": bits, "equalization": label}
    best.choices["output_snr_db"] = scores
    return best


def _quantize(graph, data, config, precision, decisions, bits) -> QuantizedModel:
    """Calibrate and build; ``auto`` mode moves the layers below the SQNR threshold to 16x8."""
    stats = calibrate(graph, data, histogram=config.method != "minmax")
    if config.range_search != "none" and config.method != "minmax":
        tensors = _searched_tensors(graph, stats, precision, config)
        pooled = config.range_search == "pooled"
        found = search_ranges(graph, data, stats, tensors, set(precision), pooled)
        for name, chosen in found.items():
            stats[name].extra["range"] = chosen
    model = QuantizedModel(
        _Builder(graph, stats, precision, config, decisions, bits).build(), dict(precision)
    )
    if config.empirical_bias and config.mode != "auto":
        correct_biases(graph, model.graph, data, stats)
    if config.mode == "auto":
        model.layer_sqnr = layer_sqnr(graph, model.graph, data)
        for name, db in model.layer_sqnr.items():
            if (
                name in precision
                and db < config.sqnr_threshold_db
                and get_op(graph_op(graph, name)).int16
            ):
                precision[name] = "int16"
        model = QuantizedModel(
            _Builder(graph, stats, precision, config, decisions, bits).build(),
            dict(precision),
            model.layer_sqnr,
        )
        if config.empirical_bias:
            correct_biases(graph, model.graph, data, stats)
    return model


def _searched_tensors(graph, stats, precision, config) -> dict[str, tuple[float, float]]:
    """The int8 activations whose range comes from calibration: name → the observers' range."""
    symmetric = symmetric_operands(graph)
    names = []
    for node in graph.nodes:
        if precision.get(node.name) != "int8" or node.op_type in RECURRENT:
            continue
        op = get_op(node.op_type)
        fixed = (*op.const_inputs, *op.operand_inputs)
        reads = [0] if op.is_weighted(node) else range(len(node.inputs))
        names += [
            node.inputs[i].name for i in reads if i not in fixed and node.inputs[i] is not None
        ]
        if not op.fixed_output.get("int8") and not op.keeps_input_quant:
            names.append(node.outputs[0].name)
    inherited = {  # a data-movement op's output keeps its input's parameters
        v.name for n in graph.nodes if _integer_kind(n) == "move" for v in n.outputs
    }
    names = [
        n
        for n in dict.fromkeys(names)
        if n in stats and n not in symmetric | inherited and n not in config.input_params
    ]
    return {n: choose_range(stats[n], config.method, 8, config.percentile) for n in names}


def graph_op(graph: Graph, node_name: str) -> str:
    return next(n.op_type for n in graph.nodes if n.name == node_name)
