"""QEMU for an emulated target: launch with the UART on a loopback TCP socket, always tear down.

The serial port is ``-serial tcp:127.0.0.1:PORT,server=on,wait=on,nodelay=on``: QEMU holds
the virtual machine until the host connects, so the firmware's first frame is never lost,
and ``nodelay`` avoids ~44 ms of Nagle delay per round trip. ``-icount shift=N`` makes time
(and so the SysTick instruction counter) a function of executed instructions.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from pathlib import Path

from edgec.errors import LinkError, TargetError
from edgec.harness.link import SocketLink, connect_tcp
from edgec.targets import Target, load_target

_RUNNING: weakref.WeakSet[Emulator] = weakref.WeakSet()


def _stop_all() -> None:
    for emulator in list(_RUNNING):
        emulator.stop()


atexit.register(_stop_all)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The Debian package of each QEMU system emulator.
QEMU_PACKAGES = {"qemu-system-arm": "qemu-system-arm", "qemu-system-riscv32": "qemu-system-misc"}


def qemu_binary(name: str = "qemu-system-arm") -> str:
    path = shutil.which(name)
    if path is None:
        package = QEMU_PACKAGES.get(name, name)
        raise TargetError(f"{name} is not installed (Debian: apt-get install {package})")
    return path


class Emulator:
    """One QEMU process running ``elf`` on ``target``; use as a context manager."""

    def __init__(
        self,
        target: str | Target,
        elf: str | Path,
        monitor: bool = False,
        extra_args: tuple[str, ...] = (),
    ):
        self.target = load_target(target)
        if self.target.qemu is None:
            raise TargetError(f"target {self.target.name} is a real board; it has no emulator")
        self.elf = Path(elf)
        self.monitor = monitor
        self.extra_args = tuple(extra_args)
        self.process: subprocess.Popen | None = None
        self.port: int | None = None
        self.link: SocketLink | None = None
        self.started_at: float | None = None
        self._tmp = None
        self._log = None

    def command(self, port: int) -> list[str]:
        qemu = self.target.qemu
        cmd = [
            qemu_binary(qemu.binary),
            "-M",
            qemu.machine,
            "-display",
            "none",
            "-nodefaults",
            "-icount",
            f"shift={qemu.icount_shift}",
            "-serial",
            f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on",
            "-kernel",
            str(self.elf),
        ]
        if self.monitor:
            cmd += ["-monitor", f"unix:{self.monitor_path},server=on,wait=off"]
        else:
            cmd += ["-monitor", "none"]
        return cmd + list(qemu.flags) + list(self.extra_args)

    @property
    def monitor_path(self) -> Path:
        return Path(self._tmp.name) / "monitor.sock"

    def start(self, attempts: int = 3) -> Emulator:
        """Start QEMU on a free port (a few tries: another program may grab the port)."""
        if not self.elf.is_file():
            raise TargetError(f"firmware {self.elf} does not exist")
        self._tmp = tempfile.TemporaryDirectory(prefix="edgec-qemu-")
        for _ in range(attempts):
            self.port = free_port()
            if self._log is not None:
                self._log.close()
            self._log = open(Path(self._tmp.name) / "qemu.log", "w+b")  # noqa: SIM115
            self.started_at = time.monotonic()
            self.process = subprocess.Popen(
                self.command(self.port),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            _RUNNING.add(self)
            if self._wait_listening(5.0):
                return self
            self.stop(keep_tmp=True)
            if "Address already in use" not in self.log_text():
                break
        message = self.log_text().strip() or "no output"
        self.stop()
        raise LinkError(f"QEMU ({self.target.qemu.machine}) did not start: {message}")

    def _wait_listening(self, timeout: float) -> bool:
        """Wait until QEMU prints its 'waiting for connection' line (it listens then)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            if b"waiting for connection" in self._log_bytes():
                return True
            time.sleep(0.005)
        return self.process.poll() is None

    def _log_bytes(self) -> bytes:
        if self._log is None:
            return b""
        self._log.flush()
        try:
            return (Path(self._tmp.name) / "qemu.log").read_bytes()
        except OSError:
            return b""

    def log_text(self) -> str:
        return self._log_bytes().decode(errors="replace")

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def connect(self, timeout: float = 10.0) -> SocketLink:
        """Open the serial link (this starts the virtual machine)."""
        if self.link is None:
            self.link = connect_tcp("127.0.0.1", self.port, timeout, alive=lambda: self.alive)
        return self.link

    def monitor_command(self, command: str, timeout: float = 5.0) -> str:
        """Send one HMP command (e.g. ``system_reset``) to the QEMU monitor."""
        if not self.monitor:
            raise LinkError("this emulator was started without a monitor")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(self.monitor_path))
            reply = self._until_prompt(sock)
            sock.sendall(command.encode() + b"\n")
            reply = self._until_prompt(sock)
        return reply.decode(errors="replace")

    @staticmethod
    def _until_prompt(sock: socket.socket) -> bytes:
        data = b""
        while not data.rstrip().endswith(b"(qemu)"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        return data

    def kill(self) -> None:
        """Kill QEMU at once (as a crash would), leaving the link to notice."""
        if self.alive:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self, keep_tmp: bool = False) -> None:
        """Close the link and end QEMU; safe to call more than once."""
        if self.link is not None:
            self.link.close()
            self.link = None
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        _RUNNING.discard(self)
        if not keep_tmp:
            if self._log is not None:
                self._log.close()
                self._log = None
            if self._tmp is not None:
                with contextlib.suppress(OSError):
                    self._tmp.cleanup()
                self._tmp = None

    def __enter__(self) -> Emulator:
        if self.process is None:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
