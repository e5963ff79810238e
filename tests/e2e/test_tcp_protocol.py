"""Protocol behaviour over a real TCP connection: NAK and repeat with raw bytes, the programming inactivity time-out
on the server's injected clock."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

import pytest

from meterkit.client import MeterClient, PasswordAuthenticator
from meterkit.clock import SimulatedClock
from meterkit.errors import TransportTimeout
from meterkit.iec62056_21.client import ClientConfig
from meterkit.iec62056_21.messages import CommandMessage, DataSet
from meterkit.iec62056_21.meter import MeterPortConfig
from meterkit.meter.static_table import StaticTableMeter, StaticTableSession
from meterkit.transport import open_transport

from .conftest import running_server

ACK, NAK = b"\x06", b"\x15"


@dataclass
class RecordingMeter(StaticTableMeter):
    """The static meter, remembering why each session ended."""

    ended: list[str] = field(default_factory=list)

    def open_session(self) -> StaticTableSession:
        return RecordingSession(self)


class RecordingSession(StaticTableSession):
    meter: RecordingMeter

    def close(self, reason: str) -> None:
        self.meter.ended.append(reason)
        super().close(reason)


def app() -> RecordingMeter:
    return RecordingMeter(config=MeterPortConfig(manufacturer="MKT", ident="TCP1", baud_char="5"))


class Raw:
    """A client that speaks bytes, so it can send what no correct client sends."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("socket://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=5)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def frame(self, timeout: float = 3.0) -> bytes:
        """One message: a line (identification), ACK/NAK, or SOH/STX ... ETX plus its BCC."""
        end = time.monotonic() + timeout
        while True:
            n = self._complete()
            if n:
                out, self.buf = self.buf[:n], self.buf[n:]
                return out
            left = end - time.monotonic()
            if left <= 0:
                return b""
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(4096)
            except TimeoutError:
                return b""
            if not chunk:
                return b""
            self.buf += chunk

    def _complete(self) -> int:
        b = self.buf
        if not b:
            return 0
        if b[:1] in (ACK, NAK):
            return 1
        if b[:1] in (b"\x01", b"\x02"):
            etx = b.find(b"\x03")
            return etx + 2 if etx >= 0 and len(b) >= etx + 2 else 0
        eol = b.find(b"\r\n")
        return eol + 2 if eol >= 0 else 0

    def close(self) -> None:
        self.sock.close()


def command(code: str, address: str = "", value: str = "") -> bytes:
    data_set = None if code[0] == "B" else DataSet.single(address, value)
    return CommandMessage(command=code[0], command_type=code[1], data_set=data_set).to_bytes()


def bad_bcc(frame: bytes) -> bytes:
    return frame[:-1] + bytes([frame[-1] ^ 0x01])


def test_meter_naks_a_bad_bcc_and_accepts_the_repeat_then_repeats_its_answer_on_nak() -> None:
    meter = app()
    with running_server(meter, ["tcp://127.0.0.1:0"]) as server:
        raw = Raw(server.tcp_url)
        try:
            raw.send(b"/?!\r\n")
            assert raw.frame() == b"/MKT5TCP1\r\n"
            raw.send(b"\x06051\r\n")  # programming mode at 9600 Bd (nothing switches on TCP)
            assert raw.frame() == command("P0", "", "12345678")
            p1 = command("P1", "", "00000000")
            raw.send(bad_bcc(p1))
            assert raw.frame() == NAK  # the meter asks for a repeat
            raw.send(p1)
            assert raw.frame() == ACK  # the repeat is accepted: the password was checked once, correctly
            raw.send(command("R1", "1.8.0"))
            answer = raw.frame()
            assert answer[:-1] == b"\x021.8.0(001234.567*kWh)\x03"
            raw.send(NAK)  # the client missed the answer: the meter sends the same bytes again
            assert raw.frame() == answer
            raw.send(command("B0"))
            assert raw.frame(timeout=0.5) == b""
        finally:
            raw.close()
    assert meter.ended[0] == "break"


def test_meter_gives_up_after_three_bad_frames_in_a_row() -> None:
    meter = app()
    with running_server(meter, ["tcp://127.0.0.1:0"]) as server:
        raw = Raw(server.tcp_url)
        try:
            raw.send(b"/?!\r\n")
            raw.frame()
            raw.send(b"\x06051\r\n")
            raw.frame()
            p1 = command("P1", "", "00000000")
            replies = []
            for _ in range(4):
                raw.send(bad_bcc(p1))
                replies.append(raw.frame(timeout=1.5))
            assert replies == [NAK, NAK, NAK, b""]  # the fourth error ends the session silently
            raw.send(p1)
            assert raw.frame(timeout=1.0) == b""  # no session any more: a correct P1 gets no answer
        finally:
            raw.close()
    assert meter.ended[0] == "too-many-errors"


def test_programming_inactivity_time_out_follows_the_servers_injected_clock() -> None:
    """The meter drops an idle programming session after 120 s (IEC 62056-21 allows 60-120 s; the server takes the
    meter's setting, so the test moves the server's simulated clock instead of waiting two minutes)."""
    meter = app()
    clock = SimulatedClock()
    with running_server(meter, ["tcp://127.0.0.1:0"], clock=clock, timer_poll=0.05) as server:
        config = ClientConfig(response_timeout=1.0)
        with MeterClient(open_transport(server.tcp_url), config) as client:
            client.programming(PasswordAuthenticator("00000000"))
            assert client.read("1.8.0")[0].value == "001234.567"
            clock.advance(119.0)
            time.sleep(0.3)  # several timer polls: nothing is due yet
            assert meter.ended == []
            assert client.read("1.8.0")[0].value == "001234.567"  # activity re-arms the 120 s
            clock.advance(119.0)
            time.sleep(0.3)
            assert meter.ended == []
            clock.advance(1.5)
            deadline = time.monotonic() + 5
            while not meter.ended and time.monotonic() < deadline:
                time.sleep(0.02)
            assert meter.ended == ["inactivity"]
            with pytest.raises(TransportTimeout, match="no answer from the meter"):
                client.read("1.8.0")  # the meter is back at rest and ignores a command outside a session
        with MeterClient(open_transport(server.tcp_url)) as client:
            assert client.readout().identification.ident == "TCP1"


def test_mode_d_meter_pushes_its_data_to_a_silent_client_at_its_interval() -> None:
    """Mode D (the core's timer): nobody sends a request; the server delivers each push as the core schedules it."""
    meter = StaticTableMeter(
        config=MeterPortConfig(manufacturer="MKT", ident="PUSH1", baud_char="5", protocol_mode="D", push_interval=1.0)
    )
    with running_server(meter, ["tcp://127.0.0.1:0"]) as server:
        host, port = server.tcp_url.removeprefix("socket://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            data, arrivals = b"", []
            while len(arrivals) < 2:
                chunk = sock.recv(4096)
                assert chunk, "the meter closed the connection"
                data += chunk
                while data.count(b"!\r\n") > len(arrivals):
                    arrivals.append(time.monotonic())
    first = data[: data.index(b"!\r\n") + 3]
    assert first.startswith(b"/MKT5PUSH1\r\n\r\n") and b"1.8.0(001234.567*kWh)\r\n" in first
    assert b"\x02" not in first and b"\x03" not in first  # no STX/ETX/BCC in mode D
    assert arrivals[1] - arrivals[0] >= 0.5  # the second push waits for the interval (lower bound only)
