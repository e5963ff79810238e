"""What a meter application offers to the optical port, and the one runner that joins them to a connection.

The server runtime (``meterkit.transport.server``) and the in-memory harness (:mod:`.testing`) both drive a
:class:`~meterkit.iec62056_21.meter.MeterConnection` through a :class:`SessionRunner`: it opens a
:class:`MeterPortSession` at every sign-on, hands it the connection's events, sends its replies and closes it when the
session ends.  After a mode E switch (:class:`~.events.BinaryModeRequested`) the runner hands the line, with the bytes
left over from the switch, to the application's binary face (:class:`BinarySession`, e.g. DLMS/HDLC) until that face
finishes or the stream ends; then the port is back at 300 Bd.  Sans-IO: bytes and times in, directives out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from .events import BinaryModeRequested, IoDirective, MeterEvent, SessionEnded, SignOn, Transmit
from .messages import Message
from .meter import MeterConnection

__all__ = [
    "BinaryApplication",
    "BinarySession",
    "MeterApplication",
    "MeterPortSession",
    "SessionReply",
    "SessionRunner",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class SessionReply:
    """Messages to send in answer to one event, after at least ``delay`` seconds
    (on top of the protocol's reaction time; used for uniform delays on failed authentication)."""

    messages: tuple[Message, ...] = ()
    delay: float = 0.0


class MeterPortSession(Protocol):
    """One optical-port session (one connection, or one sign-on on a serial line)."""

    def handle(self, event: MeterEvent) -> SessionReply:
        """React to an event of the meter connection; never raises for anything a client sent."""
        ...

    def close(self, reason: str) -> None:
        """The session ended (break, inactivity, disconnect); forget session secrets."""
        ...


class MeterApplication(Protocol):
    """A meter that can be served over the optical port."""

    def port_config(self) -> object:
        """The :class:`~meterkit.iec62056_21.meter.MeterPortConfig` (identification, modes, address)."""
        ...

    def open_session(self) -> MeterPortSession:
        """A fresh session (called on connect and on every new sign-on)."""
        ...


class BinarySession(Protocol):
    """The binary protocol behind mode E, for the time it owns the line."""

    def receive(self, data: bytes) -> bytes:
        """Bytes from the client (the first call gets the bytes left over from the switch); returns bytes to send."""
        ...

    @property
    def finished(self) -> bool:
        """True when the binary protocol is done and the line goes back to the optical-port protocol."""
        ...

    def close(self, reason: str) -> None: ...


@runtime_checkable
class BinaryApplication(Protocol):
    """A meter application with a binary face behind mode E (set ``binary_mode`` in its port configuration)."""

    def open_binary_session(self, request: BinaryModeRequested) -> BinarySession | None:
        """A binary session for a confirmed mode E switch (None: no binary face; binary bytes are dropped)."""
        ...


class SessionRunner:
    """Drives one :class:`MeterConnection` for an application: sessions per sign-on, the binary face after mode E.

    ``open_session`` opens the session of each sign-on (None: the fixed ``session`` serves every sign-on and is
    never closed by the runner); ``open_binary`` the binary face (None: bytes in binary mode are dropped until the
    stream ends)."""

    def __init__(
        self,
        connection: MeterConnection,
        open_session: Callable[[], MeterPortSession] | None = None,
        *,
        session: MeterPortSession | None = None,
        open_binary: Callable[[BinaryModeRequested], BinarySession | None] | None = None,
    ) -> None:
        self.connection = connection
        self.session = session
        self.binary: BinarySession | None = None
        self._open_session = open_session
        self._open_binary = open_binary
        self._binary_out: list[IoDirective] = []

    @classmethod
    def for_application(cls, connection: MeterConnection, app: MeterApplication) -> SessionRunner:
        binary = app.open_binary_session if isinstance(app, BinaryApplication) else None
        return cls(connection, app.open_session, open_binary=binary)

    def use_session(self, session: MeterPortSession | None) -> None:
        """Serve the running sign-on with ``session`` (tests; the next sign-on opens its own when a factory is set)."""
        self.session = session

    def receive_data(self, data: bytes, now: float) -> None:
        """Bytes from the line (``b""``: end of stream), to the binary face while it owns the line."""
        if self.binary is None:
            self.connection.receive_data(data, now)
            return
        if data:
            self._binary_reply(self.binary.receive(data), now)
        if not data or self.binary.finished:
            self._end_binary("eof" if not data else "binary-done")

    def process(self, now: float) -> list[MeterEvent]:
        """Hand every pending event of the connection to its session; returns the events."""
        events = []
        while (event := self.connection.next_event()) is not None:
            events.append(event)
            self._dispatch(event, now)
        return events

    def outputs(self) -> list[IoDirective]:
        """What to put on the line: the connection's directives, then the binary face's bytes."""
        out = self.connection.outputs() + self._binary_out
        self._binary_out = []
        return out

    def close(self, reason: str) -> None:
        """The line is gone: close the binary face and the session."""
        if self.binary is not None:
            self.binary.close(reason)
            self.binary = None
        if self.session is not None and self._open_session is not None:
            self.session.close(reason)
            self.session = None

    def restart(self, connection: MeterConnection, reason: str) -> None:
        """Start afresh on ``connection`` (the meter lost its supply): the running session ends."""
        self.close(reason)
        self.connection = connection

    def _binary_reply(self, data: bytes, now: float) -> None:
        if data:
            self._binary_out.append(Transmit(data=data, not_before=now))

    def _end_binary(self, reason: str) -> None:
        assert self.binary is not None
        self.binary.close(reason)
        self.binary = None
        self.connection.end_binary(reason)

    def _dispatch(self, event: MeterEvent, now: float) -> None:
        if isinstance(event, SignOn) and self._open_session is not None:
            if self.session is not None:
                self.session.close("restart")
            self.session = self._open_session()
        if self.session is not None:
            reply = self.session.handle(event)
            for message in reply.messages:
                self.connection.send(message, now, delay=reply.delay)
            if isinstance(event, SessionEnded) and self._open_session is not None:
                self.session.close(event.reason)
                self.session = None
        if isinstance(event, BinaryModeRequested) and self._open_binary is not None:
            self.binary = self._open_binary(event)
            if self.binary is None:
                return
            if event.leftover:
                self._binary_reply(self.binary.receive(event.leftover), now)
            if self.binary.finished:
                self._end_binary("binary-done")
