"""The client runs the timer its transition table names for each state, and acts on the timer's name when it runs out.

IEC 62056-21: after NAK for a damaged message the meter repeats it within t_r (≤ 1.5 s, §6.4.3.5 and Annex A), so the
wait for a repeat is its own state (``await-repeat``) with the response time-out, also after the mode C fallback
readout that arrives while the user is still choosing an option (``identified`` runs no timer)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meterkit.errors import LocalProtocolError
from meterkit.iec62056_21 import transitions
from meterkit.iec62056_21.bcc import bcc
from meterkit.iec62056_21.client import ClientConfig, ClientConnection
from meterkit.iec62056_21.events import ClientEvent, ProtocolViolation, ReadoutReceived, ResponseTimeout, Transmit
from meterkit.iec62056_21.messages import CommandMessage, DataSet
from meterkit.iec62056_21.transitions import CLIENT_TIMERS, ClientState

BODY = b"1.8.0(000123.4*kWh)\r\n!\r\n\x03"
GOOD = b"\x02" + BODY + bytes([bcc(BODY)])
BAD = GOOD[:-1] + bytes([GOOD[-1] ^ 0x20])
CONFIG = ClientConfig(response_timeout=1.5, readout_timeout=10.0)


def drain(client: ClientConnection) -> list[ClientEvent]:
    client.outputs()
    return list(iter(client.next_event, None))


def state_of(client: ClientConnection) -> ClientState:
    return client.state  # read afresh (the connection's state changes under the type checker's narrowing)


def framed(body: bytes, *, good: bool = True) -> bytes:
    return body + bytes([bcc(body[1:]) ^ (0 if good else 0x40)])


def test_a_damaged_fallback_readout_in_identified_is_awaited_in_await_repeat() -> None:
    client = ClientConnection(CONFIG)
    client.sign_on(0.0)
    client.receive_data(b"/MKT5TEST1\r\n", 1.0)
    assert client.state is ClientState.IDENTIFIED and client.deadline() is None and client.timer is None
    drain(client)
    client.receive_data(BAD, 3.0)  # the meter's fallback readout at 300 Bd (no option select within t_t), damaged
    assert state_of(client) is ClientState.AWAIT_REPEAT and client.timer == "repeat"
    deadline = client.deadline()
    assert deadline is not None and deadline == pytest.approx(3.0 + 0.2 + 1 / 30 + 1.5)  # t_r, the NAK, 1.5 s
    client.receive_data(GOOD, 3.5)  # the repeat
    events = drain(client)
    assert next(e for e in events if isinstance(e, ReadoutReceived)).message.bcc_ok is True
    assert state_of(client) is ClientState.IDLE and client.deadline() is None


def test_the_repeat_timer_running_out_delivers_the_damaged_readout_flagged() -> None:
    client = ClientConnection(CONFIG)
    client.sign_on(0.0)
    client.receive_data(b"/MKT5TEST1\r\n", 1.0)
    client.select_option(1.0, mode="0")
    assert client.timer == "readout"
    client.receive_data(BAD, 2.0)
    drain(client)
    assert client.state is ClientState.AWAIT_REPEAT
    deadline = client.deadline()
    assert deadline is not None and deadline < 2.0 + CONFIG.readout_timeout  # the response time-out, not 10 s
    client.handle_timer(deadline)
    events = drain(client)
    readouts = [e for e in events if isinstance(e, ReadoutReceived)]
    assert len(readouts) == 1 and readouts[0].message.bcc_ok is False
    assert any(isinstance(e, ProtocolViolation) and "did not repeat" in str(e.error) for e in events)
    assert not any(isinstance(e, ResponseTimeout) for e in events)


def test_the_client_arms_the_timer_its_table_names(monkeypatch: pytest.MonkeyPatch) -> None:
    client = ClientConnection(CONFIG)
    client.sign_on(0.0)
    assert client.state is ClientState.AWAIT_IDENT and client.timer == "identification"
    # the table is read: a state whose timer the table drops runs none, one given another timer runs that one
    monkeypatch.setitem(transitions.CLIENT_TIMERS, ClientState.AWAIT_IDENT, None)
    other = ClientConnection(CONFIG)
    other.sign_on(0.0)
    assert other.deadline() is None and other.timer is None
    monkeypatch.setitem(transitions.CLIENT_TIMERS, ClientState.AWAIT_IDENT, "readout")
    third = ClientConnection(CONFIG)
    third.sign_on(0.0)
    assert third.timer == "readout" and third.deadline() == pytest.approx(5 / 30 + 10.0)  # from the end of /?!CRLF
    # and it acts on the name: a "readout" timer in lenient mode would salvage; here it is a time-out
    assert third.deadline() is not None
    third.handle_timer(10.2)
    assert drain(third) == [ResponseTimeout(waiting_for="identification")]


def test_what_the_client_timer_does_follows_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    client = ClientConnection(CONFIG)
    client.sign_on(0.0)
    client.receive_data(b"/MKT5TEST1\r\n", 1.0)
    client.select_option(1.0, mode="1")
    client.receive_data(b"\x01P0\x02()\x03`", 2.0)
    client.send(CommandMessage(command="R", command_type="1", data_set=DataSet.single("1.8.0")), 3.0)
    drain(client)
    assert client.state is ClientState.AWAIT_ANSWER and client.timer == "answer"
    deadline = client.deadline()
    assert deadline is not None
    client.handle_timer(deadline)  # "answer": back to programming mode, the session goes on
    assert drain(client) == [ResponseTimeout(waiting_for="answer to R1")]
    assert state_of(client) is ClientState.PROGRAMMING
    client.send(CommandMessage(command="R", command_type="1", data_set=DataSet.single("1.8.0")), 9.0)
    monkeypatch.setitem(transitions.CLIENT_TIMERS, ClientState.AWAIT_ANSWER, "operand")
    deadline = client.deadline()
    assert deadline is not None
    client.handle_timer(deadline)  # acts as the table now says: any other time-out ends the session
    assert drain(client) == [ResponseTimeout(waiting_for="answer to R1")]
    assert state_of(client) is ClientState.IDLE


IDENTS = [b"/MKT5TEST1\r\n", b"/MKT0TEST1\r\n", b"/MKTCTEST1\r\n", b"/MKT5\\2TEST1\r\n"]
METER_SAYS = st.sampled_from(
    [
        GOOD,
        BAD,
        framed(b"\x01P0\x02(1234)\x03"),
        framed(b"\x01P0\x02(1234)\x03", good=False),
        framed(b"\x02(0001.0*kWh)\x03"),
        framed(b"\x02(0001.0*kWh)\x03", good=False),
        framed(b"\x02(0001.0*kWh)\x04"),
        framed(b"\x02(ER01)\x03"),
        framed(b"\x02(ER01)\x03", good=False),
        framed(b"\x01B0\x03"),
        b"\x06",
        b"\x15",
        b"\x06252\r\n",
        *IDENTS,
    ]
)
ACTIONS = st.one_of(
    st.sampled_from(["sign_on", "select0", "select1", "select2", "send", "repeat", "reset", "timer", "close"]),
    METER_SAYS,
)


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(ACTIONS, max_size=25), lenient=st.booleans())
def test_in_every_state_the_client_runs_exactly_the_timer_its_table_names(
    steps: list[str | bytes], lenient: bool
) -> None:
    client = ClientConnection(ClientConfig(max_repeats=2, lenient=lenient))
    now = 0.0
    for step in steps:
        now += 0.5
        try:
            match step:
                case bytes():
                    client.receive_data(step, now)
                case "sign_on":
                    client.sign_on(now)
                case "select0" | "select1" | "select2":
                    client.select_option(now, mode=step[-1])
                case "send":
                    client.send(CommandMessage(command="R", command_type="3", data_set=DataSet.single("P.01")), now)
                case "repeat":
                    client.request_repeat(now)
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
            pass  # the user asked for something the state does not allow
        assert client.timer == CLIENT_TIMERS[client.state]
        assert (client.deadline() is None) == (CLIENT_TIMERS[client.state] is None)
        for out in client.outputs():
            assert not isinstance(out, Transmit) or out.not_before >= 0
        for event in iter(client.next_event, None):
            if isinstance(event, ResponseTimeout):
                assert event.waiting_for  # every time-out says what it waited for
