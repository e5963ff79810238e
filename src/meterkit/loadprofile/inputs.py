"""Load profiles from what a Python user holds: a polars or pandas DataFrame, or a NumPy array with a start and a
step; the same checks as a file (the frame's rows are named as data rows, 1-based)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from ..errors import ConfigError, DataError
from .dialect import FileFormat, canonical_frame
from .grid import MAX_KW, LoadProfile, frame_arrays, profile_from_arrays

__all__ = ["ProfileData", "as_load_profile"]

#: What :func:`as_load_profile` accepts.
ProfileData = Any  # LoadProfile | polars.DataFrame | pandas.DataFrame | numpy.ndarray (kept loose: pandas optional)


def as_load_profile(
    data: ProfileData,
    *,
    start: datetime | None = None,
    step: timedelta | int | None = None,
    meters: list[str] | None = None,
    quantity: Literal["kwh", "kw"] = "kwh",
    tz: str = "UTC",
    on_incomplete: Literal["fail", "skip"] = "fail",
    fmt: FileFormat | None = None,
    max_kw: float = MAX_KW,
) -> LoadProfile:
    """A :class:`LoadProfile` from ``data``:

    * a :class:`LoadProfile`: as it is;
    * a polars or pandas DataFrame with the columns of a load-profile file (``timestamp``, ``kwh`` or ``kw``,
      optional ``meter``; other names and units as in a file, see ``fmt``); a pandas DatetimeIndex is taken as the
      ``timestamp`` column;
    * a NumPy array of energies (``quantity="kwh"``, per interval) or average powers (``"kw"``), shape ``(T,)`` or
      ``(T, M)`` (one column per meter, named by ``meters``), with ``start`` (timezone-aware start of the first
      interval) and ``step`` (the interval, a timedelta or seconds)."""
    if isinstance(data, LoadProfile):
        return data
    if isinstance(data, np.ndarray):
        return _from_array(data, start, step, meters, quantity, tz, on_incomplete, max_kw)
    frame = _polars_frame(data)
    fmt = fmt or FileFormat()
    canon = canonical_frame(frame, "data frame", fmt)
    arrays = frame_arrays(
        canon.frame, "data frame", tz=tz, default_meter="meter", factor=canon.factor, time_format=canon.time_format
    )
    epoch = arrays.epoch_s
    if canon.label == "start":
        from .grid import shortest_interval

        interval = shortest_interval(epoch, arrays.meters)
        if interval is None:
            raise ConfigError("data frame: need at least two readings per meter to know the interval length")
        epoch = epoch + interval
    return profile_from_arrays(
        epoch,
        arrays.values,
        arrays.meters,
        quantity=arrays.quantity,
        name="data frame",
        on_incomplete=on_incomplete,
        tz=tz,
        max_kw=max_kw,
    )


def _polars_frame(data: object) -> pl.DataFrame:
    if isinstance(data, pl.DataFrame):
        return data
    if isinstance(data, pl.LazyFrame):
        return data.collect()
    module = type(data).__module__
    if module.startswith("pandas"):
        import pandas as pd

        assert isinstance(data, pd.DataFrame)
        frame = data
        if isinstance(frame.index, pd.DatetimeIndex):
            frame = frame.rename_axis("timestamp").reset_index()
        return pl.from_pandas(frame)
    raise ConfigError(
        f"cannot compute demand from a {type(data).__name__}: give a LoadProfile, a polars or pandas DataFrame, or a "
        "NumPy array with start and step"
    )


def _from_array(
    data: npt.NDArray[Any],
    start: datetime | None,
    step: timedelta | int | None,
    meters: list[str] | None,
    quantity: Literal["kwh", "kw"],
    tz: str,
    on_incomplete: Literal["fail", "skip"],
    max_kw: float,
) -> LoadProfile:
    if start is None or step is None:
        raise ConfigError("a NumPy array needs start= (start of the first interval) and step= (the interval)")
    if start.tzinfo is None:
        raise ConfigError("start= must carry a time zone (e.g. datetime(2026, 1, 1, tzinfo=UTC))")
    step_s = int(step.total_seconds()) if isinstance(step, timedelta) else int(step)
    if step_s <= 0:
        raise ConfigError(f"step= must be positive, got {step_s} s")
    values = np.asarray(data, dtype=np.float64)
    bad = np.flatnonzero((values < 0).ravel() | np.isinf(values).ravel())
    if bad.size:
        raise DataError(f"array: {bad.size} negative or infinite value(s), first at flat index {int(bad[0])}")
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise ConfigError(f"the array must be 1-D or 2-D (time, meter), not {values.ndim}-D")
    n, m = values.shape
    names = meters or ([f"meter {j + 1}" for j in range(m)] if m > 1 else ["meter"])
    if len(names) != m:
        raise ConfigError(f"meters= names {len(names)} meters, the array has {m} columns")
    first_end = int(start.astimezone(UTC).timestamp()) + step_s
    ends = first_end + np.arange(n, dtype=np.int64) * step_s
    epoch = np.tile(ends, m)  # meter-major: each meter's column in time order
    flat = values.T.ravel()
    ids = np.repeat(np.array(names, dtype=object), n)
    keep = ~np.isnan(flat)  # NaN: no reading (a gap)
    return profile_from_arrays(
        epoch[keep],
        flat[keep],
        ids[keep],
        quantity=quantity,
        name="array",
        on_incomplete=on_incomplete,
        tz=tz,
        step_s=step_s,
        max_kw=max_kw,
    )
