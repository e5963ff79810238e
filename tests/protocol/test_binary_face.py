"""Mode E hands the line, with the bytes left over from the switch, to a pluggable binary face, and gets it back."""

from __future__ import annotations

from dataclasses import dataclass, field

from meterkit.iec62056_21.application import BinarySession, SessionRunner
from meterkit.iec62056_21.events import BinaryModeRequested, SessionEnded, SetLine, Transmit
from meterkit.iec62056_21.meter import MeterConnection, MeterPortConfig
from meterkit.iec62056_21.testing import ConnectionPair
from meterkit.iec62056_21.transitions import MeterState
from meterkit.meter.static_table import StaticTableMeter

EOT = b"\x04"


@dataclass
class EchoFace:
    """The smallest binary face: echoes what it gets; an EOT ends it."""

    received: list[bytes] = field(default_factory=list)
    closed: str | None = None

    def receive(self, data: bytes) -> bytes:
        self.received.append(data)
        return data

    @property
    def finished(self) -> bool:
        return bool(self.received) and self.received[-1].endswith(EOT)

    def close(self, reason: str) -> None:
        self.closed = reason


@dataclass
class BinaryMeter(StaticTableMeter):
    faces: list[EchoFace] = field(default_factory=list)

    def open_binary_session(self, request: BinaryModeRequested) -> BinarySession:
        face = EchoFace()
        self.faces.append(face)
        return face


def binary_pair() -> tuple[ConnectionPair, BinaryMeter]:
    app = BinaryMeter(config=MeterPortConfig(manufacturer="MKT", ident="BIN1", baud_char="5", binary_mode=True))
    return ConnectionPair.for_application(app), app


def test_the_binary_face_gets_the_leftover_bytes_and_echoes_until_it_finishes() -> None:
    pair, app = binary_pair()
    pair.sign_on()
    pair.client_send_raw(b"\x06252\r\n" + b"~HDLC")  # the option select and the first binary bytes in one chunk
    assert pair.meter.state is MeterState.BINARY
    assert app.faces[0].received == [b"~HDLC"]
    assert pair.wire.sent_by("meter")[-2:] == [b"\x06252\r\n", b"~HDLC"]
    assert pair.meter_line == SetLine(baud=9600, bytesize=8, parity="N")
    pair.client_send_raw(b"frame" + EOT)
    assert pair.wire.sent_by("meter")[-1] == b"frame" + EOT
    assert app.faces[0].closed == "binary-done"
    assert pair.meter.state is MeterState.IDLE and pair.meter_line == SetLine(baud=300)
    assert [e for e in pair.meter_events if isinstance(e, SessionEnded)] == [SessionEnded(reason="binary-done")]
    pair.client_send_raw(b"/?!\r\n")  # the port answers the optical protocol again, at 300 Bd
    assert pair.wire.sent_by("meter")[-1].startswith(b"/MKT5") and pair.meter_line == SetLine(baud=300)


def test_end_of_stream_ends_binary_mode_with_a_face() -> None:
    connection = MeterConnection(MeterPortConfig(manufacturer="MKT", ident="BIN1", baud_char="5", binary_mode=True))
    app = BinaryMeter(config=connection.config)
    runner = SessionRunner.for_application(connection, app)
    runner.receive_data(b"/?!\r\n", 0.0)
    runner.process(0.0)
    runner.receive_data(b"\x06252\r\n", 1.0)
    assert any(isinstance(e, BinaryModeRequested) for e in runner.process(1.0))
    runner.receive_data(b"abc", 2.0)
    assert [d.data for d in runner.outputs() if isinstance(d, Transmit)][-1] == b"abc"
    runner.receive_data(b"", 3.0)
    assert SessionEnded(reason="eof") in runner.process(3.0)
    assert app.faces[0].closed == "eof" and connection.state is MeterState.IDLE


def test_end_of_stream_ends_binary_mode_without_a_face() -> None:
    pair, _ = binary_pair()
    pair.runner = SessionRunner(pair.meter, StaticTableMeter().open_session)  # no binary face: bytes are dropped
    pair.sign_on()
    pair.client_send_raw(b"\x06252\r\n" + b"~dropped")
    assert pair.meter.state is MeterState.BINARY
    assert pair.wire.sent_by("meter")[-1] == b"\x06252\r\n"
    pair.client_send_raw(b"")
    assert pair.meter.state is MeterState.IDLE
    assert pair.meter_events[-1] == SessionEnded(reason="eof")
