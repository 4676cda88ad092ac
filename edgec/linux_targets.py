"""ARM Linux boards (``kind = "linux"`` in ``targets/<name>.toml``): what the TVM backend needs.

A Linux target names an LLVM code-generation target (triple, CPU, features), the C++ cross
compiler that links the exported library, and, where the board can be stood in for by
user-mode QEMU, the emulator and the Debian root that ``edgec emulator setup`` prepares.
``host`` (no triple) builds for the computer edgec runs on.
"""

from __future__ import annotations

import platform
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The aarch64 roots ``edgec emulator setup`` knows how to prepare.
EMULATOR_ROOTS = ("aarch64",)


@dataclass(frozen=True)
class LinuxEmulator:
    """User-mode QEMU running the board's binaries on this computer."""

    binary: str  # e.g. qemu-aarch64
    root: str  # the name given to ``edgec emulator setup``
    cpu: str | None = None  # qemu -cpu (None: QEMU's default, "max")


@dataclass(frozen=True)
class LinuxTarget:
    """An ARM Linux board (or this computer) for the TVM backend."""

    name: str
    description: str
    path: Path
    mtriple: str | None  # None: this computer
    mcpu: str | None
    mattr: tuple[str, ...]
    cc: str | None  # the C++ compiler that links the library (None: TVM's default, g++)
    emulator: LinuxEmulator | None = None
    board_python: str = "python3"
    notes: dict[str, Any] = field(default_factory=dict)

    kind = "linux"
    count_unit = "nanoseconds"  # the runner times each inference with a wall clock

    @property
    def emulated(self) -> bool:
        return self.emulator is not None

    @property
    def qemu(self) -> None:
        """Linux targets have no system emulator (``qemu-system-arm``)."""
        return None

    @property
    def arch(self) -> str:
        """The CPU architecture the library runs on: the triple's, else this computer's."""
        return self.mtriple.split("-")[0] if self.mtriple else platform.machine()

    @property
    def runs_here(self) -> bool:
        """Can this computer load the library natively?"""
        return self.mtriple is None or self.arch == platform.machine()

    def llvm_target(self) -> dict:
        """The dict form of ``tvm.target.Target`` (TVM 0.27 refuses the string form)."""
        target: dict[str, Any] = {"kind": "llvm"}
        if self.mtriple:
            target["mtriple"] = self.mtriple
        if self.mcpu:
            target["mcpu"] = self.mcpu
        if self.mattr:
            target["mattr"] = list(self.mattr)
        return target

    def summary(self) -> str:
        where = f"{self.emulator.binary} (user mode)" if self.emulator else "real board"
        if self.mtriple is None:
            where = "this computer"
        cpu = self.mcpu or self.arch
        return f"{self.name:15s} {cpu:11s} Linux, TVM backend            nanoseconds  {where}"


def parse_linux_target(top, file: Path) -> LinuxTarget:
    """Build a ``LinuxTarget`` from the checked top-level table (``edgec.targets._Table``)."""
    llvm = top.table("llvm", required=False)
    toolchain = top.table("toolchain", required=False)
    emulator_table = top.table("emulator", required=False)
    board = top.table("board", required=False)
    mtriple = llvm.get("mtriple", str, None) if llvm else None
    if mtriple is not None and not re.fullmatch(r"[a-z0-9_]+(-[a-z0-9_.]+){1,3}", mtriple):
        raise llvm.error("mtriple", f"expected a triple like 'aarch64-linux-gnu', got {mtriple!r}")
    mattr = llvm.strings("mattr") if llvm else ()
    if any(not re.fullmatch(r"[+-][a-z0-9.]+", a) for a in mattr):
        raise llvm.error("mattr", f"expected features like '+neon', got {list(mattr)}")
    cc = toolchain.get("cc", str, None) if toolchain else None
    if mtriple is not None and cc is None:
        raise top.error("toolchain", "a cross target needs toolchain.cc (its C++ cross compiler)")
    emulator = None
    if emulator_table is not None:
        root = emulator_table.choice("root", EMULATOR_ROOTS)
        emulator = LinuxEmulator(
            emulator_table.get("binary", str), root, emulator_table.get("cpu", str, None)
        )
    name = top.get("name", str)
    if name != file.stem:
        raise top.error("name", f"{name!r} differs from the file name {file.stem!r}")
    return LinuxTarget(
        name=name,
        description=top.get("description", str, ""),
        path=file,
        mtriple=mtriple,
        mcpu=llvm.get("mcpu", str, None) if llvm else None,
        mattr=mattr,
        cc=cc,
        emulator=emulator,
        board_python=board.get("python", str, "python3") if board else "python3",
    )
