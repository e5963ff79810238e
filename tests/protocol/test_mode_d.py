"""Mode D: a push-only meter sends identification, blank line, data and '!' (no STX/ETX/BCC) at 2400 Bd."""

from __future__ import annotations

import pytest

from meterkit.errors import LocalProtocolError
from meterkit.iec62056_21.events import (
    IdentificationReceived,
    ProtocolViolation,
    ReadoutReceived,
    ReadoutRequested,
    SessionEnded,
    SetLine,
    SignOn,
    Transmit,
)
from meterkit.iec62056_21.messages import DataMessage, DataSet, ModeDMessage
from meterkit.iec62056_21.meter import MeterConnection, MeterPortConfig
from meterkit.iec62056_21.testing import ConnectionPair
from meterkit.iec62056_21.transitions import MeterState
from meterkit.meter.static_table import StaticTableMeter


def push_meter(z: str = "3", interval: float | None = None) -> StaticTableMeter:
    config = MeterPortConfig(
        manufacturer="EBZ", ident="DD3BZ06", baud_char=z, protocol_mode="D", push_interval=interval
    )
    return StaticTableMeter(config=config)


def test_push_goes_out_as_a_mode_d_message_at_2400_baud_without_stx_etx_or_bcc() -> None:
    app = push_meter()
    pair = ConnectionPair.for_application(app)
    pair.client.listen()
    readout = pair.push()
    assert [ds.address for ds in readout.datasets] == list(app.registers)
    assert {ds.address: ds for ds in readout.datasets}["1.8.0"] == app.registers["1.8.0"]
    ((data, baud),) = pair.wire.bauds("meter")
    assert baud == 2400 and pair.meter_line == pair.client_line == SetLine(baud=2400)
    assert data.startswith(b"/EBZ3DD3BZ06\r\n\r\n0.0.0(12345678)")
    assert data.endswith(b"F.F(00000000)\r\n!\r\n")
    assert not set(data) & {0x01, 0x02, 0x03, 0x04}
    ident = [e for e in pair.client_events if isinstance(e, IdentificationReceived)]
    assert ident[0].identification.baud_char == "3"
    assert pair.meter_events[:2] == [SignOn(address=""), ReadoutRequested(mode="D", baud=2400)]
    assert pair.meter_events[-1] == SessionEnded(reason="push-done") and pair.meter.state is MeterState.IDLE
    assert pair.wire.sent_by("client") == []
    pair.assert_lines_agree()


def test_push_interval_pushes_at_once_and_then_periodically() -> None:
    pair = ConnectionPair.for_application(push_meter(interval=10.0))
    pair.client.listen()
    pair.advance(25)
    times = [t for t, who, _ in pair.wire.frames if who == "meter"]
    assert times == [0.0, 10.0, 20.0]
    assert len([e for e in pair.client_events if isinstance(e, ReadoutReceived)]) == 3
    assert pair.meter.deadline() == 30.0
    pair.assert_lines_agree()


def test_german_style_push_at_9600_with_z5() -> None:
    pair = ConnectionPair.for_application(push_meter(z="5"))
    pair.client.listen(baud=9600)
    assert pair.push().datasets
    assert pair.wire.bauds("meter")[0][1] == 9600
    pair.assert_lines_agree()


def test_listening_at_the_wrong_rate_is_seen_as_a_line_mismatch() -> None:
    pair = ConnectionPair.for_application(push_meter())
    pair.client.listen(baud=9600)
    pair.meter.push(pair.now)
    pair.pump()
    with pytest.raises(AssertionError, match=r"meter b'/EBZ3DD3BZ06.*' at 2400 Bd"):
        pair.assert_lines_agree()
    pair.line_mismatches.clear()  # seen; the suite's fixture checks every other pair


def test_a_mode_d_meter_ignores_requests_and_option_selects() -> None:
    pair = ConnectionPair.for_application(push_meter())
    pair.client_send_raw(b"/?!\r\n")
    pair.client_send_raw(b"\x06050\r\n")
    pair.advance(5)
    assert pair.wire.sent_by("meter") == []
    assert pair.meter.state is MeterState.IDLE
    violations = [e for e in pair.meter_events if isinstance(e, ProtocolViolation)]
    assert "requests are not answered" in str(violations[0].error)
    assert not any(isinstance(e, SignOn) for e in pair.meter_events)


def test_the_application_may_send_a_complete_mode_d_message() -> None:
    meter = MeterConnection(MeterPortConfig(manufacturer="EBZ", ident="X", baud_char="3", protocol_mode="D"))
    meter.push(5.0)
    assert [type(e) for e in iter(meter.next_event, None)] == [SignOn, ReadoutRequested]
    push = ModeDMessage(identification=meter.identification, datasets=(DataSet.single("1.8.0", "1", "kWh"),))
    meter.send(push, 5.0)
    line, out = meter.outputs()
    assert line == SetLine(baud=2400)
    assert out == Transmit(data=b"/EBZ3X\r\n\r\n1.8.0(1*kWh)\r\n!\r\n", not_before=5.0)
    assert meter.deadline() is None  # no interval: push only on demand


def test_push_is_refused_outside_mode_d_and_while_a_push_is_pending() -> None:
    with pytest.raises(LocalProtocolError, match="only a mode D meter pushes"):
        MeterConnection(MeterPortConfig(manufacturer="MKT", ident="X")).push(0.0)
    meter = MeterConnection(MeterPortConfig(manufacturer="EBZ", ident="X", baud_char="3", protocol_mode="D"))
    meter.push(0.0)
    with pytest.raises(LocalProtocolError, match="cannot push in state push-pending"):
        meter.push(1.0)
    with pytest.raises(LocalProtocolError, match="cannot send DataAnswer"):
        from meterkit.iec62056_21.messages import DataAnswer

        meter.send(DataAnswer(), 1.0)
    meter.send(DataMessage(), 1.0)
    assert meter.state is MeterState.IDLE


def test_mode_d_configuration_is_checked() -> None:
    with pytest.raises(LocalProtocolError, match="mode D baud character"):
        MeterPortConfig(manufacturer="EBZ", ident="X", baud_char="E", protocol_mode="D")
    with pytest.raises(LocalProtocolError, match="push_interval must be positive"):
        MeterPortConfig(manufacturer="EBZ", ident="X", baud_char="3", protocol_mode="D", push_interval=0)
