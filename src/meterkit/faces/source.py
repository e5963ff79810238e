"""What the live faces (MQTT/Home Assistant, metrics, web panel) need from a meter: :class:`MeterSource`.

A face depends on this protocol only, never on how a meter is built: today :class:`~.virtual_source.VirtualMeterSource`
implements it over a :class:`~meterkit.meter.virtual.VirtualMeter`; the meter host and the collector implement it
over whatever they hold (a collector's source answers :meth:`MeterSource.control` with :class:`FaceError`, since a
real meter's cover is not a button on a web page).

Every method is called on the event loop that runs the meter (faces are asyncio), so an implementation needs no
locking.  Values are typed: numbers as :class:`~decimal.Decimal` in the meter's unit, times as aware datetimes.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol, runtime_checkable

from ..errors import MeterkitError

__all__ = [
    "Control",
    "CoverControl",
    "FaceError",
    "Identification",
    "LoadControl",
    "LogEntry",
    "MeterSource",
    "MeterStatus",
    "PhaseLoad",
    "Reading",
    "SealedButton",
    "SupplyControl",
]


class FaceError(MeterkitError):
    """A face cannot do what was asked (an unknown meter, a control the source refuses, a bad request)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Identification:
    manufacturer: str  # the 3-letter FLAG id
    model: str  # the identification string after the baud character
    serial: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Reading:
    """One register value: ``value`` in ``unit`` (Decimal for numbers, str for texts such as ``F.F``); for maximum
    demand registers ``max_at`` is the end of the winning window."""

    address: str
    value: Decimal | str
    unit: str
    description: str
    at: datetime
    max_at: datetime | None = None

    @property
    def numeric(self) -> bool:
        return isinstance(self.value, Decimal)


@dataclass(frozen=True, slots=True, kw_only=True)
class LogEntry:
    """An event-log or security-log entry; ``level`` is ``info``, ``warning`` or ``alarm``."""

    seq: int
    at: datetime
    kind: str
    text: str
    level: Literal["info", "warning", "alarm"] = "info"


@dataclass(frozen=True, slots=True, kw_only=True)
class PhaseLoad:
    voltage_v: float
    current_a: float
    angle_deg: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class MeterStatus:
    at: datetime
    powered: bool
    cover_open: bool
    relay_closed: bool
    button_armed: bool
    live_load: bool  # True: the load comes from the controls (sliders), False: a synthetic or replayed source
    phases: tuple[PhaseLoad, ...] = field(default_factory=tuple)
    demand_window: str = ""  # e.g. "sliding 15/1"
    max_current_a: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class CoverControl:
    open: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class SealedButton:
    """``seal``: the sealed programming button (level 3 for the next session); ``reset``: the billing-reset button."""

    kind: Literal["seal", "reset"] = "seal"


@dataclass(frozen=True, slots=True, kw_only=True)
class SupplyControl:
    on: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadControl:
    """The live load of one phase (1-3), or of all three with ``phase=None``."""

    load: PhaseLoad
    phase: int | None = None


Control = CoverControl | SealedButton | SupplyControl | LoadControl


@runtime_checkable
class MeterSource(Protocol):
    """One meter as the faces see it."""

    @property
    def serial(self) -> str: ...

    def identification(self) -> Identification: ...

    def readings(self, addresses: Collection[str] | None = None) -> list[Reading]:
        """Every register of the meter now (no history values), in the meter's order; only those of ``addresses``
        when given (a fleet's publisher and metrics read 30 registers of 1,000 meters, not the whole catalogue)."""
        ...

    def events(self, after: int = 0) -> list[LogEntry]:
        """Event-log entries with ``seq > after``, oldest first."""
        ...

    def security_log(self, after: int = 0) -> list[LogEntry]:
        """Security-log entries with ``seq > after``, oldest first."""
        ...

    def status(self) -> MeterStatus: ...

    def control(self, command: Control) -> str:
        """Operate a physical input; returns a one-line result, raises :class:`FaceError` when refused."""
        ...
