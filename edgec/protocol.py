"""The device protocol: framing, CRCs and command payloads (pure bytes, no I/O).

A frame (all integers little-endian)::

    0      SYNC  0xA5
    1..2   LEN   payload bytes, at most MAX_PAYLOAD
    3      SEQ   chosen by the host (1..255); the device echoes it; 0 marks unsolicited frames
    4      CMD   a Command; a response carries CMD | 0x80
    5      HCRC  CRC-8 (poly 0x07, init 0) of bytes 1..4, so a corrupted LEN is caught at once
    6..    payload
    last 4 CRC-32 (IEEE 802.3, as zlib.crc32) of bytes 1 .. end of payload

A response payload starts with a Status byte. When the device receives a frame whose header
is intact but whose CRC-32 is not, it answers NAK with that frame's sequence number, so the
host can send it again at once instead of waiting for a timeout. The decoder scans for SYNC,
checks the header CRC and then the frame CRC; on any failure it drops the SYNC byte and
rescans what follows, so it resynchronises on garbage, truncated and duplicated frames and
never hands out a frame whose CRC is wrong. ``templates/firmware/fw_link.c`` implements the
same framing in C.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from enum import IntEnum

from edgec.errors import DeviceError, LinkError

SYNC = 0xA5
VERSION = 1
HEADER_BYTES = 6
CRC_BYTES = 4
MAX_PAYLOAD = 1024
RESPONSE = 0x80


class Command(IntEnum):
    INFO = 0x01
    SET_INPUT = 0x02
    RUN = 0x03
    GET_OUTPUT = 0x04
    DUMP = 0x05
    RESET = 0x06
    LOOP = 0x07  # run a loop of known length: checks the instruction counter
    CRASH = 0x08  # execute an undefined instruction: checks the fault report
    PROFILE = 0x09  # run once, counting each schedule step
    STATE_RESET = 0x0A  # model_reset(): restart a stateful model's recurrent state
    NAK = 0x7D  # from the device: a frame with this sequence number arrived damaged
    BOOT = 0x7E  # unsolicited, sent once after every reset
    FAULT = 0x7F  # unsolicited or in answer to anything after a fault


class Status(IntEnum):
    OK = 0
    UNKNOWN_COMMAND = 1
    BAD_LENGTH = 2
    BAD_RANGE = 3
    MODEL_ERROR = 4
    NOT_READY = 5
    RUNNING = 6  # interim answer to RUN/DUMP/LOOP: accepted, the result follows


# 2: wall-clock nanoseconds, from the Linux (TVM) runner; under user-mode QEMU that is
# emulated time, not the board's speed
COUNT_UNITS = {0: "instructions", 1: "cycles", 2: "nanoseconds"}


def crc8(data: bytes) -> int:
    """CRC-8, polynomial x^8+x^2+x+1 (0x07), initial value 0, no reflection."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def crc32(data: bytes) -> int:
    """CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as zlib computes it."""
    return zlib.crc32(data) & 0xFFFFFFFF


@dataclass(frozen=True)
class Frame:
    seq: int
    cmd: int
    payload: bytes = b""


def encode_frame(seq: int, cmd: int, payload: bytes = b"") -> bytes:
    """The bytes of one frame."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    if not (0 <= seq <= 255 and 0 <= cmd <= 255):
        raise ValueError("seq and cmd are bytes")
    head = struct.pack("<HBB", len(payload), seq, cmd)
    body = head + bytes([crc8(head)]) + bytes(payload)
    return bytes([SYNC]) + body + struct.pack("<I", crc32(body))


@dataclass
class DecoderStats:
    frames: int = 0
    dropped_bytes: int = 0  # bytes skipped while looking for a frame
    bad_header: int = 0
    bad_crc: int = 0


class Decoder:
    """Streaming frame decoder: feed any chunks of bytes, get whole, checked frames."""

    def __init__(self, max_payload: int = MAX_PAYLOAD):
        self.max_payload = max_payload
        self.buffer = bytearray()
        self.stats = DecoderStats()

    def feed(self, data: bytes) -> list[Frame]:
        self.buffer += data
        frames = []
        while (frame := self._next()) is not None:
            frames.append(frame)
        return frames

    def skip_pending(self) -> list[Frame]:
        """Give up on a partly received frame (its LEN may be corrupt) and rescan after it."""
        if self.buffer:
            self._drop(1)
        return self.feed(b"")

    @property
    def errors(self) -> int:
        return self.stats.bad_header + self.stats.bad_crc

    def _drop(self, count: int) -> None:
        del self.buffer[:count]
        self.stats.dropped_bytes += count

    def _next(self) -> Frame | None:
        buf = self.buffer
        while buf:
            start = buf.find(SYNC)
            if start < 0:
                self._drop(len(buf))
                return None
            if start:
                self._drop(start)
            if len(buf) < HEADER_BYTES:
                return None
            length, seq, cmd, hcrc = struct.unpack_from("<HBBB", buf, 1)
            if hcrc != crc8(bytes(buf[1:5])) or length > self.max_payload:
                self.stats.bad_header += 1
                self._drop(1)
                continue
            total = HEADER_BYTES + length + CRC_BYTES
            if len(buf) < total:
                return None
            (crc,) = struct.unpack_from("<I", buf, HEADER_BYTES + length)
            if crc != crc32(bytes(buf[1 : HEADER_BYTES + length])):
                self.stats.bad_crc += 1
                self._drop(1)
                continue
            frame = Frame(seq, cmd, bytes(buf[HEADER_BYTES : HEADER_BYTES + length]))
            del buf[:total]
            self.stats.frames += 1
            return frame
        return None


# --- request payloads -------------------------------------------------------------------


def set_input_payload(port: int, offset: int, data: bytes) -> bytes:
    return struct.pack("<BI", port, offset) + bytes(data)


def get_output_payload(port: int, offset: int, length: int) -> bytes:
    return struct.pack("<BIH", port, offset, length)


def dump_payload(step: int, offset: int, length: int) -> bytes:
    return struct.pack("<HIH", step, offset, length)


def loop_payload(iterations: int) -> bytes:
    return struct.pack("<I", iterations)


# --- responses --------------------------------------------------------------------------


class NotReadyError(DeviceError):
    """The device cannot answer yet: the last run overwrote its inputs (zero-copy I/O: they
    live in the arena), or there is no result to read. Sending the inputs again cures it."""


def response_body(frame: Frame, cmd: int) -> bytes:
    """The payload after the status byte; ``DeviceError`` for an error status or a fault
    (``NotReadyError`` for NOT_READY)."""
    if frame.cmd == Command.FAULT:
        raise DeviceError(f"the device faulted: {parse_fault(frame.payload).describe()}")
    if frame.cmd != cmd | RESPONSE:
        raise LinkError(
            f"expected a response to command 0x{cmd:02x}, got command 0x{frame.cmd:02x}"
        )
    if not frame.payload:
        raise LinkError(f"empty response to command 0x{cmd:02x}")
    status, body = frame.payload[0], frame.payload[1:]
    if status != Status.OK:
        name = Status(status).name if status in Status._value2member_map_ else str(status)
        detail = body.decode("ascii", errors="replace").strip("\0")
        kind = NotReadyError if status == Status.NOT_READY else DeviceError
        raise kind(
            f"{Command(cmd).name} failed on the device: {name}" + (f" ({detail})" if detail else "")
        )
    return body


class _Reader:
    """Sequential unpacking with a clear error when a payload is short."""

    def __init__(self, data: bytes, what: str):
        self.data, self.pos, self.what = data, 0, what

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise LinkError(f"{self.what} payload too short ({len(self.data)} bytes)")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values if len(values) > 1 else values[0]

    def text(self) -> str:
        size = self.take("<B")
        raw = self.take(f"<{size}s") if size else b""
        return raw.decode("ascii", errors="replace")


@dataclass(frozen=True)
class PortInfo:
    dtype: str
    shape: tuple[int, ...]
    nbytes: int


@dataclass(frozen=True)
class DeviceInfo:
    """What INFO reports: the firmware's model, buffers and measurement."""

    version: int
    count_unit: str
    max_payload: int
    arena_bytes: int
    stack_reserved: int
    stack_peak: int
    clock_hz: int
    num_steps: int
    model_sha256: str
    inputs: tuple[PortInfo, ...]
    outputs: tuple[PortInfo, ...]
    target: str


def _port(reader: _Reader) -> PortInfo:
    dtype = reader.text()
    rank = reader.take("<B")
    shape = tuple(reader.take("<I") for _ in range(rank))
    return PortInfo(dtype, shape, reader.take("<I"))


def parse_info(body: bytes) -> DeviceInfo:
    r = _Reader(body, "INFO")
    version, unit, max_payload = r.take("<BBH")
    arena, stack_reserved, stack_peak, clock = r.take("<IIII")
    steps, n_in, n_out = r.take("<HBB")
    sha = r.take("<64s").decode("ascii", errors="replace")
    inputs = tuple(_port(r) for _ in range(n_in))
    outputs = tuple(_port(r) for _ in range(n_out))
    target = r.text()
    return DeviceInfo(
        version,
        COUNT_UNITS.get(unit, f"unit{unit}"),
        max_payload,
        arena,
        stack_reserved,
        stack_peak,
        clock,
        steps,
        sha,
        inputs,
        outputs,
        target,
    )


@dataclass(frozen=True)
class RunResult:
    count_unit: str
    count: int  # instructions (QEMU) or cycles (DWT) for one inference
    ticks: int  # raw timer ticks behind ``count``
    stack_bytes: int  # stack high-water mark of this inference (painted before it)
    stack_peak: int  # the highest mark since boot
    input_crc: int  # CRC-32 of the input bytes the device ran on
    output_crc: int  # CRC-32 of the output bytes it produced


def parse_run(body: bytes) -> RunResult:
    unit, count, ticks, stack, peak, crc_in, crc_out = _Reader(body, "RUN").take("<BQQIIII")
    return RunResult(
        COUNT_UNITS.get(unit, f"unit{unit}"), count, ticks, stack, peak, crc_in, crc_out
    )


@dataclass
class Profile:
    count_unit: str
    total_steps: int  # steps in the model's schedule
    counts: list[int]  # instructions or cycles of the steps asked for, in order


def parse_profile(body: bytes) -> Profile:
    unit, n, total = _Reader(body, "PROFILE").take("<BBH")
    if len(body) != 4 + 4 * n:
        raise LinkError(f"PROFILE answer of {len(body)} bytes for {n} steps")
    counts = list(struct.unpack_from(f"<{n}I", body, 4))
    return Profile(COUNT_UNITS.get(unit, f"unit{unit}"), total, counts)


def parse_dump(body: bytes) -> tuple[int, int, bytes]:
    """(bytes of the step's whole output, CRC-32 of the inputs it ran on, this chunk)."""
    total, input_crc = _Reader(body, "DUMP").take("<II")
    return total, input_crc, body[8:]


_FAULT_BITS = [
    (0, "IACCVIOL instruction access violation"),
    (1, "DACCVIOL data access violation"),
    (3, "MUNSTKERR"),
    (4, "MSTKERR"),
    (5, "MLSPERR"),
    (7, "MMARVALID"),
    (8, "IBUSERR instruction bus error"),
    (9, "PRECISERR precise data bus error"),
    (10, "IMPRECISERR imprecise data bus error"),
    (11, "UNSTKERR"),
    (12, "STKERR"),
    (13, "LSPERR"),
    (15, "BFARVALID"),
    (16, "UNDEFINSTR undefined instruction"),
    (17, "INVSTATE invalid state"),
    (18, "INVPC invalid PC"),
    (19, "NOCP no coprocessor (FPU code on a core without FPU, or FPU off)"),
    (20, "STKOF stack overflow"),
    (24, "UNALIGNED unaligned access"),
    (25, "DIVBYZERO division by zero"),
]
_EXCEPTIONS = {3: "HardFault", 4: "MemManage", 5: "BusFault", 6: "UsageFault", 7: "SecureFault"}
# A RISC-V report: exception = RISCV_TRAP | mcause, cfsr = mtval, pc = mepc, lr = ra.
RISCV_TRAP = 0x10000
_RISCV_CAUSES = {
    0: "instruction address misaligned",
    1: "instruction access fault",
    2: "illegal instruction",
    3: "breakpoint",
    4: "load address misaligned",
    5: "load access fault",
    6: "store address misaligned",
    7: "store access fault",
    11: "environment call from M-mode",
}


@dataclass(frozen=True)
class FaultReport:
    exception: int
    cfsr: int
    hfsr: int
    mmfar: int
    bfar: int
    pc: int
    lr: int
    xpsr: int

    @property
    def riscv(self) -> bool:
        return bool(self.exception & RISCV_TRAP)

    def causes(self) -> list[str]:
        if self.riscv:
            return []
        return [text for bit, text in _FAULT_BITS if self.cfsr >> bit & 1]

    def describe(self) -> str:
        if self.riscv:
            cause = self.exception & 0xFFFF
            name = _RISCV_CAUSES.get(cause, f"mcause {cause}")
            return (
                f"RISC-V trap: {name} at PC 0x{self.pc:08x} (RA 0x{self.lr:08x}); "
                f"mtval 0x{self.cfsr:08x}"
            )
        kind = _EXCEPTIONS.get(self.exception, f"exception {self.exception}")
        causes = ", ".join(c for c in self.causes() if "VALID" not in c) or "no CFSR bit set"
        text = (
            f"{kind} at PC 0x{self.pc:08x} (LR 0x{self.lr:08x}): {causes}; CFSR 0x{self.cfsr:08x}"
        )
        text += f" HFSR 0x{self.hfsr:08x}"
        if self.cfsr >> 7 & 1:
            text += f" MMFAR 0x{self.mmfar:08x}"
        if self.cfsr >> 15 & 1:
            text += f" BFAR 0x{self.bfar:08x}"
        return text


def parse_fault(payload: bytes) -> FaultReport:
    return FaultReport(*_Reader(payload, "FAULT").take("<IIIIIIII"))


def encode_fault(report: FaultReport) -> bytes:
    """The FAULT payload (the firmware's layout), for tests and simulated devices."""
    return struct.pack(
        "<IIIIIIII",
        report.exception,
        report.cfsr,
        report.hfsr,
        report.mmfar,
        report.bfar,
        report.pc,
        report.lr,
        report.xpsr,
    )
