"""The meter's domain: energy registers, demand engines, tariffs, billing, load profile, event log.

The meter moves forward only when told (:meth:`Meter.step` with a measurement, or :meth:`Meter.add_interval` with
the energies of an interval from a replayed file), so a simulated clock runs it as fast as the CPU allows and a real
clock runs it live.  Everything that must survive a power cut goes through :class:`~meterkit.meter.nvram.MeterNv`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from ..errors import ConfigError, DeviceError
from .config import MeterConfig
from .demand import PLACES, DemandConfig, DemandEngine, MaximumDemand, epoch_us
from .metrology import EnergyRegisters, Measurement, PhaseInput
from .tou import TouCalendar

__all__ = [
    "EVENT_CODES",
    "EVENT_LOG_CAPACITY",
    "PROFILE_CLOCK_SET",
    "PROFILE_INCOMPLETE",
    "BillingRecord",
    "Event",
    "Meter",
    "MeterImage",
    "ProfileRow",
    "Refusal",
]

#: Demand is kept for import active (A+), export active (A-) and apparent import (S+, by the billing VA method).
DEMAND_QUANTITIES = ("A+", "A-", "S+")

EVENT_CODES = {
    1: "power down",
    2: "power up",
    3: "clock set",
    4: "billing reset",
    5: "parameter change",
    6: "error",
    7: "register reset",
    8: "load profile reset",
    9: "demand configuration change",
    10: "self-test",
    11: "NV memory",
}

#: the event log ``P.98`` keeps the newest this many events (a ring buffer, as real meters), in memory and in the NV
#: memory; the older ones are dropped and counted (:attr:`Meter.events_dropped`, shown in the ``P.98`` header).
#: Refusals are not events: they go to the security log, aggregated per cause and minute.
EVENT_LOG_CAPACITY = 500


@dataclass(frozen=True, slots=True)
class Event:
    at: datetime
    code: int
    text: str = ""


#: load-profile status bit 0: incomplete interval (power failure or clock set inside it, or skipped by a clock set)
PROFILE_INCOMPLETE = 0x01
#: load-profile status bit 1: the clock was set during this interval.  After a clock set backwards the same end time
#: occurs again; the stored interval is never overwritten, the new one follows it with this bit set.
PROFILE_CLOCK_SET = 0x02


@dataclass(frozen=True, slots=True)
class ProfileRow:
    """One load-profile interval (``end`` = end of the capture period), energies in mWh/mvarh."""

    end: datetime
    a_plus: int
    a_minus: int
    r_plus: int
    r_minus: int
    status: int = 0  # PROFILE_INCOMPLETE | PROFILE_CLOCK_SET


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the meter last refused a request over the port (register ``C.91.0``; volatile)."""

    at: datetime
    code: str  # the error answer sent, e.g. ER03
    request: str  # e.g. "W1 C.60.1"
    reason: str


@dataclass(frozen=True, slots=True)
class BillingRecord:
    """The registers frozen at a billing reset (the history ``*01`` is the newest)."""

    at: datetime
    reason: str
    energy: dict[str, int]
    maxima: dict[str, tuple[str, str] | None]  # quantity -> (kW, ISO time)
    tariff_energy: dict[str, dict[str, int]] = field(default_factory=dict)


class MeterImage(Protocol):
    """A meter's whole state from elsewhere (a simulated fleet history): what :meth:`Meter.load_history` takes."""

    @property
    def state(self) -> dict[str, Any]:
        """The dict :meth:`Meter.snapshot` returns."""
        ...

    @property
    def billing(self) -> Sequence[BillingRecord]: ...

    @property
    def events(self) -> Sequence[Event]: ...

    def profile_rows(self) -> list[ProfileRow]: ...


_MINUTE = timedelta(minutes=1)


def _floor(t: datetime, seconds: int) -> datetime:
    epoch = int(t.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


class Meter:
    """A three-phase C&I meter."""

    def __init__(self, config: MeterConfig, *, now: datetime) -> None:
        self.config = config
        self.calendar = config.calendar
        #: communication settings changeable over the port (device address, highest baud character)
        self.device_address = config.identity.device_address
        self.baud_char = config.port.baud_char
        self.reset_day = config.billing.reset_day
        self.zone = config.zone
        self.demand_config: DemandConfig = config.demand_config
        self.registers = EnergyRegisters(method=config.metrology.va_method)
        self.now = now
        #: demand values are resolved to 0.01 of the display unit (W, kW or MW)
        self._places = PLACES[config.demand.display_scale]
        self.engines = {q: self._engine(now) for q in DEMAND_QUANTITIES}
        self.tariff_engines: dict[str, DemandEngine] = {}
        self.history: list[BillingRecord] = []
        self.reset_count = 0
        #: maximum-demand resets (billing resets and register resets) and the sum of the maxima they cleared
        self.md_reset_count = 0
        self._cumulative: dict[str, Decimal] = dict.fromkeys(DEMAND_QUANTITIES, Decimal(0))
        self.last_reset: datetime | None = None
        self.events: list[Event] = []
        #: events dropped from the front of the full event log since the meter was made
        self.events_dropped = 0
        self.profile: list[ProfileRow] = []
        self.error_register = 0
        self.self_test_result = "not run"
        self.powered = True
        self.last_measurement: Measurement | None = None
        self.phase_inputs: tuple[PhaseInput, ...] = ()
        self._capture_s = config.load_profile.capture_min * 60
        self._capture_end = _floor(now, self._capture_s) + timedelta(seconds=self._capture_s)
        self._capture_acc = {"A+": 0, "A-": 0, "R+": 0, "R-": 0}
        self._capture_incomplete = now != _floor(now, self._capture_s)
        self._capture_clock_set = False
        self._next_reset = self._reset_after(now)
        #: the reason of the last refusal over the port (``C.91.0``), not kept across a restart
        self.last_refusal: Refusal | None = None
        #: called with ("profile", row), ("event", event), ("billing", record) and ("maximum", None) - a new maximum
        #: demand not already committed with a profile row or billing record - so NV memory can commit
        self.listeners: list[Any] = []
        self._tariff_cache: tuple[TouCalendar, datetime, datetime, int] | None = None
        #: the checksum of the calibration set (``C.2.8``), told by the owner of the calibration record
        self.calibration_checksum = ""
        self._tariff_keys = {t: tuple(f"{q}/T{t}" for q in DEMAND_QUANTITIES) for t in range(1, 9)}

    def _engine(self, start: datetime, config: DemandConfig | None = None) -> DemandEngine:
        offset = start.astimezone(self.zone).utcoffset()
        align = int(offset.total_seconds()) if offset is not None else 0
        return DemandEngine(config or self.demand_config, start=start, places=self._places, align_s=align)

    # --- time and billing schedule ---------------------------------------------------------------------

    def _reset_after(self, t: datetime) -> datetime:
        local = t.astimezone(self.zone)
        b = self.config.billing
        year, month = local.year, local.month
        for _ in range(3):
            candidate = datetime(year, month, self.reset_day, b.reset_time.hour, b.reset_time.minute, tzinfo=self.zone)
            if candidate.astimezone(UTC) > t:
                return candidate.astimezone(UTC)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        raise ConfigError("cannot schedule the next billing reset")  # pragma: no cover

    def tariff(self, at: datetime | None = None) -> int:
        """The active tariff; switch times are whole minutes, so the answer is cached for the running minute."""
        at = at or self.now
        cache = self._tariff_cache
        if cache is not None and cache[0] is self.calendar and cache[1] <= at < cache[2]:
            return cache[3]
        tariff = self.calendar.tariff_at(at, self.zone)
        lo = at.replace(second=0, microsecond=0)
        self._tariff_cache = (self.calendar, lo, lo + _MINUTE, tariff)
        return tariff

    def _emit(self, kind: str, item: object) -> None:
        for listener in self.listeners:
            listener(kind, item)

    def log(self, code: int, text: str = "", at: datetime | None = None) -> Event:
        event = Event(at=at or self.now, code=code, text=text)
        self.events.append(event)
        excess = len(self.events) - EVENT_LOG_CAPACITY
        if excess > 0:
            del self.events[:excess]
            self.events_dropped += excess
        self._emit("event", event)
        return event

    # --- feeding energy -------------------------------------------------------------------------------

    def step(self, measurement: Measurement, seconds: float, *, relay_closed: bool = True) -> None:
        """Integrate a measurement over the next ``seconds`` (live and synthetic sources)."""
        if seconds <= 0:
            raise ConfigError("a meter step must be longer than zero seconds")
        end = self.now + timedelta(seconds=seconds)
        tariff = self.tariff(self.now)
        before = dict(self.registers.total)
        if relay_closed:
            self.registers.add(measurement, seconds, tariff)
        self.last_measurement = measurement
        deltas = {k: self.registers.total[k] - before[k] for k in before}
        self._advance(end, deltas, tariff)

    def add_interval(self, end: datetime, a_plus_mwh: int, *, pf: float = 1.0, a_minus_mwh: int = 0) -> None:
        """Energies of one replayed interval ending at ``end`` (exact integers; reactive from ``pf``)."""
        if end <= self.now:
            raise ConfigError(f"interval ending {end.isoformat()} is not after the meter time {self.now.isoformat()}")
        tariff = self.tariff(self.now)
        ratio = (1 / pf**2 - 1) ** 0.5 if pf < 1 else 0.0
        deltas = {
            "A+": a_plus_mwh,
            "A-": a_minus_mwh,
            "Q1": round(a_plus_mwh * ratio),
            "Q2": 0,
            "Q3": 0,
            "Q4": 0,
            "S+": round(a_plus_mwh / pf),
            "S-": round(a_minus_mwh / pf),
        }
        deltas["SA"] = deltas["SV"] = deltas["SE"] = deltas["S+"] + deltas["S-"]
        for name, value in deltas.items():
            if value:
                self.registers.add_exact(name, value, tariff)
        self._advance(end, deltas, tariff)

    def _advance(self, end: datetime, deltas: dict[str, int], tariff: int) -> None:
        end_us = epoch_us(end)
        new_maximum = False
        keys = self._tariff_keys[tariff]
        tariff_engines = self.tariff_engines
        for q, key in zip(DEMAND_QUANTITIES, keys, strict=True):
            energy = deltas.get(q, 0)
            per_tariff = tariff_engines.get(key)
            if per_tariff is None:
                per_tariff = tariff_engines[key] = self._engine(self.now)
            for engine in (self.engines[q], per_tariff):
                before = engine.maximum
                engine.add_energy_us(energy, end_us)
                if engine.maximum is not before:
                    new_maximum = True
        # a tariff's MD is only set by windows wholly inside its active time: inactive engines see the time pass
        # as incomplete sub-periods
        for key, engine in tariff_engines.items():
            if key not in keys:
                engine.power_down_us(end_us)
        acc = self._capture_acc
        acc["A+"] += deltas.get("A+", 0)
        acc["A-"] += deltas.get("A-", 0)
        acc["R+"] += deltas.get("Q1", 0) + deltas.get("Q2", 0)
        acc["R-"] += deltas.get("Q3", 0) + deltas.get("Q4", 0)
        self.now = end
        committed = False
        while self.now >= self._capture_end:
            self._capture()
            committed = True
        if self.now >= self._next_reset:
            self.billing_reset("scheduled", at=self._next_reset, enforce_lockout=False)
            committed = True
        if new_maximum and not committed:
            self._emit("maximum", None)

    def _capture(self) -> None:
        acc = self._capture_acc
        row = ProfileRow(
            end=self._capture_end,
            a_plus=acc["A+"],
            a_minus=acc["A-"],
            r_plus=acc["R+"],
            r_minus=acc["R-"],
            status=(PROFILE_INCOMPLETE if self._capture_incomplete else 0)
            | (PROFILE_CLOCK_SET if self._capture_clock_set else 0),
        )
        self.profile.append(row)
        keep = self.config.load_profile.keep_days * 86400 // self._capture_s
        if len(self.profile) > keep:
            del self.profile[: len(self.profile) - keep]
        self._capture_acc = {"A+": 0, "A-": 0, "R+": 0, "R-": 0}
        self._capture_incomplete = False
        self._capture_clock_set = False
        self._capture_end += timedelta(seconds=self._capture_s)
        self._emit("profile", row)

    # --- billing --------------------------------------------------------------------------------------

    def billing_reset(self, reason: str, *, at: datetime | None = None, enforce_lockout: bool = True) -> BillingRecord:
        """Freeze energy and MD into the history, clear MD, count the reset; refused inside the lockout time."""
        at = at or self.now
        lockout = self.config.billing.reset_lockout_s
        if enforce_lockout and self.last_reset is not None and (at - self.last_reset).total_seconds() < lockout:
            left = lockout - int((at - self.last_reset).total_seconds())
            raise DeviceError(f"billing reset refused: lockout, {left} s left")
        maxima: dict[str, tuple[str, str] | None] = {}
        for key, engine in [*self.engines.items(), *self.tariff_engines.items()]:
            md = engine.reset_maximum()
            maxima[key] = None if md is None else (str(md.value_kw), md.at.isoformat())
        self._count_md_reset({q: self._maximum_value(maxima.get(q)) for q in DEMAND_QUANTITIES})
        record = BillingRecord(
            at=at,
            reason=reason,
            energy=dict(self.registers.total),
            maxima=maxima,
            tariff_energy={str(t): dict(r) for t, r in self.registers.tariffs.items()},
        )
        self.history.append(record)
        del self.history[: max(0, len(self.history) - self.config.billing.history)]
        self.reset_count += 1
        self.last_reset = at
        self._next_reset = self._reset_after(at)
        self._emit("billing", record)
        self.log(4, f"billing reset ({reason}), count {self.reset_count}", at=at)
        return record

    # --- power and clock ------------------------------------------------------------------------------

    def power_down(self, at: datetime | None = None) -> None:
        at = at or self.now
        for engine in [*self.engines.values(), *self.tariff_engines.values()]:
            engine.power_down(at)
        self._capture_incomplete = True
        self.powered = False
        self.log(1, "power down", at=at)

    def power_up(self, at: datetime) -> None:
        if at < self.now:
            at = self.now
        for engine in [*self.engines.values(), *self.tariff_engines.values()]:
            engine.power_up(at)
        while at >= self._capture_end:
            self._capture_incomplete = True
            self._capture()
        self.now = at
        self.powered = True
        self.log(2, "power up", at=at)
        if at >= self._next_reset:  # a reset missed during the outage is made at power-up
            self.billing_reset("missed during power failure", at=at, enforce_lockout=False)

    def set_clock(self, new: datetime) -> None:
        """Clock set: windows running across the jump are closed as incomplete (power-down/up semantics)."""
        old = self.now
        if new == old:
            return
        self.log(3, f"clock set from {old.isoformat()} to {new.isoformat()}", at=old)
        for engine in [*self.engines.values(), *self.tariff_engines.values()]:
            engine.power_down(old)
        self._capture_incomplete = True
        self._capture_clock_set = True
        if new > old:
            for engine in [*self.engines.values(), *self.tariff_engines.values()]:
                engine.power_up(new)
            while new >= self._capture_end:  # intervals skipped by the jump: not measured
                self._capture_incomplete = self._capture_clock_set = True
                self._capture()
        else:
            self.engines = {q: self._engine(new) for q in DEMAND_QUANTITIES}
            maxima = {k: e.maximum for k, e in self.tariff_engines.items()}
            self.tariff_engines = {}
            for key, md in maxima.items():
                if md is not None:
                    engine = self.tariff_engines[key] = self._engine(new)
                    engine.keep_maximum(md)
            self._capture_end = _floor(new, self._capture_s) + timedelta(seconds=self._capture_s)
        self.now = new
        self._next_reset = self._reset_after(new)

    def set_demand_config(self, config: DemandConfig) -> None:
        """A new demand configuration restarts the engines (the running MD of the period is kept)."""
        kept = {k: e.maximum for k, e in [*self.engines.items(), *self.tariff_engines.items()]}
        self.demand_config = config
        self.engines = {q: self._engine(self.now, config) for q in DEMAND_QUANTITIES}
        self.tariff_engines = {}
        for q in DEMAND_QUANTITIES:
            self.engines[q].keep_maximum(kept.get(q))
        for key, md in kept.items():
            if "/T" in key and md is not None:
                engine = self.tariff_engines[key] = self._engine(self.now, config)
                engine.keep_maximum(md)
        self.log(9, f"demand set to {config}")

    # --- registers ------------------------------------------------------------------------------------

    def set_reset_day(self, day: int) -> None:
        if not 1 <= day <= 28:
            raise ConfigError(f"billing reset day must be 1-28, got {day}")
        self.reset_day = day
        self._next_reset = self._reset_after(self.now)

    def reset_demand(self) -> None:
        """Clear the running maximum-demand registers without a billing reset (register reset)."""
        cleared = {q: self.engines[q].maximum for q in DEMAND_QUANTITIES}
        for engine in [*self.engines.values(), *self.tariff_engines.values()]:
            engine.reset_maximum()
        self._count_md_reset({q: Decimal(0) if md is None else md.value_kw for q, md in cleared.items()})
        self.log(7, "maximum demand registers reset")

    @staticmethod
    def _maximum_value(md: tuple[str, str] | None) -> Decimal:
        return Decimal(0) if md is None else Decimal(md[0])

    def _count_md_reset(self, cleared: dict[str, Decimal]) -> None:
        self.md_reset_count += 1
        for q, value in cleared.items():
            self._cumulative[q] += value

    def cumulative_demand(self, quantity: str) -> Decimal:
        """Cumulative maximum demand: the sum of the maxima cleared by every MD reset (kW, kVA for S+)."""
        return self._cumulative[quantity]

    def set_device_address(self, value: str) -> None:
        """The address answered in ``/?address!`` (at most 32 characters 0-9, A-Z, a-z or space)."""
        if len(value) > 32 or not all(c.isascii() and (c.isalnum() or c == " ") for c in value):
            raise ValueError("a device address has at most 32 characters 0-9, A-Z, a-z or space")
        self.device_address = value

    def set_baud_char(self, value: str) -> None:
        """The highest mode C baud character offered (0-6)."""
        if value not in "0123456" or len(value) != 1:
            raise ValueError("the baud character must be 0-6")
        self.baud_char = value

    def set_calendar(self, calendar: TouCalendar) -> None:
        self.calendar = calendar

    def record_refusal(self, refusal: Refusal) -> None:
        """The reason of the last refusal over the port (``C.91.0``)."""
        self.last_refusal = refusal

    def set_phase_inputs(self, phases: tuple[PhaseInput, ...]) -> None:
        """The phase inputs of the next measurement (shown by the voltage and current registers)."""
        self.phase_inputs = phases

    def set_error_bits(self, bits: int, *, mask: int = 0xFF) -> None:
        """Set the bits of the error register ``F.F`` under ``mask`` to those of ``bits``."""
        self.error_register = (self.error_register & ~mask) | (bits & mask)

    def set_self_test_result(self, result: str) -> None:
        self.self_test_result = result

    def set_calibration_checksum(self, checksum: str) -> None:
        """The checksum of the calibration set in force (see :mod:`.calibration`)."""
        self.calibration_checksum = checksum

    def subscribe(self, listener: Callable[[str, object], None]) -> None:
        """Call ``listener`` with every change the NV memory must commit (see :attr:`listeners`)."""
        self.listeners.append(listener)

    def restore_records(
        self, *, profile: list[ProfileRow], history: list[BillingRecord], events: list[Event], events_dropped: int = 0
    ) -> None:
        """The load profile, billing history and event log (and how many events it dropped) as read back from the
        NV memory."""
        self.profile = list(profile)
        self.history = list(history)[-self.config.billing.history :]
        self.events = list(events)[-EVENT_LOG_CAPACITY:]
        self.events_dropped = events_dropped + max(0, len(events) - EVENT_LOG_CAPACITY)

    def load_history(self, image: MeterImage) -> None:
        """Take over a whole history (registers, engines, load profile, billing history, events) computed elsewhere,
        e.g. a simulated fleet's :class:`~meterkit.fleet.history.MeterHistory`; the meter stands at its end."""
        self.restore(image.state)
        keep = self.config.load_profile.keep_days * 86400 // self._capture_s
        self.restore_records(
            profile=image.profile_rows()[-keep:], history=list(image.billing), events=list(image.events)
        )

    def clear_profile(self) -> None:
        """Forget the captured load profile (``PROFILE.RESET``; the NV memory is cleared by its owner)."""
        self.profile.clear()

    def maximum(self, quantity: str, tariff: int | None = None) -> MaximumDemand | None:
        if tariff is None:
            return self.engines[quantity].maximum
        engine = self.tariff_engines.get(f"{quantity}/T{tariff}")
        return None if engine is None else engine.maximum

    def demand_now(self, quantity: str) -> tuple[Decimal, Decimal | None]:
        engine = self.engines[quantity]
        return engine.current_average_kw, engine.last_average_kw

    # --- persistence ----------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "demand_config": str(self.demand_config),
            "registers": self.registers.snapshot(),
            "engines": {k: e.state() for k, e in self.engines.items()},
            "tariff_engines": {k: e.state() for k, e in self.tariff_engines.items()},
            "reset_count": self.reset_count,
            "last_reset": None if self.last_reset is None else self.last_reset.isoformat(),
            "capture_end": self._capture_end.isoformat(),
            "capture_acc": dict(self._capture_acc),
            "capture_incomplete": self._capture_incomplete,
            "capture_clock_set": self._capture_clock_set,
            "error_register": self.error_register,
            "calendar": self.calendar.to_dict(),
            "device_address": self.device_address,
            "baud_char": self.baud_char,
            "reset_day": self.reset_day,
            "md_reset_count": self.md_reset_count,
            "cumulative_md": {q: str(v) for q, v in self._cumulative.items()},
        }

    def restore(self, snap: dict[str, Any]) -> None:
        self.now = datetime.fromisoformat(snap["now"])
        self.demand_config = DemandConfig.parse(snap["demand_config"])
        self.registers = EnergyRegisters.from_snapshot(snap["registers"])
        self.engines = {k: DemandEngine.from_state(self.demand_config, s) for k, s in snap["engines"].items()}
        self.tariff_engines = {
            k: DemandEngine.from_state(self.demand_config, s) for k, s in snap["tariff_engines"].items()
        }
        for engine in [*self.engines.values(), *self.tariff_engines.values()]:
            engine.set_places(self._places)  # the display scale of the configuration in force
        self.reset_count = int(snap["reset_count"])
        self.last_reset = None if snap["last_reset"] is None else datetime.fromisoformat(snap["last_reset"])
        self._capture_end = datetime.fromisoformat(snap["capture_end"])
        self._capture_acc = {k: int(v) for k, v in snap["capture_acc"].items()}
        self._capture_incomplete = bool(snap["capture_incomplete"])
        self._capture_clock_set = bool(snap.get("capture_clock_set", False))
        self.error_register = int(snap["error_register"])
        if "calendar" in snap:
            self.calendar = TouCalendar.from_dict(snap["calendar"])
        self.device_address = str(snap.get("device_address", self.device_address))
        self.baud_char = str(snap.get("baud_char", self.baud_char))
        self.reset_day = int(snap.get("reset_day", self.reset_day))
        self.md_reset_count = int(snap["md_reset_count"])  # older files get it from their migration
        cumulative = snap["cumulative_md"]
        self._cumulative = {q: Decimal(str(cumulative.get(q, "0"))) for q in DEMAND_QUANTITIES}
        self._next_reset = self._reset_after(self.now)
