"""A synchronous meter client over any :class:`~meterkit.transport.base.Transport`.

The request logic exists once: it drives a :class:`~meterkit.iec62056_21.client.ClientConnection` and performs its
I/O directives on the transport.  A meter's refusal (error message, NAK after retries, break) becomes a
:class:`~meterkit.errors.DeviceError` carrying the meter's text; silence becomes a
:class:`~meterkit.errors.TransportTimeout`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..clock import Clock, SystemClock
from ..errors import DeviceError, LocalProtocolError, MeterkitError, TransportError, TransportTimeout
from ..iec62056_21.client import ClientConfig, ClientConnection
from ..iec62056_21.events import (
    AnswerReceived,
    BinaryModeRequested,
    BreakReceived,
    ClientEvent,
    ErrorReceived,
    IdentificationReceived,
    OperandReceived,
    PositiveAck,
    ReadoutReceived,
    RepeatRequested,
    ResponseTimeout,
    SetLine,
    Transmit,
)
from ..iec62056_21.messages import CommandMessage, DataSet, IdentificationMessage
from ..iec62056_21.trace import FrameRing, TraceHook
from ..iec62056_21.transitions import ClientState
from ..transport.base import Transport
from .auth import Authenticator, IntegrityGuard
from .refusals import MeterRefusal

__all__ = ["BinaryLink", "MeterClient", "Readout"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Readout:
    """A data readout with the identification that preceded it.

    ``bcc_ok`` False: the data came with a wrong BCC (the repeats were spent, or the meter ignored NAK) and is not
    verified; ``None``: no BCC was checked (a mode D push without CRC, a readout cut short).  ``complete`` False: the
    readout ended without ETX/BCC and holds only the data sets whose lines were complete (``ClientConfig.lenient``).
    """

    identification: IdentificationMessage
    mode: str
    datasets: tuple[DataSet, ...]
    bcc_ok: bool | None = None
    complete: bool = True


@dataclass(frozen=True, kw_only=True, slots=True)
class BinaryLink:
    """The line after a mode E switch, handed to a binary protocol (DLMS/HDLC): the transport (now 8N1 at
    ``baud``), and the bytes that arrived after the meter's ``ACK 2 Z 2`` confirmation, to be read first."""

    transport: Transport
    baud: int
    leftover: bytes


def wanted(event: ClientEvent, kinds: tuple[type, ...]) -> bool:
    """Whether a waiting request takes ``event`` (one of ``kinds``); the events that end the wait with an error
    raise it here, once for the hand-held and the collector: no answer in time, the meter's break, a command the
    meter NAKed too often.  Any other event is passed over."""
    if isinstance(event, kinds):
        return True
    if isinstance(event, ResponseTimeout):
        raise TransportTimeout(f"no answer from the meter (waiting for {event.waiting_for})")
    if isinstance(event, BreakReceived):
        raise DeviceError("the meter ended the session (break)")
    if isinstance(event, RepeatRequested):
        raise DeviceError(f"the meter rejected the command {event.retries + 1} times (NAK)")
    return False


class MeterClient:
    """Reads and programs one meter."""

    def __init__(
        self,
        transport: Transport,
        config: ClientConfig | None = None,
        *,
        clock: Clock | None = None,
        trace: TraceHook | None = None,
    ) -> None:
        self.transport = transport
        self.connection = ClientConnection(config)
        self.clock = clock or SystemClock()
        self.frames = FrameRing(hook=trace, label="client")
        self.identification: IdentificationMessage | None = None
        self._auth: IntegrityGuard | None = None  # the authenticator, with the session's MACs
        #: The access level reached by :meth:`programming` (1 without authentication).
        self.level = 1
        #: What was handed over although its BCC did not match (``"readout"``, ``"answer to R1 1.8.0"``...): the
        #: data is never dropped, and never silently trusted.
        self.unverified: list[str] = []
        #: False after a read whose partial-block transfer was stopped by ``max_blocks``.
        self.complete = True
        #: After a refusal at level 2 or more, read the reason from ``C.91.0`` (meterkit meters keep it there).
        self.fetch_reasons = True

    # --- plumbing -------------------------------------------------------------------------------------

    def _now(self) -> float:
        return self.clock.monotonic()

    def _flush(self) -> None:
        for directive in self.connection.outputs():
            if isinstance(directive, Transmit):
                wait = directive.not_before - self._now()
                if wait > 0:
                    time.sleep(wait)
                self.frames.record("->", directive.data, self._now(), wall=self.clock.now())
                self.transport.write(directive.data)
            elif isinstance(directive, SetLine):
                self.transport.set_line(directive)

    def _wait(self, *kinds: type) -> ClientEvent:
        conn = self.connection
        while True:
            self._flush()
            event = conn.next_event()
            while event is not None:
                if wanted(event, kinds):
                    self._flush()
                    return event
                event = conn.next_event()
            deadline = conn.deadline()
            timeout = 1.0 if deadline is None else max(0.0, deadline - self._now())
            try:
                data = self.transport.read(min(timeout, 1.0))
            except TransportError:
                # the line closed: whatever arrived may still be complete enough (lenient readout, damaged answer)
                conn.receive_data(b"", self._now())
                event = self._pending(kinds)
                if event is None:
                    raise
                return event
            now = self._now()
            if data:
                self.frames.record("<-", data, now, wall=self.clock.now())
                conn.receive_data(data, now)
            else:
                conn.handle_timer(now)
                if deadline is None and conn.state in (ClientState.IDLE, ClientState.PROGRAMMING):
                    raise LocalProtocolError(f"nothing to wait for in state {conn.state.value}")

    def _pending(self, kinds: tuple[type, ...]) -> ClientEvent | None:
        while (event := self.connection.next_event()) is not None:
            if isinstance(event, kinds):
                return event
        return None

    # --- operations -----------------------------------------------------------------------------------

    def identify(self) -> IdentificationMessage:
        """Sign on and return the identification."""
        self.connection.sign_on(self._now())
        event = self._wait(IdentificationReceived)
        assert isinstance(event, IdentificationReceived)
        self.identification = event.identification
        return event.identification

    def readout(self, *, baud_char: str | None = None) -> Readout:
        """Sign on and read the data readout (modes A, B, C; C at ``baud_char`` or the meter's best rate)."""
        ident = self.identify()
        mode = {"IDENTIFIED": "C"}.get(self.connection.state.name, "")
        if self.connection.state is ClientState.IDENTIFIED:
            self.connection.select_option(self._now(), mode="0", baud_char=baud_char)
        else:
            mode = "B" if ident.baud_char in "ABCDEFGHI" else "A"
        event = self._wait(ReadoutReceived)
        assert isinstance(event, ReadoutReceived)
        ok = event.message.bcc_ok
        if ok is False:
            self.unverified.append("readout")
        return Readout(
            identification=ident, mode=mode, datasets=event.message.datasets, bcc_ok=ok, complete=event.complete
        )

    def binary(self, *, baud_char: str | None = None) -> BinaryLink:
        """Mode E: sign on, select the binary protocol (``ACK 2 Z 2``), wait for the meter's confirmation and hand
        over the line.  The meter must announce mode E (``\\2`` in its identification).  After this the client no
        longer reads or writes the transport; :meth:`close` still closes it."""
        ident = self.identify()
        if not ident.mode_e or self.connection.state is not ClientState.IDENTIFIED:
            raise DeviceError(
                f"meter {ident.manufacturer} {ident.ident} does not announce mode E (no \\2 in its identification)"
            )
        self.connection.select_option(self._now(), mode="2", baud_char=baud_char)
        event = self._wait(BinaryModeRequested)
        assert isinstance(event, BinaryModeRequested)
        return BinaryLink(transport=self.transport, baud=event.baud, leftover=event.leftover)

    def programming(self, auth: Authenticator | None = None, *, baud_char: str | None = None) -> str:
        """Enter programming mode, authenticate with ``auth`` if given; returns the P0 operand.

        Mode C: option select ``1``, the meter's P0, then P1/P2.  Modes A and B have no option select: the meter sends
        its data readout and accepts commands right after it (IEC 62056-21 §6.4.1/§6.4.2), without a P0, so only a
        static password (P1) can authenticate there; the operand returned is empty."""
        ident = self.identify()
        if self.connection.state is not ClientState.IDENTIFIED:
            self._wait(ReadoutReceived)
            if auth is not None:
                try:
                    command = auth.respond("", ident)
                except MeterkitError as exc:
                    raise DeviceError(
                        f"meter {ident.manufacturer} works in mode {_mode(ident)}: it sends no challenge (P0), "
                        "so only a password can authenticate"
                    ) from exc
                self._auth = IntegrityGuard(auth)  # P1: a plain session
                if not isinstance(self._command(command), PositiveAck):
                    raise DeviceError("the meter did not accept the password")
                self.level = _level(auth)
            return ""
        self.connection.select_option(self._now(), mode="1", baud_char=baud_char)
        event = self._wait(OperandReceived)
        assert isinstance(event, OperandReceived)
        if auth is not None:
            guard = self._auth = IntegrityGuard(auth)
            reply = self._command(guard.respond(event.operand, ident))
            if not isinstance(reply, PositiveAck):
                raise DeviceError("the meter did not accept the password")
            self.level = _level(auth)
        return event.operand

    def _command(
        self, command: CommandMessage, *, name: str | None = None, max_blocks: int | None = None
    ) -> ClientEvent:
        sent = command if self._auth is None else self._auth.protect(command)
        self.connection.send(sent, self._now(), max_blocks=max_blocks)
        event = self._wait(AnswerReceived, ErrorReceived, PositiveAck)
        if self._auth is not None:  # a protected session: the answer's MAC (docs/security.md)
            event = self._auth.check(event)
        name = name or (command.code + " " + _target(command)).strip()
        self.complete = not (isinstance(event, AnswerReceived) and event.answer.partial)
        if isinstance(event, ErrorReceived):
            raise self._refusal(name, event)
        if isinstance(event, AnswerReceived) and event.answer.bcc_ok is False:
            self.unverified.append(f"answer to {name}")
        return event

    def _refusal(self, name: str, event: ErrorReceived) -> MeterRefusal:
        """The refusal with what the meter says about it (``C.91.0`` at level 2 or more) and what follows."""
        reason = ""
        note = ""
        code = event.text.strip()
        if code == "ER10" or name.startswith(("P1", "P2")):
            note = "the port locks after repeated failures (the meter does not say after how many)"
        elif self.level >= 2 and self.fetch_reasons and self.connection.state is ClientState.PROGRAMMING:
            reason = self._last_refusal_reason()
        return MeterRefusal(name, code, reason=reason, note=note, bcc_ok=event.bcc_ok)

    def _last_refusal_reason(self) -> str:
        """``C.91.0`` = ``(code)(YYMMDDhhmm)(request)(reason…)``: the reason text, or "" when the meter has none."""
        read = CommandMessage(command="R", command_type="1", data_set=DataSet.single("C.91.0"))
        self.connection.send(read if self._auth is None else self._auth.protect(read), self._now())
        try:
            event = self._wait(AnswerReceived, ErrorReceived)
            if self._auth is not None:
                event = self._auth.check(event)
        except MeterkitError:
            return ""
        if not isinstance(event, AnswerReceived) or not event.answer.datasets:
            return ""
        datasets = self._auth.unwrap(event.answer.datasets) if self._auth is not None else event.answer.datasets
        values = [v.value for v in datasets[0].values]
        return "".join(values[3:]).strip() if len(values) > 3 else ""

    def _data(self, command: CommandMessage, *, max_blocks: int | None = None) -> tuple[DataSet, ...]:
        event = self._command(command, max_blocks=max_blocks)
        if not isinstance(event, AnswerReceived):
            raise DeviceError(f"the meter answered {command.code} {_target(command)} without data")
        datasets = event.answer.datasets
        return self._auth.unwrap(datasets) if self._auth is not None else datasets

    def read(
        self, address: str, count: str = "", *, partial: bool = False, max_blocks: int | None = None
    ) -> tuple[DataSet, ...]:
        """R1 (R3 with ``partial``): read ``address``; ``count`` is the number of locations, if any.

        Partial blocks are acknowledged one by one (a damaged block is NAKed and repeated); ``max_blocks`` stops the
        transfer after that many blocks (the next command aborts it at the meter) and :attr:`complete` says so."""
        cmd = CommandMessage(command="R", command_type="3" if partial else "1", data_set=DataSet.single(address, count))
        return self._data(cmd, max_blocks=max_blocks)

    def write(self, address: str, value: str, *, block_size: int | None = None) -> None:
        """W1: write ``value`` to ``address``; with ``block_size`` a longer value goes as W3 partial blocks of that
        many characters (only the first carries the address; each is acknowledged, NAK repeats it; an error message
        aborts the transfer and raises :class:`MeterRefusal`)."""
        if block_size is None or len(value) <= block_size:
            self._command(CommandMessage(command="W", command_type="1", data_set=DataSet.single(address, value)))
            return
        if block_size < 1:
            raise LocalProtocolError(f"block_size must be at least 1, got {block_size}")
        chunks = [value[i : i + block_size] for i in range(0, len(value), block_size)]
        for i, chunk in enumerate(chunks):
            block = CommandMessage(
                command="W",
                command_type="3",
                data_set=DataSet.single(address if i == 0 else "", chunk),
                partial=i < len(chunks) - 1,
            )
            reply = self._command(block, name=f"W3 {address} (block {i + 1} of {len(chunks)})")
            if not isinstance(reply, PositiveAck):
                raise DeviceError(f"the meter answered block {i + 1} of W3 {address} with data instead of ACK")

    def execute(self, function: str, value: str = "") -> tuple[DataSet, ...]:
        """E2: execute a predefined function (ACK or data)."""
        event = self._command(CommandMessage(command="E", command_type="2", data_set=DataSet.single(function, value)))
        if not isinstance(event, AnswerReceived):
            return ()
        return self._auth.unwrap(event.answer.datasets) if self._auth is not None else event.answer.datasets

    def load_profile(self, start: str = "", end: str = "", *, profile: str = "P.01") -> tuple[DataSet, ...]:
        """R5 ``P.01(start;end)`` (times as ``YYMMDDhhmm``, empty = open end)."""
        value = f"{start};{end}" if (start or end) else ""
        return self._data(CommandMessage(command="R", command_type="5", data_set=DataSet.single(profile, value)))

    def sign_off(self) -> None:
        """Send B0 if a programming session is open."""
        if self.connection.state is ClientState.PROGRAMMING:
            self.connection.sign_off(self._now())
            self._flush()
        self._auth = None

    def close(self) -> None:
        try:
            self.sign_off()
        finally:
            self.transport.close()

    def __enter__(self) -> MeterClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _level(auth: Authenticator) -> int:
    """The access level an accepted authenticator grants (a password: 2)."""
    level = getattr(auth, "level", 2)
    return level if isinstance(level, int) else 2


def _mode(ident: IdentificationMessage) -> str:
    from ..iec62056_21.baud import mode_from_baud_char

    return "E" if ident.mode_e else mode_from_baud_char(ident.baud_char)


def _target(command: CommandMessage) -> str:
    return command.data_set.address if command.data_set is not None else ""
