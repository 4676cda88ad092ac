"""Atomic output folders: a failed compile leaves nothing half-written behind.

Files are written into a hidden sibling folder first; only when everything is in place is
it renamed onto the destination. An existing destination is replaced only with ``force``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from edgec.errors import EdgecError


def check_destination(out: Path, force: bool) -> None:
    """Fail early (before any work) when ``out`` exists and may not be replaced."""
    if out.exists() and not force:
        raise EdgecError(f"{out} already exists; pass --force to replace it")
    if out.exists() and not out.is_dir():
        raise EdgecError(f"{out} exists and is not a folder")


def write_atomically(out: Path, fill: Callable[[Path], None], force: bool = False) -> Path:
    """Create ``out`` by calling ``fill(tmp_dir)`` and renaming the result into place."""
    out = Path(out).absolute()
    check_destination(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        fill(tmp)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.replace(out, old / "previous")
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def write_files(folder: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
