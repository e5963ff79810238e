"""What the optical-port session (and every other face) needs of a meter: a small protocol type.

:class:`~meterkit.meter.virtual.VirtualMeter` implements it; the faces depend on this type, not on the class, so
the meter imports its faces and no face imports the meter back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from ..security import PortSecurity
from .catalogue import Reading
from .core import Meter

__all__ = ["MeterService"]


class MeterService(Protocol):
    """A meter with its security, as the faces use it."""

    @property
    def meter(self) -> Meter: ...

    @property
    def security(self) -> PortSecurity: ...

    def reading(self, address: str) -> Reading:
        """The typed value of a register (see :mod:`.catalogue`)."""
        ...

    def tick(self) -> None:
        """Bring the meter up to its clock."""
        ...

    def save(self) -> None:
        """Commit the meter's state to its NV memory."""
        ...

    def set_clock(self, when: datetime) -> None: ...

    def self_test(self) -> str:
        """Run the self-test; ``OK`` or ``ERR <bits>``."""
        ...

    def clear_profile(self) -> None:
        """Forget the load profile (memory and NV)."""
        ...

    def connect_relay(self) -> None:
        """Reconnect the relay (after a tamper trip)."""
        ...
