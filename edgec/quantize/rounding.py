"""How float weights become integers: ``--weight-rounding nearest|optimized``, 4 or 8 bits.

- nearest: per output channel, scale ``max|w| / qmax`` and round to nearest (TFLite's way).
- optimized: GPTQ-style rounding (Frantar et al., 2022) inside a layer-by-layer
  reconstruction (reconstruct.py). A layer's output error for a weight error ``dW`` is
  ``dW H dWᵀ`` with ``H = Xᵀ X``, the Gram matrix of its inputs (im2col rows for a
  convolution) on the calibration samples. The columns are rounded one at a time, largest
  ``H_ii`` first, and each rounding error is pushed onto the columns not yet rounded through
  ``H⁻¹`` (the least-squares correction), so every weight's rounding direction is chosen
  knowing the inputs it meets. Below 8 bits each channel's scale is first chosen (a
  clipping ratio in [0.5, 1]) to minimize its ``H``-weighted rounding error. Each group of
  a grouped (depthwise) convolution has its own ``H``.

Cost per layer: one Cholesky factor and ``k`` rank-one updates of an ``[out, k]`` matrix.
"""

from __future__ import annotations

import numpy as np

from edgec.errors import QuantizationError

ROUNDINGS = ("nearest", "optimized")
DAMPING = 0.01  # of the mean diagonal, added to H (GPTQ's dampening)
CLIP_RATIOS = np.linspace(0.5, 1.0, 26)  # 4-bit scale search


def nearest(matrix: np.ndarray, bits: int, per_channel: bool = True):
    """``matrix`` [out, d] → (integers [out, d], scales [out] or [1]) with ``max|w| / qmax``."""
    qmax = 2 ** (bits - 1) - 1
    w = np.asarray(matrix, np.float64)
    amax = np.abs(w).max(axis=1) if per_channel else np.array([np.abs(w).max(initial=0.0)])
    scales = np.where(amax > 0, amax / qmax, 1.0).astype(np.float32)
    s = scales.astype(np.float64).reshape(-1, 1)
    return np.clip(np.rint(w / s), -qmax, qmax).astype(np.int64), scales


def _search_scales(w: np.ndarray, diag: np.ndarray, qmax: int) -> np.ndarray:
    """Per row, the scale (a clipped ``max|w| / qmax``) minimizing sum_i H_ii (w_i - q_i)²."""
    amax = np.abs(w).max(axis=1)
    best = np.full(w.shape[0], np.inf)
    scales = np.where(amax > 0, amax / qmax, 1.0)
    for ratio in CLIP_RATIOS:
        s = np.where(amax > 0, ratio * amax / qmax, 1.0)[:, None]
        err = ((np.clip(np.rint(w / s), -qmax, qmax) * s - w) ** 2 * diag).sum(axis=1)
        better = err < best
        best = np.where(better, err, best)
        scales = np.where(better, s[:, 0], scales)
    return scales


def gptq(w: np.ndarray, hessian: np.ndarray, scales: np.ndarray, qmax: int) -> np.ndarray:
    """Integers [rows, d] for ``w`` [rows, d] at fixed per-row ``scales``, rounding columns
    in decreasing ``H_ii`` order with the error fed forward through ``H⁻¹``'s Cholesky factor."""
    w = np.array(w, np.float64)
    h = np.array(hessian, np.float64)
    dead = np.diag(h) <= 0
    h[dead, dead] = 1.0
    w[:, dead] = 0.0
    order = np.argsort(-np.diag(h), kind="stable")
    w, h = w[:, order], h[np.ix_(order, order)]
    h += DAMPING * float(np.mean(np.diag(h))) * np.eye(h.shape[0])
    try:
        upper = np.linalg.cholesky(np.linalg.inv(h)).T
    except np.linalg.LinAlgError:
        raise QuantizationError(
            "weight rounding: the layer's input statistics are singular"
        ) from None
    s = scales.astype(np.float64)
    q = np.zeros(w.shape, np.int64)
    for i in range(w.shape[1]):
        column = np.clip(np.rint(w[:, i] / s), -qmax, qmax)
        q[:, i] = column
        err = (w[:, i] - column * s) / upper[i, i]
        w[:, i + 1 :] -= np.outer(err, upper[i, i + 1 :])
    out = np.empty_like(q)
    out[:, order] = q
    return out


def round_matrix(
    matrix: np.ndarray,
    bits: int,
    method: str,
    hessian: np.ndarray | None = None,
    per_channel: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """``matrix`` [out, d] (rows of group g read ``hessian[g]``) → (integers, float32 scales)."""
    if method not in ROUNDINGS:
        raise QuantizationError(f"weight rounding {method!r}: choose from {', '.join(ROUNDINGS)}")
    if method == "nearest" or hessian is None or not per_channel:
        return nearest(matrix, bits, per_channel)
    qmax = 2 ** (bits - 1) - 1
    w = np.asarray(matrix, np.float64)
    groups = hessian.shape[0]
    rows = w.shape[0] // groups
    q = np.zeros(w.shape, np.int64)
    scales = np.zeros(w.shape[0])
    for g in range(groups):
        part, h = w[g * rows : (g + 1) * rows], hessian[g]
        if bits < 8:
            s = _search_scales(part, np.maximum(np.diag(h), 0.0), qmax)
        else:
            s = nearest(part, bits)[1]
        s = s.astype(np.float32).astype(np.float64)  # the scale the kernels will use
        scales[g * rows : (g + 1) * rows] = s
        q[g * rows : (g + 1) * rows] = gptq(part, h, s, qmax)
    return q, scales.astype(np.float32)


def round_weights(
    weights: np.ndarray, axis: int, bits: int, per_channel: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest rounding of a weighted node's float ``weights`` (its own layout; output
    channels along ``axis``) → (integers in that layout, scales)."""
    moved = np.moveaxis(np.asarray(weights, np.float64), axis, 0)  # [out, ...]
    q, scales = nearest(moved.reshape(moved.shape[0], -1), bits, per_channel)
    return np.moveaxis(q.reshape(moved.shape), 0, axis), scales
