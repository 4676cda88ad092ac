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
    """A pyserial port: a path like ``/dev/ttyACM0`` or a URL like ``rfc2217://host:port``."""

    def __init__(self, url: str, baud: int = DEFAULT_BAUD):
        import serial

        self.name = url
        try:
            self.port = serial.serial_for_url(url, baudrate=baud, timeout=0, write_timeout=10)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise LinkError(f"cannot open {url}: {exc}") from None

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
            # A port closed under our feet surfaces as TypeError/AttributeError.
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


class SocketLink(Link):
    """A TCP serial bridge, ``socket://host:port`` (QEMU's UART, ser2net, a board's Wi-Fi bridge).

    Not pyserial's ``socket://`` handler: its ``open()`` discards whatever has already arrived,
    and a QEMU machine that boots between our connect and that discard loses its BOOT frame.
    """

    def __init__(self, url: str, connect_timeout: float = 5.0):
        self.name = url
        host, port = _parse_socket_url(url)
        try:
            self.sock = socket.create_connection((host, port), timeout=connect_timeout)
        except OSError as exc:
            raise LinkError(f"cannot open {url}: {exc}") from None
        # Without TCP_NODELAY every small frame waits for Nagle: ~44 ms per round trip.
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(10.0)  # for writes; reads wait in select
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.sock, selectors.EVENT_READ)

    def write(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise LinkError(f"{self.name}: connection lost while writing ({exc})") from None

    def read(self, timeout: float) -> bytes:
        try:
            if not self.selector.select(max(timeout, 0)):
                return b""
            data = self.sock.recv(65536)
        except (OSError, ValueError) as exc:  # ValueError: the socket was closed under us
            raise LinkError(f"{self.name}: connection lost ({exc})") from None
        if not data:
            raise LinkError(f"{self.name}: connection lost (the other end closed it)")
        return data

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.selector.close()
        with contextlib.suppress(OSError):
            self.sock.close()


def _parse_socket_url(url: str) -> tuple[str, int]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "socket" or not parts.hostname or port is None:
        raise LinkError(f"cannot open {url}: expected socket://HOST:PORT")
    return parts.hostname, port


def open_link(spec: str, baud: int = DEFAULT_BAUD) -> Link:
    """A ``SocketLink`` for ``socket://``, a ``PipeLink`` for ``exec:COMMAND``, otherwise a
    ``SerialLink`` (a port path or another pyserial URL)."""
    if spec.startswith("exec:"):
        import shlex

        return PipeLink(shlex.split(spec[5:]))
    if spec.startswith("socket://"):
        return SocketLink(spec)
    return SerialLink(spec, baud)


def connect_tcp(host: str, port: int, timeout: float, alive=lambda: True) -> SocketLink:
    """Connect to ``socket://host:port``, retrying while the server is not listening yet.

    No probe connection is made: a QEMU waiting with ``wait=on`` takes the first connection
    as its serial client.
    """
    deadline = time.monotonic() + timeout
    last: LinkError | None = None
    while time.monotonic() < deadline and alive():
        try:
            return SocketLink(f"socket://{host}:{port}", connect_timeout=max(0.1, timeout))
        except LinkError as exc:
            last = exc
            time.sleep(0.02)
    raise LinkError(f"could not connect to {host}:{port} within {timeout:.0f} s ({last})")
