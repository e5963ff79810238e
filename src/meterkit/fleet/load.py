"""The load of a fleet's meters as integer energies per interval, many meters at once.

Synthetic meters get one power value per minute (the load is constant within the minute): a shape of the local
time of day and weekday, scaled between the meter's base and peak load, times seeded noise.  Meters named in the
fleet's load-profile file take its intervals (at the file's interval length).  Either way the result is
``(step_s, a_plus, a_minus)`` with energies in mWh per interval, shape (meters, intervals): exactly what the meter's
replay path (:meth:`meterkit.meter.core.Meter.add_interval`) takes, interval by interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from ..errors import ConfigError, DataError

__all__ = ["IntervalLoad", "file_load", "profile_file_meters", "synthetic_load"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
#: mWh in one minute at 1 kW
MWH_PER_KW_MINUTE = 1_000_000 / 60


class IntervalLoad:
    """Energies per interval for a group of meters on one grid: interval ``i`` is ``(start + i·step, start +
    (i+1)·step]``; ``a_plus``/``a_minus`` have shape (meters, intervals), mWh."""

    __slots__ = ("a_minus", "a_plus", "start", "step_s")

    def __init__(self, start: datetime, step_s: int, a_plus: I64, a_minus: I64) -> None:
        if a_plus.shape != a_minus.shape or a_plus.ndim != 2:
            raise DataError("interval load: a_plus and a_minus must be (meters, intervals) arrays of one shape")
        self.start = start
        self.step_s = step_s
        self.a_plus = a_plus
        self.a_minus = a_minus

    @property
    def intervals(self) -> int:
        return int(self.a_plus.shape[1])


def local_minutes(start: datetime, minutes: int, zone: ZoneInfo) -> tuple[I64, I64]:
    """Minute of the local day (0-1439) and local weekday (0 = Monday) of each minute from ``start`` (UTC)."""
    hours = (minutes + 59) // 60 + 1
    offsets = np.array(
        [int((start + timedelta(hours=h)).astimezone(zone).utcoffset().total_seconds()) // 60 for h in range(hours)],  # type: ignore[union-attr]
        dtype=np.int64,
    )
    idx = np.arange(minutes, dtype=np.int64)
    utc_min = int(start.timestamp()) // 60 + idx
    local = utc_min + offsets[idx // 60]
    minute_of_day = local % 1440
    weekday = (local // 1440 + 3) % 7  # 1970-01-01 was a Thursday
    return minute_of_day, weekday


def shape_curve(shape: str, minute_of_day: I64, weekday: I64) -> tuple[F64, F64]:
    """``(load share 0..1 between base and peak, solar share 0..1 of the peak)`` for each minute."""
    h = minute_of_day / 60.0
    workday = weekday < 5
    day = (h >= 6) & (h < 18)
    sun = np.where(day, np.sin(np.pi * (h - 6) / 12).clip(0), 0.0)
    zero = np.zeros_like(h)
    if shape in ("commercial", "solar"):
        load = np.where(workday & day, sun**0.6, 0.0)
        return load, (sun**1.5 if shape == "solar" else zero)
    if shape == "industrial":
        shifts = (h >= 6) & (h < 22)
        return np.where(workday, np.where(shifts, 1.0, 0.35), np.where(weekday == 5, 0.35, 0.1)), zero
    if shape == "residential":
        morning = np.exp(-(((h - 7.5) / 1.2) ** 2)) * 0.55
        evening = np.exp(-(((h - 19.0) / 2.0) ** 2))
        return np.maximum(morning, evening), zero
    if shape == "flat":
        return np.ones_like(h), zero
    raise ConfigError(f"unknown load shape {shape!r}")


def synthetic_load(
    start: datetime,
    minutes: int,
    zone: ZoneInfo,
    shapes: Sequence[str],
    peak_kw: Sequence[float],
    base_kw: Sequence[float],
    noise: Sequence[float],
    seeds: Sequence[int],
) -> IntervalLoad:
    """Minute energies of synthetic meters: ``base + (peak - base)·shape`` kW (solar: minus up to 1.2·peak of
    generation, exported when it exceeds the load), times ``1 + noise·N(0, 1)`` per minute from the meter's seed."""
    if start.second or start.microsecond:
        raise ConfigError(f"a fleet history starts on a whole minute, not {start.isoformat()}")
    minute_of_day, weekday = local_minutes(start, minutes, zone)
    curves: dict[str, tuple[F64, F64]] = {}
    m = len(shapes)
    a_plus = np.empty((m, minutes), dtype=np.int64)
    a_minus = np.zeros((m, minutes), dtype=np.int64)
    for i, shape in enumerate(shapes):
        if shape not in curves:
            curves[shape] = shape_curve(shape, minute_of_day, weekday)
        load, solar = curves[shape]
        rng = np.random.default_rng(seeds[i])
        kw = base_kw[i] + (peak_kw[i] - base_kw[i]) * load
        if noise[i]:
            kw = kw * (1.0 + noise[i] * rng.standard_normal(minutes))
        np.maximum(kw, 0.0, out=kw)
        if shape == "solar":
            kw = kw - 1.2 * peak_kw[i] * solar
        mwh = np.rint(kw * MWH_PER_KW_MINUTE).astype(np.int64)
        np.maximum(mwh, 0, out=a_plus[i])
        if shape == "solar":
            np.maximum(-mwh, 0, out=a_minus[i])
    return IntervalLoad(start, 60, a_plus, a_minus)


def profile_file_meters(path: Path) -> list[str]:
    """The meters a load-profile file names (its ``meter`` column)."""
    from ..loadprofile.grid import read_frame

    frame = read_frame(path)
    if "meter" not in frame.columns:
        raise DataError(f"{path}: a fleet's load-profile file needs a 'meter' column")
    return sorted({str(x) for x in frame["meter"].to_list()})


def file_load(path: Path, serials: Sequence[str], start: datetime, end: datetime) -> IntervalLoad:
    """The intervals of ``serials`` between ``start`` and ``end`` from a load-profile file (checked as ``meterkit
    demand`` checks it); every interval of the span must be present (one DataError line otherwise)."""
    from ..loadprofile.grid import read_load_profile

    profile = read_load_profile(path, on_incomplete="skip")
    step = profile.step_s
    if step % 60 or 3600 % step:
        raise DataError(f"{path}: a fleet replays intervals of whole minutes that divide the hour, not {step} s")
    first = int(start.timestamp())
    last = int(end.timestamp())
    if (first - int(profile.start.timestamp())) % step or (last - first) % step:
        raise DataError(f"{path}: the history span {start.isoformat()} .. {end.isoformat()} is off the file's grid")
    i0 = (first - int(profile.start.timestamp())) // step
    n = (last - first) // step
    if i0 < 0 or i0 + n > profile.n_steps:
        raise DataError(
            f"{path}: the file covers {profile.start.isoformat()} .. {profile.n_steps} intervals of {step} s, not the "
            f"history span {start.isoformat()} .. {end.isoformat()}"
        )
    columns = [profile.meters.index(s) for s in serials]
    energy = profile.energy[i0 : i0 + n, columns].T.copy()
    if profile.valid is not None:
        missing = ~profile.valid[i0 : i0 + n, columns].T
        if missing.any():
            row, col = np.argwhere(missing)[0]
            raise DataError(
                f"{path}: meter {serials[int(row)]} has {int(missing[row].sum())} missing interval(s) in the history "
                f"span (first ending {(start + timedelta(seconds=step * (int(col) + 1))).isoformat()}); a fleet "
                "history needs gap-free profiles"
            )
    return IntervalLoad(start, step, energy.astype(np.int64), np.zeros_like(energy, dtype=np.int64))
