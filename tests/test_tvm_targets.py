"""Linux targets (``kind = "linux"``) for the TVM backend: the shipped boards and the checks."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from edgec.errors import TargetError
from edgec.linux_targets import LinuxTarget
from edgec.targets import list_targets, load_board, load_target, load_target_file

TARGETS = Path(__file__).resolve().parent.parent / "targets"


def test_shipped_linux_targets():
    linux = {t.name: t for t in list_targets("linux")}
    assert set(linux) == {"host", "aarch64-linux", "rpi4", "rpi5"}
    assert all(isinstance(t, LinuxTarget) and t.count_unit == "nanoseconds" for t in linux.values())
    a64 = linux["aarch64-linux"]
    assert a64.llvm_target() == {"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mattr": ["+neon"]}
    assert a64.cc == "aarch64-linux-gnu-g++" and a64.arch == "aarch64"
    assert a64.emulated and a64.emulator.binary == "qemu-aarch64" and a64.emulator.cpu is None
    rpi4 = linux["rpi4"]
    assert rpi4.llvm_target()["mcpu"] == "cortex-a72" and rpi4.emulator.cpu == "cortex-a72"
    rpi5 = linux["rpi5"]
    assert "+dotprod" in rpi5.llvm_target()["mattr"] and rpi5.emulator.cpu == "cortex-a76"
    host = linux["host"]
    assert host.llvm_target() == {"kind": "llvm"} and host.cc is None and not host.emulated
    assert host.runs_here and host.arch == platform.machine()
    assert all(t.kind == "mcu" for t in list_targets("mcu"))


def test_backend_kind_is_checked():
    assert load_board("rpi4", "linux").name == "rpi4"
    with pytest.raises(TargetError, match=r"is a Linux board .* needs a microcontroller"):
        load_board("rpi4", "mcu")
    with pytest.raises(TargetError, match="choose from aarch64-linux, host, rpi4"):
        load_board("mps2-an386", "linux")


GOOD = (TARGETS / "rpi4.toml").read_text()


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('kind = "linux"', 'kind = "fpga"', r"kind: 'fpga' is not one of mcu, linux"),
        ('cc = "aarch64-linux-gnu-g++"', "", r"toolchain: a cross target needs toolchain\.cc"),
        ('mattr = ["+neon", "+crc"]', 'mattr = ["neon"]', r"llvm\.mattr: expected features"),
        ('mtriple = "aarch64-linux-gnu"', 'mtriple = "aarch64 linux"', r"llvm\.mtriple"),
        ('root = "aarch64"', 'root = "riscv64"', r"emulator\.root: 'riscv64' is not one of"),
        ('name = "rpi4"', 'name = "pi"', r"name: 'pi' differs from the file name"),
    ],
)
def test_bad_linux_fields_name_file_and_field(tmp_path, old, new, message):
    assert old in GOOD
    path = tmp_path / "rpi4.toml"
    path.write_text(GOOD.replace(old, new, 1))
    with pytest.raises(TargetError, match=message) as info:
        load_target_file(path)
    assert str(path) in str(info.value)


def test_host_target_loads_by_name():
    assert load_target("host").summary().startswith("host")
