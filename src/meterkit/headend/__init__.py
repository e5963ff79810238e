"""Events for the head-end: a store-and-forward alarm outbox in the meter's non-volatile memory."""

from .outbox import Alarm, AlarmOutbox

__all__ = ["Alarm", "AlarmOutbox"]
