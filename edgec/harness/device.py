"""Validation runs on a device over the edgec protocol: an emulated board or a serial port.

``DeviceClient`` turns the protocol into calls with retries: every command may be repeated
safely (INFO, GET_OUTPUT and DUMP only read; SET_INPUT writes the same bytes to the same
place; a repeated RUN with the same sequence number is answered from the device's cache),
so a frame lost or corrupted on the way is simply asked for again. A fault report, an error
status or a device that rebooted is never retried blindly: it is a ``DeviceError``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import struct
import sys
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgec import protocol as P
from edgec.artifact import Manifest
from edgec.errors import BuildError, DeviceError, EdgecError, LinkError
from edgec.firmware import build_firmware
from edgec.harness import emulator
from edgec.harness.link import Link, open_link
from edgec.harness.report import load_memory
from edgec.harness.run import DeviceRun, device_inputs, model_outputs, to_device
from edgec.harness.stateful import calls, resets
from edgec.targets import Target, load_target

log = logging.getLogger(__name__)


MIN_CHUNK = 64


class DeviceResetError(DeviceError):
    """The device rebooted while a request was outstanding (its inputs are gone)."""


@dataclass
class DeviceOptions:
    request_timeout: float = 0.25  # seconds of latency allowed for any answer (doubled per retry)
    bytes_per_second: float = 4000.0  # slowest expected link speed, for the transfer time
    gap_timeout: float = 0.05  # silence inside a frame that means a byte was lost
    run_timeout: float = 60.0  # seconds for one inference, once the device has acknowledged it
    retries: int = 6  # repeats of one request after a timeout or a damaged frame
    # Further repeats while answers keep arriving damaged: a noisy link is alive, and a long
    # answer on it may need many tries; a silent one stops after ``retries``.
    noisy_retries: int = 40
    chunk: int = 512  # bytes per SET_INPUT frame, halved on a noisy link (reads: whole frames)
    connect_timeout: float = 10.0
    baud: int = 115200


@dataclass
class LinkStats:
    requests: int = 0
    retries: int = 0
    corrupt_frames: int = 0
    stale_frames: int = 0
    naks: int = 0


class DeviceClient:
    """Requests and answers over a ``Link``, with sequence numbers and retries."""

    def __init__(self, link: Link, options: DeviceOptions | None = None):
        self.link = link
        self.options = options or DeviceOptions()
        self.decoder = P.Decoder()
        self.seq = 0
        self.stats = LinkStats()
        self.boots = 0  # BOOT frames seen
        self.info: P.DeviceInfo | None = None
        self.pending: list[P.Frame] = []  # frames decoded but not yet looked at
        self.upload_chunk = self.options.chunk

    @property
    def max_payload(self) -> int:
        """The largest frame payload both ends take (a small board reports a smaller one)."""
        return min(self.info.max_payload, P.MAX_PAYLOAD) if self.info else P.MAX_PAYLOAD

    def _next_seq(self) -> int:
        self.seq = self.seq % 255 + 1  # 1..255; 0 marks unsolicited frames
        return self.seq

    def _timeout(self, nbytes: int, attempt: int) -> float:
        """How long to wait for an answer: latency plus transfer time, doubled per retry."""
        base = self.options.request_timeout + nbytes / self.options.bytes_per_second
        return base * 2 ** min(attempt, 3)

    def request(
        self, cmd: P.Command, payload: bytes = b"", long_running: bool = False, persist: bool = True
    ) -> bytes:
        """Send ``cmd`` and return the body of its answer, retrying where that is safe.

        ``long_running`` commands (RUN, DUMP, PROFILE, LOOP) are always acknowledged at once
        with a RUNNING status, even when the device answers from its last reply; only then
        does the host wait up to ``run_timeout`` for the result. ``persist``: keep
        trying (``noisy_retries``) while damaged answers show the link is alive; a caller that
        can shrink its request instead (SET_INPUT) passes False.
        """
        seq = self._next_seq()
        frame = P.encode_frame(seq, cmd, payload)
        self.stats.requests += 1
        silent = 0
        attempt = 0
        while True:
            wire = frame
            if attempt:
                self.stats.retries += 1
                log.debug("retrying %s (seq %d), attempt %d", cmd.name, seq, attempt + 1)
                self.pending += self.decoder.skip_pending()
            if silent >= 2:
                # Twice no answer at all: the device may be waiting for the rest of a frame whose
                # corrupted LEN passed the header check. A frame's worth of zeros (never SYNC)
                # completes that frame, which then fails its CRC.
                wire = bytes(P.HEADER_BYTES + P.MAX_PAYLOAD + P.CRC_BYTES) + frame
            self.link.write(wire)
            answer, heard = self._await(seq, self._timeout(len(wire) + 64, attempt), long_running)
            if answer is not None:
                return P.response_body(answer, cmd)
            silent = 0 if heard else silent + 1
            attempt += 1
            # Three silent attempts in a row: a dead link, not a noisy one.
            noisy = persist and silent < 3
            limit = self.options.retries + (self.options.noisy_retries if noisy else 0)
            if attempt > limit:
                break
        raise LinkError(
            f"no valid answer to {cmd.name} after {attempt} attempts "
            f"({self.decoder.errors} corrupted frames so far)"
        )

    def _await(self, seq: int, timeout: float, long_running: bool) -> tuple[P.Frame | None, bool]:
        """(the answer with sequence number ``seq`` or None to retry, whether any byte came).

        A damaged frame normally means "ask again now". For a long-running command whose
        RUNNING acknowledgement has not arrived yet, the damaged frame was most likely that
        acknowledgement: the device is busy, so the host waits for the result instead.
        """
        deadline = time.monotonic() + timeout
        errors = self.decoder.errors
        heard, last_byte = bool(self.pending), time.monotonic()
        acked = False

        def damaged() -> bool:
            """Note a damaged frame; True when the caller should retry now."""
            nonlocal acked, deadline
            if long_running and not acked:
                acked, deadline = True, time.monotonic() + self.options.run_timeout
                return False
            return True

        while True:
            now = time.monotonic()
            if now >= deadline:
                return None, heard
            if self.decoder.buffer and now - last_byte > self.options.gap_timeout:
                # A frame stopped half-way: a byte was lost.
                self.pending += self.decoder.skip_pending()
                last_byte = now
                if damaged():
                    return None, True
            data = self.link.read(min(deadline - now, self.options.gap_timeout))
            if data:
                heard, last_byte = True, time.monotonic()
            frames, self.pending = self.pending + self.decoder.feed(data), []
            for index, frame in enumerate(frames):
                if frame.seq not in (0, seq):
                    self.stats.stale_frames += 1  # an answer to an earlier, repeated request
                    continue
                rest = frames[index + 1 :]
                if frame.cmd == P.Command.BOOT:
                    self.boots += 1
                    self.pending = rest
                    raise DeviceResetError("the device rebooted (it lost its inputs)")
                if frame.cmd == P.Command.FAULT:
                    self.pending = rest
                    raise DeviceError(
                        f"the device faulted: {P.parse_fault(frame.payload).describe()}"
                    )
                if frame.cmd == P.Command.NAK:  # our request arrived damaged: send it again now
                    self.stats.naks += 1
                    self.pending = rest
                    return None, True
                if frame.seq != seq:
                    continue
                if long_running and frame.payload[:1] == bytes([P.Status.RUNNING]):
                    acked, deadline = True, time.monotonic() + self.options.run_timeout
                    continue
                self.pending = rest
                return frame, True
            if self.decoder.errors != errors:
                self.stats.corrupt_frames += self.decoder.errors - errors
                errors = self.decoder.errors
                if damaged():
                    # Give the rest of the damaged answer a moment to arrive, then ask again.
                    deadline = min(deadline, time.monotonic() + self.options.gap_timeout)

    def wait_boot(self, timeout: float) -> None:
        """Wait for the BOOT frame a freshly started device sends."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frames, self.pending = self.pending, []
            frames += self.decoder.feed(self.link.read(min(0.25, deadline - time.monotonic())))
            for index, frame in enumerate(frames):
                if frame.cmd == P.Command.BOOT:
                    self.boots += 1
                    self.pending = frames[index + 1 :]
                    return
                if frame.cmd == P.Command.FAULT and frame.seq == 0:
                    raise DeviceError(
                        f"the device faulted: {P.parse_fault(frame.payload).describe()}"
                    )
        raise LinkError(f"the device sent no BOOT frame within {timeout:g} s")

    # --- commands -------------------------------------------------------------------

    def get_info(self) -> P.DeviceInfo:
        self.info = P.parse_info(self.request(P.Command.INFO))
        return self.info

    def set_input(self, port: int, data: bytes) -> None:
        offset = 0
        while offset < len(data) or offset == 0:
            step = min(self.upload_chunk, self.max_payload - 5)
            retries = self.stats.retries
            try:
                self.request(
                    P.Command.SET_INPUT,
                    P.set_input_payload(port, offset, data[offset : offset + step]),
                    persist=self.upload_chunk <= MIN_CHUNK,  # else a smaller chunk is tried
                )
            except LinkError:
                if self.upload_chunk <= MIN_CHUNK:
                    raise
                self.upload_chunk //= 2  # the same bytes again in smaller frames (idempotent)
                continue
            if self.stats.retries != retries:
                # A noisy link: smaller frames are likelier to arrive whole.
                self.upload_chunk = max(MIN_CHUNK, self.upload_chunk // 2)
            offset += step
            if not data:
                break

    def run(self) -> P.RunResult:
        return P.parse_run(self.request(P.Command.RUN, long_running=True))

    def state_reset(self) -> None:
        """model_reset(): a stateful model's recurrent state back to its initial value."""
        self.request(P.Command.STATE_RESET)

    def profile(self) -> P.Profile:
        """Run the model once on its current inputs and count every schedule step."""
        steps: list[int] = []
        while True:
            body = self.request(P.Command.PROFILE, struct.pack("<H", len(steps)), long_running=True)
            part = P.parse_profile(body)
            steps += part.counts
            if len(steps) >= part.total_steps or not part.counts:
                return P.Profile(part.count_unit, part.total_steps, steps)

    def get_output(self, port: int, nbytes: int) -> bytes:
        step = self.max_payload - 1
        parts = []
        for offset in range(0, nbytes, step):
            length = min(step, nbytes - offset)
            part = self.request(P.Command.GET_OUTPUT, P.get_output_payload(port, offset, length))
            if len(part) != length:
                raise LinkError(f"GET_OUTPUT returned {len(part)} bytes, asked for {length}")
            parts.append(part)
        return b"".join(parts)

    def dump(self, step: int) -> tuple[bytes, int]:
        """The output of schedule step ``step`` for the current inputs, and their CRC-32."""
        chunk = self.max_payload - 9
        total, crc, _ = P.parse_dump(
            self.request(P.Command.DUMP, P.dump_payload(step, 0, 0), long_running=True)
        )
        parts = []
        for offset in range(0, total, chunk):
            length = min(chunk, total - offset)
            size, part_crc, part = P.parse_dump(  # acknowledged first, as every DUMP
                self.request(
                    P.Command.DUMP, P.dump_payload(step, offset, length), long_running=True
                )
            )
            if size != total or part_crc != crc or len(part) != length:
                raise DeviceResetError(f"the output of step {step} changed while it was read")
            parts.append(part)
        return b"".join(parts), crc

    def loop(self, iterations: int) -> tuple[str, int, int]:
        """Run the firmware's calibration loop: (unit, count, ticks)."""
        body = self.request(P.Command.LOOP, P.loop_payload(iterations), long_running=True)
        unit, count, ticks = P._Reader(body, "LOOP").take("<BQQ")
        return P.COUNT_UNITS.get(unit, str(unit)), count, ticks

    def reset(self) -> None:
        """Ask for a reboot and wait for the device to come back."""
        self.request(P.Command.RESET)
        self.wait_boot(self.options.connect_timeout)


# --- checks -----------------------------------------------------------------------------


def check_info(info: P.DeviceInfo, manifest: Manifest) -> None:
    """Refuse a device that does not run the compiled model (hash, I/O, arena)."""
    if info.model_sha256 != manifest.model_sha256:
        raise DeviceError(
            f"the device runs a different model (SHA-256 {info.model_sha256[:16]}…) than the "
            f"compiled one ({manifest.model_sha256[:16]}…); flash the firmware built for this "
            "output folder"
        )
    for kind, ports, specs in (
        ("inputs", info.inputs, manifest.inputs),
        ("outputs", info.outputs, manifest.outputs),
    ):
        if len(ports) != len(specs):
            raise DeviceError(
                f"the device has {len(ports)} {kind}, the compiled model {len(specs)}"
            )
        for port, spec in zip(ports, specs):
            dtype, shape = str(np.dtype(spec.dtype)), list(spec.api_shape)
            if port.dtype != dtype or port.nbytes != spec.nbytes or list(port.shape) != shape:
                raise DeviceError(
                    f"device {kind[:-1]} {spec.name!r} is {port.dtype}{list(port.shape)}, "
                    f"the compiled model expects {dtype}{shape}"
                )
    if manifest.arena_bytes is not None and info.arena_bytes != manifest.arena_bytes:
        raise DeviceError(
            f"device arena {info.arena_bytes} B differs from the compiled {manifest.arena_bytes} B"
        )


# --- validation runs ---------------------------------------------------------------------


@dataclass
class SampleResult:
    outputs: list[np.ndarray]
    run: P.RunResult
    layers: list[np.ndarray] = field(default_factory=list)


def step_specs(memory: dict) -> list[tuple[np.dtype, tuple[int, ...]]]:
    """Dtype and shape of every schedule step's output, from memory.json."""
    tensors = {t["buffer"]: t for t in memory["tensors"]}
    return [
        (np.dtype(tensors[s["output"]]["dtype"]), tuple(tensors[s["output"]]["shape"]))
        for s in memory["steps"]
    ]


def run_sample(
    client: DeviceClient,
    manifest: Manifest,
    inputs: list[np.ndarray],
    layers: list[tuple[np.dtype, tuple[int, ...]]] | None = None,
) -> SampleResult:
    """Upload one sample, run it, read back its outputs (and every step's output if asked).

    The CRC-32s the device reports prove that it ran on exactly these inputs and that the
    outputs read back came from that run; otherwise it rebooted or lost data in between.
    The inputs live in the device's arena, which a run reuses: a DUMP the device answers
    NOT_READY gets them sent again.
    """
    sent = [np.ascontiguousarray(a).tobytes() for a in inputs]
    input_crc = P.crc32(b"".join(sent))
    upload_inputs(client, sent)
    run = client.run()
    if run.input_crc != input_crc:
        raise DeviceResetError("the device ran on other inputs than were sent (it rebooted?)")
    outputs, raw_outputs = [], []
    for port, spec in enumerate(manifest.outputs):
        raw = client.get_output(port, spec.nbytes)
        raw_outputs.append(raw)
        outputs.append(np.frombuffer(raw, dtype=spec.dtype).reshape(spec.api_shape))
    if P.crc32(b"".join(raw_outputs)) != run.output_crc:
        raise DeviceResetError("the outputs read back differ from those the run produced (reboot?)")
    dumps = []
    for step, (dtype, shape) in enumerate(layers or []):
        raw, crc = again_with_inputs(client, sent, lambda step=step: client.dump(step))
        if crc != input_crc:
            raise DeviceResetError(f"step {step} was computed from other inputs than were sent")
        if len(raw) != math.prod(shape) * dtype.itemsize:
            raise DeviceError(
                f"step {step} output is {len(raw)} B on the device, {dtype}{list(shape)} expected"
            )
        dumps.append(np.frombuffer(raw, dtype=dtype).reshape(shape))
    return SampleResult(outputs, run, dumps)


def upload_inputs(client: DeviceClient, sent: list[bytes]) -> None:
    for port, data in enumerate(sent):
        client.set_input(port, data)


def again_with_inputs(client: DeviceClient, sent: list[bytes], request):
    """``request()``; if the device says the last run overwrote its inputs (they share the
    arena with the layers), send them again and repeat it once."""
    try:
        return request()
    except P.NotReadyError:
        upload_inputs(client, sent)
        return request()


def run_on_device(
    out_dir: Path,
    manifest: Manifest,
    dataset,
    options,
    device_options: DeviceOptions | None = None,
    target: Target | None = None,
) -> DeviceRun:
    """``--device emulator`` or a serial port: run every sample of ``dataset`` on the device.

    Returns a ``DeviceRun``; when the device or link fails it holds the samples completed so
    far and ``error`` names the failing sample.
    """
    out_dir = Path(out_dir)
    device_options = device_options or DeviceOptions()
    target = target or load_target(manifest.target)
    emulated = options.device == "emulator"
    build = None
    if emulated:
        build = build_firmware(out_dir, target, manifest=manifest)
    else:
        try:  # only for the memory figures: the board already runs its firmware
            build = build_firmware(out_dir, target, manifest=manifest)
        except BuildError as exc:
            log.warning("could not build the firmware for its memory figures: %s", exc)
    run = DeviceRun(outputs=[], device=f"emulator:{target.name}" if emulated else options.device)
    if build is not None:
        run.memory.update(
            flash_bytes=build.flash_bytes,
            ram_bytes=build.ram_bytes,
            firmware_arena_bytes=build.arena_bytes,
            stack_reserved=build.stack_reserved,
        )
    layers = step_specs(load_memory(out_dir)) if options.per_layer else None
    with ExitStack() as stack:
        if emulated:
            qemu = stack.enter_context(emulator.Emulator(target, build.elf))
            link = qemu.connect(device_options.connect_timeout)
        else:
            link = stack.enter_context(open_link(options.device, device_options.baud))
        client = DeviceClient(link, device_options)
        if emulated:
            client.wait_boot(device_options.connect_timeout)
        try:
            info = client.get_info()
        except DeviceResetError:  # a board that just started (opening its port may reset it)
            info = client.get_info()
        check_info(info, manifest)
        stack_peak = run_samples(client, manifest, dataset, options, run, layers)
        run.memory["stack_bytes"] = stack_peak or None
        run.memory["arena_bytes"] = info.arena_bytes
        log.info("link: %s", client.stats)
    return run


def run_samples(
    client: DeviceClient, manifest: Manifest, dataset, options, run: DeviceRun, layers=None
) -> int:
    """Every sample of ``dataset`` through ``client`` into ``run``, then the profile if asked;
    returns the stack peak. A failing sample stops the run with ``run.error`` naming it.
    Shared by the firmware and the Linux runner."""
    with ExitStack() as stack:
        stack_peak = 0
        last_inputs: list[bytes] = []
        progress = stack.enter_context(_progress(len(dataset), run.device, options))
        restarts = resets(dataset) if manifest.stream else []
        for i in range(len(dataset)):
            name = dataset.sample_names[i]
            try:
                if manifest.stream:
                    result, inputs = _stream_sample(client, manifest, dataset, i, restarts[i])
                else:
                    inputs = device_inputs(manifest, dataset, i)
                    result = _sample_with_reboot_retry(client, manifest, inputs, layers)
            except EdgecError as exc:
                run.error = f"sample {i} ({name}): {exc}"
                break
            last_inputs = [np.ascontiguousarray(a).tobytes() for a in inputs]
            run.outputs.append(model_outputs(manifest, result.outputs))
            run.counts.append(result.run.count)
            run.count_unit = result.run.count_unit
            stack_peak = max(stack_peak, result.run.stack_bytes)
            if layers is not None:
                run.layers.append(result.layers)
            progress(i + 1)
        if getattr(options, "profile", False) and run.error is None and run.outputs:
            try:  # on the last sample's inputs (sent again if the run overwrote them)
                run.profile = again_with_inputs(client, last_inputs, client.profile)
            except EdgecError as exc:
                run.error = f"profile: {exc}"
    return stack_peak


@contextmanager
def _progress(total: int, device: str, options):
    """A progress bar on a terminal (``options.progress``), else a no-op callback."""
    if not getattr(options, "progress", False) or not sys.stderr.isatty():
        yield lambda done: None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(f"validating on {device}", total=total)
        yield lambda done: bar.update(task, completed=done)


def _stream_sample(client: DeviceClient, manifest: Manifest, dataset, index: int, restart: bool):
    """One sample of a stateful build: its calls in order, the state restarted first (or
    carried on); the result of the last call, its count the sum over the calls, and the
    last call's inputs."""
    if restart:
        client.state_reset()
    total = 0
    for piece in calls(manifest, dataset.sample(index)):
        inputs = [to_device(piece[p.name], p) for p in manifest.inputs]
        result = run_sample(client, manifest, inputs)
        total += result.run.count
    result.run = dataclasses.replace(result.run, count=total)
    return result, inputs


def _sample_with_reboot_retry(
    client: DeviceClient, manifest: Manifest, inputs, layers, attempts: int = 2
):
    """One sample; if the device rebooted part-way, upload it again (once)."""
    for attempt in range(attempts):
        try:
            return run_sample(client, manifest, inputs, layers)
        except DeviceResetError:
            if attempt + 1 == attempts:
                raise
            log.warning("the device rebooted during a sample; sending it again")
            check_info(client.get_info(), manifest)
    raise AssertionError("unreachable")
