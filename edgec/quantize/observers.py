"""Calibration observers: from activations seen on calibration data to a clipping range.

Calibration runs in two passes over the data: the first records each tensor's min and max,
the second fills a fixed-range histogram per tensor (``HISTOGRAM_BINS`` bins over the
observed [min, max]). The methods then choose the range ``[lo, hi]`` to quantize:

- ``minmax``: the observed extremes;
- ``percentile``: cut ``(100 - p) / 2`` percent of the mass from each tail;
- ``mse``: the range whose int8 quantization error (clipping + rounding, estimated from the
  histogram) is smallest;
- ``entropy``: the TensorRT KL-divergence method — the threshold whose quantized
  distribution loses the least information relative to the observed one.

The range always contains 0 (so 0.0 is exact, as zero padding and ReLU need).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgec.errors import QuantizationError

HISTOGRAM_BINS = 2048
METHODS = ("minmax", "percentile", "mse", "entropy")


@dataclass
class TensorStats:
    """Running statistics of one tensor over the calibration data."""

    lo: float = np.inf
    hi: float = -np.inf
    histogram: np.ndarray | None = None
    samples: int = 0
    extra: dict = field(default_factory=dict)

    def update_range(self, x: np.ndarray) -> None:
        if x.size == 0:
            return
        if not np.all(np.isfinite(x)):
            raise QuantizationError("calibration produced NaN or Inf activations")
        self.lo = min(self.lo, float(x.min()))
        self.hi = max(self.hi, float(x.max()))
        self.samples += 1

    def update_histogram(self, x: np.ndarray) -> None:
        lo, hi = self.bounds()
        counts, _ = np.histogram(x, bins=HISTOGRAM_BINS, range=(lo, hi))
        self.histogram = counts if self.histogram is None else self.histogram + counts

    def bounds(self) -> tuple[float, float]:
        """The observed range widened to include 0. A tensor that is 0 on every sample (a
        dead ReLU) gets [0, 1]: any scale represents its only value, 0, exactly."""
        lo, hi = min(self.lo, 0.0), max(self.hi, 0.0)
        if hi == lo:
            self.extra["all_zero"] = True
            return 0.0, 1.0
        return lo, hi


def choose_range(
    stats: TensorStats, method: str, bits: int = 8, percentile: float = 99.99
) -> tuple[float, float]:
    """Clipping range of one tensor by ``method`` (see the module docstring)."""
    if stats.samples == 0:
        raise QuantizationError("a tensor was never observed during calibration")
    lo, hi = stats.bounds()
    if bits == 8 and "range" in stats.extra:  # chosen by its downstream error (ranges.py)
        return stats.extra["range"]
    if method == "minmax" or stats.histogram is None:
        return lo, hi
    edges = np.linspace(lo, hi, HISTOGRAM_BINS + 1)
    if method == "percentile":
        return _percentile_range(stats.histogram, edges, percentile)
    if method == "mse":
        return _mse_range(stats.histogram, edges, bits)
    if method == "entropy":
        return _entropy_range(stats.histogram, edges, bits)
    raise QuantizationError(
        f"unknown calibration method {method!r}; choose from {', '.join(METHODS)}"
    )


def _percentile_range(hist: np.ndarray, edges: np.ndarray, p: float) -> tuple[float, float]:
    cdf = np.cumsum(hist) / max(1, hist.sum())
    tail = (100.0 - p) / 200.0
    lo_bin = int(np.searchsorted(cdf, tail, side="right"))
    hi_bin = int(np.searchsorted(cdf, 1.0 - tail, side="left"))
    lo, hi = min(edges[lo_bin], 0.0), max(edges[min(hi_bin + 1, len(edges) - 1)], 0.0)
    return float(lo), float(hi)


def expected_error(
    hist: np.ndarray, centers: np.ndarray, lo: float, hi: float, levels: int
) -> float:
    """Histogram estimate of E[(x - dequant(quant(x)))^2] for the range [lo, hi]."""
    step = (hi - lo) / (levels - 1)
    q = np.clip(np.round((centers - lo) / step), 0, levels - 1) * step + lo
    return float(np.sum(hist * (centers - q) ** 2) / max(1, hist.sum()))


def _mse_range(hist: np.ndarray, edges: np.ndarray, bits: int) -> tuple[float, float]:
    centers = (edges[:-1] + edges[1:]) / 2
    lo0, hi0 = float(edges[0]), float(edges[-1])
    levels = 2**bits
    best, best_err = (lo0, hi0), np.inf
    for shrink in np.linspace(1.0, 0.2, 81):
        lo, hi = lo0 * shrink, hi0 * shrink
        err = expected_error(hist, centers, lo, hi, levels)
        if err < best_err:
            best, best_err = (lo, hi), err
    return best


def _entropy_range(hist: np.ndarray, edges: np.ndarray, bits: int) -> tuple[float, float]:
    """KL-optimal threshold on the magnitude histogram (TensorRT's calibration)."""
    width = edges[1] - edges[0]
    zero_bin = int(np.clip(np.round(-edges[0] / width), 0, len(hist)))
    positive = hist[zero_bin:].astype(np.float64)
    negative = hist[:zero_bin][::-1].astype(np.float64)
    size = max(len(positive), len(negative))
    magnitude = np.zeros(size)
    magnitude[: len(positive)] += positive
    magnitude[: len(negative)] += negative
    # The bin holding 0 is exact whatever the threshold; its spike (ReLU outputs) would
    # otherwise dominate the divergence and pull the threshold far too low.
    magnitude[0] = 0.0
    levels = 2 ** (bits - 1) if len(negative) and negative.sum() > 0 else 2**bits - 1
    if size <= levels:
        return float(edges[0]), float(edges[-1])
    best_i, best_kl = size, np.inf
    for i in range(levels, size + 1, max(1, (size - levels) // 256)):
        reference = magnitude[:i].copy()
        reference[-1] += magnitude[i:].sum()
        kl = _kl_after_quantizing(reference, magnitude[:i], levels)
        if kl < best_kl:
            best_i, best_kl = i, kl
    threshold = best_i * width
    lo = -threshold if len(negative) and negative.sum() > 0 else 0.0
    return max(float(edges[0]), lo), min(float(edges[-1]), threshold)


def _kl_after_quantizing(reference: np.ndarray, candidate: np.ndarray, levels: int) -> float:
    chunks = np.array_split(np.arange(len(candidate)), levels)
    expanded = np.zeros_like(candidate)
    for chunk in chunks:
        values = candidate[chunk]
        nonzero = values > 0
        if nonzero.any():
            expanded[chunk[nonzero]] = values.sum() / nonzero.sum()
    p = reference / max(reference.sum(), 1e-12)
    q = expanded / max(expanded.sum(), 1e-12)
    mask = p > 0
    q = np.where(q > 0, q, 1e-12)
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])))
