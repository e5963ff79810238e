""":class:`~.source.MeterSource` for a meter that is read rather than simulated: the collector (``meterkit poll``)
updates it after each poll with the data sets it read, and the faces publish what it holds.

Values become numbers where they are (``001234.567`` -> ``Decimal("1234.567")``), texts stay texts; a maximum-demand
data set's second value group ``YYMMDDhhmm`` (the meter's local time in ``zone``) becomes ``max_at``.  A failed poll
marks the meter unreachable: ``status().powered`` is False, so its availability topic says ``offline``.  A real
meter's cover and supply are no buttons on a web page: :meth:`PolledSource.control` always refuses.

A point-to-point meter (no device address) is known by the serial it reports: its source starts with the serial
remembered from an earlier poll, or with none (``serial == ""``: the faces leave it out) until the collector has
read it; a poll that finds another serial on the endpoint renames the source.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from decimal import Decimal, InvalidOperation

from ..iec62056_21.messages import DataSet, IdentificationMessage
from ..meter.catalogue import catalogue
from .metrics import PollHealth
from .source import Control, FaceError, Identification, LogEntry, MeterStatus, Reading

__all__ = ["CollectorFeed", "PolledSource"]


def _number(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _stamp(text: str, zone: tzinfo) -> datetime | None:
    if len(text) != 10 or not text.isascii() or not text.isdigit():
        return None
    try:
        return datetime.strptime(text, "%y%m%d%H%M").replace(tzinfo=zone).astimezone(UTC)
    except ValueError:
        return None


class PolledSource:
    def __init__(self, serial: str, *, manufacturer: str = "", model: str = "", zone: tzinfo = UTC) -> None:
        self._ident = Identification(manufacturer=manufacturer, model=model, serial=serial)
        self.zone = zone
        self._readings: list[Reading] = []
        self._reachable = False
        self._at = datetime.fromtimestamp(0, UTC)

    @property
    def serial(self) -> str:
        return self._ident.serial

    def update(
        self,
        datasets: Iterable[DataSet],
        at: datetime,
        *,
        manufacturer: str | None = None,
        model: str | None = None,
        serial: str | None = None,
    ) -> None:
        """The data sets of a successful poll at ``at``; empty addresses and history values (``*NN``) are skipped.
        ``serial``: the serial the meter reported (a point-to-point meter), which names the source from now on."""
        readings: list[Reading] = []
        for ds in datasets:
            if not ds.address or "*" in ds.address:
                continue
            first = ds.values[0]
            number = _number(first.value)
            register = catalogue().spec(ds.address)
            is_md = ds.address.split(".")[1:2] == ["6"]
            numeric = number is not None and (bool(first.unit) or is_md or ds.address.split(".")[1:2] in (["7"], ["8"]))
            readings.append(
                Reading(
                    address=ds.address,
                    value=number if numeric and number is not None else first.value,
                    unit=first.unit,
                    description=register.description if register is not None else ds.address,
                    at=at,
                    max_at=_stamp(ds.values[1].value, self.zone) if is_md and len(ds.values) > 1 else None,
                )
            )
        self._readings = readings
        self._reachable = True
        self._at = at
        if manufacturer is not None or model is not None or serial is not None:
            self._ident = Identification(
                manufacturer=manufacturer if manufacturer is not None else self._ident.manufacturer,
                model=model if model is not None else self._ident.model,
                serial=serial if serial is not None else self._ident.serial,
            )

    def failed(self, at: datetime) -> None:
        """A poll failed: the meter is unreachable until the next successful one (its last readings stay)."""
        self._reachable = False
        self._at = at

    def identification(self) -> Identification:
        return self._ident

    def readings(self, addresses: Collection[str] | None = None) -> list[Reading]:
        if addresses is None:
            return list(self._readings)
        return [r for r in self._readings if r.address in addresses]

    def events(self, after: int = 0) -> list[LogEntry]:
        return []

    def security_log(self, after: int = 0) -> list[LogEntry]:
        return []

    def status(self) -> MeterStatus:
        return MeterStatus(
            at=self._at,
            powered=self._reachable,
            cover_open=False,
            relay_closed=True,
            button_armed=False,
            live_load=False,
        )

    def control(self, command: Control) -> str:
        raise FaceError(f"meter {self.serial} is read through its port: its inputs cannot be operated from here")


class CollectorFeed:
    """What the collector tells after each poll (:class:`meterkit.collector.PollObserver`), fed into the
    :class:`PolledSource` of each target (``sources`` keyed by the target's key: its address, or a point-to-point
    meter's endpoint) and the collector's :class:`~.metrics.PollHealth` (by the meter's name); targets the faces do
    not know are ignored."""

    def __init__(self, sources: Mapping[str, PolledSource], health: PollHealth) -> None:
        self.sources = sources
        self.health = health

    def polled(
        self,
        target: str,
        meter: str,
        datasets: Sequence[DataSet],
        identification: IdentificationMessage | None,
        at: datetime,
        duration_s: float,
    ) -> None:
        source = self.sources.get(target)
        if source is None:
            return
        serial = None if meter == target else meter  # a point-to-point meter: named by the serial it reported
        if identification is None:
            source.update(datasets, at, serial=serial)
        else:
            source.update(
                datasets, at, manufacturer=identification.manufacturer, model=identification.ident, serial=serial
            )
        self.health.succeeded(meter, at, duration_s)

    def failed(self, target: str, meter: str, at: datetime, duration_s: float) -> None:
        source = self.sources.get(target)
        if source is None:
            return
        source.failed(at)
        self.health.failed(meter, duration_s)
