"""The device protocol's framing and payloads (pure bytes; no device needed)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgec import protocol as P
from edgec.errors import DeviceError, LinkError

frames = st.builds(
    P.Frame,
    seq=st.integers(0, 255),
    cmd=st.integers(0, 255),
    payload=st.binary(max_size=300),
)
# Bytes that can never start a frame, to pad streams so that a bogus header swallowing real
# frames is completed (and rejected) by the end of the stream.
FLUSH = bytes(P.HEADER_BYTES + P.MAX_PAYLOAD + P.CRC_BYTES)


def test_crc_check_values():
    # Published check values over the ASCII digits "123456789".
    assert P.crc8(b"123456789") == 0xF4  # CRC-8 (poly 0x07, init 0)
    assert P.crc32(b"123456789") == 0xCBF43926  # CRC-32 IEEE 802.3


def test_frame_layout_by_hand():
    data = P.encode_frame(7, P.Command.SET_INPUT, b"\x01\x02\x03")
    assert data[0] == 0xA5
    assert data[1:3] == b"\x03\x00"  # length, little-endian
    assert data[3] == 7 and data[4] == 0x02
    assert data[5] == P.crc8(bytes([3, 0, 7, 2]))
    assert data[6:9] == b"\x01\x02\x03"
    assert struct.unpack("<I", data[9:])[0] == P.crc32(data[1:9])
    assert len(data) == 3 + 10


def test_payload_limit():
    P.encode_frame(1, 1, bytes(P.MAX_PAYLOAD))
    with pytest.raises(ValueError):
        P.encode_frame(1, 1, bytes(P.MAX_PAYLOAD + 1))


@given(st.lists(frames, max_size=5), st.lists(st.integers(1, 50), min_size=1, max_size=20))
def test_round_trip_in_any_chunks(items, cuts):
    stream = b"".join(P.encode_frame(f.seq, f.cmd, f.payload) for f in items)
    decoder, got, pos, i = P.Decoder(), [], 0, 0
    while pos < len(stream):
        step = cuts[i % len(cuts)]
        got += decoder.feed(stream[pos : pos + step])
        pos, i = pos + step, i + 1
    assert got == items
    assert decoder.errors == 0


@settings(max_examples=200)
@given(st.lists(st.tuples(st.binary(max_size=40), frames), min_size=1, max_size=5))
def test_resynchronises_after_garbage(pieces):
    stream = b"".join(junk + P.encode_frame(f.seq, f.cmd, f.payload) for junk, f in pieces)
    got = P.Decoder().feed(stream + FLUSH)
    # Every real frame is found; garbage yields nothing unless it holds a whole valid frame.
    assert [f for f in got if f in [p[1] for p in pieces]] == [f for _, f in pieces]
    assert len(got) == len(pieces) or any(P.SYNC in junk for junk, _ in pieces)


@settings(max_examples=300)
@given(frames, st.data())
def test_corrupted_frame_is_never_accepted(frame, data):
    raw = bytearray(P.encode_frame(frame.seq, frame.cmd, frame.payload))
    flips = data.draw(
        st.lists(
            st.tuples(st.integers(0, len(raw) - 1), st.integers(0, 7)),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    for index, bit in flips:
        raw[index] ^= 1 << bit
    # CRC-32 catches every error of up to 3 bits in frames this short; a flipped SYNC hides it.
    assert P.Decoder().feed(bytes(raw) + FLUSH) == []


@given(frames, frames, st.integers(1, 8))
def test_truncated_then_whole(first, second, cut):
    a = P.encode_frame(first.seq, first.cmd, first.payload)
    b = P.encode_frame(second.seq, second.cmd, second.payload)
    got = P.Decoder().feed(a[: max(len(a) - cut, 1)] + b + FLUSH)
    assert got[-1] == second if got else False


@given(frames, st.integers(0, 20))
def test_duplicated_byte_rejected_and_next_frame_found(frame, where):
    a = bytearray(P.encode_frame(frame.seq, frame.cmd, frame.payload))
    where = 1 + where % (len(a) - 2)  # inside the frame: doubling the last byte changes nothing
    a.insert(where, a[where])
    b = P.encode_frame(9, 3, b"next")
    # One time in 256 the shifted header still passes its CRC-8 and announces a long frame:
    # the decoder then waits for its body, as it must. The zeros the client sends after a
    # silence (FLUSH) complete that bogus frame, whose CRC-32 fails, and the rescan finds b.
    got = P.Decoder().feed(bytes(a) + b + FLUSH)
    assert P.Frame(9, 3, b"next") in got
    assert all(f == P.Frame(9, 3, b"next") for f in got)


def test_skip_pending_gives_up_a_bogus_long_frame():
    head = struct.pack("<HBB", 900, 1, 1)
    bogus = bytes([P.SYNC]) + head + bytes([P.crc8(head)])  # valid header, body never comes
    real = P.encode_frame(5, 0x81, b"\x00ok")
    decoder = P.Decoder()
    assert decoder.feed(bogus + real) == []  # swallowed by the bogus frame for now
    assert decoder.skip_pending() == [P.Frame(5, 0x81, b"\x00ok")]


def _port(dtype: str, shape: tuple[int, ...], nbytes: int) -> bytes:
    return (
        bytes([len(dtype)])
        + dtype.encode()
        + bytes([len(shape)])
        + b"".join(struct.pack("<I", d) for d in shape)
        + struct.pack("<I", nbytes)
    )


def test_parse_info_written_by_hand():
    sha = "ab" * 32
    body = struct.pack("<BBHIIIIHBB", 1, 0, 1024, 64000, 65536, 300, 25_000_000, 21, 1, 1)
    body += sha.encode() + _port("float32", (1, 1, 49, 10), 1960) + _port("int8", (1, 12), 12)
    body += bytes([10]) + b"mps2-an386"
    info = P.parse_info(body)
    assert info.count_unit == "instructions" and info.max_payload == 1024
    assert (info.arena_bytes, info.stack_reserved, info.stack_peak) == (64000, 65536, 300)
    assert info.num_steps == 21 and info.model_sha256 == sha and info.target == "mps2-an386"
    assert info.inputs == (P.PortInfo("float32", (1, 1, 49, 10), 1960),)
    assert info.outputs == (P.PortInfo("int8", (1, 12), 12),)
    with pytest.raises(LinkError, match="too short"):
        P.parse_info(body[:40])


def test_run_and_dump_payloads():
    body = struct.pack("<BQQIIII", 1, 123456789012, 987, 336, 400, 0xDEADBEEF, 7)
    run = P.parse_run(body)
    assert (run.count_unit, run.count, run.ticks) == ("cycles", 123456789012, 987)
    assert (run.stack_bytes, run.stack_peak, run.input_crc, run.output_crc) == (
        336,
        400,
        0xDEADBEEF,
        7,
    )
    assert P.parse_dump(struct.pack("<II", 8000, 5) + b"xyz") == (8000, 5, b"xyz")
    assert P.dump_payload(3, 512, 256) == struct.pack("<HIH", 3, 512, 256)
    assert P.get_output_payload(1, 2, 3) == bytes([1, 2, 0, 0, 0, 3, 0])


def test_profile_payload_written_by_hand():
    body = struct.pack("<BBH3I", 0, 3, 40, 100, 2_000, 7)
    profile = P.parse_profile(body)
    assert profile == P.Profile("instructions", 40, [100, 2_000, 7])
    with pytest.raises(LinkError, match="PROFILE answer of 15 bytes for 3 steps"):
        P.parse_profile(body[:-1])
    with pytest.raises(LinkError, match="too short"):
        P.parse_profile(b"\x00")


def test_error_status_and_fault_become_device_errors():
    ok = P.Frame(4, P.Command.RUN | P.RESPONSE, b"\x00body")
    assert P.response_body(ok, P.Command.RUN) == b"body"
    bad = P.Frame(4, P.Command.SET_INPUT | P.RESPONSE, b"\x03outside the input")
    with pytest.raises(
        DeviceError, match=r"SET_INPUT failed on the device: BAD_RANGE \(outside the input\)"
    ):
        P.response_body(bad, P.Command.SET_INPUT)
    with pytest.raises(LinkError, match="expected a response"):
        P.response_body(ok, P.Command.INFO)
    report = P.FaultReport(3, 0x00010000, 0x40000000, 0, 0, 0x1234, 0x5679, 0x01000000)
    fault = P.Frame(4, P.Command.FAULT, P.encode_fault(report))
    with pytest.raises(DeviceError, match=r"HardFault at PC 0x00001234.*UNDEFINSTR"):
        P.response_body(fault, P.Command.RUN)


def test_fault_description_names_the_causes():
    nocp = P.FaultReport(3, 0x00080000, 0x40000000, 0, 0, 0x100, 0x200, 0)
    assert "NOCP" in nocp.describe() and "CFSR 0x00080000" in nocp.describe()
    bus = P.FaultReport(5, (1 << 9) | (1 << 15), 0, 0, 0x2000_0004, 0, 0, 0)
    assert bus.describe().startswith("BusFault") and "BFAR 0x20000004" in bus.describe()
