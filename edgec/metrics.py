"""Output comparison metrics: agreement, accuracy and error statistics.

Every function takes stacked per-sample outputs ``[N, …]``; errors are computed in float64.
"""

from __future__ import annotations

import math

import numpy as np


def top1(outputs: np.ndarray) -> np.ndarray:
    """Predicted class per sample (argmax over all non-batch dims)."""
    return outputs.reshape(len(outputs), -1).argmax(axis=1)


def accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(top1(outputs) == labels)) if len(labels) else math.nan


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Share of samples whose top-1 class is the same in ``a`` and ``b``."""
    return float(np.mean(top1(a) == top1(b))) if len(a) else math.nan


def error_stats(measured: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """max |error|, MAE, RMSE, L2-relative error, cosine similarity and SNR (dB)."""
    m = measured.astype(np.float64).reshape(len(measured), -1)
    r = reference.astype(np.float64).reshape(len(reference), -1)
    err = m - r
    signal = float(np.sum(r * r))
    noise = float(np.sum(err * err))
    norms = np.linalg.norm(m, axis=1) * np.linalg.norm(r, axis=1)
    cos = np.where(norms > 0, np.sum(m * r, axis=1) / np.where(norms > 0, norms, 1), 1.0)
    return {
        "max_abs_error": float(np.max(np.abs(err))) if err.size else 0.0,
        "mae": float(np.mean(np.abs(err))) if err.size else 0.0,
        "rmse": math.sqrt(noise / err.size) if err.size else 0.0,
        "l2_relative": math.sqrt(noise / signal)
        if signal > 0
        else (0.0 if noise == 0 else math.inf),
        "cosine": float(np.mean(cos)) if len(cos) else math.nan,
        "snr_db": snr_db(signal, noise),
    }


def snr_db(signal: float, noise: float) -> float:
    if noise == 0:
        return math.inf
    if signal == 0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def summary(values) -> dict[str, float]:
    values = np.asarray(list(values), dtype=np.float64)
    if values.size == 0:
        return {"min": math.nan, "median": math.nan, "max": math.nan}
    return {
        "min": float(values.min()),
        "median": float(np.median(values)),
        "max": float(values.max()),
    }
