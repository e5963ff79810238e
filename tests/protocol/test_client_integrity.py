"""The client never loses a readout or an answer, and never trusts one silently: a wrong BCC after the repeats, a
meter that ignores NAK, a partial block that is never repeated, a readout that stops without ETX/BCC."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.fixtures.telegrams import LGZ_E350_ICRNL

from meterkit.errors import LocalProtocolError
from meterkit.iec62056_21.bcc import bcc
from meterkit.iec62056_21.client import ClientConfig, ClientConnection
from meterkit.iec62056_21.events import (
    AnswerReceived,
    ClientEvent,
    ErrorReceived,
    ProtocolViolation,
    ReadoutReceived,
    ResponseTimeout,
    Transmit,
)
from meterkit.iec62056_21.messages import CommandMessage, DataSet
from meterkit.iec62056_21.transitions import ClientState

BODY = b"1.8.0(000123.4*kWh)\r\n2.8.0(000001.0*kWh)\r\n!\r\n\x03"
GOOD = b"\x02" + BODY + bytes([bcc(BODY)])
BAD = GOOD[:-1] + bytes([GOOD[-1] ^ 0x20])


def events(client: ClientConnection) -> list[ClientEvent]:
    return list(iter(client.next_event, None))


def sent(client: ClientConnection) -> list[bytes]:
    return [o.data for o in client.outputs() if isinstance(o, Transmit)]


def mode_c_awaiting_readout(config: ClientConfig | None = None) -> ClientConnection:
    client = ClientConnection(config or ClientConfig())
    client.sign_on(0.0)
    client.receive_data(b"/MKT5TEST1\r\n", 1.0)
    client.select_option(1.0, mode="0")
    client.outputs()
    events(client)
    return client


def programming(config: ClientConfig | None = None) -> ClientConnection:
    client = ClientConnection(config or ClientConfig())
    client.sign_on(0.0)
    client.receive_data(b"/MKT5TEST1\r\n", 1.0)
    client.select_option(1.0, mode="1")
    client.receive_data(b"\x01P0\x02()\x03`", 2.0)
    client.outputs()
    events(client)
    return client


def block(text: bytes, *, partial: bool = False, good: bool = True) -> bytes:
    body = text + (b"\x04" if partial else b"\x03")
    check = bcc(body) ^ (0 if good else 0x11)
    return b"\x02" + body + bytes([check])


def test_a_readout_whose_bcc_stays_wrong_after_three_repeats_is_delivered_flagged() -> None:
    client = mode_c_awaiting_readout()
    now = 3.0
    for _ in range(3):
        client.receive_data(BAD, now)
        assert sent(client) == [b"\x15"]
        now += 1.0
    client.receive_data(BAD, now)
    (readout,) = [e for e in events(client) if isinstance(e, ReadoutReceived)]
    assert readout.message.bcc_ok is False
    assert [ds.value for ds in readout.message.datasets] == ["000123.4", "000001.0"]


def test_a_mode_a_meter_that_ignores_nak_still_yields_its_readout_flagged() -> None:
    client = ClientConnection(ClientConfig())
    client.sign_on(0.0)
    client.receive_data(b"/KAM MC\r\n", 1.0)  # Z = space: mode A, the readout follows at once
    client.receive_data(BAD, 2.0)
    assert sent(client)[-1] == b"\x15"
    assert not any(isinstance(e, ReadoutReceived) for e in events(client))
    deadline = client.deadline()
    assert deadline is not None and deadline < 2.0 + 10.0  # waits for a repeat as for an answer, not 10 s
    client.handle_timer(deadline)
    got = events(client)
    (readout,) = [e for e in got if isinstance(e, ReadoutReceived)]
    assert readout.message.bcc_ok is False and readout.message.datasets[0].value == "000123.4"
    assert any("did not repeat" in str(e.error) for e in got if isinstance(e, ProtocolViolation))
    assert not any(isinstance(e, ResponseTimeout) for e in got)


def test_a_repeat_that_comes_good_is_delivered_as_verified() -> None:
    client = mode_c_awaiting_readout()
    client.receive_data(BAD, 3.0)
    client.receive_data(GOOD, 4.0)
    (readout,) = [e for e in events(client) if isinstance(e, ReadoutReceived)]
    assert readout.message.bcc_ok is True


def test_an_answer_with_a_wrong_bcc_is_not_lost_when_the_repeats_are_spent() -> None:
    client = programming()
    client.send(CommandMessage(command="R", command_type="1", data_set=DataSet.single("1.8.0")), 3.0)
    now = 4.0
    for _ in range(4):
        client.receive_data(block(b"1.8.0(5*kWh)", good=False), now)
        now += 1.0
    (answer,) = [e for e in events(client) if isinstance(e, AnswerReceived)]
    assert answer.answer.bcc_ok is False and answer.answer.datasets[0].value == "5"
    assert client.state is ClientState.PROGRAMMING


def test_a_damaged_partial_block_that_is_never_repeated_is_delivered_flagged_with_the_blocks_before() -> None:
    client = programming()
    client.send(CommandMessage(command="R", command_type="3", data_set=DataSet.single("P.01")), 3.0)
    client.receive_data(block(b"P.01(1)\r\n", partial=True), 4.0)
    assert sent(client)[-1] == b"\x06"  # next block, please
    client.receive_data(block(b"(2)", good=False), 5.0)
    assert sent(client)[-1] == b"\x15"
    deadline = client.deadline()
    assert deadline is not None
    client.handle_timer(deadline)
    (answer,) = [e for e in events(client) if isinstance(e, AnswerReceived)]
    assert answer.answer.bcc_ok is False
    assert [ds.value for ds in answer.answer.datasets] == ["1", "2"]


def test_a_damaged_error_message_is_reported_as_an_error_flagged() -> None:
    client = programming()
    client.send(CommandMessage(command="R", command_type="1", data_set=DataSet.single("9.9.9")), 3.0)
    now = 4.0
    for _ in range(4):
        client.receive_data(block(b"(ER01)", good=False), now)
        now += 1.0
    (error,) = [e for e in events(client) if isinstance(e, ErrorReceived)]
    assert (error.text, error.bcc_ok) == ("ER01", False)


def test_lenient_readout_without_etx_gives_its_complete_data_sets_and_says_so() -> None:
    client = mode_c_awaiting_readout(ClientConfig(lenient=True))
    client.receive_data(b"\x021.8.0(000123.4*kWh)\r\n2.8.0(0000", 3.0)
    deadline = client.deadline()
    assert deadline is not None
    client.handle_timer(deadline)
    got = events(client)
    (readout,) = [e for e in got if isinstance(e, ReadoutReceived)]
    assert readout.complete is False and readout.message.bcc_ok is None
    assert [ds.address for ds in readout.message.datasets] == ["1.8.0"]  # the cut line is not guessed
    assert any("without ETX/BCC" in str(e.error) for e in got if isinstance(e, ProtocolViolation))
    assert client.state is ClientState.IDLE


def test_without_lenient_a_readout_without_etx_is_a_time_out_not_a_hang() -> None:
    client = mode_c_awaiting_readout()
    client.receive_data(b"\x021.8.0(000123.4*kWh)\r\n", 3.0)
    deadline = client.deadline()
    assert deadline is not None
    client.handle_timer(deadline)
    assert any(isinstance(e, ResponseTimeout) for e in events(client))
    assert client.deadline() is None


def test_lenient_keeps_the_e350_capture_that_stops_at_the_bang_when_the_line_closes() -> None:
    client = ClientConnection(ClientConfig(lenient=True))
    client.sign_on(0.0)
    ident_end = LGZ_E350_ICRNL.data.index(b"\n") + 1
    client.receive_data(LGZ_E350_ICRNL.data[:ident_end], 1.0)
    client.select_option(1.0, mode="0", baud_char="0")
    client.receive_data(LGZ_E350_ICRNL.data[ident_end:], 2.0)
    client.receive_data(b"", 2.5)  # the capture ends: the line closed
    got = events(client)
    (readout,) = [e for e in got if isinstance(e, ReadoutReceived)]
    assert readout.complete is False
    assert len(readout.message.datasets) == 23
    assert readout.message.datasets[-1].address == "C.5.0"
    assert any("without ETX/BCC;" in str(e.error) for e in got if isinstance(e, ProtocolViolation))


def test_a_damaged_operand_is_asked_for_again_and_the_meter_repeats_it() -> None:
    from meterkit.iec62056_21.events import OperandReceived
    from meterkit.iec62056_21.meter import MeterPortConfig
    from meterkit.iec62056_21.testing import ConnectionPair
    from meterkit.meter.static_table import StaticTableMeter

    pair = ConnectionPair.for_application(
        StaticTableMeter(config=MeterPortConfig(manufacturer="MKT", ident="OP1", baud_char="5"))
    )
    original = pair.client.receive_data
    flipped = {"done": False}

    def flip(data: bytes, now: float) -> None:
        if not flipped["done"] and data.startswith(b"\x01P0"):
            flipped["done"] = True
            data = data[:-1] + bytes([data[-1] ^ 0x01])
        original(data, now)

    pair.client.receive_data = flip  # type: ignore[method-assign]
    pair.sign_on()
    pair.client.select_option(pair.now, mode="1")
    event = pair.wait_for(OperandReceived)
    assert isinstance(event, OperandReceived) and event.bcc_ok is True
    assert flipped["done"] and pair.wire.sent_by("client").count(b"\x15") == 1
    operands = [data for data in pair.wire.sent_by("meter") if data.startswith(b"\x01P0")]
    assert len(operands) == 2 and operands[0] == operands[1]  # the same P0, repeated after the NAK


_SAYS = [
    b"/MKT5TEST1\r\n",
    b"/KAM MC\r\n",
    b"\x06252\r\n",
    b"\x01P0\x02(123)\x03",
    b"\x02(1*kWh)\x04",  # a partial block
    b"\x02(ER01)\x03",
    b"\x021.8.0(1)\r\n!\r\n\x03",
    b"\x021.8.0(1)\r\n2.8",  # a readout that stops
    b"\x06",
    b"\x15",
]


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["sign_on", "select0", "select1", "send", "send1", "reset", "timer", "close"]),
            st.sampled_from(_SAYS),
            st.sampled_from(["good", "bad", "none"]),
        ),
        max_size=16,
    ),
    st.booleans(),
)
def test_flagging_repeats_lenient_endings_and_aborts_never_raise_and_always_settle(
    steps: list[tuple[str, bytes, str]], lenient: bool
) -> None:
    client = ClientConnection(ClientConfig(lenient=lenient))
    now = 0.0
    for action, said, check in steps:
        try:
            match action:
                case "sign_on":
                    client.sign_on(now)
                case "select0" | "select1":
                    client.select_option(now, mode=action[-1])
                case "send":
                    client.send(CommandMessage(command="R", command_type="3", data_set=DataSet.single("P.01")), now)
                case "send1":
                    client.send(
                        CommandMessage(command="R", command_type="3", data_set=DataSet.single("P.01")),
                        now,
                        max_blocks=1,
                    )
                case "reset":
                    client.reset()
                case "close":
                    client.receive_data(b"", now)
                case _:
                    deadline = client.deadline()
                    if deadline is not None:
                        now = max(now, deadline)
                        client.handle_timer(now)
        except LocalProtocolError:
            pass
        if said[-1:] in (b"\x03", b"\x04") and check != "none":
            said += bytes([bcc(said[1:]) ^ (0 if check == "good" else 0x40)])
        now += 0.5
        client.receive_data(said, now)
        events(client)
        client.outputs()
    # every wait ends: a timer is pending exactly while something is awaited
    for _ in range(8):
        deadline = client.deadline()
        if deadline is None:
            break
        now = max(now, deadline)
        client.handle_timer(now)
        events(client)
    assert client.deadline() is None
    assert client.state in (ClientState.IDLE, ClientState.PROGRAMMING, ClientState.IDENTIFIED, ClientState.LISTEN)
