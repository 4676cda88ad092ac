"""The compiled output folder's contract: ``manifest.json`` as one typed object.

The compiler writes it; firmware builds, the Linux runner and ``edgec validate`` read it. It
records the source model's SHA-256 (a device running another model is refused), the options,
the I/O ports (the model's logical shapes and the generated API's shapes) and what the
backend built. This is the only module that knows the file's name and layout.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from edgec.errors import EdgecError
from edgec.version import __version__

MANIFEST = "manifest.json"
REFERENCE_GRAPH = "reference.onnx"
# Bumped when a field changes meaning; folders written before the field existed are 1.
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class PortSpec:
    """One model input or output: its logical shape, and the shape the generated API (or the
    device) uses for it (channels-last under ``--io-layout nhwc``)."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    scale: float | None = None
    zero_point: int | None = None
    device_shape: tuple[int, ...] | None = None

    @property
    def api_shape(self) -> tuple[int, ...]:
        return self.device_shape if self.device_shape is not None else self.shape

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.api_shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize

    @classmethod
    def of_value(cls, value, device_shape=None) -> PortSpec:
        """A graph input or output (per-tensor quantization parameters when it has them)."""
        scale = zero_point = None
        if value.quant is not None and value.quant.axis is None:
            scale, zero_point = float(value.quant.scale), int(value.quant.zero_point)
        shape = tuple(value.shape)
        device = tuple(device_shape) if device_shape is not None else shape
        return cls(value.name, np.dtype(value.dtype), shape, scale, zero_point, device)

    def to_json(self) -> dict:
        spec: dict[str, Any] = {
            "name": self.name,
            "dtype": str(np.dtype(self.dtype)),
            "shape": list(self.shape),
        }
        if self.scale is not None:
            spec.update(scale=self.scale, zero_point=self.zero_point)
        return spec

    @classmethod
    def from_json(cls, spec: dict, device_shape=None) -> PortSpec:
        return cls(
            spec["name"],
            np.dtype(spec["dtype"]),
            tuple(spec["shape"]),
            spec.get("scale"),
            spec.get("zero_point"),
            tuple(device_shape) if device_shape is not None else tuple(spec["shape"]),
        )


@dataclass
class BackendOutput:
    """What a backend hands the compile orchestration: the files it generated (name →
    text or bytes, written into OUT as they are), its manifest fields, the I/O shapes of the
    generated API, notes for the user, and the ONNX graph it built from when it made one
    (written as ``reference.onnx`` instead of a second export)."""

    files: dict[str, str | bytes]
    manifest: dict[str, Any]
    device_shapes: dict[str, list[tuple[int, ...]]]  # "inputs"/"outputs" → shapes
    notices: list[str] = field(default_factory=list)
    reference: Any = None  # onnx.ModelProto


@dataclass
class Manifest:
    """``manifest.json``. The fields after ``notices`` belong to one backend each."""

    target: str | None
    model_sha256: str
    inputs: list[PortSpec]
    outputs: list[PortSpec]
    weight_bytes: int
    arena_bytes: int | None  # None: allocated at run time (TVM's VM)
    backend: str = "c"
    source_model: str = ""
    options: dict = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    edgec_version: str = __version__
    reference_graph: str = REFERENCE_GRAPH
    schema_version: int = SCHEMA_VERSION
    # a --stateful build: the input carrying the sequence, its time axis, the time steps per
    # model_run call and the sequence length the model was quantized with
    stream: dict | None = None
    # C backend
    prefix: str | None = None
    kernels: str | None = None
    weight_storage: list[dict] | None = None
    # TVM backend
    tvm_version: str | None = None
    llvm_target: dict | None = None
    cross_compiler: str | None = None
    arch: str | None = None
    library: str | None = None
    library_bytes: int | None = None
    runner: str | None = None
    numerics: str | None = None
    schedule: str | None = None
    threads: str | None = None

    def to_json(self) -> dict:
        head = ("schema_version", "edgec_version", "backend", "target", "source_model")
        data = {name: getattr(self, name) for name in head}  # read first by a person
        data.update(
            (f.name, getattr(self, f.name))
            for f in fields(self)
            if f.name not in (*head, "inputs", "outputs") and getattr(self, f.name) is not None
        )
        data["arena_bytes"] = self.arena_bytes  # null is meaningful: allocated at run time
        data["inputs"] = [p.to_json() for p in self.inputs]
        data["outputs"] = [p.to_json() for p in self.outputs]
        data["io_shapes"] = {
            "inputs": [list(p.api_shape) for p in self.inputs],
            "outputs": [list(p.api_shape) for p in self.outputs],
        }
        return data

    @classmethod
    def from_json(cls, data: dict, where: str = MANIFEST) -> Manifest:
        version = data.get("schema_version", 1)
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise EdgecError(
                f"{where}: manifest schema {version!r} is newer than this edgec reads "
                f"({SCHEMA_VERSION}); upgrade edgec or recompile"
            )
        known = {f.name for f in fields(cls)}
        try:
            shapes = data.get("io_shapes", {})
            ports = {
                kind: [
                    PortSpec.from_json(spec, device)
                    for spec, device in zip(
                        data[kind], shapes.get(kind) or [None] * len(data[kind])
                    )
                ]
                for kind in ("inputs", "outputs")
            }
            values = {k: v for k, v in data.items() if k in known and k not in ports}
            return cls(**values, **ports)
        except (KeyError, TypeError, ValueError) as exc:
            raise EdgecError(f"{where}: not an edgec manifest ({exc})") from None

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2) + "\n"

    def save(self, folder: str | Path) -> None:
        (Path(folder) / MANIFEST).write_text(self.dumps())

    @classmethod
    def load(cls, folder: str | Path) -> Manifest:
        path = Path(folder) / MANIFEST
        if not path.is_file():
            raise EdgecError(f"{folder} is not an edgec output folder (no {MANIFEST})")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise EdgecError(f"{path}: unreadable manifest ({exc})") from None
        if not isinstance(data, dict):
            raise EdgecError(f"{path}: not an edgec manifest")
        return cls.from_json(data, str(path))

    @property
    def rounding(self) -> str:
        """The integer kernels' requantization (``--rounding``; TFLM's before it existed)."""
        return self.options.get("rounding") or "tflm"

    @property
    def integer_outputs(self) -> bool:
        return all(not np.issubdtype(p.dtype, np.floating) for p in self.outputs)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
