"""The security's own clock: the time lockouts, write windows, the sealed button and key-package expiry run on.

A clock write on the port (``0.9.2``/``0.9.1``) sets the meter's time, not the security's.  Security time is

    security_now = max(the last security_now, measured_time())

where ``measured_time`` is the meter's time without the clock writes (the meter's time minus the sum of every jump
made by a clock write), and, once the meter's time is held (a replay that ended), plus the monotonic time since.

* A clock write **backwards** cannot move security time back: a lock still ends after its duration.
* A clock write **forwards** does not move it forwards: a lock, the write window and the button's window are not
  shortened by a jump, and a key package's ``not_after`` is compared with measured time.
* A clock write cannot **freeze** it: a live meter follows its clock from the written time on (the written offset
  is kept, nothing waits for the clock to catch up), and a held meter's security time runs on monotonic time.
* Security time never goes backwards, whatever ``measured_time`` does (the maximum above).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

__all__ = ["SecurityClock"]


class SecurityClock:
    """A :class:`~meterkit.clock.Clock` for the security: never backwards, moved only by measured time."""

    def __init__(self, measured_time: Callable[[], datetime], monotonic: Callable[[], float]) -> None:
        self._measured = measured_time
        self._monotonic = monotonic
        self._last = measured_time()

    def now(self) -> datetime:
        self._last = max(self._last, self._measured())
        return self._last

    def monotonic(self) -> float:
        return self._monotonic()
