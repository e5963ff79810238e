"""What a meter application offers to the optical-port server (typing only).

The server runtime (``meterkit.transport.server``) creates one :class:`MeterPortSession` per
connection and feeds it the events of a :class:`~meterkit.iec62056_21.meter.MeterConnection`.
The static-table meter and the full virtual meter both implement these protocols.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .events import MeterEvent
from .messages import Message

__all__ = ["MeterApplication", "MeterPortSession", "SessionReply"]


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
