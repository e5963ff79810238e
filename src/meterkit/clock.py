"""Injected time.

Nothing in meterkit reads the system clock directly: components take a :class:`Clock`.
``now()`` is wall-clock time (timezone-aware, UTC) for registers, logs and tariffs;
``monotonic()`` is seconds on a steady scale for protocol timers.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "SimulatedClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Source of time for every component."""

    def now(self) -> datetime:
        """Current wall-clock time, timezone-aware (UTC)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a steady scale, for timers and delays."""
        ...


class SystemClock:
    """The real clocks of this machine."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class SimulatedClock:
    """A clock that only moves when told to; makes tests and replays deterministic.

    ``monotonic()`` starts at 0.0 and advances together with ``now()``.  ``set()`` jumps the
    wall clock (like a clock-set command) without moving the monotonic scale.
    """

    def __init__(self, start: datetime | None = None) -> None:
        if start is None:
            start = datetime(2026, 1, 1, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("SimulatedClock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)
        self._mono = 0.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        """Move both scales forward by ``seconds`` (must not be negative)."""
        if seconds < 0:
            raise ValueError("a clock cannot advance by a negative amount")
        self._now += timedelta(seconds=seconds)
        self._mono += seconds

    def set(self, when: datetime) -> None:
        """Jump the wall clock to ``when`` (monotonic time is unchanged)."""
        if when.tzinfo is None:
            raise ValueError("SimulatedClock.set needs a timezone-aware time")
        self._now = when.astimezone(UTC)
