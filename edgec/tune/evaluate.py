"""One candidate: compile it (kept in its folder, so a rerun or a later stage reuses it), then
validate it on the target's emulator and keep the figures ``edgec tune`` ranks by. Runs inside
a Ray task: plain data in, plain data out, every edgec error caught and recorded."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from edgec.artifact import MANIFEST, Manifest
from edgec.compiler import compile_model
from edgec.errors import EdgecError
from edgec.harness.validate import ValidateOptions, validate
from edgec.options import CompileOptions

log = logging.getLogger(__name__)


@dataclass
class Measurement:
    key: str
    options: dict
    stage: str  # "subset" (the first samples) or "full"
    samples: int = 0
    flash_bytes: int | None = None
    arena_bytes: int | None = None
    stack_bytes: int | None = None
    instructions: int | None = None  # median per inference
    accuracy: float | None = None
    agreement: float | None = None
    snr_db: float | None = None
    bit_exact: int | None = None
    seconds: float = 0.0
    error: str | None = None

    @property
    def ram_bytes(self) -> int | None:
        """What the model needs of the board's RAM: the arena and the measured stack."""
        if self.arena_bytes is None:
            return None
        return self.arena_bytes + (self.stack_bytes or 0)

    def to_json(self) -> dict:
        return {**asdict(self), "ram_bytes": self.ram_bytes}

    @classmethod
    def from_json(cls, data: dict) -> Measurement:
        return cls(**{k: v for k, v in data.items() if k != "ram_bytes"})


def evaluate(
    model: str, folder: str, key: str, options: dict, compile_base: dict, check: dict, stage: str
) -> dict:
    """Compile (once) and validate one candidate; the measurement as JSON (also saved in
    ``folder/<stage>.json``, which a rerun reads instead)."""
    folder_path = Path(folder)
    saved = folder_path / f"{stage}.json"
    if saved.is_file():
        return json.loads(saved.read_text())
    folder_path.mkdir(parents=True, exist_ok=True)
    found = Measurement(key, options, stage)
    started = time.monotonic()
    build = folder_path / "build"
    try:
        if not (build / MANIFEST).is_file():
            compile_model(model, build, CompileOptions(**{**compile_base, **options}, force=True))
        report = validate(
            build,
            replace(ValidateOptions(**check), report_dir=str(folder_path / f"report-{stage}")),
        )
        _take(found, report, Manifest.load(build))
    except EdgecError as exc:
        found.error = str(exc).splitlines()[0]
    found.seconds = round(time.monotonic() - started, 1)
    data = found.to_json()
    saved.write_text(json.dumps(data, indent=1) + "\n")
    return data


def _take(found: Measurement, report: dict, manifest: Manifest) -> None:
    memory = report.get("memory") or {}
    found.samples = report["samples"]
    found.flash_bytes = memory.get("flash_bytes")
    found.arena_bytes = memory.get("arena_bytes", manifest.arena_bytes)
    found.stack_bytes = memory.get("stack_bytes")
    counts = report.get("instructions") or report.get("cycles") or {}
    found.instructions = int(counts["median"]) if counts.get("median") is not None else None
    found.accuracy = (report.get("accuracy") or {}).get("device")
    found.agreement = report.get("agreement")
    found.snr_db = report.get("snr_db")
    found.bit_exact = report.get("bit_exact")
