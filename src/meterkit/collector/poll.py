"""The collector: reads many meters concurrently (asyncio) and stores what it reads.

Per meter: connect to its endpoint, sign on with its device address (``/?10000042!``), enter programming mode with
its credentials, read the registers asked for and the load profile ``P.01`` since the last interval already stored,
sign off, store.  A point-to-point meter (a target without device address, sign-on ``/?!``) is asked its serial
first (register ``0.0.0``, else ``C.1.0``): it is stored, and told to the observer, under that serial.  Meters on
one endpoint are read at most ``per_endpoint`` at a time (1 by default: a multi-drop
bus serves one meter at a time); endpoints are read in parallel.  A meter gets ``timeout_s`` per attempt and
``retries`` further attempts after a transport failure or time-out, ``backoff_s`` doubling between them; a
meter's refusal (wrong password, access denied) is not retried, so no lockout is provoked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Protocol
from zoneinfo import ZoneInfo

from ..errors import DataError, DeviceError, MeterkitError, SecurityError, TransportError
from ..iec62056_21.client import ClientConfig
from ..iec62056_21.messages import DataSet, IdentificationMessage
from .link import AsyncMeterLink
from .store import ProfileRecord, ProfileStore, usable_serial
from .targets import Target

__all__ = ["SERIAL_REGISTERS", "Collector", "MeterResult", "PollObserver", "PollSettings", "Summary", "parse_profile"]

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]

#: where a point-to-point meter is asked for its serial, in order: the serial number, then the manufacturer's one
SERIAL_REGISTERS = ("0.0.0", "C.1.0")


class PollObserver(Protocol):
    """Told about every meter's poll (the live faces: MQTT, metrics), on the collector's event loop.  ``target`` is
    the target's :attr:`~.targets.Target.key` (its address, or a point-to-point meter's endpoint), ``meter`` the
    meter's name: its address, the serial a point-to-point meter reported, or the target key while that is unknown."""

    def polled(
        self,
        target: str,
        meter: str,
        datasets: Sequence[DataSet],
        identification: IdentificationMessage | None,
        at: datetime,
        duration_s: float,
    ) -> None:
        """A successful poll: the register data sets read (in order)."""
        ...

    def failed(self, target: str, meter: str, at: datetime, duration_s: float) -> None:
        """The poll of ``meter`` failed after its retries."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class PollSettings:
    timeout_s: float = 60.0
    retries: int = 2
    backoff_s: float = 0.5
    per_endpoint: int = 1
    registers: tuple[str, ...] = ()
    #: the meters' time zone (their load-profile stamps are local time)
    tz: str = "UTC"
    response_timeout: float = 1.5
    baud_switch_delay: float = 0.0


@dataclass(frozen=True, slots=True)
class MeterResult:
    #: the meter's name: its device address, a point-to-point meter's serial (its endpoint while unknown)
    address: str
    endpoint: str
    ok: bool
    intervals: int = 0
    attempts: int = 1
    reason: str = ""
    #: the successful session's traffic: bytes sent, bytes received, messages sent
    traffic: tuple[int, int, int] = (0, 0, 0)


@dataclass(slots=True)
class Summary:
    results: list[MeterResult] = field(default_factory=list)

    @property
    def read(self) -> int:
        return sum(r.ok for r in self.results)

    @property
    def failed(self) -> list[MeterResult]:
        return [r for r in self.results if not r.ok]

    @property
    def intervals(self) -> int:
        return sum(r.intervals for r in self.results)

    def lines(self) -> list[str]:
        out = [f"meters read: {self.read}, failed: {len(self.failed)}, intervals stored: {self.intervals}"]
        out += [
            f"failed {'the meter' if r.address == r.endpoint else r.address} on {r.endpoint} after {r.attempts} "
            f"attempt(s): {r.reason}"
            for r in self.failed
        ]
        return out


def _stamp(t: datetime, zone: ZoneInfo) -> str:
    return t.astimezone(zone).strftime("%y%m%d%H%M")


def _wh(text: str, where: str) -> int:
    try:
        value = Decimal(text) * 1000
    except InvalidOperation as exc:
        raise DataError(f"{where}: {text!r} is not an energy") from exc
    if value != value.to_integral_value() or value < 0:
        raise DataError(f"{where}: {text!r} is not a non-negative energy in kWh with at most 3 decimals")
    return int(value)


def parse_profile(datasets: Sequence[DataSet], zone: ZoneInfo, meter: str) -> list[ProfileRecord]:
    """The lines of a ``P.01`` answer (header ``P.01(count)(capture min)...``, then ``(stamp)(status)(A+)(A-)(R+)
    (R-)``, energies in kWh) as records with UTC ends; DataError names the meter and the line."""
    if not datasets or datasets[0].address != "P.01":
        raise DataError(f"meter {meter}: the load profile answer has no P.01 header")
    header = datasets[0].values
    try:
        capture_min = int(header[1].value)
    except (IndexError, ValueError) as exc:
        raise DataError(f"meter {meter}: the P.01 header names no capture period") from exc
    out = []
    for n, ds in enumerate(datasets[1:], start=1):
        where = f"meter {meter}, P.01 line {n}"
        vals = [v.value for v in ds.values]
        if len(vals) < 6:
            raise DataError(f"{where}: expected 6 values, got {len(vals)}")
        try:
            local = datetime.strptime(vals[0], "%y%m%d%H%M").replace(tzinfo=zone)
            status = int(vals[1], 16)
        except ValueError as exc:
            raise DataError(f"{where}: bad time or status ({vals[0]!r}, {vals[1]!r})") from exc
        out.append(
            ProfileRecord(
                end=local.astimezone(UTC),
                status=status,
                a_plus_wh=_wh(vals[2], where),
                a_minus_wh=_wh(vals[3], where),
                r_plus_varh=_wh(vals[4], where),
                r_minus_varh=_wh(vals[5], where),
                capture_s=capture_min * 60,
            )
        )
    return out


class _Final(MeterkitError):
    """A failure retrying cannot mend (the meter refused)."""


class Collector:
    """Reads ``targets`` into ``store``; :meth:`run_once` is one polling cycle."""

    def __init__(
        self,
        targets: Sequence[Target],
        store: ProfileStore,
        settings: PollSettings | None = None,
        *,
        progress: Progress | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        observer: PollObserver | None = None,
        serials: dict[str, str] | None = None,
    ) -> None:
        self.observer = observer
        #: point-to-point endpoint -> the serial its meter reported (``serials``, read by the caller from the store;
        #: else the store's, read at the first cycle), and from each poll
        self.serials = dict(serials or {})
        self._loaded = serials is not None
        self.targets = list(targets)
        self.store = store
        self.settings = settings or PollSettings()
        self.zone = ZoneInfo(self.settings.tz)
        self.progress = progress
        self.now = now

    def meter_name(self, target: Target) -> str:
        """The meter's name: its address, the serial a point-to-point meter reported, else its endpoint."""
        return target.address or self.serials.get(target.endpoint, target.endpoint)

    async def run_once(self) -> Summary:
        s = self.settings
        if not self._loaded and any(not t.address for t in self.targets):
            self.serials = {**await asyncio.to_thread(self.store.known_serials), **self.serials}
            self._loaded = True
        gates = {t.endpoint: asyncio.Semaphore(s.per_endpoint) for t in self.targets}
        summary = Summary()
        done = 0
        total = len(self.targets)

        async def one(target: Target) -> MeterResult:
            nonlocal done
            async with gates[target.endpoint]:
                result = await self._with_retries(target)
            done += 1
            if self.progress is not None:
                self.progress(done, total)
            return result

        summary.results = list(await asyncio.gather(*(one(t) for t in self.targets)))
        return summary

    async def _with_retries(self, target: Target) -> MeterResult:
        loop = asyncio.get_running_loop()
        began = loop.time()
        seen: list[DataSet] = []
        ident: list[IdentificationMessage] = []
        result = await self._attempts(target, seen, ident)
        if self.observer is not None:
            took = loop.time() - began
            try:
                if result.ok:
                    self.observer.polled(
                        target.key, result.address, seen, ident[-1] if ident else None, self.now(), took
                    )
                else:
                    self.observer.failed(target.key, result.address, self.now(), took)
            except Exception:  # a face must not fail the poll
                log.exception("meter %s: telling the live faces failed", result.address)
        return result

    async def _attempts(self, target: Target, seen: list[DataSet], ident: list[IdentificationMessage]) -> MeterResult:
        s = self.settings
        reason = ""
        attempt = 0
        for attempt in range(1, s.retries + 2):
            try:
                seen.clear()
                stored, traffic = await asyncio.wait_for(self._read(target, seen, ident), s.timeout_s)
            except TimeoutError:
                reason = f"no complete answer within {s.timeout_s:g} s"
            except _Final as exc:
                reason = str(exc)
                break
            except (TransportError, DeviceError, OSError) as exc:
                reason = str(exc)
            except MeterkitError as exc:  # bad data from the meter, a local error: this meter fails, the run goes on
                return MeterResult(self.meter_name(target), target.endpoint, False, 0, attempt, str(exc))
            else:
                return MeterResult(self.meter_name(target), target.endpoint, True, stored, attempt, traffic=traffic)
            log.info("meter %s: attempt %d failed: %s", self.meter_name(target), attempt, reason)
            if attempt <= s.retries:
                await asyncio.sleep(s.backoff_s * 2 ** (attempt - 1))
        return MeterResult(self.meter_name(target), target.endpoint, False, 0, attempt, reason)

    async def _serial(self, link: AsyncMeterLink, target: Target) -> str:
        """A point-to-point meter's serial, from the first of :data:`SERIAL_REGISTERS` it answers; remembered in the
        store.  DataError when it answers none with a usable name."""
        for address in SERIAL_REGISTERS:
            try:
                answer = await link.read(address)
            except DeviceError:  # ER: the meter has no such register, try the next
                continue
            text = answer[0].values[0].value.strip() if answer and answer[0].values else ""
            if not usable_serial(text):
                raise DataError(f"the meter on {target.endpoint} reports {address}({text}), not a usable serial")
            if self.serials.get(target.endpoint) != text:
                await asyncio.to_thread(self.store.remember_serial, target.endpoint, text)
                self.serials[target.endpoint] = text
            return text
        raise DataError(
            f"the meter on {target.endpoint} reports no serial ({', '.join(SERIAL_REGISTERS)}): give --addresses"
        )

    async def _read(
        self, target: Target, seen: list[DataSet], ident: list[IdentificationMessage]
    ) -> tuple[int, tuple[int, int, int]]:
        """One attempt; ``seen`` gets the register data sets read, ``ident`` the identification."""
        s = self.settings
        config = ClientConfig(
            device_address=target.address,
            response_timeout=s.response_timeout,
            baud_switch_delay=s.baud_switch_delay,
        )
        link = await AsyncMeterLink.open(target.endpoint, config)
        try:
            try:
                await link.programming(target.credentials.for_meter(target.address))
            except (DeviceError, SecurityError) as exc:  # a refused password or key: retries would run into the lockout
                raise _Final(f"authentication refused ({exc})") from exc
            if link.identification is not None:
                ident.append(link.identification)
            meter = target.address or await self._serial(link, target)
            readings: dict[str, str] = {}
            for address in s.registers:
                for ds in await link.read(address):
                    seen.append(ds if ds.address else DataSet(address=address, values=ds.values))
                    readings[ds.address or address] = ";".join(
                        v.value + (f"*{v.unit}" if v.unit else "") for v in ds.values
                    )
            last = await asyncio.to_thread(self.store.last_stored, meter)
            start = "" if last is None else _stamp(last + timedelta(minutes=1), self.zone)
            try:
                datasets = await link.load_profile(start, "")
            except DeviceError as exc:
                raise _Final(str(exc)) from exc
            await link.sign_off()
        finally:
            await link.close()
        traffic = (link.bytes_sent, link.bytes_received, link.messages_sent)
        records = parse_profile(datasets, self.zone, meter)
        if readings:
            await asyncio.to_thread(self.store.add_readings, meter, self.now(), readings)
        return await asyncio.to_thread(self.store.append, meter, records), traffic
