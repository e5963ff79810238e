"""Monthly billing periods: reset on a configurable day and time, in a time zone, DST safe."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt

from ..errors import ConfigError

__all__ = ["BillingSchedule"]


@dataclass(frozen=True, slots=True)
class BillingSchedule:
    """Billing periods start at ``reset_day`` (1-28) ``reset_time`` local time each month in ``tz``."""

    reset_day: int = 1
    reset_time: time = time(0, 0)
    tz: str = "UTC"

    def __post_init__(self) -> None:
        if not 1 <= self.reset_day <= 28:
            raise ConfigError(f"billing reset day must be 1-28 (every month has it), got {self.reset_day}")
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"unknown time zone {self.tz!r}") from exc

    def _reset(self, year: int, month: int) -> datetime:
        local = datetime.combine(datetime(year, month, self.reset_day).date(), self.reset_time, ZoneInfo(self.tz))
        return local.astimezone(UTC)

    def periods(self, first_s: int, last_s: int) -> tuple[list[str], npt.NDArray[np.int64]]:
        """Labels (``YYYY-MM`` of each period's start) and start epochs covering ``[first_s, last_s]``, plus one
        closing boundary (so ``len(bounds) == len(labels) + 1``)."""
        first = datetime.fromtimestamp(first_s, UTC).astimezone(ZoneInfo(self.tz))
        year, month = first.year, first.month
        # step back one month so the period containing `first` is included
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
        labels: list[str] = []
        bounds: list[int] = []
        while True:
            start = self._reset(year, month)
            labels.append(f"{year:04d}-{month:02d}")
            bounds.append(int(start.timestamp()))
            if start.timestamp() > last_s:
                break
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return labels[:-1], np.asarray(bounds, dtype=np.int64)

    def index_of(self, instants_s: npt.NDArray[np.int64], bounds: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Period index of each instant (an instant equal to a boundary belongs to the period it ends)."""
        return np.searchsorted(bounds, instants_s - 1, side="right").astype(np.int64) - 1
