"""A TCP relay that damages the byte stream between the host and an emulated board.

Used by tests/test_link_faults.py and bench/link.py: every byte each way is dropped,
corrupted (one bit flipped), duplicated or delayed at seeded rates, and the relay can stall
the device's answers after a number of bytes.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import numpy as np


class FaultProxy:
    """A TCP relay between the host and QEMU that damages the byte stream at seeded rates."""

    def __init__(
        self,
        upstream_port: int,
        seed: int,
        corrupt: float = 0.0,
        drop: float = 0.0,
        duplicate: float = 0.0,
        delay: float = 0.0,
        delay_seconds: float = 0.02,
        stall_after: int | None = None,
    ):
        self.upstream_port = upstream_port
        self.rates = (drop, corrupt, duplicate)
        self.delay, self.delay_seconds = delay, delay_seconds
        self.stall_after = stall_after  # device->host bytes forwarded before the device "stalls"
        self.rngs = [np.random.default_rng([seed, direction]) for direction in (0, 1)]
        self.injected = {"drop": 0, "corrupt": 0, "duplicate": 0, "delay": 0}
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.running = True
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self) -> None:
        try:
            client, _ = self.server.accept()
        except OSError:
            return
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sockets += [client, upstream]
        for src, dst, direction in ((client, upstream, 0), (upstream, client, 1)):
            thread = threading.Thread(target=self._pump, args=(src, dst, direction), daemon=True)
            thread.start()
            self.threads.append(thread)

    def _pump(self, src: socket.socket, dst: socket.socket, direction: int) -> None:
        rng, forwarded = self.rngs[direction], 0
        drop, corrupt, duplicate = self.rates
        while self.running:
            try:
                data = src.recv(4096)
            except OSError:
                break
            if not data:
                break
            out = bytearray()
            for byte in data:
                roll = rng.random()
                if roll < drop:
                    self.injected["drop"] += 1
                elif roll < drop + corrupt:
                    self.injected["corrupt"] += 1
                    out.append(byte ^ (1 << int(rng.integers(8))))
                elif roll < drop + corrupt + duplicate:
                    self.injected["duplicate"] += 1
                    out += bytes([byte, byte])
                else:
                    out.append(byte)
            if direction == 1 and self.stall_after is not None:
                out = out[: max(self.stall_after - forwarded, 0)]
                forwarded += len(out)
            if rng.random() < self.delay:
                self.injected["delay"] += 1
                time.sleep(self.delay_seconds)
            try:
                dst.sendall(out)
            except OSError:
                break
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.running = False
        for sock in [self.server, *self.sockets]:
            sock.close()
        for thread in self.threads:
            thread.join(timeout=2)
