"""Shared loaders for the benchmark scripts: the third-party models and data in ../shared."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("EDGEC_SHARED", ROOT.parent / "shared"))
MODELS = SHARED / "models"
DATA = SHARED / "data"

KWS_SCALE, KWS_ZERO_POINT = 0.5847029089927673, 83


def kws_data() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """int8 MFCC samples [1000, 1, 1, 49, 10], labels, file names (file order)."""
    folder = DATA / "kws01"
    files = sorted(f.name for f in folder.glob("*.bin"))
    x = np.stack([np.fromfile(folder / f, dtype=np.int8).reshape(1, 1, 49, 10) for f in files])
    labels = np.array([int(f.rsplit("_", 1)[1].split(".")[0]) for f in files])
    return x, labels, files


def kws_float(x: np.ndarray) -> np.ndarray:
    return ((x.astype(np.float32) - KWS_ZERO_POINT) * np.float32(KWS_SCALE)).astype(np.float32)


def mnist_data() -> tuple[np.ndarray, np.ndarray]:
    """MNIST test images [10000, 1, 1, 28, 28] float32 in 0..255, and labels (IDX files)."""
    with gzip.open(DATA / "mnist" / "t10k-images-idx3-ubyte.gz") as f:
        raw = f.read()
    count = int.from_bytes(raw[4:8], "big")
    images = np.frombuffer(raw, np.uint8, offset=16).reshape(count, 1, 1, 28, 28)
    with gzip.open(DATA / "mnist" / "t10k-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    return images.astype(np.float32), labels


def ad_windows() -> np.ndarray:
    """The 196 windows of 640 floats (stride 128) of the AD sample, [196, 1, 640]."""
    raw = np.fromfile(DATA / "ad_sample" / "normal_id_01_00000000_hist_librosa.bin", np.float32)
    slices = raw.reshape(200, 128)
    return np.stack([slices[i : i + 5].reshape(1, 640) for i in range(196)])


def snr_db(measured: np.ndarray, reference: np.ndarray) -> float:
    ref = reference.astype(np.float64)
    err = measured.astype(np.float64) - ref
    return float(10 * np.log10(np.sum(ref * ref) / np.sum(err * err)))
