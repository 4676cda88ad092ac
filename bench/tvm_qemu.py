"""bench/tvm.py under qemu-aarch64: the build beside onnxruntime's aarch64 wheel, both emulated.

``bench/tvm_side_by_side.py`` runs in the aarch64 Python of ``edgec emulator setup aarch64``'s
Debian root (numpy, the TVM runtime), with onnxruntime's ``manylinux_2_28_aarch64`` wheel of
the host's onnxruntime version fetched by pip into the cache and unpacked beside it.

qemu-user passes this computer's ``/proc/cpuinfo`` through unchanged; onnxruntime's CPU
detection (cpuinfo) reads it at import, finds x86 lines on an Arm CPU and crashes (SIGSEGV).
So the emulated process sees an Arm ``/proc/cpuinfo`` for the emulated core instead, bound
over the real one in a private mount namespace (``unshare -m``: needs root, as CI has).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
WHEEL_PLATFORM = "manylinux_2_28_aarch64"
# CPU part numbers of the cores the Linux targets emulate (Arm's MIDR values); features as
# the kernel lists them.
CPU_PARTS = {None: "0xd08", "cortex-a72": "0xd08", "cortex-a76": "0xd0b", "cortex-a53": "0xd03"}
CPU_FEATURES = {
    "cortex-a76": "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid "
    "asimdrdm lrcpc dcpop asimddp"
}
DEFAULT_FEATURES = "fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid"


def arm_cpuinfo(cpu: str | None, cores: int) -> str:
    """A /proc/cpuinfo as an Arm Linux kernel writes it for ``cores`` cores of ``cpu``."""
    block = (
        "processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: {features}\nCPU implementer\t: 0x41\n"
        "CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: {part}\nCPU revision\t: 0\n\n"
    )
    features = CPU_FEATURES.get(cpu or "", DEFAULT_FEATURES)
    part = CPU_PARTS.get(cpu, "0xd08")
    return "".join(block.format(i=i, features=features, part=part) for i in range(cores))


def onnxruntime_site(python_version: str = "3.11") -> Path:
    """The aarch64 onnxruntime wheel of the host's version, unpacked (cached)."""
    import onnxruntime

    from edgec.harness.linux_root import cache_dir

    site = cache_dir() / "aarch64-onnxruntime" / onnxruntime.__version__
    if (site / "onnxruntime").is_dir():
        return site
    with tempfile.TemporaryDirectory(prefix="edgec-ort-") as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", f"onnxruntime=={onnxruntime.__version__}",
             "--platform", WHEEL_PLATFORM, "--python-version", python_version,
             "--only-binary=:all:", "--no-deps", "-d", tmp, "-q"],
            check=True,
        )  # fmt: skip
        unpacked = Path(tmp) / "site"
        for wheel in Path(tmp).glob("onnxruntime-*.whl"):
            zipfile.ZipFile(wheel).extractall(unpacked)
        site.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(unpacked), site)
    return site


def side_by_side_emulated(
    library: Path, model: Path, data: Path, threads: int, cpu: str | None, rounds: int = 10,
    other: tuple[Path, Path] | None = None,
) -> dict:  # fmt: skip
    """``tvm_side_by_side.side_by_side`` under qemu-aarch64 (emulating ``cpu``)."""
    from edgec.harness.linux_root import find_root

    root = find_root("aarch64")
    site = onnxruntime_site()
    env = root.environment()
    env["PYTHONPATH"] = f"{root.site}{os.pathsep}{site}"
    with tempfile.TemporaryDirectory(prefix="edgec-qemu-") as tmp:
        cpuinfo = Path(tmp) / "cpuinfo"
        cpuinfo.write_text(arm_cpuinfo(cpu, os.cpu_count() or 1))
        command = root.command("qemu-aarch64", cpu, HERE / "tvm_side_by_side.py")
        command += [str(library), str(model), str(data), str(threads), str(rounds)]
        if other is not None:
            command += [str(other[0]), str(other[1])]
        quoted = " ".join(f"'{part}'" for part in command)
        shell = f"mount --bind '{cpuinfo}' /proc/cpuinfo && exec {quoted}"
        done = subprocess.run(
            ["unshare", "-m", "sh", "-c", shell], env=env, capture_output=True, text=True,
            timeout=3600,
        )  # fmt: skip
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        last = lines[-1] if lines else f"exit status {done.returncode}"
        raise RuntimeError(f"emulated side-by-side failed: {last}")
    return json.loads(done.stdout.strip().splitlines()[-1])
