"""``edgec emulator setup aarch64``: a Debian arm64 root and the aarch64 TVM runtime, cached.

The root is made the way that needs neither a chroot nor binfmt: ``debootstrap --foreign``
(first stage: it only downloads and unpacks the essential packages) and then every
downloaded ``.deb`` unpacked with ``dpkg-deb -x``, so ``python3`` and ``python3-numpy`` are
complete. The TVM runtime comes from PyPI's ``manylinux_2_28_aarch64`` wheels, installed by
this computer's pip into a folder (``--platform … --target``); the compiler half of the wheel
(``libtvm_compiler.so``, 229 MB) is deleted, as the runner needs the runtime only. Everything
goes to ``$EDGEC_CACHE`` (default ``~/.cache/edgec``) under ``aarch64/``, is built in a
temporary folder and renamed into place when complete, so a second run does nothing and an
interrupted one leaves nothing half-made.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from edgec.errors import EdgecError
from edgec.outdir import write_atomically

log = logging.getLogger(__name__)

SUITE = "bookworm"  # Debian 12: Python 3.11, numpy 1.24
PYTHON = "python3.11"
DEBIAN_PACKAGES = ("python3", "python3-numpy")
# Pure-Python wheels the TVM runtime imports besides its own two.
EXTRA_WHEELS = ("typing_extensions",)
WHEEL_PLATFORM = "manylinux_2_28_aarch64"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
STAMP = "edgec-root.json"


@dataclass(frozen=True)
class EmulatorRoot:
    """A prepared root: the Debian tree, the TVM runtime folder, and how to start Python."""

    folder: Path
    root: Path
    site: Path  # PYTHONPATH: the aarch64 tvm and tvm_ffi packages
    stamp: dict

    @property
    def python(self) -> Path:
        return self.root / "usr" / "bin" / PYTHON

    def command(self, binary: str, cpu: str | None, script: Path) -> list[str]:
        """The command line that runs ``script`` with the root's Python under QEMU."""
        cpu_args = ["-cpu", cpu] if cpu else []
        return [binary, *cpu_args, "-L", str(self.root), str(self.python), str(script)]

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        # The aarch64 wheel's libtvm_runtime.so, not the compiler we deleted.
        env.update(PYTHONPATH=str(self.site), TVM_USE_RUNTIME_LIB="1", PYTHONNOUSERSITE="1")
        return env


def cache_dir() -> Path:
    if os.environ.get("EDGEC_CACHE"):
        return Path(os.environ["EDGEC_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgec"


def root_folder(name: str = "aarch64") -> Path:
    return cache_dir() / name


def tvm_versions() -> dict[str, str]:
    """The TVM wheels whose aarch64 twins the root gets (the runtime must match the compiler)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return {"apache-tvm": version("apache-tvm"), "apache-tvm-ffi": version("apache-tvm-ffi")}
    except PackageNotFoundError:
        raise EdgecError(
            "the aarch64 emulator root needs apache-tvm installed here first (its aarch64 "
            "runtime must match it): pip install 'edgec[tvm]'"
        ) from None


def find_root(name: str = "aarch64") -> EmulatorRoot:
    """The prepared root, or a clear error saying how to make it."""
    folder = root_folder(name)
    stamp_path = folder / STAMP
    if not stamp_path.is_file():
        raise EdgecError(
            f"the {name} emulator is not set up (no {folder}); run `edgec emulator setup {name}` "
            "once (about a minute, ~0.35 GB)"
        )
    stamp = json.loads(stamp_path.read_text())
    return EmulatorRoot(folder, folder / "root", folder / "tvm", stamp)


def setup(name: str = "aarch64", mirror: str | None = None, force: bool = False) -> tuple:
    """Prepare the root once; returns (EmulatorRoot, True if it was made now)."""
    if name != "aarch64":
        raise EdgecError(f"no emulator called {name!r}; edgec can set up: aarch64")
    versions = tvm_versions()
    folder = root_folder(name)
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Two test workers or two shells: one builds, the other then finds it made.
    with _locked(folder.parent / f".{name}-setup.lock"):
        return _setup_locked(name, folder, versions, mirror, force)


@contextmanager
def _locked(path: Path):
    import fcntl

    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _setup_locked(name: str, folder: Path, versions: dict, mirror: str | None, force: bool):
    if (folder / STAMP).is_file() and not force:
        existing = find_root(name)
        if existing.stamp.get("tvm") == versions:
            return existing, False
        log.warning(
            "the %s root holds TVM %s, not %s: making it again",
            name,
            existing.stamp.get("tvm"),
            versions,
        )
    _check_tools()
    started = time.monotonic()

    def fill(work: Path) -> None:
        _debian_root(work / "root", mirror or debian_mirror())
        _tvm_runtime(work / "tvm", versions)
        stamp = {
            "suite": SUITE,
            "python": PYTHON,
            "tvm": versions,
            "seconds": round(time.monotonic() - started, 1),
            "bytes": _disk_bytes(work),
        }
        (work / STAMP).write_text(json.dumps(stamp, indent=2) + "\n")

    write_atomically(folder, fill, force=True)  # an old or partial root is replaced whole
    return find_root(name), True


def _check_tools() -> None:
    missing = [t for t in ("debootstrap", "dpkg-deb", "qemu-aarch64") if not shutil.which(t)]
    if missing:
        raise EdgecError(
            f"`edgec emulator setup aarch64` needs {', '.join(missing)} (Debian: apt-get "
            "install --no-install-recommends debootstrap qemu-user; .ci/system-packages "
            "installs them)"
        )
    if os.geteuid() != 0:
        raise EdgecError(
            "`edgec emulator setup aarch64` runs debootstrap, which needs root: run it with sudo"
        )


def debian_mirror() -> str:
    """The Debian mirror this computer's apt uses (so setup reaches what apt reaches)."""
    if os.environ.get("EDGEC_DEBIAN_MIRROR"):
        return os.environ["EDGEC_DEBIAN_MIRROR"]
    sources = [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]
    for path in sources:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            if line.lstrip().startswith("#"):
                continue
            words = line.split()
            urls = [w for w in words if w.startswith(("http://", "https://"))]
            if urls and "/debian" in urls[0] and "security" not in urls[0]:
                return urls[0].rstrip("/")
    return DEFAULT_MIRROR


def _run(command: list[str], what: str, timeout: float = 900) -> None:
    log.info("%s: %s", what, " ".join(command))
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise EdgecError(
            f"{what} took over {timeout:.0f} s (is the package mirror reachable?)"
        ) from None
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip().splitlines()
        detail = next((ln for ln in reversed(output) if ln.strip()), "no output")
        raise EdgecError(f"{what} failed (exit {done.returncode}): {detail.strip()}")


def _debian_root(root: Path, mirror: str) -> None:
    _run(
        [
            "debootstrap",
            "--foreign",
            "--arch=arm64",
            "--variant=minbase",
            f"--include={','.join(DEBIAN_PACKAGES)}",
            SUITE,
            str(root),
            mirror,
        ],
        f"debootstrap of Debian {SUITE} arm64 from {mirror}",
    )
    archives = root / "var" / "cache" / "apt" / "archives"
    debs = sorted(archives.glob("*.deb"))
    if not debs:
        raise EdgecError(f"debootstrap downloaded no packages into {archives}")
    for deb in debs:  # the second stage, without running anything of arm64
        _run(["dpkg-deb", "-x", str(deb), str(root)], f"unpacking {deb.name}")
        deb.unlink()
    libdir = root / "usr" / "lib" / "aarch64-linux-gnu"
    # numpy links libblas.so.3/liblapack.so.3, which update-alternatives would have made.
    for lib in ("blas/libblas.so.3", "lapack/liblapack.so.3"):
        link = libdir / Path(lib).name
        if (libdir / lib).exists() and not link.exists():
            link.symlink_to(lib)
    if not (root / "usr" / "bin" / PYTHON).exists():
        raise EdgecError(f"the Debian root has no /usr/bin/{PYTHON} after unpacking")


def _tvm_runtime(site: Path, versions: dict[str, str]) -> None:
    pins = [f"{name}=={version}" for name, version in versions.items()]
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(site),
            "--platform",
            WHEEL_PLATFORM,
            "--only-binary=:all:",
            "--python-version",
            PYTHON.removeprefix("python"),
            "--implementation",
            "cp",
            *pins,
            *EXTRA_WHEELS,
        ],
        f"pip install of the aarch64 wheels {' '.join(pins)}",
    )
    for compiler in site.glob("tvm/lib/libtvm_compiler.so"):
        compiler.unlink()  # the runner loads libraries; it never compiles


def _disk_bytes(folder: Path) -> int:
    total = 0
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            path = Path(dirpath) / name
            if not path.is_symlink():
                total += path.stat().st_size
    return total
