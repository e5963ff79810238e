"""The two state machines' states and what may happen in each, as data.

``METER_SENDS`` lists, per state, which application messages the meter connection accepts from its owner (anything
else raises :class:`~meterkit.errors.LocalProtocolError`); ``METER_TIMERS`` names the timer running in each state:
:class:`~meterkit.iec62056_21.meter.MeterConnection` arms it on entering the state and acts on it by its name when it
runs out.  ``CLIENT_TIMERS`` names the client's, which
:class:`~meterkit.iec62056_21.client.ClientConnection` arms and acts on the same way.  The tables of ``docs/protocol.md`` are generated from these
(:func:`states_markdown`; ``python -m meterkit.docgen`` rewrites them).  Received bytes never raise: whatever does not fit the state is reported as a
:class:`~meterkit.iec62056_21.events.ProtocolViolation` (meter) or ignored with a report (client).
"""

from __future__ import annotations

from enum import Enum
from typing import Final

__all__ = [
    "CLIENT_TIMERS",
    "METER_SENDS",
    "METER_TIMERS",
    "ClientState",
    "MeterState",
    "states_markdown",
    "with_states",
]


class MeterState(Enum):
    IDLE = "idle"  # waiting for a sign-on request
    AWAIT_OPTION = "await-option"  # mode C: identification sent, waiting for ACK V Z Y (t_t)
    READOUT_PENDING = "readout-pending"  # the application must send the readout data message
    READOUT_SENT = "readout-sent"  # readout sent; a NAK asks for a repeat
    OPERAND_PENDING = "operand-pending"  # programming selected; the application must send P0
    PROGRAMMING = "programming"  # waiting for a command
    ANSWER_PENDING = "answer-pending"  # a command arrived; the application must answer
    PARTIAL_SENT = "partial-sent"  # a partial block was sent; waiting for ACK/NAK
    BINARY = "binary"  # mode E: a binary protocol owns the line
    PUSH_PENDING = "push-pending"  # mode D: a push was started; the application must send the data


class ClientState(Enum):
    IDLE = "idle"  # after a mode A/B readout a command may still follow (§6.4.1.3, §6.4.2.3)
    AWAIT_IDENT = "await-ident"
    IDENTIFIED = "identified"  # modes C/E: the user chooses the option
    AWAIT_READOUT = "await-readout"
    AWAIT_OPERAND = "await-operand"
    PROGRAMMING = "programming"  # ready for a command
    AWAIT_ANSWER = "await-answer"
    AWAIT_MODE_E = "await-mode-e"
    #: A damaged message (bad BCC) was answered by NAK; its repeat starts within t_r (§6.4.3.5, Annex A)
    AWAIT_REPEAT = "await-repeat"
    BINARY = "binary"
    LISTEN = "listen"  # mode D: waiting for pushes


#: Message class names the meter application may send, per state.
METER_SENDS: Final[dict[MeterState, frozenset[str]]] = {
    MeterState.IDLE: frozenset(),
    MeterState.AWAIT_OPTION: frozenset(),
    MeterState.READOUT_PENDING: frozenset({"DataMessage"}),
    MeterState.READOUT_SENT: frozenset(),
    MeterState.OPERAND_PENDING: frozenset({"CommandMessage:P0", "CommandMessage:B0"}),
    MeterState.PROGRAMMING: frozenset({"CommandMessage:B0"}),
    MeterState.ANSWER_PENDING: frozenset({"DataAnswer", "ErrorAnswer", "Ack", "Nak", "CommandMessage:B0"}),
    MeterState.PARTIAL_SENT: frozenset({"CommandMessage:B0"}),
    MeterState.BINARY: frozenset(),
    MeterState.PUSH_PENDING: frozenset({"DataMessage", "ModeDMessage"}),
}

#: The timer each meter state runs.
METER_TIMERS: Final[dict[MeterState, str | None]] = {
    MeterState.IDLE: "push-interval",  # only a mode D meter with a push interval; no timer otherwise
    MeterState.AWAIT_OPTION: "option-select-wait",
    MeterState.READOUT_PENDING: "inactivity",
    MeterState.READOUT_SENT: "repeat-window",
    MeterState.OPERAND_PENDING: "inactivity",
    MeterState.PROGRAMMING: "inactivity",
    MeterState.ANSWER_PENDING: "inactivity",
    MeterState.PARTIAL_SENT: "inactivity",
    MeterState.BINARY: None,
    MeterState.PUSH_PENDING: "inactivity",
}

#: The timer each client state runs.
CLIENT_TIMERS: Final[dict[ClientState, str | None]] = {
    ClientState.IDLE: None,
    ClientState.AWAIT_IDENT: "identification",
    ClientState.IDENTIFIED: None,
    ClientState.AWAIT_READOUT: "readout",
    ClientState.AWAIT_OPERAND: "operand",
    ClientState.PROGRAMMING: None,
    ClientState.AWAIT_ANSWER: "answer",
    ClientState.AWAIT_MODE_E: "mode-e-confirmation",
    ClientState.AWAIT_REPEAT: "repeat",  # runs out: the damaged message is delivered, flagged
    ClientState.BINARY: None,
    ClientState.LISTEN: None,
}


_BEGIN = "<!-- generated from meterkit.iec62056_21.transitions (python -m meterkit.docgen) -->"
_END = "<!-- end of generated tables -->"


def states_markdown() -> str:
    """The tables above as markdown (``docs/protocol.md`` holds them between two markers)."""
    lines = [_BEGIN, "", "| meter state | the application may send | timer |", "|---|---|---|"]
    for state in MeterState:
        sends = ", ".join(f"`{s}`" for s in sorted(METER_SENDS[state])) or "—"
        lines.append(f"| {state.value} | {sends} | {METER_TIMERS[state] or '—'} |")
    lines += ["", "| client state | timer |", "|---|---|"]
    lines += [f"| {state.value} | {CLIENT_TIMERS[state] or '—'} |" for state in ClientState]
    return "\n".join([*lines, "", _END])


def with_states(text: str) -> str:
    """``text`` (a markdown page) with its generated block replaced by :func:`states_markdown`."""
    head, begin, rest = text.partition(_BEGIN)
    _old, end, tail = rest.partition(_END)
    if not begin or not end:
        raise ValueError("the page has no generated block of the state tables")
    return head + states_markdown() + tail
