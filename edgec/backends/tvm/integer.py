"""edgec's integer graph → a relax module that computes in integers, bit for bit as edgec's
integer reference (``edgec/ops/integer.py``: TFLite Micro's rounding, or onnxruntime's with
``--rounding float``).

Each integer node becomes one tensor-expression function: convolutions and fully connected
layers multiply int8 by int8 into an int32 accumulator (``kernels.py``; the input's zero
point is folded into the bias, the padding is the zero point itself), then requantize per
channel in the same function (``fixedpoint_te.py``); Add, pooling and Softmax follow the
reference's arithmetic; any int8 → int8 function of one input (Relu, Clip, Sigmoid, Tanh,
HardSwish, LeakyRelu, requantizing QuantizeLinear) is a 256-entry table computed by the
reference kernel itself. The parameters (multipliers, shifts, clamps) come from the
reference's own derivation (``integer_params``). 4-D activations are NHWC inside; graphs
with other ops go to TVM as QDQ instead (``unsupported``).
"""

from __future__ import annotations

import numpy as np

from edgec.backends.tvm import fixedpoint_te as fx
from edgec.backends.tvm import kernels
from edgec.backends.tvm.cpu import CpuInfo
from edgec.backends.tvm.integer_dot import lower_dot_linear
from edgec.backends.tvm.schedule import ELEMENT_COST_ATTR
from edgec.ir.graph import Graph, Node, Value
from edgec.ops.integer import fixedpoint as fp
from edgec.ops.integer import integer_params, is_integer_node, run_integer
from edgec.ops.integer import softmax as sm
from edgec.ops.integer.nodes import fc_layout
from edgec.ops.registry import get_op

LUT_OPS = ("Relu", "Clip", "Sigmoid", "Tanh", "HardSwish", "LeakyRelu", "QuantizeLinear")
LAYOUT_OPS = ("Reshape", "Flatten")
ARITH_OPS = ("Conv", "Gemm", "MatMul", "Add", "AveragePool", "MaxPool", "Softmax")
TO_NHWC, TO_NCHW = (0, 2, 3, 1), (0, 3, 1, 2)


def unsupported(graph: Graph) -> dict[str, list[str]]:
    """The nodes (by op type) this lowering cannot run in integers; empty if it can."""
    missing: dict[str, list[str]] = {}
    for node in graph.nodes:
        if not _supported(node, is_integer_node(node)):
            missing.setdefault(node.op_type, []).append(node.name)
    for value in [*graph.inputs, *graph.outputs]:
        if np.dtype(value.dtype) != np.int8:
            missing.setdefault(f"{value.dtype} graph I/O", []).append(value.name)
    return missing


def _supported(node: Node, integer: bool) -> bool:
    if node.op_type in LAYOUT_OPS:
        return True
    if not integer or node.op_type not in ARITH_OPS + LUT_OPS:
        return False
    if any(v.dtype is not None and np.dtype(v.dtype) == np.int16 for v in node.inputs if v):
        return False  # 16x8: not lowered (yet)
    if node.op_type == "QuantizeLinear" and not np.issubdtype(node.inputs[0].dtype, np.integer):
        return False
    if node.op_type in ("Conv", "AveragePool", "MaxPool") and len(node.inputs[0].shape) != 4:
        return False
    if node.op_type == "Add":
        return tuple(node.inputs[0].shape) == tuple(node.inputs[1].shape) == node.outputs[0].shape
    if node.op_type == "Softmax":
        axis = get_op("Softmax").attr(node, "axis")
        return axis in (-1, len(node.inputs[0].shape) - 1) and node.outputs[0].dtype == np.int8
    return True


class Lowering:
    """Builds the relax function node by node; ``layout[name]`` is "NHWC" for 4-D values."""

    def __init__(self, graph: Graph, cpu: CpuInfo, rounding: str):
        from tvm import relax

        self.graph, self.cpu, self.rounding = graph, cpu, rounding
        self.bb = relax.BlockBuilder()
        self.vars: dict[str, object] = {}
        self.nhwc: set[str] = set()

    def module(self):
        from tvm import relax

        params = [
            relax.Var(v.name, relax.TensorType(list(v.shape), str(np.dtype(v.dtype))))
            for v in self.graph.inputs
        ]
        bb = self.bb
        with bb.function("main", params):
            with bb.dataflow():
                for value, var in zip(self.graph.inputs, params):
                    self.vars[value.name] = var
                    if len(value.shape) == 4:
                        self.vars[value.name] = bb.emit(relax.op.permute_dims(var, TO_NHWC))
                        self.nhwc.add(value.name)
                for node in self.graph.nodes:
                    self.lower(node)
                outs = [bb.emit_output(self.plain(v)) for v in self.graph.outputs]
            bb.emit_func_output(outs[0] if len(outs) == 1 else relax.Tuple(outs))
        return bb.get()

    # -- values ---------------------------------------------------------------------------
    def var(self, value: Value):
        return self.vars[value.name]

    def plain(self, value: Value):
        """``value`` in the graph's own (NCHW) layout."""
        from tvm import relax

        if value.name not in self.nhwc:
            return self.vars[value.name]
        return self.bb.emit(relax.op.permute_dims(self.vars[value.name], TO_NCHW))

    def define(self, value: Value, expr, nhwc: bool) -> None:
        self.vars[value.name] = expr
        if nhwc:
            self.nhwc.add(value.name)

    def const(self, array: np.ndarray):
        from tvm import relax

        return relax.const(np.ascontiguousarray(array))

    # -- nodes ----------------------------------------------------------------------------
    def lower(self, node: Node) -> None:

        op = node.op_type
        if op in LAYOUT_OPS:
            return self.reshape(node)
        params = integer_params(node)
        if op in LUT_OPS:
            return self.table(node, params)
        getattr(self, "lower_" + op.lower())(node, params)

    def reshape(self, node: Node) -> None:
        from tvm import relax

        out = node.outputs[0]
        expr = self.bb.emit(relax.op.reshape(self.plain(node.inputs[0]), list(out.shape)))
        self.define(out, expr, False)

    def table(self, node: Node, params) -> None:
        """Any int8 → int8 function of one input: its 256 values from the reference."""
        from tvm import te

        codes = np.arange(-128, 128, dtype=np.int8)
        lut = run_integer(node, [codes], params, self.rounding)[0].astype(np.int8)
        x = node.inputs[0]

        def lookup(data, table):
            return te.compute(data.shape, lambda *i: table[fx.i64(data[i]) + 128], name="lookup")

        expr = self.bb.emit_te(lookup, self.var(x), self.const(lut), primfunc_name_hint="lut")
        self.define(node.outputs[0], expr, x.name in self.nhwc)

    def requant(self, acc, channel, p, bufs):
        """acc (int32 expression) of output ``channel`` → the output's int8 value."""
        from tvm import tirx

        rq = p.requant
        if self.rounding == "float":
            scale = (
                bufs["scale"][channel]
                if "scale" in bufs
                else tirx.const(float(rq.scale.ravel()[0]), "float32")
            )
            out = fx.requantize_float(acc, scale, rq.zero_point, rq.act_min, rq.act_max)
        elif "right" in bufs:  # one 64-bit multiply, zero point folded in, int32 lanes
            row = [bufs["right"][k, channel] for k in range(3)]
            out = fx.multiply_by_quantized_multiplier_right(acc, *row)
            return tirx.Cast("int8", fx.clamp32(out, rq.act_min, rq.act_max))
        else:
            m = bufs["multiplier"][channel] if "multiplier" in bufs else int(rq.multiplier[0])
            s = bufs["shift"][channel] if "shift" in bufs else int(rq.shift[0])
            out = fx.multiply_by_quantized_multiplier(acc, m, s) + fx.i64(rq.zero_point)
        return tirx.Cast("int8", fx.clamp(out, rq.act_min, rq.act_max))

    def requant_constants(self, p, channels: int) -> dict[str, np.ndarray]:

        rq = p.requant
        if self.rounding == "tflm":
            multipliers = np.broadcast_to(rq.multiplier.ravel(), (channels,))
            shifts = np.broadcast_to(rq.shift.ravel(), (channels,))
            rows = fp.right_shift_requant_params(multipliers, shifts, rq.zero_point)
            if rows is not None:  # one row per constant: channels contiguous (vector loads)
                return {"right": np.ascontiguousarray(rows.T)}
        if rq.multiplier.size == 1:
            return {}
        if self.rounding == "float":
            return {"scale": np.broadcast_to(rq.scale, (channels,)).astype(np.float32)}
        return {
            "multiplier": rq.multiplier.astype(np.int32),
            "shift": rq.shift.astype(np.int32),
        }

    def linear(self, name: str, data, weights, bias, p, channels: int, compute) -> object:
        """Emit ``compute`` (data, packed weights → int32 accumulator) with its bias and
        requantization as one function."""
        from tvm import te, tirx

        constants = self.requant_constants(p, channels)
        keys = list(constants)

        def body(x, wp, b, *extra):
            acc = compute(x, wp)
            bufs = dict(zip(keys, extra))

            def out(*i):
                if fx.dtype_of(acc[i]) == "float32":  # exact integers: bias + sum < 2**24
                    # (An int32 add here let LLVM widen the sum before the 64-bit product,
                    # which then took AVX-512's slow vpmullq instead of vpmuldq.)
                    total = fx.as_expr(acc[i]) + tirx.Cast("float32", fx.as_expr(b[i[-1]]))
                    value = tirx.Cast("int32", total)
                else:
                    value = fx.wrap_int32(fx.i64(acc[i]) + fx.i64(b[i[-1]]))
                return self.requant(value, i[-1], p, bufs)

            return te.compute(acc.shape, out, name="requantize")

        args = [data, self.const(weights), self.const(bias), *map(self.const, constants.values())]
        return self.bb.emit_te(body, *args, primfunc_name_hint=name)

    def lower_conv(self, node: Node, p) -> None:
        x, w = node.inputs[0], node.inputs[1]
        wq = w.const.astype(np.int64)
        out_channels = wq.shape[0]
        bias = _bias(node, out_channels) - p.input_zero_point * wq.reshape(out_channels, -1).sum(1)
        ohwi = w.const.transpose(0, 2, 3, 1)
        zp = p.input_zero_point
        strides, dilation, group = p.strides, p.dilations, p.group
        pads = p.pads
        channels = x.shape[1]
        # Every non-grouped layer where the CPU has dot products, even an RGB input layer or
        # 8 outputs on 16 lanes (padding computed, sliced off): on the widening kernels
        # instead, ResNet-8 int8 ran in 0.67 ms, not 0.22 ms.
        if self.cpu.dot is not None and group == 1:
            n, _, h, w_in = x.shape
            shape = dict(
                batch=n, height=h, width=w_in, pads=pads, strides=strides, dilation=dilation,
                out_height=node.outputs[0].shape[2], out_width=node.outputs[0].shape[3],
            )  # fmt: skip
            expr = lower_dot_linear(self, "qconv_dot", self.var(x), shape, ohwi, bias, p)
            return self.define(node.outputs[0], expr, True)
        if group == channels == out_channels and w.shape[1] == 1:
            tile = kernels.channel_tile(channels, self.cpu.i32_lanes)
            # x86 has no widening multiply-accumulate: int8 through int16 costs four
            # instructions a tap, a float FMA one; the sums are exact integers in float32.
            dtype = (
                "float32" if self.cpu.arch == "x86_64" and _exact_in_float(wq, bias) else "int32"
            )

            def compute(data, wp):
                padded = kernels.pad_nhwc(
                    data, pads, zp, dtype="float32" if dtype != "int32" else None
                )
                return kernels.depthwise_nhwc(padded, wp, strides, dilation, dtype, tile)

            packed = kernels.pack_depthwise_weights(ohwi)
            if dtype == "float32":
                packed = packed.astype(np.float32)
        else:
            tile = kernels.channel_tile(out_channels // group, self.cpu.i32_lanes)

            def compute(data, wp):
                padded = kernels.pad_nhwc(data, pads, zp)
                return kernels.conv2d_nhwc(padded, wp, strides, dilation, group, "int32")

            packed = kernels.pack_conv_weights(ohwi, tile)
        expr = self.linear("qconv", self.var(x), packed, _int32(bias), p, out_channels, compute)
        self.define(node.outputs[0], expr, True)

    def lower_gemm(self, node: Node, p) -> None:
        from tvm import relax

        x, w = node.inputs[0], node.inputs[1]
        transpose, _ = fc_layout(node)
        w_nk = (w.const.T if transpose else w.const).astype(np.int8)
        n, k = w_nk.shape
        bias = _bias(node, n) - p.input_zero_point * w_nk.astype(np.int64).sum(1)
        data = self.plain(x)
        rows = int(np.prod(x.shape[:-1]))
        out = node.outputs[0]
        if self.cpu.dot is not None:
            data = self.bb.emit(relax.op.reshape(data, [1, 1, rows, k]))
            shape = dict(
                batch=1, height=1, width=rows, pads=(0, 0, 0, 0), strides=(1, 1),
                dilation=(1, 1), out_height=1, out_width=rows,
            )  # fmt: skip
            ohwi = w_nk.reshape(n, 1, 1, k)
            expr = lower_dot_linear(self, "qdense_dot", data, shape, ohwi, bias, p)
            self.define(out, self.bb.emit(relax.op.reshape(expr, list(out.shape))), False)
            return
        if len(x.shape) != 2:
            data = self.bb.emit(relax.op.reshape(data, [rows, k]))
        tile = kernels.channel_tile(n, self.cpu.i32_lanes)
        packed = kernels.pack_dense_weights(w_nk, tile)

        def compute(a, wp):
            return kernels.dense(a, wp, "int32")

        expr = self.linear("qdense", data, packed, _int32(bias), p, n, compute)
        if len(out.shape) != 2:
            expr = self.bb.emit(relax.op.reshape(expr, list(out.shape)))
        self.define(out, expr, False)

    lower_matmul = lower_gemm

    def lower_add(self, node: Node, p) -> None:
        from tvm import te, tirx

        a, b = node.inputs[0], node.inputs[1]
        nhwc = a.name in self.nhwc and b.name in self.nhwc
        left, right = (self.var(a), self.var(b)) if nhwc else (self.plain(a), self.plain(b))
        if self.rounding == "float":  # onnxruntime's float formula, as two exact tables
            codes = np.arange(-128, 128, dtype=np.int8)
            s1, s2, s_out = p.scales
            ratio_a, ratio_b = np.float32(s1 / s_out), np.float32(s2 / s_out)
            fixed = np.float32(p.output_zero_point) - (
                ratio_a * np.float32(p.input1_zero_point)
                + ratio_b * np.float32(p.input2_zero_point)
            )
            table_b = (fixed + codes.astype(np.float32) * ratio_b).astype(np.float32)
            table_a = (codes.astype(np.float32) * ratio_a).astype(np.float32)

            def add(x, y, ta, tb):
                def value(*i):
                    total = tb[fx.i64(y[i]) + 128] + ta[fx.i64(x[i]) + 128]
                    rounded = tirx.Cast("int64", tirx.nearbyint(total))
                    return tirx.Cast("int8", fx.clamp(rounded, p.act_min, p.act_max))

                return te.compute(x.shape, value, name="qadd")

            args = [left, right, self.const(table_a), self.const(table_b)]
        else:  # TFLM: each input rescaled on its own (a table of its 256 values), then summed

            def rescaled(zero_point, multiplier, shift):
                centered = (np.arange(-128, 128) - zero_point) << p.left_shift
                return fp.multiply_by_quantized_multiplier(centered, multiplier, shift)

            table_a = rescaled(p.input1_zero_point, p.input1_multiplier, p.input1_shift)
            table_b = rescaled(p.input2_zero_point, p.input2_multiplier, p.input2_shift)
            # The output's requantization in int32 lanes where its scale allows, the int64
            # formula otherwise (IC's three adds: 3 us less of its 0.15 ms).
            rows = fp.right_shift_requant_params(
                p.output_multiplier, p.output_shift, p.output_zero_point
            )
            row = None if rows is None else [int(v) for v in rows.reshape(-1)]

            def code(q):  # table index of an int8 code, in int32 lanes
                return tirx.Cast("int32", q) + tirx.const(128, "int32")

            def add(x, y, ta, tb):
                def value(*i):
                    total = ta[code(x[i])] + tb[code(y[i])]  # int32, as TFLM's raw sum
                    if row is not None:
                        out = fx.multiply_by_quantized_multiplier_right(total, *row)
                        return tirx.Cast("int8", fx.clamp32(out, p.act_min, p.act_max))
                    out = fx.multiply_by_quantized_multiplier(
                        total, int(p.output_multiplier), int(p.output_shift)
                    )
                    out = out + fx.i64(p.output_zero_point)
                    return tirx.Cast("int8", fx.clamp(out, p.act_min, p.act_max))

                # two table lookups (not vectorized) and a requantization an element
                return te.compute(x.shape, value, name="qadd", attrs={ELEMENT_COST_ATTR: 8})

            tables = (table_a.astype(np.int32), table_b.astype(np.int32))
            args = [left, right, *map(self.const, tables)]
        self.define(node.outputs[0], self.bb.emit_te(add, *args, primfunc_name_hint="qadd"), nhwc)

    def lower_averagepool(self, node: Node, p) -> None:
        self.define(node.outputs[0], self.pool(node, p, average=True), True)

    def lower_maxpool(self, node: Node, p) -> None:
        self.define(node.outputs[0], self.pool(node, p, average=False), True)

    def pool(self, node: Node, p, average: bool):
        from tvm import te, tirx

        (kh, kw), (sh, sw) = p.kernel, p.strides
        top, left = p.pads[0], p.pads[1]
        n, c, h, w = node.inputs[0].shape
        oh, ow = node.outputs[0].shape[2:]
        float_mode = average and self.rounding == "float"
        terms = p.input_scale * (np.arange(-128, 128) - p.input_zero_point).astype(np.float32)

        def pool(x, table):
            ry, rx = te.reduce_axis((0, kh), "ry"), te.reduce_axis((0, kw), "rx")

            def inside(i, j):
                return tirx.all(i >= 0, i < h, j >= 0, j < w)

            def window(b, i, j, k, fill, convert):
                y, xx = i * sh + ry - top, j * sw + rx - left
                if p.count_include_pad and average:
                    valid = tirx.const(True, "bool")
                else:
                    valid = inside(y, xx)
                read = x[b, tirx.max(tirx.min(y, h - 1), 0), tirx.max(tirx.min(xx, w - 1), 0), k]
                return tirx.if_then_else(valid, convert(read), fill)

            def count(i, j):
                if p.count_include_pad:
                    return fx.i64(kh * kw)
                y0, x0 = i * sh - top, j * sw - left
                rows = tirx.min(y0 + kh, h) - tirx.max(y0, 0)
                cols = tirx.min(x0 + kw, w) - tirx.max(x0, 0)
                return fx.i64(rows * cols)

            if not average:
                lowest = tirx.const(-128, "int8")
                best = te.compute(
                    (n, oh, ow, c),
                    lambda b, i, j, k: te.max(
                        window(b, i, j, k, lowest, lambda v: v), axis=[ry, rx]
                    ),
                    name="pool_max",
                )
                return te.compute(
                    best.shape,
                    lambda *i: tirx.Cast("int8", fx.clamp(best[i], p.act_min, p.act_max)),
                    name="pool_out",
                )
            if float_mode:
                zero = tirx.const(0.0, "float32")
                total = te.compute(
                    (n, oh, ow, c),
                    lambda b, i, j, k: te.sum(
                        window(b, i, j, k, zero, lambda v: table[fx.i64(v) + 128]), axis=[ry, rx]
                    ),
                    name="pool_sum",
                )

                def finish(b, i, j, k):
                    average_value = total[b, i, j, k] / tirx.Cast("float32", count(i, j))
                    scaled = average_value / tirx.const(float(p.output_scale), "float32")
                    value = tirx.nearbyint(
                        scaled + tirx.const(float(p.output_zero_point), "float32")
                    )
                    out = fx.clamp(tirx.Cast("int64", value), -128, 127)
                    return tirx.Cast("int8", fx.clamp(out, p.act_min, p.act_max))

                return te.compute(total.shape, finish, name="pool_out")
            fill = tirx.const(p.input_zero_point if p.count_include_pad else 0, "int32")
            total = te.compute(
                (n, oh, ow, c),
                lambda b, i, j, k: te.sum(
                    window(b, i, j, k, fill, lambda v: tirx.Cast("int32", v)), axis=[ry, rx]
                ),
                name="pool_sum",
            )

            def finish(b, i, j, k):
                s, cnt = fx.i64(total[b, i, j, k]), count(i, j)
                half = tirx.truncdiv(cnt, fx.i64(2))
                value = tirx.Select(
                    s > 0, tirx.truncdiv(s + half, cnt), tirx.truncdiv(s - half, cnt)
                )
                return tirx.Cast("int8", fx.clamp(value, p.act_min, p.act_max))

            return te.compute(total.shape, finish, name="pool_out")

        x = node.inputs[0]
        return self.bb.emit_te(
            pool, self.var(x), self.const(terms.astype(np.float32)), primfunc_name_hint="qpool"
        )

    def lower_softmax(self, node: Node, p) -> None:
        from tvm import te, tirx

        # exp and its Q12 contribution depend only on the difference to the row maximum,
        # an int8 difference in [-255, 0]: two tables from the reference's own functions.
        diff = np.arange(-255, 1, dtype=np.int64)
        used = diff >= p.diff_min
        scaled = fp.saturating_rounding_doubling_high_mul(
            np.where(used, diff, 0) << p.input_left_shift, p.input_multiplier
        )
        exp = fp.exp_on_negative_values(scaled, sm.SCALED_DIFF_INTEGER_BITS)
        contribution = np.where(used, fp.rescale(exp, 0, sm.ACCUMULATION_INTEGER_BITS), 0)
        exp_table = np.where(used, exp, 0).astype(np.int32)
        sum_table = contribution.astype(np.int32)
        x = node.inputs[0]

        def softmax(data, exps, sums):
            last = len(data.shape) - 1
            k = te.reduce_axis((0, data.shape[last]), "k")

            top = te.compute(
                data.shape[:-1], lambda *i: te.max(data[(*i, k)], axis=[k]), name="row_max"
            )
            k2 = te.reduce_axis((0, data.shape[last]), "k2")

            def index(i, j):
                return fx.i64(data[(*i, j)]) - fx.i64(top[tuple(i)]) + 255

            total = te.compute(
                data.shape[:-1], lambda *i: te.sum(sums[index(i, k2)], axis=[k2]), name="row_sum"
            )

            reciprocal, bits = fx.reciprocal_stages(total, sm.ACCUMULATION_INTEGER_BITS)

            def difference(*i):
                return fx.i64(data[i]) - fx.i64(top[tuple(i[:-1])])

            diff = te.compute(data.shape, difference, name="difference")
            scaled = te.compute(
                data.shape,
                lambda *i: fx.srdhm(reciprocal[tuple(i[:-1])], exps[diff[i] + 255]),
                name="scaled",
            )

            def out(*i):
                d, row = diff[i], tuple(i[:-1])
                value = fx.rounding_divide_by_pot(scaled[i], bits[row] + fx.i64(31 - 8))
                value = value + fx.i64(-128)
                value = fx.clamp(value, -128, 127)
                kept = d >= fx.i64(p.diff_min)
                return tirx.Cast("int8", tirx.Select(kept, value, fx.i64(-128)))

            return te.compute(data.shape, out, name="softmax_out")

        expr = self.bb.emit_te(
            softmax,
            self.plain(x),
            self.const(exp_table),
            self.const(sum_table),
            primfunc_name_hint="qsoftmax",
        )
        self.define(node.outputs[0], expr, False)


def _bias(node: Node, channels: int) -> np.ndarray:
    bias = node.input(2)
    if bias is None or bias.const is None:
        return np.zeros(channels, np.int64)
    return np.broadcast_to(bias.const.astype(np.int64).reshape(-1), (channels,)).copy()


def _exact_in_float(weights: np.ndarray, bias: np.ndarray) -> bool:
    """Whether a depthwise layer's int8 sums (|x| <= 128) plus the bias stay below 2**24,
    where float32 represents every integer (so no int32 wrap to reproduce either)."""
    bound = 128 * np.abs(weights.reshape(weights.shape[0], -1)).sum(1)
    return bool((np.abs(bias) + bound).max() < 1 << 24)


def _int32(values: np.ndarray) -> np.ndarray:
    if values.min() < -(1 << 31) or values.max() >= 1 << 31:
        values = ((values + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)  # C's wrap, as the reference
    return values.astype(np.int32)


def integer_module(graph: Graph, cpu: CpuInfo, rounding: str):
    """The relax module of an integer graph (``unsupported(graph)`` must be empty)."""
    return Lowering(graph, cpu, rounding).module()
