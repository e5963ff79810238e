"""Events for the head-end: a store-and-forward alarm outbox in the meter's non-volatile memory, the signed alarm
message, and the head-end's verifier."""

from .message import AlarmSealer
from .outbox import Alarm, AlarmOutbox

__all__ = ["Alarm", "AlarmOutbox", "AlarmSealer"]
