"""Links under stress: corrupted, dropped, duplicated and delayed bytes, a stalled device, a device
reset mid-run and QEMU killed mid-run. Results are identical to a clean run or the run stops with a
clear error naming the sample; a wrong number is never accepted."""

from __future__ import annotations

import socket
import struct
import sys
import threading
import time

import numpy as np
import pytest
from conftest import shared_path

from edgec import protocol as P
from edgec.compiler import CompileOptions, compile_model
from edgec.data import load_dataset
from edgec.errors import DeviceError, LinkError
from edgec.firmware import build_firmware
from edgec.harness import device as device_module
from edgec.harness import emulator as emulator_module
from edgec.harness.device import DeviceClient, DeviceOptions, DeviceResetError, run_on_device
from edgec.harness.emulator import Emulator
from edgec.harness.link import Link, PipeLink, SerialLink, is_serial_spec, open_link
from edgec.harness.validate import ValidateOptions
from tests.conftest import needs_tools
from tests.fault_proxy import FaultProxy

SAMPLES = 6
KWS_SCALE, KWS_ZERO = 0.5847029089927673, 83
needs_qemu = needs_tools("qemu-system-arm", "arm-none-eabi-gcc")


@pytest.fixture(scope="module")
def kws(tmp_path_factory):
    model = shared_path("models", "kws_dscnn", "kws_ref_model_float32.onnx")
    result = compile_model(model, tmp_path_factory.mktemp("faults") / "kws", CompileOptions())
    dataset = load_dataset(
        shared_path("data", "kws01"),
        result.manifest.inputs,
        None,
        "int8",
        None,
        KWS_SCALE,
        KWS_ZERO,
        SAMPLES,
    )
    return result, build_firmware(result.out_dir, "mps2-an386"), dataset


def options(device: str = "emulator") -> ValidateOptions:
    return ValidateOptions(data="unused", device=device, samples=SAMPLES)


@pytest.fixture(scope="module")
def clean(kws):
    result, _, dataset = kws
    run = run_on_device(result.out_dir, result.manifest, dataset, options())
    assert run.error is None and len(run.outputs) == SAMPLES
    return run


def assert_prefix_identical(run, clean) -> None:
    for got, want in zip(run.outputs, clean.outputs):
        assert all(np.array_equal(g, w) for g, w in zip(got, want))
    assert run.counts == clean.counts[: len(run.counts)]


@needs_qemu
@pytest.mark.parametrize(
    ("seed", "rates"),
    [
        (1, {"corrupt": 0.002}),
        (2, {"drop": 0.001}),
        (3, {"duplicate": 0.002}),
        (4, {"corrupt": 0.0007, "drop": 0.0007, "duplicate": 0.0007, "delay": 0.05}),
        (5, {"corrupt": 0.004, "drop": 0.004, "duplicate": 0.004}),  # ~1 byte in 80 damaged
    ],
)
def test_damaged_link_gives_identical_results_or_a_clear_error(kws, clean, seed, rates):
    heavy = sum(rates.values()) > 0.01
    result, build, dataset = kws
    fast = DeviceOptions(request_timeout=0.1, run_timeout=5.0)  # QEMU answers within ~2 ms
    with Emulator("mps2-an386", build.elf) as emulator:
        proxy = FaultProxy(emulator.port, seed, **rates)
        try:
            run = run_on_device(
                result.out_dir,
                result.manifest,
                dataset,
                options(f"socket://127.0.0.1:{proxy.port}"),
                fast,
            )
        finally:
            proxy.close()
    assert sum(proxy.injected.values()) > 0
    assert_prefix_identical(run, clean)
    if run.error is not None:  # allowed on a very noisy link, as a clear stop naming the sample
        assert heavy
        assert run.error.startswith(
            f"sample {len(run.outputs)} ({dataset.sample_names[len(run.outputs)]}): "
        )
        assert "no valid answer" in run.error
    else:
        assert len(run.outputs) == SAMPLES


@needs_qemu
def test_stalled_device_stops_with_an_error_naming_the_sample(kws, clean):
    result, build, dataset = kws
    fast = DeviceOptions(request_timeout=0.1, run_timeout=1.0, retries=3)
    with Emulator("mps2-an386", build.elf) as emulator:
        proxy = FaultProxy(emulator.port, 0, stall_after=600)  # about three samples' answers
        started = time.monotonic()
        try:
            run = run_on_device(
                result.out_dir,
                result.manifest,
                dataset,
                options(f"socket://127.0.0.1:{proxy.port}"),
                fast,
            )
        finally:
            proxy.close()
    elapsed = time.monotonic() - started
    done = len(run.outputs)
    assert 1 <= done < SAMPLES
    assert run.error.startswith(
        f"sample {done} ({dataset.sample_names[done]}): no valid answer to "
    )
    assert_prefix_identical(run, clean)
    assert elapsed < 10


@needs_qemu
def test_killing_qemu_mid_run_keeps_the_completed_samples(kws, clean, monkeypatch):
    result, _, dataset = kws
    started: list[Emulator] = []

    class Recorded(Emulator):
        def start(self, attempts: int = 3):
            started.append(self)
            return super().start(attempts)

    original_run = device_module.DeviceClient.run
    calls = []

    def run_and_kill(self):
        calls.append(1)
        if len(calls) == 4:  # QEMU dies while the 4th inference is under way
            threading.Timer(0.01, started[0].kill).start()
        return original_run(self)

    monkeypatch.setattr(emulator_module, "Emulator", Recorded)
    monkeypatch.setattr(device_module.DeviceClient, "run", run_and_kill)
    begin = time.monotonic()
    run = run_on_device(result.out_dir, result.manifest, dataset, options())
    elapsed = time.monotonic() - begin
    assert len(run.outputs) == 3
    assert (
        run.error.startswith(f"sample 3 ({dataset.sample_names[3]}): ")
        and "connection lost" in run.error
    )
    assert_prefix_identical(run, clean)
    assert elapsed < 10  # far below the 60 s inference timeout: a dead link is noticed at once
    assert not started[0].alive


@needs_qemu
def test_device_reset_mid_run_is_recovered_exactly(kws, clean, monkeypatch):
    result, build, dataset = kws
    with Emulator("mps2-an386", build.elf, monitor=True) as emulator:
        original_run = device_module.DeviceClient.run
        calls = []

        def reset_then_run(self):
            calls.append(1)
            if len(calls) == 3:
                emulator.monitor_command("system_reset")
            return original_run(self)

        monkeypatch.setattr(device_module.DeviceClient, "run", reset_then_run)
        run = run_on_device(
            result.out_dir, result.manifest, dataset, options(f"socket://127.0.0.1:{emulator.port}")
        )
    assert run.error is None and len(run.outputs) == SAMPLES
    assert len(calls) == SAMPLES + 1  # the interrupted sample was sent and run again
    assert_prefix_identical(run, clean)


# --- transports without a device ---------------------------------------------------------


def test_socket_link_keeps_bytes_sent_at_connect_and_reports_a_close():
    # A QEMU board may boot and send its BOOT frame before the host has finished opening the
    # link; those bytes must not be thrown away (pyserial's socket:// open() discards them).
    server = socket.create_server(("127.0.0.1", 0))
    address = server.getsockname()[1]

    def serve():
        peer, _ = server.accept()
        peer.sendall(b"\xa5boot")
        assert peer.recv(5) == b"hello"
        peer.close()

    thread = threading.Thread(target=serve)
    thread.start()
    with open_link(f"socket://127.0.0.1:{address}") as link:
        time.sleep(0.2)  # the bytes are in our receive buffer before the first read
        assert link.read(1.0) == b"\xa5boot"
        link.write(b"hello")
        thread.join(5)
        with pytest.raises(LinkError, match="connection lost"):
            while True:
                link.read(1.0)
    server.close()


def test_serial_url_loopback_and_errors():
    with SerialLink("loop://") as link:
        link.write(b"\xa5hello")
        assert link.read(0.5) == b"\xa5hello"
        assert link.read(0.05) == b""
    with pytest.raises(LinkError, match="cannot open /dev/edgec-no-such-port"):
        open_link("/dev/edgec-no-such-port")
    port = socket.create_server(("127.0.0.1", 0))
    address = port.getsockname()[1]
    port.close()
    with pytest.raises(LinkError, match="cannot open socket://"):
        open_link(f"socket://127.0.0.1:{address}")
    with pytest.raises(LinkError, match="expected socket://HOST:PORT"):
        open_link("socket://127.0.0.1")
    assert (
        is_serial_spec("/dev/ttyACM0")
        and is_serial_spec("socket://h:1")
        and is_serial_spec("exec:x")
    )
    assert not is_serial_spec("host") and not is_serial_spec("emulator")
    assert not is_serial_spec("ssh://pi@board")


def test_pipe_link_round_trip_and_exit():
    echo = (
        "import sys\n"
        "while chunk := sys.stdin.buffer.read1(64):\n"
        "    sys.stdout.buffer.write(chunk[::-1]); sys.stdout.flush()"
    )
    with PipeLink([sys.executable, "-c", echo]) as link:
        link.write(b"abc")
        got = b""
        deadline = time.monotonic() + 5
        while len(got) < 3 and time.monotonic() < deadline:
            got += link.read(0.5)
        assert got == b"cba"
    dying = PipeLink(
        [sys.executable, "-c", "import sys; sys.stderr.write('runner broke\\n'); sys.exit(3)"]
    )
    with pytest.raises(LinkError, match="exited with status 3: runner broke"):
        for _ in range(20):
            dying.read(0.5)
    dying.close()


class ScriptedDevice(Link):
    """A device simulated in Python: ``answer(frame, count)`` returns [(delay_s, bytes), …]."""

    def __init__(self, answer):
        self.answer, self.decoder = answer, P.Decoder()
        self.requests: list[P.Frame] = []
        self.writes: list[bytes] = []
        self.queue: list[tuple[float, bytes]] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        for frame in self.decoder.feed(data):
            self.requests.append(frame)
            now = time.monotonic()
            self.queue += [
                (now + delay, raw) for delay, raw in self.answer(frame, len(self.requests))
            ]
            self.queue.sort(key=lambda item: item[0])

    def read(self, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            if self.queue and self.queue[0][0] <= now:
                return self.queue.pop(0)[1]
            wake = min(deadline, self.queue[0][0]) if self.queue else deadline
            if now >= deadline:
                return b""
            time.sleep(max(wake - now, 0))

    def close(self) -> None:
        pass


RUN_BODY = struct.pack("<BBQQIIII", 0, 0, 1234, 1974, 300, 300, 1, 2)


def reply(frame: P.Frame, body: bytes) -> bytes:
    return P.encode_frame(frame.seq, frame.cmd | P.RESPONSE, body)


def test_lost_acknowledgement_of_a_long_run_waits_for_the_result():
    def answer(frame, count):
        ack = reply(frame, bytes([P.Status.RUNNING]))
        return [(0.0, ack[:-3]), (0.6, reply(frame, RUN_BODY))]  # ack cut short, result later

    device = ScriptedDevice(answer)
    client = DeviceClient(device, DeviceOptions(request_timeout=0.05, gap_timeout=0.02))
    result = client.run()
    assert result.count == 1234 and result.input_crc == 1
    assert len(device.requests) == 1  # not asked again while the device was busy


def test_nak_and_damaged_answers_are_retried_at_once():
    def answer(frame, count):
        if count == 1:
            return [(0.0, P.encode_frame(frame.seq, P.Command.NAK))]
        good = reply(frame, b"\x00")
        if count == 2:
            return [(0.0, good[:7] + bytes([good[7] ^ 0x10]) + good[8:])]  # bit flip
        return [(0.0, reply(P.Frame(frame.seq + 50, frame.cmd), b"\x00")), (0.0, good)]

    device = ScriptedDevice(answer)
    client = DeviceClient(device, DeviceOptions(request_timeout=5.0))
    started = time.monotonic()
    client.set_input(0, b"\x01\x02")
    assert time.monotonic() - started < 1.0  # far below the 5 s timeout
    assert [f.seq for f in device.requests] == [1, 1, 1]
    assert client.stats.naks == 1 and client.stats.corrupt_frames == 1
    assert client.stats.stale_frames == 1


def test_boot_and_fault_frames_are_errors_not_retries():
    boot = P.encode_frame(0, P.Command.BOOT, b"\x00\x01x")
    client = DeviceClient(ScriptedDevice(lambda frame, count: [(0.0, boot)]))
    with pytest.raises(DeviceResetError, match="rebooted"):
        client.get_info()
    fault = P.FaultReport(3, 1 << 19, 1 << 30, 0, 0, 0x2000, 0x3001, 0)
    raw = P.encode_frame(0, P.Command.FAULT, P.encode_fault(fault))
    client = DeviceClient(ScriptedDevice(lambda frame, count: [(0.0, raw)]))
    with pytest.raises(DeviceError, match=r"HardFault at PC 0x00002000.*NOCP"):
        client.run()


def test_silent_device_is_a_link_error_after_the_retries():
    device = ScriptedDevice(lambda frame, count: [])
    client = DeviceClient(device, DeviceOptions(request_timeout=0.01, retries=2))
    with pytest.raises(LinkError, match="no valid answer to INFO after 3 attempts"):
        client.get_info()
    # The third attempt starts with a frame's worth of zeros that unblocks a device waiting
    # for the rest of a frame whose damaged length passed the header check.
    assert len(device.requests) == 3
    flush = bytes(P.HEADER_BYTES + P.MAX_PAYLOAD + P.CRC_BYTES)
    assert [w.startswith(flush) for w in device.writes] == [False, False, True]
