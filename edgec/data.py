"""Sample data for calibration and validation: ``.npz``, folders of ``.npy`` or raw ``.bin``.

Formats (DESIGN.md):
- ``.npz``: one array per input name, or ``x`` for a single-input model; optional labels
  ``y``. Each array is ``[N, *input_shape]`` or the input shape with its batch dim replaced
  by ``N``.
- a folder of ``.npy`` files, one sample each (sorted by file name);
- a folder of raw ``.bin`` files, one sample each, read with ``input_dtype``/``input_shape``
  (default: the model input's), with labels from a CSV whose rows are ``file,…,label``.

Integer data for a float input is dequantized with ``data_scale``/``data_zero_point``; float
data for an integer (quantized) input is quantized with that input's own parameters.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgec.errors import QuantizationError, ValidationError, show_name
from edgec.ops.quant import quantize


@dataclass
class PortSpec:
    """What the model expects of one input."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    scale: float | None = None
    zero_point: int | None = None


@dataclass
class Dataset:
    inputs: dict[str, np.ndarray]  # name → [N, *shape] in the model's dtype
    labels: np.ndarray | None
    sample_names: list[str]
    # a stateful build's state restarts before sample i when resets[i] (None: always);
    # an .npz gives it as "reset"
    resets: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.sample_names)

    def sample(self, index: int) -> dict[str, np.ndarray]:
        return {name: data[index] for name, data in self.inputs.items()}

    def subset(self, indices: Sequence[int] | slice) -> Dataset:
        idx = np.arange(len(self))[indices] if isinstance(indices, slice) else np.asarray(indices)
        return Dataset(
            {k: v[idx] for k, v in self.inputs.items()},
            None if self.labels is None else self.labels[idx],
            [self.sample_names[i] for i in idx],
            None if self.resets is None else self.resets[idx],
        )


def load_dataset(
    path: str | Path,
    specs: Sequence[PortSpec],
    labels_csv: str | Path | None = None,
    input_dtype: str | None = None,
    input_shape: Sequence[int] | None = None,
    data_scale: float | None = None,
    data_zero_point: int | None = None,
    limit: int | None = None,
) -> Dataset:
    """Read samples for ``specs`` from ``path``; every problem is a ``ValidationError``."""
    path = Path(path)
    if not path.exists():
        raise ValidationError(f"{path}: no such file or folder")
    if path.is_file() and path.suffix == ".npz":
        raw, labels, names = _read_npz(path, specs)
    elif path.is_dir():
        raw, labels, names = _read_folder(path, specs, input_dtype, input_shape)
    else:
        raise ValidationError(f"{path}: expected an .npz file or a folder of .npy/.bin samples")
    if labels_csv is not None:
        labels = read_labels(Path(labels_csv), names)
    elif labels is None and path.is_dir() and (path / "y_labels.csv").is_file():
        labels = read_labels(path / "y_labels.csv", names)
    resets = _read_resets(path, len(names)) if path.suffix == ".npz" else None
    if limit is not None:
        if limit > len(names):
            raise ValidationError(f"{path}: {limit} samples asked for, {len(names)} available")
        raw = {k: v[:limit] for k, v in raw.items()}
        labels = None if labels is None else labels[:limit]
        resets = None if resets is None else resets[:limit]
        names = names[:limit]
    inputs = {s.name: _convert(raw[s.name], s, data_scale, data_zero_point) for s in specs}
    return Dataset(inputs, labels, names, resets)


def _read_resets(path: Path, count: int) -> np.ndarray | None:
    """The .npz's "reset" flags (one per sample), if it has them."""
    with np.load(path, allow_pickle=False) as archive:
        if "reset" not in archive.files:
            return None
        flags = archive["reset"].reshape(-1)
    if len(flags) != count:
        raise ValidationError(f"{path}: 'reset' holds {len(flags)} flags for {count} samples")
    return flags.astype(bool)


def input_specs(graph) -> list[PortSpec]:
    """The graph's inputs as the ports a dataset is read for."""
    return [PortSpec(v.name, np.dtype(v.dtype), tuple(v.shape)) for v in graph.inputs]


def calibration_dataset(specs: Sequence[PortSpec], options) -> Dataset | None:
    """``compile --calib`` read for ``specs`` as every data-driven step reads it (quantization,
    pruning, low-rank, clustering); None without ``--calib``."""
    if not options.calib:
        return None
    try:
        return load_dataset(
            options.calib,
            specs,
            None,
            options.calib_dtype,
            options.calib_shape,
            options.data_scale,
            options.data_zero_point,
            options.calib_samples,
        )
    except ValidationError as exc:
        raise QuantizationError(f"calibration data: {exc}") from None


def _samples_shape(array: np.ndarray, spec: PortSpec, where: str) -> np.ndarray:
    """``[N, *shape]`` from ``[N, *shape]`` or ``shape`` with its batch dim replaced by N."""
    shape = tuple(spec.shape)
    if array.ndim == len(shape) + 1 and array.shape[1:] == shape:
        return array
    if shape and array.ndim == len(shape) and array.shape[1:] == shape[1:] and shape[0] == 1:
        return array.reshape(array.shape[0], *shape)
    raise ValidationError(
        f"{where}: data of shape {array.shape} does not fit input {show_name(spec.name)} {shape}"
    )


def _read_npz(path: Path, specs: Sequence[PortSpec]):
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise ValidationError(f"{path}: unreadable .npz ({exc})") from None
    keys = set(archive.files)
    raw = {}
    for spec in specs:
        key = spec.name if spec.name in keys else ("x" if "x" in keys and len(specs) == 1 else None)
        if key is None:
            raise ValidationError(f"{path}: no array for input {show_name(spec.name)} (nor 'x')")
        raw[spec.name] = _samples_shape(archive[key], spec, str(path))
    counts = {len(v) for v in raw.values()}
    if len(counts) != 1 or 0 in counts:
        raise ValidationError(
            f"{path}: inputs hold different or zero sample counts {sorted(counts)}"
        )
    n = counts.pop()
    labels = archive["y"].reshape(n, -1) if "y" in keys else None
    if labels is not None and labels.shape[1] == 1:
        labels = labels[:, 0]
    return raw, labels, [f"{path.name}[{i}]" for i in range(n)]


def _read_folder(path: Path, specs: Sequence[PortSpec], input_dtype, input_shape):
    if len(specs) != 1:
        raise ValidationError(f"{path}: a folder of samples can only feed a single-input model")
    spec = specs[0]
    npy = sorted(path.glob("*.npy"))
    bins = sorted(path.glob("*.bin"))
    if npy and not bins:
        arrays = []
        for f in npy:
            try:
                arrays.append(np.load(f, allow_pickle=False))
            except Exception as exc:
                raise ValidationError(f"{f}: unreadable .npy ({exc})") from None
        shapes = {a.shape for a in arrays}
        if len(shapes) != 1:
            raise ValidationError(f"{path}: samples have different shapes {sorted(shapes)}")
        return (
            {spec.name: _samples_shape(np.stack(arrays), spec, str(path))},
            None,
            [f.name for f in npy],
        )
    if not bins:
        raise ValidationError(f"{path}: no .npy or .bin samples in this folder")
    dtype = np.dtype(input_dtype) if input_dtype else spec.dtype
    shape = tuple(input_shape) if input_shape else tuple(spec.shape)
    expected = int(np.prod(shape)) * dtype.itemsize
    arrays = []
    for f in bins:
        data = f.read_bytes()
        if len(data) != expected:
            raise ValidationError(
                f"{f}: {len(data)} bytes, expected {expected} ({dtype} {list(shape)})"
            )
        arrays.append(np.frombuffer(data, dtype=dtype).reshape(shape))
    stacked = np.stack(arrays)
    if stacked[0].size == int(np.prod(spec.shape)):
        stacked = stacked.reshape(len(arrays), *spec.shape)  # e.g. NHWC bytes of a N,1,H,W input
    return {spec.name: _samples_shape(stacked, spec, str(path))}, None, [f.name for f in bins]


def read_labels(path: Path, names: Sequence[str]) -> np.ndarray:
    """Labels from a CSV of ``file,…,label`` rows, in the order of ``names``."""
    if not path.is_file():
        raise ValidationError(f"{path}: no such labels file")
    table: dict[str, int] = {}
    with open(path, newline="") as handle:
        for row_number, row in enumerate(csv.reader(handle), 1):
            if not row or row[0].startswith("#"):
                continue
            try:
                table[Path(row[0]).name] = int(row[-1])
            except ValueError:
                if row_number == 1:
                    continue  # a header line
                raise ValidationError(
                    f"{path}:{row_number}: label {row[-1]!r} is not an integer"
                ) from None
    missing = [n for n in names if n not in table]
    if missing:
        raise ValidationError(
            f"{path}: no label for {len(missing)} sample(s), e.g. {show_name(missing[0])}"
        )
    return np.array([table[n] for n in names], dtype=np.int64)


def _convert(
    data: np.ndarray, spec: PortSpec, scale: float | None, zero_point: int | None
) -> np.ndarray:
    """Bring sample data to the input's dtype (dequantize or quantize as needed)."""
    if np.issubdtype(data.dtype, np.floating) and not np.all(np.isfinite(data)):
        raise ValidationError(f"input {show_name(spec.name)}: the data holds NaN or Inf")
    if data.dtype == spec.dtype:
        return np.ascontiguousarray(data)
    if np.issubdtype(spec.dtype, np.floating):
        if np.issubdtype(data.dtype, np.integer):
            if scale is None:
                raise ValidationError(
                    f"input {show_name(spec.name)} is float but the data is {data.dtype}: "
                    "give its scale and zero point (--data-scale, --data-zero-point)"
                )
            return (
                (data.astype(np.float32) - np.float32(zero_point or 0)) * np.float32(scale)
            ).astype(spec.dtype)
        return data.astype(spec.dtype)
    if np.issubdtype(data.dtype, np.floating) and spec.scale is not None:
        return quantize(data, np.float32(spec.scale), np.int64(spec.zero_point or 0), spec.dtype)
    raise ValidationError(
        f"input {show_name(spec.name)} expects {spec.dtype} data, got {data.dtype}"
    )
