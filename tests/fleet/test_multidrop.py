"""Many meters behind one endpoint by device address (sans-IO, no sockets)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterkit.clock import SimulatedClock
from meterkit.iec62056_21.events import Transmit
from meterkit.meter.config import load_config
from meterkit.meter.virtual import VirtualMeter
from meterkit.transport.multidrop import MultiDropBus, MultiDropRunner

SERIALS = ("10000000", "10000001", "00000042")


def meter(serial: str) -> VirtualMeter:
    config = load_config(text=f'[identity]\nserial = "{serial}"\ndevice_address = "{serial}"\n')
    return VirtualMeter(config, clock=SimulatedClock(), follow_clock=False)


@pytest.fixture(scope="module")
def bus() -> MultiDropBus:
    return MultiDropBus({s: meter(s) for s in SERIALS})


def send(line: MultiDropRunner, data: bytes, now: float = 0.0) -> bytes:
    line.receive_data(data, now)
    line.process(now)
    return b"".join(d.data for d in line.outputs() if isinstance(d, Transmit))


def test_the_addressed_meter_answers_with_its_identification_and_the_others_stay_silent(bus: MultiDropBus) -> None:
    for serial in SERIALS:
        line = bus.open_line()
        answer = send(line, f"/?{serial}!\r\n".encode())
        assert answer.startswith(b"/MKT") and answer.endswith(b"\r\n")
        assert line.active is not None
        assert line.active.connection.config.device_address == serial


@pytest.mark.parametrize("request_", [b"/?!\r\n", b"/?99999999!\r\n", b"/?1000000!\r\n", b"garbage\r\n"])
def test_a_general_or_unknown_address_gets_no_answer(bus: MultiDropBus, request_: bytes) -> None:
    line = bus.open_line()
    assert send(line, request_) == b""
    assert line.active is None
    assert line.connection.deadline() is None


def test_leading_zeros_of_an_address_are_not_evaluated(bus: MultiDropBus) -> None:
    line = bus.open_line()
    assert send(line, b"/?42!\r\n").startswith(b"/MKT")
    assert line.active is not None and line.active.connection.config.device_address == "00000042"


def test_a_request_split_across_reads_and_after_noise_is_heard(bus: MultiDropBus) -> None:
    line = bus.open_line()
    assert send(line, b"\x00\xff/?1000") == b""
    assert send(line, b"0001!\r").startswith(b"") and line.active is None
    assert send(line, b"\n").startswith(b"/MKT")


def test_parity_bits_on_the_request_are_ignored(bus: MultiDropBus) -> None:
    line = bus.open_line()
    raw = b"/?10000001!\r\n"
    with_parity = bytes(b | 0x80 if bin(b).count("1") % 2 else b for b in raw)  # 7E1
    assert send(line, with_parity).startswith(b"/MKT")


def test_a_sign_on_to_another_meter_during_a_session_hands_the_line_over(bus: MultiDropBus) -> None:
    line = bus.open_line()
    send(line, b"/?10000000!\r\n")
    first = line.active
    answer = send(line, b"/?10000001!\r\n", 1.0)
    assert answer.startswith(b"/MKT")
    assert line.active is not first and line.active is not None
    assert line.active.connection.config.device_address == "10000001"


def test_after_a_session_ends_the_line_listens_again(bus: MultiDropBus) -> None:
    line = bus.open_line()
    send(line, b"/?10000000!\r\n")
    # option select: readout at the identification's speed (mode C, ACK 0 Z 0)
    readout = send(line, b"\x060" + line.active.connection.config.baud_char.encode() + b"0\r\n", 1.0)  # type: ignore[union-attr]
    assert b"!\r\n\x03" in readout
    deadline = line.connection.deadline()  # the readout was not NAKed: the session ends
    assert deadline is not None
    line.connection.handle_timer(deadline)
    line.process(deadline)
    line.outputs()
    assert line.active is None
    assert send(line, b"/?10000001!\r\n", deadline + 1).startswith(b"/MKT")


def test_end_of_stream_closes_the_addressed_meters_session(bus: MultiDropBus) -> None:
    line = bus.open_line()
    send(line, b"/?10000000!\r\n")
    line.receive_data(b"", 1.0)
    line.process(1.0)
    line.outputs()
    line.close("disconnect")
    assert line.active is None


def test_an_empty_or_repeated_address_is_refused_on_a_bus() -> None:
    m = meter("1")
    with pytest.raises(ValueError, match="used twice"):
        MultiDropBus({"0001": m, "1": m})
    with pytest.raises(ValueError, match="empty"):
        MultiDropBus({"000": m})


@given(st.binary(max_size=64))
def test_no_bytes_without_a_known_address_make_the_bus_answer(noise: bytes) -> None:
    bus = MultiDropBus({"12345678": _METER})
    line = bus.open_line()
    out = send(line, noise.replace(b"/?12345678!\r\n", b""))
    assert out == b"" or b"12345678" in bytes(b & 0x7F for b in noise)


_METER = meter("12345678")
