"""The meter's pauses on the line count from when its own bytes have left it (10 bits per character at the current
rate), as on a real optical port: t_t after the identification, t_r between the mode B identification and readout,
the repeat window after the readout.  A damaged B0 is NAKed like any damaged command."""

from __future__ import annotations

from dataclasses import replace

import pytest

from meterkit.iec62056_21.events import ProtocolViolation, ReadoutRequested, SessionEnded, SetLine, SignOn, Transmit
from meterkit.iec62056_21.messages import CommandMessage, DataMessage, DataSet
from meterkit.iec62056_21.meter import MeterConnection, MeterPortConfig
from meterkit.iec62056_21.timing import OPTION_SELECT_WAIT
from meterkit.iec62056_21.transitions import MeterState

MODE_C = MeterPortConfig(manufacturer="MKT", ident="LONGIDENT-123456", baud_char="5")
MODE_B = MeterPortConfig(manufacturer="MKT", ident="LONGIDENT-123456", baud_char="E", protocol_mode="B")
READOUT = DataMessage(datasets=(DataSet.single("1.8.0", "001234.567", "kWh"),))


def on_the_line(data: bytes, baud: int) -> float:
    return len(data) * 10 / baud


def events(conn: MeterConnection) -> list[object]:
    out = []
    while (event := conn.next_event()) is not None:
        out.append(event)
    return out


def sign_on(conn: MeterConnection, at: float = 10.0) -> Transmit:
    conn.receive_data(b"/?!\r\n", at)
    ident = conn.outputs()[0]
    assert isinstance(ident, Transmit) and ident.data.startswith(b"/MKT")
    return ident


def sign_on_b(conn: MeterConnection) -> tuple[Transmit, list[object]]:
    conn.receive_data(b"/?!\r\n", 10.0)
    ident, *rest = conn.outputs()
    assert isinstance(ident, Transmit) and ident.data.startswith(b"/MKT")
    return ident, list(rest)


def test_option_select_wait_runs_from_the_end_of_the_identification() -> None:
    conn = MeterConnection(MODE_C)
    ident = sign_on(conn)
    assert ident.not_before == pytest.approx(10.2)  # t_r after the request
    assert on_the_line(ident.data, 300) == pytest.approx(23 / 30)  # 23 characters at 300 Bd
    end = ident.not_before + 23 / 30
    assert 1.5 < OPTION_SELECT_WAIT <= 2.2  # t_t of IEC 62056-21 §6.4.5.3
    assert conn.deadline() == pytest.approx(end + OPTION_SELECT_WAIT)
    assert events(conn) == [SignOn(address="")]
    conn.handle_timer(end + OPTION_SELECT_WAIT - 0.01)
    assert events(conn) == [] and conn.state is MeterState.AWAIT_OPTION
    conn.handle_timer(end + OPTION_SELECT_WAIT)
    assert events(conn) == [ReadoutRequested(mode="C", baud=300)]
    conn.send(READOUT, end + OPTION_SELECT_WAIT)
    (readout,) = conn.outputs()
    assert isinstance(readout, Transmit) and readout.data.startswith(b"\x02")
    assert readout.not_before == pytest.approx(end + OPTION_SELECT_WAIT)
    # an I/O layer that knows when the identification really left keeps the whole t_t after it
    assert readout.gap == pytest.approx(OPTION_SELECT_WAIT)


def test_a_late_timer_still_gives_the_fallback_readout_at_once_with_the_full_gap() -> None:
    conn = MeterConnection(replace(MODE_C, option_select_wait=2.1))
    ident = sign_on(conn)
    end = ident.not_before + on_the_line(ident.data, 300)
    conn.handle_timer(end + 2.5)  # the event loop was busy
    events(conn)
    conn.send(READOUT, end + 2.5)
    (readout,) = conn.outputs()
    assert isinstance(readout, Transmit)
    assert readout.not_before == pytest.approx(end + 2.5) and readout.gap == pytest.approx(2.5)


def test_mode_b_readout_waits_until_the_identification_has_left_plus_the_switch_pause() -> None:
    conn = MeterConnection(MODE_B)
    ident, rest = sign_on_b(conn)
    end = ident.not_before + on_the_line(ident.data, 300)
    assert rest == [SetLine(baud=9600)]  # applied once the identification has left
    assert events(conn)[-1] == ReadoutRequested(mode="B", baud=9600)
    conn.send(READOUT, 10.0)
    readout = conn.outputs()[0]
    assert isinstance(readout, Transmit) and readout.data.startswith(b"\x02")
    # at least t_r (0.2 s) after the identification's last byte; the IR head's switch pause (0.4 s) is longer
    assert readout.not_before == pytest.approx(end + 0.4)
    assert readout.gap == pytest.approx(0.4) and readout.gap >= 0.2


def test_mode_b_pause_follows_a_configured_reaction_time() -> None:
    conn = MeterConnection(replace(MODE_B, reaction_time=0.7, post_switch_delay=0.0))
    ident, _ = sign_on_b(conn)
    end = ident.not_before + on_the_line(ident.data, 300)
    events(conn)
    conn.send(READOUT, 10.0)
    readout = conn.outputs()[0]
    assert isinstance(readout, Transmit)
    assert readout.not_before == pytest.approx(end + 0.7) and readout.gap == pytest.approx(0.7)


def test_an_answer_to_a_received_message_counts_from_that_message_only() -> None:
    conn = MeterConnection(MODE_C)
    ident = sign_on(conn)
    events(conn)
    # over TCP the option select may arrive before the modelled end of the identification: no extra wait
    conn.receive_data(b"\x06050\r\n", ident.not_before + 0.1)
    assert events(conn) == [ReadoutRequested(mode="C", baud=9600)]
    conn.send(READOUT, ident.not_before + 0.1)
    out = conn.outputs()
    assert out[0] == SetLine(baud=9600)
    readout = out[1]
    assert isinstance(readout, Transmit) and readout.gap == 0.0
    assert readout.not_before == pytest.approx(ident.not_before + 0.1 + 0.4)  # the switch pause after the select


def test_the_repeat_window_opens_when_the_readout_has_left_the_line() -> None:
    conn = MeterConnection(replace(MODE_C, ident="T1"))
    sign_on(conn, 0.0)
    conn.receive_data(b"\x06000\r\n", 1.0)  # readout at 300 Bd
    events(conn)
    big = DataMessage(datasets=tuple(DataSet.single(f"1.8.{i}", "001234.567", "kWh") for i in range(10)))
    conn.send(big, 1.0)
    readout = next(d for d in conn.outputs() if isinstance(d, Transmit))
    end = readout.not_before + on_the_line(readout.data, 300)
    assert end - readout.not_before > 7  # about 7.5 s on a 300 Bd line
    assert conn.deadline() == pytest.approx(end + 0.2 + 2.0)  # t_r + the repeat window, after the last byte
    conn.receive_data(b"\x15", end + 1.0)  # a NAK after the readout has arrived: repeated
    repeat = conn.outputs()[0]
    assert isinstance(repeat, Transmit) and repeat.data == readout.data


def damaged_b0() -> bytes:
    good = CommandMessage(command="B", command_type="0").to_bytes()
    return good[:-1] + bytes([good[-1] ^ 0x01])


def programming(conn: MeterConnection) -> None:
    sign_on(conn, 0.0)
    conn.receive_data(b"\x06051\r\n", 1.0)
    events(conn)
    conn.send(CommandMessage(command="P", command_type="0", data_set=DataSet.single("", "1234")), 1.0)
    conn.outputs()
    assert conn.state is MeterState.PROGRAMMING


def test_b0_with_a_wrong_bcc_is_naked_and_the_session_goes_on_until_a_good_b0() -> None:
    conn = MeterConnection(MODE_C)
    programming(conn)
    conn.receive_data(damaged_b0(), 5.0)
    assert conn.state is MeterState.PROGRAMMING
    assert [d.data for d in conn.outputs() if isinstance(d, Transmit)] == [b"\x15"]
    assert [type(e) for e in events(conn)] == [ProtocolViolation]
    conn.receive_data(CommandMessage(command="B", command_type="0").to_bytes(), 6.0)  # the hand-held repeats it
    assert conn.state is MeterState.IDLE and events(conn) == [SessionEnded(reason="break")]


def test_b0_with_a_wrong_bcc_outside_programming_mode_is_ignored_and_reported() -> None:
    conn = MeterConnection(MODE_C)
    sign_on(conn, 0.0)
    events(conn)
    conn.receive_data(damaged_b0(), 1.0)
    assert conn.state is MeterState.AWAIT_OPTION
    assert [d for d in conn.outputs() if isinstance(d, Transmit)] == []
    (violation,) = events(conn)
    assert isinstance(violation, ProtocolViolation) and "BCC mismatch in B0" in str(violation.error)


def test_repeated_damaged_b0_ends_the_session_after_max_repeats() -> None:
    conn = MeterConnection(MODE_C)
    programming(conn)
    for i in range(3):
        conn.receive_data(damaged_b0(), 5.0 + i)
    assert conn.state is MeterState.PROGRAMMING
    conn.receive_data(damaged_b0(), 9.0)
    assert conn.state is MeterState.IDLE
    assert [e for e in events(conn) if isinstance(e, SessionEnded)] == [SessionEnded(reason="too-many-errors")]
