"""The meter's streaming maximum-demand engine: what firmware does, sub-period by sub-period.

Energy arrives in time order (:meth:`DemandEngine.add_energy`).  Sub-periods are aligned to the full hour; at the
end of each sub-period the average power over the last integration period (the last ``n`` sub-periods) is computed
(window energy / nominal period) and, if strictly higher than the stored maximum, becomes the maximum demand with
the window's end time.  A fixed window is the case of one sub-period of the full period length.

Edge behaviour (documented in docs/meter.md):
* start-up and power-up: a sub-period that was not observed from its beginning is incomplete; windows containing
  incomplete sub-periods do not count for MD (the "discard" policy);
* power failure: the sub-periods during the outage are incomplete; the buffer keeps the sub-periods before it;
* clock set: treated as a power-down at the old time and a power-up at the new time;
* billing reset (:meth:`reset_maximum`): MD goes to none; the sliding buffer is kept, so the first window of the new
  period may contain energy from before the reset, as a real meter's running window does.

The analytics' batch kernel computes the same values from load profiles; tests hold the two equal.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from ..errors import ConfigError

__all__ = ["DemandConfig", "DemandEngine", "MaximumDemand", "check_display_range", "format_md"]

FIXED = (5, 15, 30, 60)
SLIDING = {5: (1, 5), 15: (1, 5), 30: (1, 2, 5, 6), 60: (1, 2, 5, 6, 12)}
SCALES = {"W": Decimal(1000), "kW": Decimal(1), "MW": Decimal("0.001")}
MWH_PER_KWH = 1_000_000


def _valid() -> str:
    sliding = " · ".join(f"{p}: {', '.join(map(str, s))}" for p, s in SLIDING.items())
    return f"valid: fixed 5, 15, 30 or 60 min; sliding period: sub-periods {sliding} (minutes)"


@dataclass(frozen=True, slots=True)
class DemandConfig:
    """``fixed 15`` or ``sliding 15/1`` (integration period / sub-period, minutes; ``sliding 15 1`` is accepted too,
    as the optical port cannot carry ``/`` in a value)."""

    method: Literal["fixed", "sliding"] = "sliding"
    period_min: int = 15
    sub_min: int = 1

    def __post_init__(self) -> None:
        if self.method == "fixed":
            if self.period_min not in FIXED or self.sub_min != self.period_min:
                raise ConfigError(f"demand 'fixed {self.period_min}' is not offered; {_valid()}")
        elif self.method == "sliding":
            if self.sub_min not in SLIDING.get(self.period_min, ()):
                raise ConfigError(f"demand 'sliding {self.period_min}/{self.sub_min}' is not offered; {_valid()}")
        else:
            raise ConfigError(f"demand method must be fixed or sliding, got {self.method!r}")

    @classmethod
    def parse(cls, text: str) -> DemandConfig:
        m = re.fullmatch(r"\s*(fixed|sliding)\s+(\d+)(?:\s*[/ ]\s*(\d+))?\s*", text)
        if m is None:
            raise ConfigError(f"cannot read demand setting {text!r}; write 'fixed 15' or 'sliding 15/1'")
        period = int(m.group(2))
        if m.group(1) == "fixed":
            if m.group(3) is not None:
                raise ConfigError(f"'{text}': a fixed window has no sub-period")
            return cls("fixed", period, period)
        if m.group(3) is None:
            raise ConfigError(f"'{text}': a sliding window needs PERIOD/SUB, e.g. sliding 15/1")
        return cls("sliding", period, int(m.group(3)))

    def __str__(self) -> str:
        return f"fixed {self.period_min}" if self.method == "fixed" else f"sliding {self.period_min}/{self.sub_min}"


@dataclass(frozen=True, slots=True)
class MaximumDemand:
    value_kw: Decimal
    at: datetime


def to_kw(window_mwh: int, period_min: int) -> Decimal:
    return (Decimal(window_mwh) * 60 / (Decimal(MWH_PER_KWH) * period_min)).quantize(Decimal("0.01"), ROUND_HALF_UP)


def format_md(value_kw: Decimal, scale: str = "kW") -> str:
    """The 6-digit MD register: 4 integers and 2 decimals (``0157.00``); overflow raises."""
    if scale not in SCALES:
        raise ConfigError(f"display scale must be W, kW or MW, got {scale!r}")
    v = (value_kw * SCALES[scale]).quantize(Decimal("0.01"), ROUND_HALF_UP)
    if v < 0 or v > Decimal("9999.99"):
        raise ConfigError(f"{v} {scale} does not fit the 6-digit demand register (max 9999.99)")
    return f"{v:07.2f}"


def check_display_range(max_power_kw: Decimal, scale: str) -> None:
    """Refuse at configuration time a scale in which the meter's maximum power would overflow 9999.99."""
    try:
        format_md(max_power_kw, scale)
    except ConfigError as exc:
        raise ConfigError(
            f"display scale {scale} cannot show the meter's maximum power {max_power_kw} kW: {exc}; choose a larger unit"
        ) from exc


class DemandEngine:
    """Streaming demand for one quantity (times are kept as integer epoch seconds; O(1) per sub-period)."""

    def __init__(self, config: DemandConfig, *, start: datetime) -> None:
        self.config = config
        self.sub_s = config.sub_min * 60
        self.n = config.period_min // config.sub_min
        self._subs: deque[int | None] = deque()
        self._window = 0  # sum of the complete sub-periods in the buffer
        self._holes = 0  # incomplete sub-periods in the buffer
        t = _epoch(start)
        self._sub_start = t - t % self.sub_s
        self._cur = 0
        self._cur_complete = t == self._sub_start
        self._last = t
        self.maximum: MaximumDemand | None = None
        self.last_average_kw: Decimal | None = None

    # --- feeding --------------------------------------------------------------------------------------

    def add_energy(self, energy_mwh: int, end: datetime) -> list[Decimal]:
        """Energy consumed in (previous end, ``end``]; split proportionally over sub-period boundaries.

        Returns the window averages completed by this call (kW)."""
        return self._add(energy_mwh, _epoch(end), end)

    def _add(self, energy_mwh: int, end_s: float, end: datetime | None = None) -> list[Decimal]:
        if end_s < self._last:
            when = end.isoformat() if end is not None else str(end_s)
            raise ConfigError(f"demand input went back in time ({when} is before the last input)")
        completed: list[Decimal] = []
        remaining = energy_mwh
        span = end_s - self._last
        sub_end = self._sub_start + self.sub_s
        while end_s >= sub_end:
            if remaining:
                part = remaining if span <= 0 else min(remaining, round(energy_mwh * (sub_end - self._last) / span))
                self._cur += part
                remaining -= part
            self._last = sub_end
            avg = self._close_sub()
            if avg is not None:
                completed.append(avg)
            sub_end = self._sub_start + self.sub_s
        self._cur += remaining
        self._last = end_s
        return completed

    def _close_sub(self) -> Decimal | None:
        value = self._cur if self._cur_complete else None
        self._subs.append(value)
        if value is None:
            self._holes += 1
        else:
            self._window += value
        if len(self._subs) > self.n:
            old = self._subs.popleft()
            if old is None:
                self._holes -= 1
            else:
                self._window -= old
        end = self._sub_start + self.sub_s
        self._sub_start = end
        self._cur = 0
        self._cur_complete = True
        if len(self._subs) < self.n or self._holes:
            return None
        avg = to_kw(self._window, self.config.period_min)
        self.last_average_kw = avg
        if self.maximum is None or avg > self.maximum.value_kw:
            self.maximum = MaximumDemand(value_kw=avg, at=datetime.fromtimestamp(end, UTC))
        return avg

    # --- registers and events --------------------------------------------------------------------------

    @property
    def current_average_kw(self) -> Decimal:
        """Energy so far in the running integration period ÷ the full period (what the meter displays)."""
        known = sum(s for s in list(self._subs)[-(self.n - 1) :] if s is not None) if self.n > 1 and self._subs else 0
        return to_kw(known + self._cur, self.config.period_min)

    def reset_maximum(self) -> MaximumDemand | None:
        """Billing reset: return the MD and clear it; the sliding buffer is kept."""
        md, self.maximum = self.maximum, None
        return md

    def power_down(self, at: datetime) -> None:
        """Supply lost at ``at``: the running sub-period is incomplete."""
        self._add(0, max(_epoch(at), self._last))
        self._cur_complete = False

    def power_up(self, at: datetime) -> None:
        """Supply back at ``at``: sub-periods during the outage are incomplete (zero energy, not counted)."""
        t = max(_epoch(at), self._last)
        while self._sub_start + self.sub_s <= t:
            self._cur_complete = False
            self._last = self._sub_start + self.sub_s
            self._close_sub()
        self._last = t
        self._cur_complete = t == self._sub_start

    def state(self) -> dict[str, Any]:
        return {
            "config": str(self.config),
            "subs": list(self._subs),
            "sub_start": self._sub_start,
            "cur": self._cur,
            "cur_complete": self._cur_complete,
            "last": self._last,
            "max": None if self.maximum is None else [str(self.maximum.value_kw), self.maximum.at.isoformat()],
            "last_avg": None if self.last_average_kw is None else str(self.last_average_kw),
        }

    @classmethod
    def from_state(cls, config: DemandConfig, state: dict[str, Any]) -> DemandEngine:
        if state.get("config") != str(config):
            raise ConfigError(f"stored demand state is for '{state.get('config')}', not '{config}'")
        engine = cls(config, start=datetime.fromtimestamp(state["last"], UTC))
        for value in state["subs"]:
            engine._subs.append(value)
            if value is None:
                engine._holes += 1
            else:
                engine._window += int(value)
        engine._sub_start = int(state["sub_start"])
        engine._cur = int(state["cur"])
        engine._cur_complete = bool(state["cur_complete"])
        engine._last = state["last"]
        if state["max"] is not None:
            engine.maximum = MaximumDemand(
                value_kw=Decimal(state["max"][0]), at=datetime.fromisoformat(state["max"][1])
            )
        engine.last_average_kw = None if state["last_avg"] is None else Decimal(state["last_avg"])
        return engine


def _epoch(t: datetime) -> float:
    if t.tzinfo is None:
        raise ConfigError("demand times must be timezone-aware")
    return t.timestamp()
