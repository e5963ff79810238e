"""Events and I/O directives of the two sans-IO connections.

A connection never touches a socket or a clock.  The I/O layer around it:

1. passes received bytes in: ``conn.receive_data(data, now)`` (``b""`` means end of stream);
2. takes application events out: ``conn.next_event()`` until it returns ``None``;
3. hands the application's replies in: ``conn.send(message, now)``;
4. takes I/O directives out: ``conn.outputs()`` -> list of :class:`Transmit` / :class:`SetLine`,
   to be performed in order (a :class:`SetLine` applies once everything before it has left the wire);
5. arms one timer: ``conn.deadline()`` (monotonic seconds or ``None``) and calls
   ``conn.handle_timer(now)`` when it passes; timer expiry shows up as events.

``now`` is always monotonic seconds from the injected :class:`~meterkit.clock.Clock`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import RemoteProtocolError
from .messages import CommandMessage, DataAnswer, DataMessage, IdentificationMessage, ModeDMessage

__all__ = [
    "AnswerReceived",
    "BinaryModeRequested",
    "BreakReceived",
    "ClientEvent",
    "CommandReceived",
    "ErrorReceived",
    "IdentificationReceived",
    "IoDirective",
    "MeterEvent",
    "NextBlockRequested",
    "OperandReceived",
    "PositiveAck",
    "ProgrammingRequested",
    "ProtocolViolation",
    "ReadoutReceived",
    "ReadoutRequested",
    "RepeatRequested",
    "ResponseTimeout",
    "SessionEnded",
    "SetLine",
    "SignOn",
    "Transmit",
]


# --- I/O directives (both sides) -------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Transmit:
    """Put ``data`` on the line, not before monotonic time ``not_before`` (reaction time t_r).

    ``gap``: the line must have been quiet this long since the previous transmission of the same side left it (its
    last byte arrived) before ``data`` starts.  ``not_before`` already allows for the modelled line time (10 bits
    per character at the current rate); an I/O layer that knows when bytes actually left (baud emulation) enforces
    ``gap`` too, so a late write never shortens a pause the protocol needs (t_r after the mode B identification,
    t_t before the fallback readout)."""

    data: bytes
    not_before: float = 0.0
    gap: float = 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class SetLine:
    """Change line settings once all earlier output has been transmitted (baud switch, mode E 8N1)."""

    baud: int
    bytesize: int = 7
    parity: str = "E"
    stopbits: int = 1
    #: Extra wait after the drain before switching (USB IR heads need 250-400 ms to settle).
    delay: float = 0.0


IoDirective = Transmit | SetLine


# --- meter side: what the meter application is asked to do -----------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class SignOn:
    """A request addressed to this meter arrived; the identification went out (informational).

    A mode D meter emits it (address ``""``) at the start of every push, so a fresh application session serves it.
    """

    address: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ReadoutRequested:
    """Send the readout data: answer with ``send(DataMessage(...))``.

    ``mode`` is the protocol mode that led here (``"A"``, ``"B"``, ``"C"``; ``"C"`` also for the
    fallback readout at 300 Bd when no option select arrived; ``"D"`` for a push, which goes out as a
    :class:`~.messages.ModeDMessage` without STX/ETX/BCC), ``baud`` the rate it goes out at.
    """

    mode: str
    baud: int


@dataclass(frozen=True, kw_only=True, slots=True)
class ProgrammingRequested:
    """Programming mode was selected: answer with the operand ``send(CommandMessage P0)``."""

    baud: int


@dataclass(frozen=True, kw_only=True, slots=True)
class CommandReceived:
    """A programming command (P1, P2, R1..R6, W1..W5, E2, or a reserved one) arrived with a good BCC.

    Answer with ``send(...)`` of a :class:`DataAnswer`, :class:`ErrorAnswer`, :class:`Ack`,
    :class:`Nak` or a break ``CommandMessage(command="B", command_type="0")``.  Break commands
    from the client are not reported here; they end the session (:class:`SessionEnded`).
    """

    command: CommandMessage


@dataclass(frozen=True, kw_only=True, slots=True)
class NextBlockRequested:
    """The client acknowledged a partial block: send the next one (``DataAnswer(partial=...)``)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class BinaryModeRequested:
    """Mode E switch confirmed (``ACK 2 Z 2``); a binary protocol takes over with ``leftover`` bytes."""

    baud: int
    leftover: bytes = b""


@dataclass(frozen=True, kw_only=True, slots=True)
class SessionEnded:
    """The session is over: ``reason`` is ``"break"``, ``"inactivity"``, ``"eof"``, ``"readout-done"``,
    ``"push-done"`` (mode D)..."""

    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ProtocolViolation:
    """The peer sent bytes that were discarded; the connection went on.  For traces and logs."""

    error: RemoteProtocolError = field(compare=False)


MeterEvent = (
    SignOn
    | ReadoutRequested
    | ProgrammingRequested
    | CommandReceived
    | NextBlockRequested
    | BinaryModeRequested
    | SessionEnded
    | ProtocolViolation
)


# --- client side: what the hand-held unit learns --------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class IdentificationReceived:
    """The meter identified itself (mode C/E: the client now sends the option select)."""

    identification: IdentificationMessage


@dataclass(frozen=True, kw_only=True, slots=True)
class ReadoutReceived:
    """A complete readout data message (modes A, B, C) or mode D push.

    ``message.bcc_ok`` is False when the readout is handed over although its BCC did not match (the repeats were
    spent or the meter ignored NAK); ``complete`` is False for a readout that ended without ETX/BCC
    (``ClientConfig.lenient``): it holds only the data sets whose lines were complete.
    """

    message: DataMessage
    complete: bool = True
    #: The mode D / DSMR telegram as decoded (its ``check`` and ``raw`` bytes), for a push.
    push: ModeDMessage | None = field(default=None, compare=False)


@dataclass(frozen=True, kw_only=True, slots=True)
class OperandReceived:
    """The meter's P0 operand (challenge or meter number; may be empty); ``bcc_ok`` False: it stayed damaged after
    the repeats (an answer computed from it will likely be refused)."""

    operand: str
    bcc_ok: bool | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class AnswerReceived:
    """The meter answered a read with data (partial blocks already reassembled)."""

    answer: DataAnswer


@dataclass(frozen=True, kw_only=True, slots=True)
class ErrorReceived:
    """The meter answered with an error message (text without the parentheses); ``bcc_ok`` False: the text came
    with a wrong BCC (repeats spent), so it may be garbled."""

    text: str
    bcc_ok: bool | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class PositiveAck:
    """The meter acknowledged (password accepted, write done, B1 acknowledged)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class RepeatRequested:
    """The meter sent NAK more often than the retry limit allows (the connection already retried)."""

    retries: int


@dataclass(frozen=True, kw_only=True, slots=True)
class BreakReceived:
    """The meter ended the session with ``SOH B0 ETX`` (some meters do this on a wrong password)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ResponseTimeout:
    """No (complete) answer in time; ``waiting_for`` names what was expected."""

    waiting_for: str


ClientEvent = (
    IdentificationReceived
    | ReadoutReceived
    | OperandReceived
    | AnswerReceived
    | ErrorReceived
    | PositiveAck
    | RepeatRequested
    | BreakReceived
    | ResponseTimeout
    | BinaryModeRequested
    | SessionEnded
    | ProtocolViolation
)
