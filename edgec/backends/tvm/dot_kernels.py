"""int8 convolutions and fully connected layers on the CPU's dot-product instructions.

x86 ``vpdpbusd`` (AVX512-VNNI, AVX-VNNI) and Arm ``sdot`` (Armv8.2 dotprod) multiply four
pairs of int8 values and add them to one int32 lane, a whole register of lanes at once: four
times the multiplies of a widening int16 product per instruction. TVM 0.27's ``tensorize``
(the usual route to them) crashes, and its vectorizer cannot widen a call whose operands
change lane count, so these kernels are written directly in TIR (TVMScript): the vector
loads, the broadcast of four input channels and the LLVM intrinsic call are explicit.

Layout (``kernels.py``'s NHWC with the channels in groups of four): the input is
``[N, H, W, 4·C4]`` int8 (padded already, spatially with the zero point and to a multiple of
four channels); the weights ``[OC / T, KH, KW, C4, T, 4]`` int8, ``T`` output channels of a
register tile side by side, four input channels each; the output ``[N, OH, OW, OC]`` int8,
``OC`` a multiple of ``T``. A tile of ``P`` output pixels × ``T`` channels accumulates in
registers over the whole window, then goes through the layer's epilogue (bias and
requantization, an expression per element) and is stored. ``vpdpbusd`` multiplies unsigned
by signed bytes: the input's bytes get their sign bit flipped (``x + 128``) as they are
broadcast, and the bias carries ``-128 · Σw`` (``unsigned_bias``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

SIGN_FLIP = -0x7F7F7F80  # 0x80808080 as an int32: XOR flips the sign bit of four bytes


@dataclass(frozen=True)
class DotInstruction:
    """An int8 dot-product instruction as an LLVM intrinsic."""

    intrinsic: str
    lanes: int  # int32 accumulators per register
    unsigned_input: bool  # the input operand is unsigned (vpdpbusd), the weights signed


def unsigned_bias(weights_oc_k: np.ndarray) -> np.ndarray:
    """What the bias must add when the input is fed as ``x + 128``: ``-128 · Σw`` per
    output channel (int64)."""
    return -128 * weights_oc_k.reshape(weights_oc_k.shape[0], -1).astype(np.int64).sum(1)


@dataclass(frozen=True)
class DotConv:
    """The shape of one dot-product convolution (a fully connected layer is a 1×1 one)."""

    batch: int
    height: int  # of the padded input
    width: int
    groups4: int  # input channels / 4
    out_height: int
    out_width: int
    out_channels: int  # a multiple of tile
    kernel: tuple[int, int]
    strides: tuple[int, int]
    dilation: tuple[int, int]
    tile: int  # output channels per register tile (a multiple of the lanes)
    pixels: int  # output pixels per register tile

    @property
    def positions(self) -> int:
        return self.batch * self.out_height * self.out_width

    @property
    def macs(self) -> int:
        kh, kw = self.kernel
        return self.positions * self.out_channels * kh * kw * 4 * self.groups4


def pack_weights(w_ohwi: np.ndarray, tile: int) -> np.ndarray:
    """OHWI int8 weights → ``[OC/tile, KH, KW, C4, tile, 4]``, the input channels padded
    with zeros to a multiple of four."""
    oc, kh, kw, c = w_ohwi.shape
    c4 = -(-c // 4)
    padded = np.zeros((oc, kh, kw, 4 * c4), np.int8)
    padded[..., :c] = w_ohwi
    blocks = padded.reshape(oc // tile, tile, kh, kw, c4, 4)
    return np.ascontiguousarray(blocks.transpose(0, 2, 3, 4, 1, 5))


def dot_conv_func(
    shape: DotConv,
    dot: DotInstruction,
    params_columns: int,
    epilogue: Callable,
    parallel: bool,
    weights_first: bool,
):
    """The PrimFunc ``(x, w, params, out)``: ``params[:, o]`` are the int32 constants of
    output channel ``o`` that ``epilogue(acc, o, params)`` (int32 → int8 expression) reads.
    The accumulators start at ``params[0]`` (the bias)."""
    from tvm.script import tirx as T

    s = shape
    lanes, tile, pixels = dot.lanes, s.tile, s.pixels
    vectors = tile // lanes
    kh, kw = s.kernel
    sh, sw = s.strides
    dh, dw = s.dilation
    plane = s.out_height * s.out_width
    last = s.positions - 1
    pixel_tiles = -(-s.positions // pixels)
    channel_tiles = s.out_channels // tile
    tiles = pixel_tiles * channel_tiles
    bytes_in = f"int8x{4 * lanes}"
    acc_type = f"int32x{lanes}"
    intrinsic = dot.intrinsic
    flip = dot.unsigned_input
    loop = T.parallel if parallel else T.serial
    in_shape = (s.batch, s.height, s.width, 4 * s.groups4)
    w_shape = (channel_tiles, kh, kw, s.groups4, tile, 4)
    out_shape = (s.batch, s.out_height, s.out_width, s.out_channels)

    def channel_tile(t):
        return t // pixel_tiles if weights_first else t % channel_tiles

    def pixel_tile(t):
        return t % pixel_tiles if weights_first else t // channel_tiles

    def position(pt, p):  # the tile's p-th output pixel; the last tile repeats the last one
        q = T.min(pt * pixels + p, last)
        return q // plane, q % plane // s.out_width, q % s.out_width

    def store_index(pt, p, o):
        return [*position(pt, p), o]

    def broadcast_input(x, pt, p, ky, kx, c4):
        b, oy, ox = position(pt, p)
        word = T.reinterpret(
            x.vload([b, oy * sh + ky * dh, ox * sw + kx * dw, c4 * 4], "int8x4"), dtype="int32"
        )
        if flip:
            word = word ^ T.int32(SIGN_FLIP)
        return T.reinterpret(T.broadcast(word, lanes), dtype=bytes_in)

    def accumulate(acc, index, data, weights):
        return T.call_llvm_pure_intrin(acc_type, intrinsic, acc[index], data, weights)

    @T.prim_func(private=True)
    def kernel(
        x: T.Buffer(in_shape, "int8"),
        w: T.Buffer(w_shape, "int8"),
        params: T.Buffer((params_columns, s.out_channels), "int32"),
        out: T.Buffer(out_shape, "int8"),
    ):
        T.func_attr({"tirx.noalias": True, "tirx.is_scheduled": True})
        for t in loop(tiles):
            # The tile's indices as expressions, not names: a name assigned here is a 4-byte
            # workspace allocation (TVMBackendAllocWorkspace), once per call in a serial loop
            # but once per tile in a parallel one (KWS int8 with every layer parallel spent
            # 24 % of its time in TVM's runtime, mostly its workspace pool; 8 % without).
            # One stack array: LLVM keeps it in registers (TVM would otherwise allocate an
            # accumulator tile over 1 KB from its workspace pool, in memory).
            acc = T.alloc_buffer(
                (pixels * tile,), "int32", annotations={"disable_lower_builtin": 1}
            )
            for p in T.unroll(pixels):  # the bias: one add fewer per output
                for v in T.unroll(vectors):
                    acc[T.ramp((p * vectors + v) * lanes, 1, lanes)] = params.vload(
                        [0, channel_tile(t) * tile + v * lanes], acc_type
                    )
            for ky, kx, c4 in T.grid(kh, kw, s.groups4):
                for p in T.unroll(pixels):
                    for v in T.unroll(vectors):
                        acc[T.ramp((p * vectors + v) * lanes, 1, lanes)] = accumulate(
                            acc,
                            T.ramp((p * vectors + v) * lanes, 1, lanes),
                            broadcast_input(x, pixel_tile(t), p, ky, kx, c4),
                            w.vload([channel_tile(t), ky, kx, c4, v * lanes, 0], bytes_in),
                        )
            for p in T.unroll(pixels):
                for j in T.vectorized(tile):
                    T.buffer_store(
                        out,
                        epilogue(acc[p * tile + j], channel_tile(t) * tile + j, params),
                        store_index(pixel_tile(t), p, channel_tile(t) * tile + j),
                    )

    return kernel
