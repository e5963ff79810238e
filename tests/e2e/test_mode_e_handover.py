"""``MeterClient.binary()``: after the mode E switch the client hands over the transport and the bytes that already
arrived, unmasked, to a binary protocol."""

from __future__ import annotations

import pytest

from meterkit.client import MeterClient
from meterkit.errors import DeviceError, TransportError
from meterkit.iec62056_21.events import SetLine
from meterkit.transport import open_transport

from .scripted import Step, scripted_meter

HDLC = b"\x7e\xa0\x07\x03\x21\x93\x0f\x01\x7e"  # an HDLC frame: 8-bit bytes that 7-bit masking would break


class ScriptedLine:
    """An in-memory meter: answers each write with the next scripted chunk; records line changes."""

    def __init__(self, *answers: bytes) -> None:
        self.answers = list(answers)
        self.pending: list[bytes] = []
        self.written: list[bytes] = []
        self.lines: list[SetLine] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)
        if self.answers:
            self.pending.append(self.answers.pop(0))

    def read(self, timeout: float) -> bytes:
        if self.pending:
            return self.pending.pop(0)
        raise TransportError("closed")

    def set_line(self, line: SetLine) -> None:
        self.lines.append(line)

    def close(self) -> None:
        return None


def test_binary_hands_over_the_transport_and_the_leftover_bytes_with_their_8th_bit() -> None:
    line = ScriptedLine(b"/LGZ5\\2ZMD4054459.B40\r\n", b"\x06252\r\n" + HDLC)
    client = MeterClient(line)  # type: ignore[arg-type]
    link = client.binary()
    assert link.transport is line and link.baud == 9600
    assert link.leftover == HDLC
    assert line.written == [b"/?!\r\n", b"\x06252\r\n"]
    assert line.lines[-1] == SetLine(baud=9600, bytesize=8, parity="N")


def test_binary_refuses_a_meter_without_mode_e() -> None:
    client = MeterClient(ScriptedLine(b"/MKT5PLAIN\r\n"))  # type: ignore[arg-type]
    with pytest.raises(DeviceError, match="does not announce mode E"):
        client.binary()


def test_a_binary_echo_face_behind_mode_e_over_tcp() -> None:
    steps = [Step(b"/?!\r\n", b"/ABC5\\2ECHO\r\n"), Step(b"\x06252\r\n", b"\x06252\r\n")]
    with scripted_meter(*steps, echo=True) as (url, _):
        with MeterClient(open_transport(url)) as client:
            link = client.binary()
            link.transport.write(HDLC)
            got = link.leftover
            while len(got) < len(HDLC):
                got += link.transport.read(2.0)
    assert got == HDLC


def test_a_binary_echo_face_behind_mode_e_over_a_pty() -> None:
    import os
    import pty
    import threading
    import tty

    master, slave = pty.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    done = threading.Event()

    def meter() -> None:
        seen = b""
        while b"/?!\r\n" not in seen:
            seen += os.read(master, 1024)
        os.write(master, b"/ABC5\\2ECHO\r\n")
        seen = b""
        while b"\x06252\r\n" not in seen:
            seen += os.read(master, 1024)
        os.write(master, b"\x06252\r\n" + HDLC[:4])  # the confirmation and the start of a frame in one write
        echoed = 0
        while echoed < len(HDLC):
            data = os.read(master, 1024)
            os.write(master, data)
            echoed += len(data)
        done.set()

    thread = threading.Thread(target=meter, daemon=True)
    thread.start()
    try:
        with MeterClient(open_transport(path)) as client:
            link = client.binary()
            assert link.leftover == HDLC[:4] and link.baud == 9600
            link.transport.write(HDLC)
            got = b""
            while len(got) < len(HDLC):
                got += link.transport.read(2.0)
        assert got == HDLC and done.wait(5)
    finally:
        os.close(slave)
        os.close(master)
