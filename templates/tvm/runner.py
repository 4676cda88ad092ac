#!/usr/bin/env python3
"""edgec's Linux runner: loads a TVM library and answers edgec's device protocol.

Copied into every ``edgec compile --backend tvm`` output folder as ``runner/runner.py``,
beside a copy of edgec's own ``edgec/protocol.py`` (the framing and the payload
layouts; the host uses the very same module). It needs only Python 3, numpy and the TVM
runtime, so it runs on the board, under qemu-aarch64 over a Debian arm64 root, or here.

    python3 runner/runner.py                        # protocol over stdin/stdout
    python3 runner/runner.py --serial /dev/ttyGS0   # protocol over a serial device
    python3 runner/runner.py --threads 2            # TVM's thread pool size (default: all cores)

Commands: INFO (model hash, I/O specs), SET_INPUT, RUN (wall-clock nanoseconds of the
inference), GET_OUTPUT, RESET. DUMP, PROFILE, LOOP and CRASH are answered UNKNOWN_COMMAND:
TVM fuses layers, so there is no per-step output to read back.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
# The runner only loads libraries: TVM's runtime library suffices (and is all an aarch64
# install without the compiler has).
os.environ.setdefault("TVM_USE_RUNTIME_LIB", "1")

from edgec import protocol as P  # noqa: E402  (the copy beside this file)

COUNT_NANOSECONDS = 2  # protocol.COUNT_UNITS: 0 instructions, 1 cycles, 2 nanoseconds
UNSUPPORTED = {
    P.Command.DUMP: "per-layer dumps are not available from a TVM library",
    P.Command.PROFILE: "per-layer profiles are not available from a TVM library",
    P.Command.LOOP: "the calibration loop is firmware-only",
    P.Command.CRASH: "the fault test is firmware-only",
}


class Model:
    """The compiled library in TVM's Relax virtual machine, with the manifest's I/O."""

    def __init__(self, out_dir: Path, manifest: dict, threads: int):
        import numpy as np
        import tvm
        from tvm.runtime.vm import VirtualMachine

        self.np, self.tvm = np, tvm
        self.inputs = manifest["inputs"]
        self.outputs = manifest["outputs"]
        self.in_shapes = manifest["io_shapes"]["inputs"]
        self.out_shapes = manifest["io_shapes"]["outputs"]
        path = out_dir / manifest["library"]
        library = tvm.runtime.load_module(str(path))
        self.vm = VirtualMachine(library, tvm.cpu())
        self.main = self.vm["main"]
        start_threads(path, threads)

    def nbytes(self, spec: dict, shape) -> int:
        count = 1
        for dim in shape:
            count *= int(dim)
        return count * self.np.dtype(spec["dtype"]).itemsize

    def run(self, buffers: list[bytearray]) -> tuple[list[bytes], int]:
        """Outputs (bytes, in the manifest's order) and the inference's nanoseconds."""
        np = self.np
        args = [
            self.tvm.runtime.tensor(np.frombuffer(bytes(buf), dtype=spec["dtype"]).reshape(shape))
            for buf, spec, shape in zip(buffers, self.inputs, self.in_shapes)
        ]
        start = time.perf_counter_ns()
        result = self.main(*args)
        elapsed = time.perf_counter_ns() - start
        results = [result] if hasattr(result, "numpy") else list(result)
        if len(results) != len(self.outputs):
            raise ValueError(f"{len(results)} outputs, the manifest lists {len(self.outputs)}")
        raw = []
        for value, spec, shape in zip(results, self.outputs, self.out_shapes):
            array = value.numpy()
            if str(array.dtype) != spec["dtype"] or array.size != self.nbytes(spec, shape) // (
                array.dtype.itemsize
            ):
                raise ValueError(
                    f"output {spec['name']} is {array.dtype}{list(array.shape)}, "
                    f"expected {spec['dtype']}{list(shape)}"
                )
            raw.append(np.ascontiguousarray(array).tobytes())
        return raw, elapsed


class Runner:
    """The protocol state machine (the firmware's ``fw_main.c`` in Python)."""

    def __init__(self, model: Model, manifest: dict, write):
        self.model, self.manifest, self.write = model, manifest, write
        self.decoder = P.Decoder()
        self.reset_state()

    def reset_state(self) -> None:
        self.buffers = [
            bytearray(self.model.nbytes(s, shape))
            for s, shape in zip(self.model.inputs, self.model.in_shapes)
        ]
        self.results = [
            bytes(self.model.nbytes(s, shape))
            for s, shape in zip(self.model.outputs, self.model.out_shapes)
        ]
        self.run_reply = b""
        self.last_run_seq = -1
        self.last_was_run = False

    def send(self, seq: int, cmd: int, payload: bytes = b"") -> None:
        self.write(P.encode_frame(seq, cmd, payload))

    def respond(self, seq: int, cmd: int, status: int, body: bytes = b"") -> None:
        self.send(seq, cmd | P.RESPONSE, bytes([status]) + body)

    def boot(self) -> None:
        target = self.manifest.get("target") or "linux"
        self.send(0, P.Command.BOOT, bytes([P.Status.OK, P.VERSION]) + target.encode())

    def feed(self, data: bytes) -> None:
        for frame in self.decoder.feed(data):
            self.handle(frame)

    def handle(self, frame: P.Frame) -> None:
        seq, cmd, payload = frame.seq, frame.cmd, frame.payload
        if cmd == P.Command.INFO:
            self.respond(seq, cmd, P.Status.OK, self.info())
        elif cmd == P.Command.SET_INPUT:
            self.set_input(seq, payload)
        elif cmd == P.Command.RUN:
            self.run(seq)
        elif cmd == P.Command.GET_OUTPUT:
            self.get_output(seq, payload)
        elif cmd == P.Command.RESET:
            self.respond(seq, cmd, P.Status.OK)
            self.reset_state()
            self.boot()
        else:
            why = UNSUPPORTED.get(cmd, "unknown command")
            self.respond(seq, cmd, P.Status.UNKNOWN_COMMAND, why.encode())
        self.last_was_run = cmd == P.Command.RUN

    def info(self) -> bytes:
        m = self.model
        body = struct.pack("<BBH", P.VERSION, COUNT_NANOSECONDS, P.MAX_PAYLOAD)
        body += struct.pack("<IIII", 0, 0, 0, 0)  # no arena, stack or clock to report
        body += struct.pack("<HBB", 0, len(m.inputs), len(m.outputs))
        body += self.manifest["model_sha256"].encode("ascii")
        for specs, shapes in ((m.inputs, m.in_shapes), (m.outputs, m.out_shapes)):
            for spec, shape in zip(specs, shapes):
                body += _text(spec["dtype"]) + struct.pack("<B", len(shape))
                body += b"".join(struct.pack("<I", int(d)) for d in shape)
                body += struct.pack("<I", m.nbytes(spec, shape))
        return body + _text(self.manifest.get("target") or "linux")

    def set_input(self, seq: int, payload: bytes) -> None:
        cmd = P.Command.SET_INPUT
        if len(payload) < 5:
            self.respond(seq, cmd, P.Status.BAD_LENGTH, b"port, offset, data")
            return
        port, offset = struct.unpack_from("<BI", payload)
        data = payload[5:]
        if port >= len(self.buffers) or offset + len(data) > len(self.buffers[port]):
            self.respond(seq, cmd, P.Status.BAD_RANGE, b"outside the input")
            return
        self.buffers[port][offset : offset + len(data)] = data
        self.respond(seq, cmd, P.Status.OK)

    def run(self, seq: int) -> None:
        cmd = P.Command.RUN
        self.respond(seq, cmd, P.Status.RUNNING)  # acknowledged first, as the firmware does
        if self.last_was_run and seq == self.last_run_seq:
            self.send(seq, cmd | P.RESPONSE, self.run_reply)  # a repeat: the cached answer
            return
        try:
            self.results, nanoseconds = self.model.run(self.buffers)
        except Exception as exc:  # the model's own failure goes back to the host, named
            self.run_reply = bytes([P.Status.MODEL_ERROR]) + str(exc)[:200].encode(
                "ascii", "replace"
            )
        else:
            self.run_reply = bytes([P.Status.OK]) + struct.pack(
                "<BQQIIII",
                COUNT_NANOSECONDS,
                nanoseconds,
                nanoseconds,
                0,
                0,
                P.crc32(b"".join(bytes(b) for b in self.buffers)),
                P.crc32(b"".join(self.results)),
            )
        self.last_run_seq = seq
        self.send(seq, cmd | P.RESPONSE, self.run_reply)

    def get_output(self, seq: int, payload: bytes) -> None:
        cmd = P.Command.GET_OUTPUT
        if len(payload) != 7:
            self.respond(seq, cmd, P.Status.BAD_LENGTH, b"port, offset, length")
            return
        port, offset, length = struct.unpack("<BIH", payload)
        if (
            port >= len(self.results)
            or offset + length > len(self.results[port])
            or length > P.MAX_PAYLOAD - 1
        ):
            self.respond(seq, cmd, P.Status.BAD_RANGE, b"outside the output")
            return
        self.respond(seq, cmd, P.Status.OK, self.results[port][offset : offset + length])


def start_threads(library: Path, threads: int) -> bool:
    """Run the loaded library's parallel loops on edgec's launcher with ``threads`` threads
    (``edgec_threads.c``, linked into the library); False for a library without it, which
    keeps TVM's thread pool (sized by TVM_NUM_THREADS)."""
    import ctypes

    start = getattr(ctypes.CDLL(str(library)), "edgec_threads_start", None)
    if start is None:
        return False
    start.argtypes, start.restype = [ctypes.c_int], ctypes.c_int
    if start(threads) != threads:
        raise RuntimeError(f"could not start {threads} threads")
    return True


def _text(value: str) -> bytes:
    raw = value.encode("ascii", "replace")[:255]
    return bytes([len(raw)]) + raw


def open_serial(path: str, baud: int) -> int:
    """A raw (no echo, no line editing) file descriptor on the serial device."""
    import termios
    import tty

    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    speed = getattr(termios, f"B{baud}", None)
    if speed is None:
        raise SystemExit(f"runner: unsupported baud rate {baud}")
    attrs = termios.tcgetattr(fd)
    attrs[4] = attrs[5] = speed
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
    return fd


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="edgec's TVM runner (device protocol)")
    parser.add_argument("--serial", metavar="DEVICE", help="serial device (default: stdio)")
    parser.add_argument("--baud", type=int, default=115200)
    parser.add_argument(
        "--threads", type=int, default=0, help="TVM runtime threads (default: all cores)"
    )
    args = parser.parse_args(argv)
    if args.threads < 0:
        parser.error("--threads must be positive")
    threads = args.threads or os.cpu_count() or 1
    # Read by TVM's thread pool when the runtime loads (Model imports tvm); unset, TVM reads
    # /sys for the core count at every parallel loop.
    os.environ["TVM_NUM_THREADS"] = str(threads)
    if args.serial:
        in_fd = out_fd = open_serial(args.serial, args.baud)
    else:
        # The protocol owns the real stdout; anything else printed (by Python or by a C
        # library) goes to stderr so that it cannot corrupt a frame.
        in_fd, out_fd = 0, os.dup(1)
        os.dup2(2, 1)
        sys.stdout = sys.stderr
    out_dir = HERE.parent
    manifest = json.loads((out_dir / "manifest.json").read_text())

    def write(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(out_fd, view) :]

    try:
        model = Model(out_dir, manifest, threads)
    except ImportError as exc:  # the last stderr line is what the host reports
        sys.stderr.write(
            f"runner: needs numpy and the TVM runtime (pip install apache-tvm): {exc}\n"
        )
        return 2
    runner = Runner(model, manifest, write)
    runner.boot()
    while True:
        data = os.read(in_fd, 65536)
        if not data:
            return 0
        runner.feed(data)


if __name__ == "__main__":
    sys.exit(main())
