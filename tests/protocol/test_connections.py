"""Whole sessions between the two state machines, in memory with a simulated clock."""

from __future__ import annotations

from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meterkit.errors import LocalProtocolError
from meterkit.iec62056_21.application import SessionReply
from meterkit.iec62056_21.client import ClientConfig, ClientConnection
from meterkit.iec62056_21.events import (
    AnswerReceived,
    BinaryModeRequested,
    ErrorReceived,
    IdentificationReceived,
    PositiveAck,
    ProgrammingRequested,
    ReadoutReceived,
    ReadoutRequested,
    RepeatRequested,
    ResponseTimeout,
    SessionEnded,
    SetLine,
    Transmit,
)
from meterkit.iec62056_21.messages import CommandMessage, DataSet, IdentificationMessage, ModeDMessage
from meterkit.iec62056_21.meter import MeterConnection, MeterPortConfig, addresses_match
from meterkit.iec62056_21.testing import ConnectionPair
from meterkit.iec62056_21.transitions import ClientState, MeterState
from meterkit.meter.static_table import StaticTableMeter


def make_pair(
    *,
    mode: Literal["A", "B", "C"] = "C",
    baud_char: str = "5",
    address: str = "",
    client: ClientConfig | None = None,
    **kw: object,
) -> tuple[ConnectionPair, StaticTableMeter]:
    config = MeterPortConfig(
        manufacturer="MKT",
        ident="TEST1",
        baud_char=baud_char,
        protocol_mode=mode,
        device_address=address,
        **kw,  # type: ignore[arg-type]
    )
    app = StaticTableMeter(config=config)
    return ConnectionPair.for_application(app, client_config=client), app


def R1(address: str) -> CommandMessage:
    return CommandMessage(command="R", command_type="1", data_set=DataSet.single(address, ""))


def test_mode_c_readout_switches_both_ends_to_9600_and_back() -> None:
    pair, app = make_pair()
    readout = pair.readout()
    assert [ds.address for ds in readout.datasets] == list(app.registers)
    assert pair.meter_line.baud == 9600 and pair.client_line.baud == 9600
    assert pair.line_mismatches == []
    pair.advance(5)
    assert pair.meter.state is MeterState.IDLE and pair.meter_line.baud == 300
    assert isinstance(pair.meter_events[-1], SessionEnded) and pair.meter_events[-1].reason == "readout-done"


def test_mode_c_option_with_z0_stays_at_300_baud() -> None:
    pair, _ = make_pair()
    pair.sign_on()
    pair.client.select_option(pair.now, mode="0", baud_char="0")
    pair.wait_for(ReadoutReceived)
    assert pair.meter_line.baud == 300 and pair.client_line.baud == 300
    pair.assert_lines_agree()


def test_mode_c_without_option_select_falls_back_to_readout_at_300_after_t_t() -> None:
    pair, _ = make_pair()
    ident_time = None
    pair.sign_on()
    ident_time = pair.now
    event = pair.wait_for(ReadoutReceived)
    assert isinstance(event, ReadoutReceived)
    assert ReadoutRequested(mode="C", baud=300) in pair.meter_events
    assert 1.5 < pair.now - ident_time <= 2.2 + 0.5  # t_t plus the reaction time


def test_mode_a_sends_readout_at_once_at_300() -> None:
    pair, _ = make_pair(mode="A", baud_char="Z")
    readout = pair.readout()
    assert readout.datasets and pair.meter_line.baud == 300 and pair.line_mismatches == []


def test_mode_b_switches_after_the_identification() -> None:
    pair, _ = make_pair(mode="B", baud_char="E")
    pair.readout()
    assert ReadoutRequested(mode="B", baud=9600) in pair.meter_events
    assert [baud for data, baud in pair.wire.bauds("meter")] == [300, 9600]  # identification, readout
    # after the readout both ends are back at 300 Bd, ready for programming commands (§6.4.2.3)
    assert pair.client_line.baud == pair.meter_line.baud == 300
    pair.assert_lines_agree()


def test_reaction_time_is_200_ms_or_20_ms_for_a_lower_case_third_letter() -> None:
    pair, _ = make_pair()
    pair.sign_on()
    (t_req, _, _), (t_ident, _, _) = pair.wire.frames[:2]
    assert t_ident - t_req == pytest.approx(0.2)
    fast = MeterConnection(MeterPortConfig(manufacturer="MKt", ident="F", baud_char="5"))
    assert fast.config.effective_reaction_time == pytest.approx(0.02)


def test_programming_session_p0_p1_r1_w1_b0() -> None:
    pair, app = make_pair()
    assert pair.programming() == app.operand
    assert isinstance(pair.meter_events[-1], ProgrammingRequested)
    assert isinstance(
        pair.command(CommandMessage(command="P", command_type="1", data_set=DataSet.single("", "00000000"))),
        PositiveAck,
    )
    answer = pair.command(R1("1.8.0"))
    assert isinstance(answer, AnswerReceived) and answer.answer.datasets[0].value == "001234.567"
    assert isinstance(
        pair.command(
            CommandMessage(command="W", command_type="1", data_set=DataSet.single("1.8.0", "000000.001", "kWh"))
        ),
        PositiveAck,
    )
    assert app.registers["1.8.0"].value == "000000.001"
    pair.sign_off()
    assert pair.meter.state is MeterState.IDLE and SessionEnded(reason="break") in pair.meter_events
    assert pair.meter_line.baud == 300


def test_wrong_password_and_unknown_address_are_error_answers_not_exceptions() -> None:
    pair, _ = make_pair()
    pair.programming()
    event = pair.command(CommandMessage(command="P", command_type="1", data_set=DataSet.single("", "nope")))
    assert isinstance(event, ErrorReceived) and event.text == "ERPASSWORD"
    assert isinstance(pair.command(R1("9.9.9")), ErrorReceived)


def test_partial_block_read_is_acknowledged_and_reassembled() -> None:
    pair, app = make_pair()
    app.registers["P.01"] = DataSet.single("P.01", "0123456789" * 20)
    app.block_size = 48
    pair.programming()
    event = pair.command(CommandMessage(command="R", command_type="3", data_set=DataSet.single("P.01", "")))
    assert isinstance(event, AnswerReceived)
    assert "".join(ds.value for ds in event.answer.datasets) == "0123456789" * 20
    client_frames = pair.wire.sent_by("client")
    assert client_frames.count(b"\x06") == 4  # 5 blocks: the first four are partial and acknowledged


def test_corrupted_partial_block_is_nak_ed_and_repeated() -> None:
    pair, app = make_pair()
    app.registers["P.01"] = DataSet.single("P.01", "A" * 100)
    app.block_size = 40
    pair.programming()
    pair.client.send(CommandMessage(command="R", command_type="3", data_set=DataSet.single("P.01", "")), pair.now)
    # corrupt the first block on its way to the client
    original = pair.client.receive_data
    corrupted = {"done": False}

    def flip(data: bytes, now: float) -> None:
        if not corrupted["done"] and data.startswith(b"\x02"):
            corrupted["done"] = True
            data = data[:-1] + bytes([data[-1] ^ 0x01])
        original(data, now)

    pair.client.receive_data = flip  # type: ignore[method-assign]
    event = pair.wait_for(AnswerReceived)
    assert isinstance(event, AnswerReceived) and "".join(d.value for d in event.answer.datasets) == "A" * 100
    assert b"\x15" in pair.wire.sent_by("client")


def test_nak_after_readout_gets_the_same_readout_again() -> None:
    pair, _ = make_pair()
    first = pair.readout()
    pair.client.request_repeat(pair.now)
    again = pair.wait_for(ReadoutReceived)
    assert isinstance(again, ReadoutReceived) and again.message == first
    meter_frames = [f for f in pair.wire.sent_by("meter") if f.startswith(b"\x02")]
    assert len(meter_frames) == 2 and meter_frames[0] == meter_frames[1]


def test_meter_naks_a_command_with_a_bad_bcc_and_client_repeats_it() -> None:
    pair, _ = make_pair()
    pair.programming()
    frame = R1("1.8.0").to_bytes()
    pair.client_send_raw(frame[:-1] + bytes([frame[-1] ^ 0x7F]))
    assert pair.wire.sent_by("meter")[-1] == b"\x15"
    assert pair.meter.state is MeterState.PROGRAMMING


def test_meter_gives_up_after_three_naks() -> None:
    pair, _ = make_pair()
    pair.programming()
    bad = R1("1.8.0").to_bytes()[:-1] + b"\x00"
    for _ in range(4):
        pair.client_send_raw(bad)
    assert pair.meter.state is MeterState.IDLE
    assert pair.wire.sent_by("meter")[-3:] == [b"\x15"] * 3


def test_client_gives_up_after_three_repeats_requested_by_the_meter() -> None:
    meter = MeterConnection(MeterPortConfig(manufacturer="MKT", ident="X", baud_char="5"))
    pair = ConnectionPair(meter, ClientConnection())

    class NakSession:
        def handle(self, event: object) -> SessionReply:
            from meterkit.iec62056_21.events import CommandReceived
            from meterkit.iec62056_21.messages import Nak

            if isinstance(event, ProgrammingRequested):
                return SessionReply(
                    messages=(CommandMessage(command="P", command_type="0", data_set=DataSet.single("", "")),)
                )
            if isinstance(event, CommandReceived):
                return SessionReply(messages=(Nak(),))
            return SessionReply()

        def close(self, reason: str) -> None:
            pass

    pair.session = NakSession()
    pair.programming()
    assert isinstance(pair.command(R1("1.8.0")), RepeatRequested)
    assert pair.wire.sent_by("client").count(R1("1.8.0").to_bytes()) == 4


@pytest.mark.parametrize(
    ("requested", "own", "answers"),
    [
        ("", "123", True),
        ("123", "", True),
        ("00123", "123", True),
        ("123", "000123", True),
        ("0", "000", True),
        ("124", "123", False),
        ("abc", "ABC", False),
    ],
)
def test_device_address_matching_ignores_leading_zeros_only(requested: str, own: str, answers: bool) -> None:
    assert addresses_match(requested, own) is answers


def test_meter_with_another_address_stays_silent_and_client_times_out() -> None:
    pair, _ = make_pair(address="4711", client=ClientConfig(device_address="4712", response_timeout=1.5))
    pair.client.sign_on(pair.now)
    event = pair.wait_for(ResponseTimeout, IdentificationReceived)
    assert isinstance(event, ResponseTimeout) and event.waiting_for == "identification"
    assert pair.wire.sent_by("meter") == []


def test_programming_inactivity_timeout_returns_the_meter_to_idle() -> None:
    pair, _ = make_pair()
    pair.programming()
    pair.advance(119)
    assert pair.meter.state is MeterState.PROGRAMMING
    pair.advance(2)
    state: MeterState = pair.meter.state
    assert state is MeterState.IDLE and SessionEnded(reason="inactivity") in pair.meter_events


def test_answer_timeout_leaves_client_ready_for_another_command() -> None:
    meter = MeterConnection(MeterPortConfig(manufacturer="MKT", ident="X", baud_char="5"))
    pair = ConnectionPair(meter, ClientConnection(ClientConfig(response_timeout=1.5)), session=None)
    pair.sign_on()
    pair.client.select_option(pair.now, mode="1")
    event = pair.wait_for(ResponseTimeout)
    assert isinstance(event, ResponseTimeout) and event.waiting_for == "P0 operand"


def test_mode_e_confirmation_then_binary_line_when_supported() -> None:
    pair, _ = make_pair(binary_mode=True)
    ident = pair.sign_on().identification
    assert ident.mode_e
    pair.client.select_option(pair.now, mode="2")
    event = pair.wait_for(BinaryModeRequested)
    assert isinstance(event, BinaryModeRequested) and event.baud == 9600
    assert pair.meter.state is MeterState.BINARY and pair.client.state is ClientState.BINARY
    assert pair.meter_line == SetLine(baud=9600, bytesize=8, parity="N")
    assert pair.wire.sent_by("meter")[-1] == b"\x06252\r\n"
    pair.assert_lines_agree()


def test_mode_e_request_without_binary_handler_is_answered_as_mode_c_readout() -> None:
    pair, _ = make_pair()
    pair.sign_on()
    pair.client.select_option(pair.now, mode="2", baud_char="5")
    event = pair.wait_for(ReadoutReceived)
    assert isinstance(event, ReadoutReceived) and ReadoutRequested(mode="C", baud=300) in pair.meter_events
    assert pair.client_line.baud == 300
    pair.assert_lines_agree()


def test_mode_d_push_is_decoded_by_a_listening_client() -> None:
    client = ClientConnection()
    client.listen()
    push = ModeDMessage(
        identification=IdentificationMessage(manufacturer="EBZ", baud_char="5", ident="DD3BZ06ETA_107"),
        datasets=(DataSet.single("1-0:1.8.0*255", "005087.48789958", "kWh"),),
    )
    client.receive_data(push.to_bytes(strict=False), 0.0)
    events = [client.next_event(), client.next_event()]
    assert isinstance(events[0], IdentificationReceived)
    assert isinstance(events[1], ReadoutReceived) and events[1].message.datasets[0].value == "005087.48789958"


def test_wake_up_sends_nuls_for_2_2_s_then_waits_before_the_request() -> None:
    client = ClientConnection(ClientConfig(wake_up=True))
    client.sign_on(0.0)
    nuls, request = client.outputs()
    assert nuls.data == b"\x00" * 66  # type: ignore[union-attr]
    assert request.not_before == pytest.approx(3.8)  # type: ignore[union-attr]


def test_application_cannot_send_out_of_state() -> None:
    meter = MeterConnection(MeterPortConfig(manufacturer="MKT", ident="X", baud_char="5"))
    with pytest.raises(LocalProtocolError, match="cannot send DataAnswer in state idle"):
        from meterkit.iec62056_21.messages import DataAnswer

        meter.send(DataAnswer(), 0.0)


@settings(max_examples=150)
@given(st.lists(st.binary(max_size=40), max_size=12), st.lists(st.floats(0, 200), max_size=12))
def test_meter_state_machine_never_raises_and_never_leaks_outside_its_states(
    chunks: list[bytes], gaps: list[float]
) -> None:
    pair, _ = make_pair()
    prefixes = [b"/?!\r\n", b"\x06051\r\n", b"\x01P1\x02(x)\x03", b"\x15", b"\x06"]
    for i, chunk in enumerate(chunks):
        pair.client_send_raw(prefixes[i % len(prefixes)] + chunk if i % 2 else chunk)
        if i < len(gaps):
            pair.advance(gaps[i])
        assert pair.meter.state in MeterState


_CLIENT_ACTIONS = ["sign_on", "select0", "select1", "select2", "send", "sign_off", "repeat", "listen", "timer"]
_METER_SAYS = [
    b"/MKT5TEST1\r\n",
    b"/MKT5\\2TEST1\r\n",
    b"\x06252\r\n",
    b"\x01P0\x02(123)\x03",
    b"\x02(1*kWh)\x03",
    b"\x02(ER01)\x03",
    b"\x021.8.0(1)\r\n!\r\n\x03",
    b"\x06",
    b"\x15",
]


@settings(max_examples=150)
@given(
    st.lists(
        st.tuples(st.sampled_from(_CLIENT_ACTIONS), st.sampled_from(_METER_SAYS), st.binary(max_size=12)),
        max_size=14,
    ),
    st.booleans(),
)
def test_client_state_machine_never_raises_on_received_bytes_in_any_state(
    steps: list[tuple[str, bytes, bytes]], with_bcc: bool
) -> None:
    from meterkit.iec62056_21.bcc import bcc

    client = ClientConnection(ClientConfig())
    now = 0.0
    for action, said, noise in steps:
        try:
            match action:
                case "sign_on":
                    client.sign_on(now)
                case "select0" | "select1" | "select2":
                    client.select_option(now, mode=action[-1])
                case "send":
                    client.send(R1("1.8.0"), now)
                case "sign_off":
                    client.sign_off(now)
                case "repeat":
                    client.request_repeat(now)
                case "listen":
                    client.listen()
                case _:
                    deadline = client.deadline()
                    if deadline is not None:
                        now = max(now, deadline)
                        client.handle_timer(now)
        except LocalProtocolError:
            pass  # the user asked for something the state does not allow: refused, never corrupted
        if said[-1:] == b"\x03" and with_bcc:
            said += bytes([bcc(said[1:])])
        now += 0.5
        client.receive_data(said + noise, now)  # must never raise
        assert client.state in ClientState
        while client.next_event() is not None:
            pass
        client.outputs()
    client.receive_data(b"", now + 1)
    assert client.state in ClientState


@pytest.mark.parametrize("state", list(MeterState))
def test_every_meter_state_declares_its_timer_and_what_the_application_may_send(state: MeterState) -> None:
    from meterkit.iec62056_21.transitions import METER_SENDS, METER_TIMERS

    assert state in METER_SENDS and state in METER_TIMERS


@pytest.mark.parametrize("state", list(ClientState))
def test_every_client_state_declares_its_timer(state: ClientState) -> None:
    from meterkit.iec62056_21.transitions import CLIENT_TIMERS

    assert state in CLIENT_TIMERS


@pytest.mark.parametrize(
    ("z", "mode", "baud"),
    [
        *[("A", "B", 600), ("E", "B", 9600), ("F", "B", 19200)],
        *[("0", "C", 300), ("5", "C", 9600), ("6", "C", 19200), ("9", "C", 115200)],
        *[(" ", "A", 300), ("@", "A", 300)],
    ],
)
def test_baud_character_tables_and_mode_inference(z: str, mode: str, baud: int) -> None:
    from meterkit.iec62056_21.baud import baud_for, mode_from_baud_char

    assert mode_from_baud_char(z) == mode
    assert baud_for(z) == baud


def test_reserved_baud_characters_are_refused_only_when_strict() -> None:
    from meterkit.iec62056_21.baud import baud_for

    with pytest.raises(LocalProtocolError, match="reserved in mode C"):
        baud_for("9", lenient=False)
    with pytest.raises(LocalProtocolError, match="reserved in mode B"):
        baud_for("G", lenient=False)


def test_heat_meter_request_start_hash_is_answered_only_when_configured() -> None:
    hash_client = ClientConfig(request_start="#")
    pair, _ = make_pair(client=hash_client)
    pair.client.sign_on(pair.now)
    event = pair.wait_for(ResponseTimeout, IdentificationReceived)
    assert isinstance(event, ResponseTimeout) and pair.wire.sent_by("meter") == []
    pair, _ = make_pair(client=hash_client, accept_request_start="?#")
    assert pair.wire.sent_by("client") == []
    ident = pair.sign_on()
    assert pair.wire.sent_by("client")[0] == b"/#!\r\n"
    assert ident.identification.manufacturer == "MKT"


def test_battery_sign_off_b1_is_acknowledged_then_the_meter_ends_the_session() -> None:
    pair, _ = make_pair()
    pair.programming()
    pair.client.sign_off(pair.now, battery=True)
    pair.pump()
    pair.advance(1)
    assert pair.wire.sent_by("client")[-1].startswith(b"\x01B1\x03")
    assert pair.wire.sent_by("meter")[-1] == b"\x06"
    assert pair.meter.state is MeterState.IDLE
    assert any(isinstance(e, SessionEnded) for e in pair.meter_events)


def test_mode_e_confirmation_sent_with_emulated_parity_is_read_by_the_client() -> None:
    # IEC 62056-21 Fig. E.4: ACK 2 5 2 CR LF sent as 8N1 with the parity bit set by hand.
    client = ClientConnection(ClientConfig())
    client.sign_on(0.0)
    client.receive_data(b"/MKT5\\2TEST1\r\n", 1.0)
    client.select_option(1.5, mode="2")
    client.receive_data(bytes.fromhex("06B235B28D0A"), 2.0)
    events = []
    while (event := client.next_event()) is not None:
        events.append(event)
    assert any(isinstance(e, BinaryModeRequested) for e in events)
    assert client.state is ClientState.BINARY


def test_time_out_runs_from_the_end_of_the_request_and_a_slow_answer_extends_it_by_t_a() -> None:
    client = ClientConnection(ClientConfig(response_timeout=1.5, char_timeout=1.0))
    client.sign_on(0.0)
    (request,) = client.outputs()
    assert isinstance(request, Transmit) and request.data == b"/?!\r\n"
    assert client.deadline() == pytest.approx(5 * 10 / 300 + 1.5)  # from the end of the request on the line
    client.receive_data(b"/MKT5TE", 5.0)  # a partial identification keeps the line alive
    assert client.deadline() == pytest.approx(6.0)
    client.handle_timer(6.0)
    assert isinstance(client.next_event(), ResponseTimeout)


@pytest.mark.parametrize(("ident", "wait"), [(b"/MKT5TEST1\r\n", 0.2), (b"/ISk5MT174-0001\r\n", 0.02)])
def test_client_waits_the_meters_reaction_time_before_answering(ident: bytes, wait: float) -> None:
    client = ClientConnection(ClientConfig())
    client.sign_on(0.0)
    client.outputs()
    client.receive_data(ident, 1.0)
    client.select_option(1.0, mode="0")
    option = client.outputs()[0]
    assert isinstance(option, Transmit) and option.data == b"\x06050\r\n"
    assert option.not_before == pytest.approx(1.0 + wait)


@pytest.mark.parametrize("strict", [True, False])
def test_readout_with_a_bad_bcc_is_nak_ed_when_strict_and_accepted_as_damaged_when_lenient(strict: bool) -> None:
    from meterkit.iec62056_21.bcc import bcc

    client = ClientConnection(ClientConfig(strict_bcc=strict))
    client.sign_on(0.0)
    client.receive_data(b"/MKT5TEST1\r\n", 1.0)
    client.select_option(1.0, mode="0")
    client.outputs()
    body = b"1.8.0(000123.4*kWh)\r\n!\r\n\x03"
    good = b"\x02" + body + bytes([bcc(body)])
    client.receive_data(good[:-1] + bytes([good[-1] ^ 0x20]), 3.0)
    events = []
    while (event := client.next_event()) is not None:
        events.append(event)
    if strict:
        assert [o.data for o in client.outputs() if isinstance(o, Transmit)] == [b"\x15"]
        assert not any(isinstance(e, ReadoutReceived) for e in events)
        client.receive_data(good, 4.0)
        (readout,) = [e for e in iter(client.next_event, None) if isinstance(e, ReadoutReceived)]
        assert readout.message.bcc_ok is True
    else:
        (readout,) = [e for e in events if isinstance(e, ReadoutReceived)]
        assert readout.message.bcc_ok is False and readout.message.datasets[0].value == "000123.4"
