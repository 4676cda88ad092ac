"""What every device hands back to ``edgec validate`` (``DeviceRun``), and the layout
conversions between the model's I/O order and the generated API's."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgec import protocol as P
from edgec.artifact import Manifest, PortSpec
from edgec.data import Dataset


@dataclass
class DeviceRun:
    """What a device returned: outputs per sample, and per-inference counts if measured."""

    outputs: list[list[np.ndarray]]
    counts: list[int] = field(default_factory=list)
    count_unit: str | None = None  # "instructions", "cycles" or "nanoseconds"
    memory: dict = field(default_factory=dict)
    error: str | None = None
    device: str = "host"
    layers: list[list[np.ndarray]] = field(default_factory=list)  # per sample, per step
    profile: P.Profile | None = None  # --profile: every step's count, on the last sample
    timing: str | None = None  # what a nanosecond count measures (Linux runner)
    threads: int | str | None = None  # the TVM runner's threads


def to_device(array: np.ndarray, port: PortSpec) -> np.ndarray:
    """Model-order data in the generated API's order (NCHW → NHWC under --io-layout nhwc)."""
    model_shape, device_shape = port.shape, port.api_shape
    if tuple(array.shape) == tuple(device_shape):
        return array
    if len(model_shape) >= 3 and tuple(device_shape) == (
        model_shape[0],
        *model_shape[2:],
        model_shape[1],
    ):
        return np.moveaxis(array, 1, -1)
    return array.reshape(device_shape)


def to_model(array: np.ndarray, port: PortSpec) -> np.ndarray:
    """Device-order output back in the model's declared order."""
    if tuple(array.shape) == tuple(port.shape):
        return array
    return np.moveaxis(array, -1, 1).reshape(port.shape)


def device_inputs(manifest: Manifest, dataset: Dataset, index: int) -> list[np.ndarray]:
    """Sample ``index``'s inputs in the order and layout the device takes them."""
    return [to_device(dataset.inputs[p.name][index], p) for p in manifest.inputs]


def model_outputs(manifest: Manifest, outputs: list[np.ndarray]) -> list[np.ndarray]:
    return [to_model(o, p) for o, p in zip(outputs, manifest.outputs)]
