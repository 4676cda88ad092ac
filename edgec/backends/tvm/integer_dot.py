"""int8 convolutions and fully connected layers of ``integer.py`` on dot-product instructions.

Where the target CPU has them (``CpuInfo.dot``), a convolution that is not depthwise or
grouped, and every fully connected layer, becomes one ``dot_kernels.py`` function instead of
a widening tensor expression: the input padded (the zero point) to whole groups of four
channels first where needed, the bias, zero-point corrections and requantization constants
of each output channel in one int32 matrix (``params``), the same ``Lowering.requant``
expression as the widening kernels in the epilogue, so both are bit-exact with edgec's
integer reference in the same way. Output channels that do not fill a register are computed
padded and sliced off.
"""

from __future__ import annotations

import numpy as np

from edgec.backends.tvm import dot_kernels as dk
from edgec.backends.tvm import fixedpoint_te as fx
from edgec.backends.tvm import kernels

# Below this a layer runs on one thread: as a parallel loop (TVM's closure) a layer runs
# a few per cent slower even on one thread. Side by side against 2**21, at 2 threads / 1
# thread: 2**19 gave KWS 0.82 / 1.03, VWW 0.86 / 1.02, IC 0.91 / 1.05; 2**17 (every KWS
# layer parallel) KWS 0.77 / 1.10, VWW 0.68 / 1.02, IC 0.95 / 1.02. (Parallel loops also
# cost each tile a workspace allocation before dot_kernels.py stopped making one there.)
PARALLEL_MIN_MACS = 1 << 19
SPARE_REGISTERS = 6  # vector registers a tile leaves for weights and the broadcast input
# With a window (3x3) on x86, the pixels' addresses take registers too: at 6 spare, LLVM
# spilled broadcasts to unaligned 64-byte stack slots, and whenever the caller's stack left
# them straddling cache lines (by the process's environment size) IC int8 ran 2.7x slower.
SPARE_REGISTERS_WINDOW_X86 = 18


class _Columns:
    """One of ``Lowering.requant``'s per-channel constant tables, read from ``params``."""

    def __init__(self, params, first: int, is_float: bool = False):
        self.params, self.first, self.is_float = params, first, is_float

    def __getitem__(self, index):
        from tvm import tirx

        if isinstance(index, tuple):
            k, channel = index
            return self.params[self.first + k, channel]
        value = self.params[self.first, index]
        return tirx.reinterpret("float32", value) if self.is_float else value


def _params_matrix(bias: np.ndarray, constants: dict[str, np.ndarray], channels: int):
    """``[1 + k, channels]`` int32: the bias, then each requantization table's rows (one
    row per constant, channels contiguous: the epilogue reads them as vectors); and where
    each table starts."""
    columns = [kernels_int32(bias).reshape(1, -1)]
    starts, at = {}, 1
    for key, table in constants.items():
        table = np.asarray(table)
        if table.dtype == np.float32:
            table = table.view(np.int32)
        table = table.astype(np.int32).reshape(-1, channels)
        starts[key] = at
        at += table.shape[0]
        columns.append(table)
    return np.ascontiguousarray(np.concatenate(columns, axis=0)), starts


def kernels_int32(values: np.ndarray) -> np.ndarray:
    """int64 → int32 with C's wrap (the reference accumulates in int32)."""
    values = np.asarray(values, np.int64)
    return (((values + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)).astype(np.int32)


def _tile(
    channels: int, lanes: int, registers: int, positions: int, spare: int = SPARE_REGISTERS
) -> tuple[int, int]:
    """(output channels, output pixels) of a register tile."""
    vectors = next(v for v in (4, 3, 2, 1) if channels % (v * lanes) == 0)
    budget = max(1, (registers - spare - vectors) // vectors)
    return vectors * lanes, max(1, min(budget, positions))


def lower_dot_linear(lowering, name: str, data, shape: dict, w_ohwi: np.ndarray, bias, p):
    """Emit the dot-product layer ``data (NHWC int8) → NHWC int8``; returns the relax value.

    ``shape``: batch, height, width, channels of ``data``; pads (top, left, bottom, right),
    strides, dilation, out_height, out_width. ``bias`` (int64) already holds the input zero
    point's correction."""
    from tvm import relax

    cpu, bb = lowering.cpu, lowering.bb
    dot = cpu.dot
    out_channels, kh, kw, channels = w_ohwi.shape
    if out_channels % dot.lanes and cpu.half_dot and out_channels % cpu.half_dot.lanes == 0:
        dot = cpu.half_dot
    padded_out = -(-out_channels // dot.lanes) * dot.lanes
    groups4 = -(-channels // 4)
    zp = p.input_zero_point
    pads = shape["pads"]
    word_input = channels < 4  # an RGB or mono input layer: a word per pixel, not 4 bytes
    if word_input:
        words = bb.emit_te(pack_words, data, pads, zp, primfunc_name_hint="qpack")
        padded = [shape["batch"], shape["height"] + pads[0] + pads[2]]
        padded += [shape["width"] + pads[1] + pads[3], 4]
        data = bb.emit(relax.op.memory.view(words, shape=padded, dtype="int8"))
    elif any(pads) or groups4 * 4 != channels:
        extra = groups4 * 4 - channels

        def pad(x):
            return kernels.pad_nhwc(x, pads, zp, channels_after=extra)

        data = bb.emit_te(pad, data, primfunc_name_hint="qpad")
    weights = np.zeros((padded_out, kh, kw, channels), np.int8)
    weights[:out_channels] = w_ohwi
    total_bias = np.zeros(padded_out, np.int64)
    total_bias[:out_channels] = bias
    if dot.unsigned_input:
        total_bias += dk.unsigned_bias(weights)
    constants = {
        key: _pad_channels(np.asarray(table), padded_out)
        for key, table in lowering.requant_constants(p, out_channels).items()
    }
    params, starts = _params_matrix(total_bias, constants, padded_out)
    height = shape["height"] + pads[0] + pads[2]
    width = shape["width"] + pads[1] + pads[3]
    positions = shape["batch"] * shape["out_height"] * shape["out_width"]
    windowed = kh * kw > 1 and cpu.arch == "x86_64"
    spare = SPARE_REGISTERS_WINDOW_X86 if windowed else SPARE_REGISTERS
    tile, pixels = _tile(padded_out, dot.lanes, cpu.registers, positions, spare)
    conv = dk.DotConv(
        batch=shape["batch"],
        height=height,
        width=width,
        groups4=groups4,
        out_height=shape["out_height"],
        out_width=shape["out_width"],
        out_channels=padded_out,
        kernel=(kh, kw),
        strides=tuple(shape["strides"]),
        dilation=tuple(shape["dilation"]),
        tile=tile,
        pixels=pixels,
    )

    def epilogue(acc, channel, table):  # the bias is in the accumulator already
        bufs = {key: _Columns(table, starts[key], key == "scale") for key in constants}
        return lowering.requant(acc, channel, p, bufs)

    func = dk.dot_conv_func(
        conv,
        dot,
        params.shape[0],
        epilogue,
        parallel=conv.macs >= PARALLEL_MIN_MACS,
        weights_first=weights.size > height * width * channels,
    )
    gv = bb.add_func(func, name)
    out_shape = [shape["batch"], shape["out_height"], shape["out_width"], padded_out]
    args = [data, lowering.const(dk.pack_weights(weights, tile)), lowering.const(params)]
    out = bb.emit(relax.call_tir(gv, args, relax.TensorType(out_shape, "int8")))
    if padded_out != out_channels:
        out = bb.emit(relax.op.strided_slice(out, axes=[3], begin=[0], end=[out_channels]))
    return out


def _pad_channels(table: np.ndarray, channels: int) -> np.ndarray:
    """``table`` (channels last) with zero channels appended up to ``channels``."""
    padded = np.zeros((*table.shape[:-1], channels), table.dtype)
    padded[..., : table.shape[-1]] = table
    return padded


def pack_words(x, pads, zero_point: int):
    """NHWC int8 ``x`` of fewer than four channels, padded by (top, left, bottom, right) with
    the zero point → ``[N, H, W]`` int32, a pixel's channels in its bytes (little-endian, as
    the kernels read four channels; the missing channels zero, their weights are zero): a
    quarter of the elements of a padded int8 copy."""
    from tvm import te, tirx

    top, left, bottom, right = (int(v) for v in pads)
    n, h, w, c = (int(d) for d in x.shape)
    byte = zero_point & 0xFF
    border = tirx.const(byte * 0x01010101 - (1 << 32 if byte >= 0x80 else 0), "int32")

    def body(b, i, j):
        word = fx.i64(0)
        for k in range(c):
            value = fx.i64(x[b, i - top, j - left, k]) & fx.i64(0xFF)
            word = word | (value << fx.i64(8 * k))
        inside = tirx.all(i >= top, i < h + top, j >= left, j < w + left)
        return tirx.if_then_else(inside, tirx.Cast("int32", word), border)

    return te.compute((n, h + top + bottom, w + left + right), body, name="pack_words")
