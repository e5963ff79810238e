"""The meter's streaming maximum-demand engine: what firmware does, sub-period by sub-period.

Energy arrives in time order (:meth:`DemandEngine.add_energy`): each call hands over the energy consumed in
(previous end, ``end``].  Sub-periods are aligned to the full hour (UTC epoch multiples of the sub-period length,
which is the local full hour for every whole-hour UTC offset).  A call that spans sub-period boundaries is split
proportionally to time (integer milli-watt-hours, rounded half-up on the cumulative share so the parts add up to
exactly the energy handed over).

At the end of each sub-period (sliding) or period (fixed, the case of one sub-period of the full period length) the
average power over the integration period is window energy / nominal period length.  If it is strictly higher than
the stored maximum (both rounded half-up to 0.01 kW), it becomes the maximum demand with the window's end time;
ties keep the first.

Edge behaviour (settings of :class:`DemandEngine`, table in ``docs/metrology-and-demand.md``):

* ``startup="discard"`` (default): sub-periods not observed from their beginning since the engine started are
  incomplete, and windows containing an incomplete sub-period do not count for MD.  ``"count"``: the window before
  start-up is taken as zero energy, so partial windows count (energy so far / full period).
* ``outage="discard"`` (default): sub-periods overlapping a power failure (:meth:`power_down` .. :meth:`power_up`)
  are incomplete; energy during the outage is zero.  ``"count"``: they count with the energy actually measured.
* clock set (:meth:`set_clock`): the running sub-period and the buffered ones are closed and dropped, the windows
  restart at the new time exactly as after start-up; the stored maximum is kept.
* billing reset (:meth:`reset_maximum`): MD goes to none; with ``keep_buffer_on_reset=True`` (default) the sliding
  buffer is kept, so the first window of the new billing period may contain energy from before the reset, as the
  running window of a real meter does.  With ``False`` the windows restart at the reset like after start-up.

The analytics' batch kernel computes the same values from load profiles; tests hold the two equal, and
:func:`recompute_md` is a plain recomputation used as the test oracle.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from ..demand_rules import FIXED_PERIODS, SLIDING_SUB_PERIODS, is_offered, to_kw, valid_combinations
from ..errors import ConfigError, DataError

__all__ = [
    "FIXED_PERIODS",
    "SLIDING_SUB_PERIODS",
    "DemandConfig",
    "DemandEngine",
    "DemandValue",
    "MaximumDemand",
    "check_display_range",
    "display_unit",
    "epoch_us",
    "format_md",
    "recompute_md",
    "to_kw",
    "valid_combinations",
]

SCALES: dict[str, Decimal] = {"W": Decimal(1000), "kW": Decimal(1), "MW": Decimal("0.001")}
_PREFIX = {"W": "", "kW": "k", "MW": "M"}
_US = 1_000_000  # microseconds per second: engine times are integer microseconds since the epoch
_STATE_VERSION = 2

Policy = Literal["discard", "count"]


@dataclass(frozen=True, slots=True)
class DemandConfig:
    """``fixed 15`` or ``sliding 15/1`` (integration period / sub-period, minutes).

    ``sub_min`` is ``None`` for fixed windows (``sub_min == period_min`` is accepted and normalised to ``None``);
    for sliding windows ``None`` means the default sub-period of 1 minute.  ``DemandConfig()`` is sliding 15/1.
    ``parse`` also accepts ``sliding 15 1``, as the optical port cannot carry ``/`` in a value.
    """

    method: Literal["fixed", "sliding"] = "sliding"
    period_min: int = 15
    sub_min: int | None = None

    def __post_init__(self) -> None:
        if self.method == "fixed" and self.sub_min == self.period_min:
            object.__setattr__(self, "sub_min", None)
        elif self.method == "sliding" and self.sub_min is None:
            object.__setattr__(self, "sub_min", 1)
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` (listing the valid combinations) unless this setting is offered."""
        if self.method == "fixed":
            if self.sub_min is not None or not is_offered(self.period_min, None):
                raise ConfigError(f"demand 'fixed {self.period_min}' is not offered; {valid_combinations()}")
        elif self.method == "sliding":
            if self.sub_min is None or not is_offered(self.period_min, self.sub_min):
                raise ConfigError(
                    f"demand 'sliding {self.period_min}/{self.sub_min}' is not offered; {valid_combinations()}"
                )
        else:
            raise ConfigError(f"demand method must be fixed or sliding, got {self.method!r}")

    @property
    def sub_period_min(self) -> int:
        """Length of one sub-period in minutes (the full period for fixed windows)."""
        return self.period_min if self.sub_min is None else self.sub_min

    @property
    def sub_periods(self) -> int:
        """Number of sub-periods in one integration period (1 for fixed windows)."""
        return self.period_min // self.sub_period_min

    @classmethod
    def all_valid(cls) -> list[DemandConfig]:
        """Every offered setting: the fixed ones, then the sliding ones."""
        return [cls("fixed", p) for p in FIXED_PERIODS] + [
            cls("sliding", p, s) for p, subs in SLIDING_SUB_PERIODS.items() for s in subs
        ]

    @classmethod
    def parse(cls, text: str) -> DemandConfig:
        m = re.fullmatch(r"\s*(fixed|sliding)\s+(\d+)(?:\s*[/ ]\s*(\d+))?\s*", text)
        if m is None:
            raise ConfigError(f"cannot read demand setting {text!r}; write 'fixed 15' or 'sliding 15/1'")
        period = int(m.group(2))
        if m.group(1) == "fixed":
            if m.group(3) is not None:
                raise ConfigError(f"'{text}': a fixed window has no sub-period")
            return cls("fixed", period)
        if m.group(3) is None:
            raise ConfigError(f"'{text}': a sliding window needs PERIOD/SUB, e.g. sliding 15/1")
        return cls("sliding", period, int(m.group(3)))

    def __str__(self) -> str:
        return f"fixed {self.period_min}" if self.method == "fixed" else f"sliding {self.period_min}/{self.sub_min}"


@dataclass(frozen=True, slots=True, kw_only=True)
class MaximumDemand:
    """The MD register: the highest window average (kW, 2 decimals) and the end time of that window."""

    value_kw: Decimal
    at: datetime
    #: the window's exact energy (milli-Wh); None for a maximum from an older state.  Windows are compared on it, so
    #: the register points at the truly highest window even where two round to the same 0.01 kW.
    energy_mwh: int | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class DemandValue:
    """One completed window: its average power (kW, 2 decimals) and its end time."""

    value_kw: Decimal
    at: datetime


#: decimal places of kW that give 0.01 of the display unit: W -> 0.00001 kW, kW -> 0.01 kW, MW -> 10 kW
PLACES: dict[str, int] = {"W": 5, "kW": 2, "MW": -1}


def format_md(value_kw: Decimal, scale: str = "kW") -> str:
    """The 6-digit MD register: 4 integers and 2 decimals (``0157.00``); overflow raises ConfigError."""
    if scale not in SCALES:
        raise ConfigError(f"display scale must be W, kW or MW, got {scale!r}")
    v = (value_kw * SCALES[scale]).quantize(Decimal("0.01"), ROUND_HALF_UP)
    if v < 0 or v > Decimal("9999.99"):
        raise ConfigError(f"{v} {scale} does not fit the 6-digit demand register (max 9999.99)")
    return f"{v:07.2f}"


def display_unit(base_unit: str, scale: str) -> str:
    """The unit of a demand register in the display ``scale``: ``kW`` -> ``W``/``kW``/``MW``, ``kVA`` -> ``VA``/..."""
    if scale not in SCALES:
        raise ConfigError(f"display scale must be W, kW or MW, got {scale!r}")
    return _PREFIX[scale] + base_unit.removeprefix("k")


def check_display_range(max_power_kw: Decimal, scale: str) -> None:
    """Refuse at configuration time a scale in which the meter's maximum power would overflow 9999.99."""
    try:
        format_md(max_power_kw, scale)
    except ConfigError as exc:
        raise ConfigError(
            f"display scale {scale} cannot show the meter's maximum power {max_power_kw} kW: {exc}; choose a larger "
            "unit ([demand] display_scale) or a smaller measuring range ([metrology] max_current_a, max_voltage_v)"
        ) from exc


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


def _us(t: datetime) -> int:
    if t.tzinfo is None:
        raise ConfigError("demand times must be timezone-aware")
    return (t - _EPOCH) // _ONE_US


def epoch_us(t: datetime) -> int:
    """An aware time as integer microseconds since the epoch (the engines' time scale)."""
    return _us(t)


def _higher(energy_mwh: int, value_kw: Decimal, best: MaximumDemand | None) -> bool:
    """Whether a window beats the maximum: strictly more energy (ties keep the first window)."""
    if best is None:
        return True
    if best.energy_mwh is None:
        return value_kw > best.value_kw
    return energy_mwh > best.energy_mwh


def _dt(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


class DemandEngine:
    """Streaming demand for one quantity; O(1) work per sub-period, times kept as integer microseconds."""

    def __init__(
        self,
        config: DemandConfig,
        *,
        start: datetime,
        startup: Policy = "discard",
        outage: Policy = "discard",
        keep_buffer_on_reset: bool = True,
        places: int = 2,
        align_s: int = 0,
    ) -> None:
        if startup not in ("discard", "count") or outage not in ("discard", "count"):
            raise ConfigError("demand startup and outage policies are 'discard' or 'count'")
        if places not in PLACES.values():
            raise ConfigError(f"demand resolution must be one of {sorted(PLACES.values())} decimal places of kW")
        #: resolution of the values in kW decimal places: 0.01 of the display unit (:data:`PLACES`)
        self.places = places
        self.config = config
        self.startup: Policy = startup
        self.outage: Policy = outage
        self.keep_buffer_on_reset = keep_buffer_on_reset
        self.sub_us = config.sub_period_min * 60 * _US
        #: the local time's offset from UTC (seconds): sub-periods and fixed windows start at the local full hour
        self.align_s = align_s % 3600
        self.n = config.sub_periods
        self._subs: deque[int] = deque()  # energies of the last closed sub-periods (at most n)
        self._ok: deque[bool] = deque()  # whether each was complete
        self._window = 0
        self._holes = 0
        self._sub_start = 0
        self._cur = 0
        self._cur_complete = True
        self._last = 0
        self._down = False
        self.maximum: MaximumDemand | None = None
        self.last_average_kw: Decimal | None = None
        self._restart(_us(start))

    # --- feeding --------------------------------------------------------------------------------------

    def add_energy(self, energy_mwh: int, end: datetime) -> list[DemandValue]:
        """Energy consumed in (previous end, ``end``]; returns the window values completed by this call.

        Energy handed over while the engine is powered down means the supply came back at the previous end.
        """
        return self.add_energy_us(energy_mwh, _us(end))

    def add_energy_us(self, energy_mwh: int, end_us: int) -> list[DemandValue]:
        """:meth:`add_energy` with the end as integer microseconds since the epoch (:func:`epoch_us`)."""
        if energy_mwh < 0:
            raise DataError(f"demand energy must not be negative, got {energy_mwh} mWh at {_dt(end_us).isoformat()}")
        if end_us < self._last:
            raise DataError(
                f"demand input went back in time ({_dt(end_us).isoformat()} is before {_dt(self._last).isoformat()})"
            )
        if self._down and energy_mwh:
            self._power_up_us(self._last)
        return self._advance(energy_mwh, end_us)

    def _advance(self, energy_mwh: int, end_us: int) -> list[DemandValue]:
        completed: list[DemandValue] = []
        start_us = self._last
        span = end_us - start_us
        given = 0
        sub_end = self._sub_start + self.sub_us
        while end_us >= sub_end:
            if energy_mwh:
                share = energy_mwh if span <= 0 else (2 * energy_mwh * (sub_end - start_us) + span) // (2 * span)
                self._cur += share - given
                given = share
            self._last = sub_end
            value = self._close_sub()
            if value is not None:
                completed.append(value)
            sub_end = self._sub_start + self.sub_us
        self._cur += energy_mwh - given
        self._last = end_us
        return completed

    def _close_sub(self) -> DemandValue | None:
        self._subs.append(self._cur)
        self._ok.append(self._cur_complete)
        self._window += self._cur
        self._holes += not self._cur_complete
        if len(self._subs) > self.n:
            self._window -= self._subs.popleft()
            self._holes -= not self._ok.popleft()
        end = self._sub_start + self.sub_us
        self._sub_start = end
        self._cur = 0
        self._cur_complete = not (self._down and self.outage == "discard")
        if len(self._subs) < self.n or self._holes:
            return None
        avg = to_kw(self._window, self.config.period_min, self.places)
        at = _dt(end)
        self.last_average_kw = avg
        if _higher(self._window, avg, self.maximum):
            self.maximum = MaximumDemand(value_kw=avg, at=at, energy_mwh=self._window)
        return DemandValue(value_kw=avg, at=at)

    def _restart(self, t: int) -> None:
        """Start the windows afresh at ``t`` (start-up, clock set, reset without buffer)."""
        self._subs.clear()
        self._ok.clear()
        self._window = 0
        self._holes = 0
        self._sub_start = t - (t + self.align_s * _US) % self.sub_us
        self._cur = 0
        self._last = t
        if self.startup == "count":
            self._subs.extend([0] * (self.n - 1))
            self._ok.extend([True] * (self.n - 1))
            self._cur_complete = True
        else:
            self._cur_complete = t == self._sub_start

    # --- registers and events --------------------------------------------------------------------------

    @property
    def current_average_kw(self) -> Decimal:
        """Energy so far in the running integration period ÷ the FULL period (what the meter displays)."""
        known = sum(list(self._subs)[len(self._subs) - (self.n - 1) :]) if self.n > 1 else 0
        return to_kw(known + self._cur, self.config.period_min, self.places)

    @property
    def powered(self) -> bool:
        return not self._down

    def keep_maximum(self, md: MaximumDemand | None) -> None:
        """Carry over the maximum of the period from an engine this one replaces (new settings, clock set)."""
        self.maximum = md

    def set_places(self, places: int) -> None:
        """The resolution of new values in kW decimal places (the display scale of the configuration in force)."""
        if places not in PLACES.values():
            raise ConfigError(f"demand resolution must be one of {sorted(PLACES.values())} decimal places of kW")
        self.places = places

    def reset_maximum(self, at: datetime | None = None) -> MaximumDemand | None:
        """Billing reset at ``at``: return the MD and clear it.

        The sliding buffer is kept unless ``keep_buffer_on_reset`` is false; then the windows restart at ``at``
        (energy up to ``at`` must have been handed over already)."""
        md, self.maximum = self.maximum, None
        if not self.keep_buffer_on_reset:
            t = self._last if at is None else max(_us(at), self._last)
            self._advance(0, t)
            self._restart(t)
        return md

    def power_down(self, at: datetime) -> None:
        """Supply lost at ``at``: the running sub-period becomes incomplete; later time is outage until power-up.

        Repeated calls extend the outage (each advances the time with zero energy)."""
        self.power_down_us(_us(at))

    def power_down_us(self, at_us: int) -> None:
        """:meth:`power_down` with the time as integer microseconds since the epoch."""
        t = max(at_us, self._last)
        if self._down:
            self._advance(0, t)
            return
        self._advance(0, t)
        self._down = True
        if self.outage == "discard":
            self._cur_complete = False

    def power_up(self, at: datetime) -> None:
        """Supply back at ``at``: sub-periods during the outage had zero energy and are incomplete."""
        t = max(_us(at), self._last)
        if not self._down:
            self.power_down(_dt(self._last))
        self._advance(0, t)
        self._power_up_us(t)

    def _power_up_us(self, t: int) -> None:
        self._down = False
        if t == self._sub_start:  # the running sub-period starts exactly now: nothing of it was missed
            self._cur_complete = True

    def set_clock(self, new: datetime) -> None:
        """Clock set: the running windows are closed (not counted) and restart at ``new`` as after start-up."""
        self._restart(_us(new))
        self._down = False

    # --- persistence ------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """JSON-serialisable state; :meth:`from_state` continues exactly where this left off."""
        return {
            "version": _STATE_VERSION,
            "config": str(self.config),
            "settings": {
                "startup": self.startup,
                "outage": self.outage,
                "keep_buffer_on_reset": self.keep_buffer_on_reset,
                "places": self.places,
                "align_s": self.align_s,
            },
            "subs": list(self._subs),
            "ok": list(self._ok),
            "sub_start": self._sub_start,
            "cur": self._cur,
            "cur_complete": self._cur_complete,
            "last": self._last,
            "down": self._down,
            "max": None
            if self.maximum is None
            else [str(self.maximum.value_kw), self.maximum.at.isoformat(), self.maximum.energy_mwh],
            "last_avg": None if self.last_average_kw is None else str(self.last_average_kw),
        }

    @classmethod
    def from_state(cls, config: DemandConfig, state: dict[str, Any]) -> DemandEngine:
        """Restore an engine saved by :meth:`state`; DataError if the state is malformed or for another setting."""
        if state.get("config") != str(config):
            raise DataError(f"stored demand state is for '{state.get('config')}', not '{config}'")
        try:
            if state["version"] != _STATE_VERSION:
                raise DataError(f"stored demand state has version {state['version']}, expected {_STATE_VERSION}")
            settings = state["settings"]
            engine = cls(
                config,
                start=_dt(int(state["last"])),
                startup=settings["startup"],
                outage=settings["outage"],
                keep_buffer_on_reset=bool(settings["keep_buffer_on_reset"]),
                places=int(settings.get("places", 2)),
                align_s=int(settings.get("align_s", 0)),
            )
            subs = [int(x) for x in state["subs"]]
            ok = [bool(x) for x in state["ok"]]
            if len(subs) != len(ok) or len(subs) > engine.n:
                raise DataError("stored demand state: sub-period buffer is inconsistent")
            engine._subs = deque(subs)
            engine._ok = deque(ok)
            engine._window = sum(subs)
            engine._holes = ok.count(False)
            engine._sub_start = int(state["sub_start"])
            engine._cur = int(state["cur"])
            engine._cur_complete = bool(state["cur_complete"])
            engine._last = int(state["last"])
            engine._down = bool(state["down"])
            if state["max"] is not None:
                value, at, *exact = state["max"]
                engine.maximum = MaximumDemand(
                    value_kw=Decimal(value),
                    at=datetime.fromisoformat(at),
                    energy_mwh=int(exact[0]) if exact and exact[0] is not None else None,
                )
            engine.last_average_kw = None if state["last_avg"] is None else Decimal(state["last_avg"])
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise DataError(f"stored demand state is malformed: {exc!r}") from exc
        return engine


def recompute_md(
    energies_mwh: Sequence[int], step_s: int, start: datetime, config: DemandConfig
) -> MaximumDemand | None:
    """The maximum demand of a gap-free profile, recomputed plainly (the test oracle of the streaming engine).

    ``energies_mwh[i]`` is the energy of (start + i·step, start + (i+1)·step].  The step must divide the sub-period
    and ``start`` must lie on the step grid, so no step straddles a sub-period.  Every window of the integration
    period ending on a sub-period boundary and lying wholly inside the data is evaluated in time order; strictly
    higher values replace the maximum (start-up "discard" policy).
    """
    sub_s = config.sub_period_min * 60
    if step_s <= 0 or sub_s % step_s:
        raise ConfigError(f"recompute_md: the step of {step_s} s must divide the sub-period of {sub_s} s")
    t0 = _us(start) // _US
    if _us(start) % _US or t0 % step_s:
        raise ConfigError("recompute_md: start must lie on the step grid")
    period_s = config.period_min * 60
    t_end = t0 + step_s * len(energies_mwh)
    best: MaximumDemand | None = None
    window_end = (t0 // sub_s + 1) * sub_s
    while window_end <= t_end:
        window_start = window_end - period_s
        if window_start >= t0:
            first = (window_start - t0) // step_s
            last = (window_end - t0) // step_s
            energy = sum(energies_mwh[first:last])
            value = to_kw(energy, config.period_min)
            if _higher(energy, value, best):
                best = MaximumDemand(value_kw=value, at=_dt(window_end * _US), energy_mwh=energy)
        window_end += sub_s
    return best
