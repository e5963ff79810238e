"""The one interface every client-side transport offers."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..iec62056_21.events import SetLine

__all__ = ["Transport"]


@runtime_checkable
class Transport(Protocol):
    """A byte pipe to a meter with switchable line settings (a no-op where the medium has none, e.g. TCP)."""

    def write(self, data: bytes) -> None:
        """Send ``data`` and return once it has left (drained)."""
        ...

    def read(self, timeout: float) -> bytes:
        """Whatever arrives within ``timeout`` seconds (at least one byte unless the time runs out; ``b""`` then)."""
        ...

    def set_line(self, line: SetLine) -> None:
        """Switch baud rate / framing (after earlier output has drained)."""
        ...

    def close(self) -> None: ...
