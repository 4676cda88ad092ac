"""Byte transports to a device: pyserial ports and URLs, and subprocess pipes.

A ``Link`` moves raw bytes; framing and retries live in ``protocol`` and ``device``. Every
failure (cannot open, connection lost, process exited) is a ``LinkError``; a read that
times out returns ``b""`` so the caller decides how long is too long.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import subprocess
import time
from collections.abc import Sequence

from edgec.errors import LinkError

DEFAULT_BAUD = 115200


class Link:
    """A bidirectional byte stream with read timeouts."""

    name = "link"

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def read(self, timeout: float) -> bytes:
        """Whatever arrives within ``timeout`` seconds (at least one byte), or ``b""``."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Link:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


PYSERIAL_SCHEMES = (
    "socket://",
    "rfc2217://",
    "loop://",
    "spy://",
    "hwgrep://",
    "alt://",
    "cp2110://",
)


def is_serial_spec(spec: str) -> bool:
    """Does ``spec`` name a serial device, a pyserial URL or an ``exec:`` pipe (not 'host',
    'emulator' or ``ssh://``)?"""
    return spec.startswith((*PYSERIAL_SCHEMES, "exec:", "/dev/", "COM", "\\\\.\\")) or (
        os.path.exists(spec) and not os.path.isdir(spec)
    )


class SerialLink(Link):
    """A pyserial port: a path like ``/dev/ttyACM0`` or a URL like ``socket://host:port``."""

    def __init__(self, url: str, baud: int = DEFAULT_BAUD):
        import serial

        self.name = url
        try:
            self.port = serial.serial_for_url(url, baudrate=baud, timeout=0, write_timeout=10)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise LinkError(f"cannot open {url}: {exc}") from None
        sock = getattr(self.port, "_socket", None)
        if isinstance(sock, socket.socket):
            # Without TCP_NODELAY every small frame waits for Nagle: ~44 ms per round trip.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def write(self, data: bytes) -> None:
        import serial

        try:
            self.port.write(data)
            self.port.flush()
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"{self.name}: connection lost while writing ({exc})") from None

    def read(self, timeout: float) -> bytes:
        import serial

        try:
            self.port.timeout = max(timeout, 0)
            first = self.port.read(1)
            if not first:
                return b""
            self.port.timeout = 0  # then whatever else is already there, without waiting
            return first + self.port.read(65536)
        except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
            # pyserial's socket backend raises SerialException when the peer closes; a port
            # closed under our feet surfaces as TypeError/AttributeError.
            raise LinkError(f"{self.name}: connection lost ({exc})") from None

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a dead port must never mask the real error
            self.port.close()


class PipeLink(Link):
    """A child process whose stdin/stdout carry the protocol (e.g. a Linux runner)."""

    def __init__(self, command: Sequence[str], cwd: str | None = None, env: dict | None = None):
        self.name = " ".join(command)
        try:
            self.process = subprocess.Popen(
                list(command),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                env=env,
                bufsize=0,
            )
        except OSError as exc:
            raise LinkError(f"cannot start {command[0]}: {exc.strerror}") from None
        os.set_blocking(self.process.stdout.fileno(), False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.process.stdout, selectors.EVENT_READ)

    def _exited(self) -> LinkError:
        try:  # its output closed: it has exited or is about to
            code = self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            code = None
        err = b""
        if code is not None and self.process.stderr is not None:
            err = self.process.stderr.read() or b""
        detail = err.decode(errors="replace").strip().splitlines()
        why = f"exited with status {code}" if code is not None else "closed its output"
        return LinkError(f"{self.name}: {why}" + (f": {detail[-1]}" if detail else ""))

    def write(self, data: bytes) -> None:
        try:
            self.process.stdin.write(data)
            self.process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            raise self._exited() from None

    def read(self, timeout: float) -> bytes:
        deadline = time.monotonic() + max(timeout, 0)
        while True:
            remaining = deadline - time.monotonic()
            if not self.selector.select(max(remaining, 0)):
                if remaining <= 0:
                    return b""
                continue
            try:
                data = os.read(self.process.stdout.fileno(), 65536)
            except BlockingIOError:
                continue
            if not data:
                raise self._exited()
            return data

    def close(self) -> None:
        self.selector.close()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            with contextlib.suppress(Exception):
                stream.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def open_link(spec: str, baud: int = DEFAULT_BAUD) -> Link:
    """A ``SerialLink`` for a path or pyserial URL, or a ``PipeLink`` for ``exec:COMMAND``."""
    if spec.startswith("exec:"):
        import shlex

        return PipeLink(shlex.split(spec[5:]))
    return SerialLink(spec, baud)


def connect_tcp(host: str, port: int, timeout: float, alive=lambda: True) -> SerialLink:
    """Connect to ``socket://host:port``, retrying while the server is not listening yet.

    No probe connection is made: a QEMU waiting with ``wait=on`` takes the first connection
    as its serial client.
    """
    deadline = time.monotonic() + timeout
    last: LinkError | None = None
    while time.monotonic() < deadline and alive():
        try:
            return SerialLink(f"socket://{host}:{port}")
        except LinkError as exc:
            last = exc
            time.sleep(0.02)
    raise LinkError(f"could not connect to {host}:{port} within {timeout:.0f} s ({last})")
