"""Both ends of the line agree on the baud rate in every option select, mode B and mode A/B programming case."""

from __future__ import annotations

from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meterkit.errors import LocalProtocolError
from meterkit.iec62056_21.baud import best_standard_char, option_outcome
from meterkit.iec62056_21.client import ClientConfig, ClientConnection
from meterkit.iec62056_21.events import (
    AnswerReceived,
    BinaryModeRequested,
    ErrorReceived,
    OperandReceived,
    PositiveAck,
    ProgrammingRequested,
    ProtocolViolation,
    ReadoutReceived,
    ReadoutRequested,
    ResponseTimeout,
    SetLine,
    Transmit,
)
from meterkit.iec62056_21.messages import CommandMessage, DataSet
from meterkit.iec62056_21.meter import MeterPortConfig
from meterkit.iec62056_21.testing import ConnectionPair
from meterkit.iec62056_21.transitions import ClientState, MeterState
from meterkit.meter.static_table import StaticTableMeter


def make_pair(*, mode: Literal["A", "B", "C"] = "C", baud_char: str = "5", binary_mode: bool = False) -> ConnectionPair:
    config = MeterPortConfig(
        manufacturer="MKT", ident="TEST1", baud_char=baud_char, protocol_mode=mode, binary_mode=binary_mode
    )
    return ConnectionPair.for_application(StaticTableMeter(config=config))


def P1(password: str = "00000000") -> CommandMessage:
    return CommandMessage(command="P", command_type="1", data_set=DataSet.single("", password))


def R1(address: str) -> CommandMessage:
    return CommandMessage(command="R", command_type="1", data_set=DataSet.single(address, ""))


def readout_bauds(pair: ConnectionPair) -> list[int]:
    return [baud for data, baud in pair.wire.bauds("meter") if data.startswith(b"\x02")]


# --- 1a: mode E request to a meter without binary mode ---------------------------------------------


def test_mode_e_request_to_a_meter_without_binary_mode_gets_the_readout_at_300_on_both_ends() -> None:
    pair = make_pair()
    assert not pair.sign_on().identification.mode_e
    pair.client.select_option(pair.now, mode="2", baud_char="5")
    event = pair.wait_for(ReadoutReceived)
    assert isinstance(event, ReadoutReceived) and event.message.datasets
    assert pair.wire.sent_by("client")[-1] == b"\x06252\r\n"  # the option went out as asked
    assert ReadoutRequested(mode="C", baud=300) in pair.meter_events
    assert readout_bauds(pair) == [300]
    assert pair.client_line.baud == 300 and pair.meter_line.baud == 300
    assert not [o for o in pair.client.outputs() if isinstance(o, SetLine)]
    pair.assert_lines_agree()


def test_meter_announcing_mode_e_must_accept_it() -> None:
    with pytest.raises(LocalProtocolError, match="binary_mode=True"):
        MeterPortConfig(manufacturer="MKT", ident="X", baud_char="5", enhanced=("2",))


def test_mode_e_switch_to_8n1_at_the_proposed_rate_with_both_ends_agreeing() -> None:
    pair = make_pair(binary_mode=True)
    pair.sign_on()
    pair.client.select_option(pair.now, mode="2")
    event = pair.wait_for(BinaryModeRequested)
    assert isinstance(event, BinaryModeRequested) and event.baud == 9600
    assert pair.wire.bauds("meter")[-1] == (b"\x06252\r\n", 9600)  # confirmation at the new rate, 7E1
    assert pair.meter_line == pair.client_line == SetLine(baud=9600, bytesize=8, parity="N")
    pair.assert_lines_agree()


# --- 1b: rates other than the proposal --------------------------------------------------------------


def test_client_refuses_a_rate_above_the_proposal_before_sending_anything() -> None:
    pair = make_pair(baud_char="5")
    pair.sign_on()
    sent = len(pair.wire.frames)
    with pytest.raises(LocalProtocolError, match=r"'6' \(19200 Bd\) is above the meter's proposal '5'"):
        pair.client.select_option(pair.now, mode="0", baud_char="6")
    assert pair.client.state is ClientState.IDENTIFIED and pair.client.outputs() == []
    # nothing was sent: the meter falls back to its 300 Bd readout after t_t, and the client takes it
    event = pair.wait_for(ReadoutReceived)
    assert isinstance(event, ReadoutReceived)
    assert len(pair.wire.frames) == sent + 1 and readout_bauds(pair) == [300]
    pair.assert_lines_agree()


@pytest.mark.parametrize(("z", "baud"), [("0", 300), ("3", 2400), ("4", 4800), ("5", 9600)])
def test_a_rate_at_or_below_the_proposal_switches_both_ends(z: str, baud: int) -> None:
    pair = make_pair(baud_char="5")
    pair.sign_on()
    pair.client.select_option(pair.now, mode="0", baud_char=z)
    pair.wait_for(ReadoutReceived)
    assert ReadoutRequested(mode="C", baud=baud) in pair.meter_events
    assert readout_bauds(pair) == [baud]
    pair.assert_lines_agree()


def test_programming_at_a_lower_rate_than_proposed() -> None:
    pair = make_pair(baud_char="6")
    pair.sign_on()
    pair.client.select_option(pair.now, mode="1", baud_char="4")
    assert isinstance(pair.wait_for(OperandReceived), OperandReceived)
    assert ProgrammingRequested(baud=4800) in pair.meter_events
    assert isinstance(pair.command(P1()), PositiveAck)
    assert {baud for _, baud in pair.wire.bauds("meter")[1:]} == {4800}
    pair.assert_lines_agree()


def test_meter_reports_an_option_it_does_not_honour() -> None:
    pair = make_pair(baud_char="5")
    pair.sign_on()
    pair.client_send_raw(b"\x06060\r\n")  # 19200 to a 9600 meter, bypassing the client's check
    pair.advance(1)
    assert ReadoutRequested(mode="C", baud=300) in pair.meter_events
    (violation,) = [e for e in pair.meter_events if isinstance(e, ProtocolViolation)]
    assert "above the proposal 9600 Bd" in str(violation.error)
    assert pair.meter_line.baud == 300


# --- 5: unknown / extended Z in the identification -----------------------------------------------


def test_z9_identification_selects_the_best_standard_rate_below_115200() -> None:
    client = ClientConnection(ClientConfig())
    client.sign_on(0.0)
    client.outputs()
    client.receive_data(b"/ISk9\\2MIE7T-200\r\n", 1.0)
    client.select_option(1.0, mode="0")
    option, line = client.outputs()
    assert isinstance(option, Transmit) and option.data == b"\x06060\r\n"
    assert isinstance(line, SetLine) and line.baud == 19200


def test_z9_cannot_be_selected_explicitly_and_the_message_says_why() -> None:
    client = ClientConnection(ClientConfig())
    client.sign_on(0.0)
    client.receive_data(b"/ADN9 6534\r\n", 1.0)
    with pytest.raises(LocalProtocolError, match=r"'9' is not a standard mode C/E rate; choose 0-6 .*115200 Bd"):
        client.select_option(1.0, mode="0", baud_char="9")


@pytest.mark.parametrize(("z", "best"), [("5", "5"), ("0", "0"), ("9", "6"), ("7", "0"), ("8", "0")])
def test_best_standard_character_is_never_above_the_proposal(z: str, best: str) -> None:
    assert best_standard_char(z) == best


def test_reserved_z7_is_kept_at_300_baud() -> None:
    client = ClientConnection(ClientConfig())
    client.sign_on(0.0)
    client.outputs()
    client.receive_data(b"/XYZ7RESERVED\r\n", 1.0)
    client.select_option(1.0, mode="0")
    assert [o.data for o in client.outputs() if isinstance(o, Transmit)] == [b"\x06000\r\n"]
    assert client.baud == 300


# --- the hypothesis test over option select ------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    mode=st.sampled_from(list("01269A")),
    baud_char=st.one_of(st.sampled_from(list("0123456789")), st.none()),
    meter_z=st.sampled_from(list("0123456")),
    binary=st.booleans(),
    protocol=st.sampled_from([None, "0", "1", "2"]),
)
def test_option_select_never_leaves_the_two_ends_on_different_lines(
    mode: str, baud_char: str | None, meter_z: str, binary: bool, protocol: str | None
) -> None:
    pair = make_pair(baud_char=meter_z, binary_mode=binary)
    pair.sign_on()
    try:
        pair.client.select_option(pair.now, mode=mode, baud_char=baud_char, protocol=protocol)
    except LocalProtocolError:
        # refused locally: nothing was sent, the meter's fallback readout at 300 Bd completes the session
        assert pair.client.state is ClientState.IDENTIFIED
        event = pair.wait_for(ReadoutReceived)
        assert readout_bauds(pair) == [300]
    else:
        z = baud_char if baud_char is not None else meter_z
        v = protocol if protocol is not None else ("2" if mode == "2" else "0")
        expected = option_outcome(protocol=v, baud_char=z, mode=mode, proposed=meter_z, binary=binary)
        event = pair.wait_for(ReadoutReceived, OperandReceived, BinaryModeRequested)
        kinds = {"readout": ReadoutReceived, "programming": OperandReceived, "binary": BinaryModeRequested}
        assert isinstance(event, kinds[expected.action])
        if expected.action == "readout":
            assert readout_bauds(pair) == [expected.baud]
        elif expected.action == "programming":
            assert isinstance(pair.command(R1("1.8.0")), AnswerReceived)
            pair.sign_off()
            assert pair.meter.state is MeterState.IDLE
        else:
            assert pair.meter_line == pair.client_line == SetLine(baud=expected.baud, bytesize=8, parity="N")
    pair.assert_lines_agree()
    assert pair.line_mismatches == []


# --- 6: programming after a mode A or mode B readout -----------------------------------------------


@pytest.mark.parametrize(("mode", "z", "readout_baud"), [("A", "Z", 300), ("B", "E", 9600)])
def test_a_command_right_after_a_mode_a_or_b_readout_starts_programming(
    mode: Literal["A", "B"], z: str, readout_baud: int
) -> None:
    pair = make_pair(mode=mode, baud_char=z)
    readout = pair.readout()
    assert readout.datasets
    assert pair.client.state is ClientState.IDLE
    assert isinstance(pair.command(P1()), PositiveAck)
    assert pair.meter.state is MeterState.PROGRAMMING
    answer = pair.command(R1("1.8.0"))
    assert isinstance(answer, AnswerReceived) and answer.answer.datasets[0].value == "001234.567"
    wrong = pair.command(R1("9.9.9"))
    assert isinstance(wrong, ErrorReceived) and wrong.text == "ERUNKNOWN"
    pair.sign_off()
    assert pair.meter.state is MeterState.IDLE
    # the readout at the mode's rate, every programming frame at 300 Bd (§6.4.2.3)
    assert readout_bauds(pair)[0] == readout_baud
    programming = [b for d, b in pair.wire.bauds("client") if d.startswith(b"\x01")]
    assert programming and set(programming) == {300}
    pair.assert_lines_agree()


def test_mode_c_readout_does_not_open_programming_mode() -> None:
    pair = make_pair()
    pair.readout()
    with pytest.raises(LocalProtocolError, match="cannot send P1 in state idle"):
        pair.client.send(P1(), pair.now)


def test_a_command_after_the_mode_a_repeat_window_gets_no_answer() -> None:
    pair = make_pair(mode="A", baud_char="Z")
    pair.readout()
    on_the_line = len(pair.wire.sent_by("meter")[-1]) * 10 / 300  # the window opens when the readout has left
    pair.advance(on_the_line + 5)  # the meter's repeat window (2 s) is over: back to its start state
    assert pair.meter.state is MeterState.IDLE
    pair.client.send(P1(), pair.now)
    timeout = pair.wait_for(ResponseTimeout, PositiveAck)
    assert isinstance(timeout, ResponseTimeout) and timeout.waiting_for == "answer to P1"
    assert pair.wire.sent_by("meter")[-1].startswith(b"\x02")  # nothing after the readout
    pair.assert_lines_agree()
