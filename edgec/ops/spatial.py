"""Window geometry shared by convolution and pooling: pads, output sizes, sliding windows."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgec.errors import ShapeError, node_error

WINDOW_ATTRS_DOC = "auto_pad, pads, strides, dilations, kernel_shape, ceil_mode"


AUTO_PAD = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")  # ONNX auto_pad values


@dataclass(frozen=True)
class Window:
    """Resolved geometry of an N-d sliding window over the spatial dims of an NC… tensor."""

    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    pads_begin: tuple[int, ...]
    pads_end: tuple[int, ...]
    out: tuple[int, ...]
    # Extra padding at the end so the last (ceil-mode) window stays inside the array.
    extra_end: tuple[int, ...]

    @property
    def extent(self) -> tuple[int, ...]:
        return tuple((k - 1) * d + 1 for k, d in zip(self.kernel, self.dilations))


def resolve_window(node, op, spatial: tuple[int, ...], kernel: tuple[int, ...]) -> Window:
    """Apply auto_pad / pads / strides / dilations / ceil_mode of ``node`` to ``spatial`` dims."""
    nd = len(spatial)
    strides = tuple(_attr_list(node, op, "strides", nd, 1))
    dilations = (
        tuple(_attr_list(node, op, "dilations", nd, 1))
        if "dilations" in op.attributes
        else (1,) * nd
    )
    ceil_mode = bool(op.attr(node, "ceil_mode")) if "ceil_mode" in op.attributes else False
    if any(s < 1 for s in strides) or any(d < 1 for d in dilations) or any(k < 1 for k in kernel):
        raise node_error(ShapeError, node, "kernel, strides and dilations must be positive")
    extent = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilations))
    auto_pad = op.attr(node, "auto_pad")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        out = tuple(math.ceil(i / s) for i, s in zip(spatial, strides))
        total = [max(0, (o - 1) * s + e - i) for o, s, e, i in zip(out, strides, extent, spatial)]
        small = [t // 2 for t in total]
        big = [t - t // 2 for t in total]
        begin, end = (small, big) if auto_pad == "SAME_UPPER" else (big, small)
        return Window(kernel, strides, dilations, tuple(begin), tuple(end), out, (0,) * nd)
    if auto_pad == "VALID":
        pads = [0] * (2 * nd)
    else:
        pads = list(_attr_list(node, op, "pads", 2 * nd, 0))
        if any(p < 0 for p in pads):
            raise node_error(ShapeError, node, f"negative pads {pads} are not supported")
    begin, end = tuple(pads[:nd]), tuple(pads[nd:])
    out, extra = [], []
    for i, s, e, b, a in zip(spatial, strides, extent, begin, end):
        span = i + b + a - e
        if span < 0:
            raise node_error(
                ShapeError, node, f"window of extent {e} does not fit input size {i} with pads"
            )
        o = (math.ceil(span / s) if ceil_mode else span // s) + 1
        if ceil_mode and (o - 1) * s >= i + b:
            o -= 1  # the last window must start inside the input or the leading pad
        out.append(o)
        extra.append(max(0, (o - 1) * s + e - (i + b + a)))
    return Window(kernel, strides, dilations, begin, end, tuple(out), tuple(extra))


def _attr_list(node, op, name: str, length: int, fill: int) -> list[int]:
    value = op.attr(node, name)
    if value is None or len(value) == 0:
        return [fill] * length
    if len(value) != length:
        raise node_error(
            ShapeError, node, f"attribute {name!r} needs {length} values, got {len(value)}"
        )
    return [int(v) for v in value]


def pad_spatial(x: np.ndarray, win: Window, value: float, with_extra: bool = True) -> np.ndarray:
    """Pad the spatial dims of ``x`` (N, C, …) by the window's pads (and ceil-mode extra)."""
    end = [p + (e if with_extra else 0) for p, e in zip(win.pads_end, win.extra_end)]
    widths = [(0, 0), (0, 0), *zip(win.pads_begin, end)]
    if not any(b or a for b, a in widths):
        return x
    return np.pad(x, widths, mode="constant", constant_values=value)


def windows(padded: np.ndarray, win: Window) -> np.ndarray:
    """View of shape (N, C, *out, *kernel): every window element, strided and dilated."""
    nd = len(win.kernel)
    axes = tuple(range(2, 2 + nd))
    view = np.lib.stride_tricks.sliding_window_view(padded, win.extent, axis=axes)
    out_slices = tuple(slice(None, (o - 1) * s + 1, s) for o, s in zip(win.out, win.strides))
    kernel_slices = tuple(slice(None, None, d) for d in win.dilations)
    return view[(slice(None), slice(None), *out_slices, *kernel_slices)]
