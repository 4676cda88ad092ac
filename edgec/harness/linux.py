"""Validation runs of a TVM build: its runner on this computer, under qemu-aarch64, on a board
reached by ssh, or on a board whose runner listens on a serial port.

Every way ends in a ``Link`` to ``runner/runner.py`` and the same ``DeviceClient`` as the
microcontroller firmware: the runner speaks the same protocol (INFO with the model hash,
SET_INPUT chunks, RUN, GET_OUTPUT). Its RUN reports wall-clock nanoseconds, which under
user-mode QEMU measure the emulation on this computer, not the board: the report says so.
"""

from __future__ import annotations

import logging
import os
import platform
import shlex
import shutil
import subprocess
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from edgec import protocol as P
from edgec.artifact import MANIFEST, Manifest
from edgec.errors import LinkError, ValidationError
from edgec.harness.device import (
    DeviceClient,
    DeviceOptions,
    DeviceResetError,
    check_info,
    run_samples,
)
from edgec.harness.link import Link, PipeLink, is_serial_spec, open_link
from edgec.harness.linux_root import find_root
from edgec.harness.run import DeviceRun
from edgec.targets import load_board

log = logging.getLogger(__name__)

# The runner answers slower than firmware (Python, and under QEMU emulated Python), and it
# imports TVM before its BOOT frame: wider timeouts, the largest SET_INPUT frames.
LINUX_DEVICE = DeviceOptions(
    request_timeout=5.0,
    bytes_per_second=200_000.0,
    run_timeout=600.0,
    chunk=P.MAX_PAYLOAD - 5,
    connect_timeout=180.0,
)
SSH_OPTIONS = ("-o", "BatchMode=yes")  # never wait at a password prompt nobody sees


@dataclass
class RunnerSession:
    link: Link
    device: str  # as the report names it
    timing: str  # what the nanoseconds measure
    sends_boot: bool  # started by us: wait for its BOOT frame
    threads: int | str = "all cores of the board"  # the runner's threads, as reported


def runner_arguments(threads: int | None) -> list[str]:
    """The runner's command-line options for ``edgec validate --threads``."""
    return ["--threads", str(threads)] if threads else []


def _local_threads(threads: int | None) -> int:
    """Threads of a runner on this computer (natively or under user-mode QEMU, which runs
    the board's threads on this computer's cores)."""
    return threads or os.cpu_count() or 1


def run_on_linux(out_dir: Path, manifest: Manifest, dataset, options) -> DeviceRun:
    """``edgec validate`` of a TVM output folder on ``options.device``; a ``DeviceRun``."""
    if options.per_layer or options.profile:
        raise ValidationError(
            "--per-layer and --profile need the C backend's schedule; a TVM library fuses "
            "layers and has no per-step outputs or counts"
        )
    if options.sanitize:
        raise ValidationError("--sanitize applies to the C backend's host build")
    out_dir = Path(out_dir).resolve()  # the runner starts in OUT: its paths must not be relative
    run = DeviceRun(outputs=[])
    with ExitStack() as stack:
        session = start_runner(out_dir, manifest, options.device, stack, options.threads)
        run.device, run.timing, run.threads = session.device, session.timing, session.threads
        client = DeviceClient(session.link, LINUX_DEVICE)
        if session.sends_boot:
            client.wait_boot(LINUX_DEVICE.connect_timeout)
        try:
            info = client.get_info()
        except DeviceResetError:  # a runner that started while we were connecting
            info = client.get_info()
        check_info(info, manifest)
        run_samples(client, manifest, dataset, options, run)
        log.info("link: %s", client.stats)
    run.memory["flash_bytes"] = manifest.library_bytes
    return run


def start_runner(
    out_dir: Path, manifest: Manifest, device: str, stack: ExitStack, threads: int | None = None
) -> RunnerSession:
    """Start (or reach) the runner for ``device`` (with ``threads`` threads, default all cores)
    and return the open link to it."""
    target = load_board(manifest.target, "linux")
    runner = out_dir / manifest.runner
    if device == "host":
        if not target.runs_here:
            raise ValidationError(
                f"{out_dir} holds a library for {target.name} ({target.arch}); this computer "
                f"is {platform.machine()}: use --device emulator, a serial port or "
                "ssh://USER@HOST, or compile with --target host"
            )
        command = [sys.executable, str(runner), *runner_arguments(threads)]
        link = stack.enter_context(PipeLink(command, cwd=str(out_dir)))
        return RunnerSession(
            link, "host", "wall-clock on this computer", True, _local_threads(threads)
        )
    if device == "emulator":
        return _start_emulated(out_dir, target, runner, stack, threads)
    if device.startswith("ssh://"):
        return _start_ssh(out_dir, manifest, target, device, stack, threads)
    if is_serial_spec(device):
        if threads:
            raise ValidationError(
                "--threads: a runner on a serial port was started on the board; give it "
                "--threads there (runner.py --serial DEVICE --threads N)"
            )
        link = stack.enter_context(open_link(device, LINUX_DEVICE.baud))
        return RunnerSession(link, device, f"wall-clock on the board ({device})", False)
    raise ValidationError(
        f"device {device!r}: expected host, emulator, a serial port or URL, or ssh://USER@HOST"
    )


def _start_emulated(
    out_dir: Path, target, runner: Path, stack: ExitStack, threads: int | None
) -> RunnerSession:
    if target.emulator is None:
        raise ValidationError(
            f"target {target.name} has no emulator; use --device "
            + ("host" if target.runs_here else "PORT or ssh://USER@HOST")
        )
    binary = target.emulator.binary
    if shutil.which(binary) is None:
        raise ValidationError(
            f"{binary} is not installed (Debian: apt-get install qemu-user); then run "
            f"`edgec emulator setup {target.emulator.root}`"
        )
    root = find_root(target.emulator.root)
    command = root.command(binary, target.emulator.cpu, runner) + runner_arguments(threads)
    link = stack.enter_context(PipeLink(command, cwd=str(out_dir), env=root.environment()))
    cpu = f" -cpu {target.emulator.cpu}" if target.emulator.cpu else ""
    return RunnerSession(
        link,
        f"emulator:{target.name} ({binary}{cpu})",
        f"wall-clock under {binary} user-mode emulation on this computer, not board speed",
        True,
        _local_threads(threads),
    )


@dataclass(frozen=True)
class SshAddress:
    user_host: str
    port: int | None
    folder: str  # on the board, relative to the login's home unless absolute


def parse_ssh(spec: str, default_folder: str) -> SshAddress:
    """``ssh://USER@HOST[:PORT][/FOLDER]``."""
    parts = urlsplit(spec)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme != "ssh" or not parts.hostname or port == -1:
        raise ValidationError(f"device {spec!r}: expected ssh://USER@HOST[:PORT][/FOLDER]")
    user_host = f"{parts.username}@{parts.hostname}" if parts.username else parts.hostname
    folder = parts.path.lstrip("/") or default_folder
    return SshAddress(user_host, port, folder)


def _start_ssh(
    out_dir: Path, manifest: Manifest, target, spec: str, stack: ExitStack, threads: int | None
) -> RunnerSession:
    """Copy the library, manifest and runner to the board, then run it over ssh's stdio."""
    for tool in ("ssh", "scp"):
        if shutil.which(tool) is None:
            raise ValidationError(f"--device ssh:// needs {tool} (Debian: openssh-client)")
    address = parse_ssh(spec, f"edgec-{manifest.model_sha256[:16]}")
    ssh = ["ssh", *SSH_OPTIONS, *(["-p", str(address.port)] if address.port else [])]
    scp = ["scp", *SSH_OPTIONS, "-r", *(["-P", str(address.port)] if address.port else [])]
    folder = shlex.quote(address.folder)
    _call([*ssh, address.user_host, f"mkdir -p {folder}"], f"ssh {address.user_host}")
    files = [out_dir / manifest.library, out_dir / MANIFEST, out_dir / "runner"]
    _call(
        [*scp, *map(str, files), f"{address.user_host}:{address.folder}/"],
        f"scp to {address.user_host}",
    )
    python = shlex.quote(target.board_python)
    options = " ".join(runner_arguments(threads))
    remote = f"cd {folder} && exec {python} {shlex.quote(manifest.runner)} {options}".rstrip()
    link = stack.enter_context(PipeLink([*ssh, address.user_host, remote]))
    where = f"wall-clock on the board ({address.user_host})"
    if threads:
        return RunnerSession(link, f"ssh:{address.user_host}", where, True, threads)
    return RunnerSession(link, f"ssh:{address.user_host}", where, True)


def _call(command: list[str], what: str) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        raise LinkError(f"{what}: no answer within 300 s") from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise LinkError(
            f"{what} failed (exit {done.returncode})" + (f": {detail[-1]}" if detail else "")
        )
