"""Reading and checking load-profile files (CSV or Parquet).

Format (DESIGN.md): ``timestamp`` (ISO-8601, end of the interval), either ``kw`` (average power over the interval)
or ``kwh`` (energy in the interval), optional ``meter``.  Energies are held as integers in milli-watt-hours
(``mWh``), time-major (one row per interval, one column per meter), on a grid that starts at a full hour, so that
every demand is an exact integer sum.

Nothing is guessed: unparsable cells, negative readings, duplicates, out-of-order rows and mixed intervals are
errors that name their rows (1-based data rows, the header not counted); gaps are errors too unless the caller
chooses to skip incomplete windows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from ..errors import DataError

__all__ = ["LoadProfile", "profile_from_arrays", "read_load_profile"]

MWH_PER_KWH = 1_000_000
_SHOW = 5


@dataclass
class LoadProfile:
    """Energies per interval on a regular grid for one or more meters."""

    meters: list[str]
    step_s: int
    start: datetime  # start of the first grid interval (UTC, a full hour)
    energy: npt.NDArray[np.int64]  # shape (T, M), mWh per interval, time-major
    valid: npt.NDArray[np.bool_] | None = None  # shape (T, M); None: every cell holds a reading
    notes: list[str] = field(default_factory=list)

    @property
    def n_steps(self) -> int:
        return int(self.energy.shape[0])

    def end_times(self) -> npt.NDArray[np.datetime64]:
        """End of every grid interval (UTC, as datetime64[s])."""
        start = np.datetime64(self.start.replace(tzinfo=None), "s")
        return start + np.arange(1, self.n_steps + 1, dtype=np.int64) * np.timedelta64(self.step_s, "s")


def _rows(indices: npt.NDArray[np.int64] | list[int]) -> str:
    shown = [str(int(i) + 1) for i in list(indices)[:_SHOW]]
    more = len(indices) - _SHOW
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _read_frame(path: Path) -> pl.DataFrame:
    if not path.exists():
        raise DataError(f"{path}: no such file")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pl.read_parquet(path)
        return pl.read_csv(path, infer_schema_length=0)  # every column as text; checked below
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise DataError(
            f"{path}: cannot read the file as {'Parquet' if path.suffix.lower() in ('.parquet', '.pq') else 'CSV'} ({exc})"
        ) from exc


def _parse_times(col: pl.Series, name: str, tz: str) -> pl.Series:
    if col.dtype == pl.Datetime:
        parsed = col if getattr(col.dtype, "time_zone", None) is not None else col.dt.replace_time_zone(tz)
        return parsed.dt.convert_time_zone("UTC")
    text = col.cast(pl.Utf8)
    has_offset = text.str.contains(r"(Z|[+-]\d\d:?\d\d)$").fill_null(False).to_numpy()
    if has_offset.all():
        parsed = text.str.to_datetime(time_zone="UTC", strict=False)
    elif not has_offset.any():
        try:
            naive = text.str.to_datetime(strict=False)
            parsed = naive.dt.replace_time_zone(tz, ambiguous="raise", non_existent="raise").dt.convert_time_zone("UTC")
        except pl.exceptions.PolarsError as exc:
            raise DataError(
                f"{name}: local timestamps are ambiguous or do not exist in {tz} ({exc}); give UTC offsets"
            ) from exc
    else:
        local = np.flatnonzero(~has_offset)
        raise DataError(f"{name}: {local.size} timestamp(s) without a UTC offset among ones with, rows {_rows(local)}")
    bad = np.flatnonzero(parsed.is_null().to_numpy())
    if bad.size:
        raise DataError(f"{name}: {bad.size} timestamp(s) are not ISO-8601 date-times, rows {_rows(bad)}")
    return parsed


def read_load_profile(
    path: str | Path,
    *,
    on_incomplete: Literal["fail", "skip"] = "fail",
    tz: str = "UTC",
) -> LoadProfile:
    """Read and check a load-profile file; see the module docstring for the rules."""
    path = Path(path)
    df = _read_frame(path)
    name = str(path)
    cols = set(df.columns)
    if "timestamp" not in cols:
        raise DataError(f"{name}: missing column 'timestamp' (columns: {', '.join(df.columns) or 'none'})")
    if ("kw" in cols) == ("kwh" in cols):
        raise DataError(f"{name}: needs exactly one of the columns 'kw' or 'kwh'")
    if df.height == 0:
        raise DataError(f"{name}: no data rows")
    quantity: Literal["kw", "kwh"] = "kw" if "kw" in cols else "kwh"
    times = _parse_times(df["timestamp"], name, tz)
    values = df[quantity].cast(pl.Float64, strict=False)
    bad = np.flatnonzero(values.is_null().to_numpy() | ~np.isfinite(values.fill_null(0.0).to_numpy()))
    if bad.size:
        raise DataError(f"{name}: {bad.size} '{quantity}' value(s) are not numbers, rows {_rows(bad)}")
    vals = values.to_numpy()
    neg = np.flatnonzero(vals < 0)
    if neg.size:
        raise DataError(f"{name}: {neg.size} negative '{quantity}' reading(s), rows {_rows(neg)}")
    meters = (
        df["meter"].cast(pl.Utf8).fill_null("").to_numpy()
        if "meter" in cols
        else np.full(df.height, path.stem, dtype=object)
    )
    epoch = times.dt.epoch("s").to_numpy().astype(np.int64)
    return profile_from_arrays(epoch, vals, meters, quantity=quantity, name=name, on_incomplete=on_incomplete)


def profile_from_arrays(
    epoch_s: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    meters: npt.NDArray[np.object_],
    *,
    quantity: Literal["kw", "kwh"],
    name: str = "load profile",
    on_incomplete: Literal["fail", "skip"] = "fail",
) -> LoadProfile:
    """Build the grid from parallel arrays (file order); the checks of :func:`read_load_profile` apply."""
    order = np.argsort(meters, kind="stable")
    m_sorted = meters[order]
    t_sorted = epoch_s[order]
    boundaries = np.flatnonzero(m_sorted[1:] != m_sorted[:-1]) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [len(order)]))
    ids = [str(m_sorted[s]) for s in starts]
    diffs_all: list[npt.NDArray[np.int64]] = []
    for s, e in zip(starts, ends, strict=True):
        d = np.diff(t_sorted[s:e])
        rows = order[s + 1 : e]
        dup = rows[d == 0]
        if dup.size:
            raise DataError(f"{name}: {dup.size} duplicate timestamp(s) for meter {m_sorted[s]}, rows {_rows(dup)}")
        back = rows[d < 0]
        if back.size:
            raise DataError(f"{name}: {back.size} row(s) out of time order for meter {m_sorted[s]}, rows {_rows(back)}")
        diffs_all.append(d)
    positive = np.concatenate(diffs_all) if diffs_all else np.array([], dtype=np.int64)
    if positive.size == 0:
        raise DataError(f"{name}: need at least two readings per meter to know the interval length")
    step = int(np.min(positive))
    odd = np.flatnonzero(positive % step)
    if odd.size:
        raise DataError(f"{name}: mixed interval lengths ({step} s and {int(positive[odd[0]])} s); resample first")
    if 3600 % step:
        raise DataError(f"{name}: interval of {step} s does not divide an hour")
    first_start = int(epoch_s.min()) - step
    g0 = first_start - first_start % 3600
    last_end = int(epoch_s.max())
    n = -(-(last_end - g0) // 3600) * (3600 // step)
    energy = np.zeros((n, len(ids)), dtype=np.int64)
    present = np.zeros((n, len(ids)), dtype=np.bool_)
    per_h = step / 3600.0
    scale = MWH_PER_KWH * (per_h if quantity == "kw" else 1.0)
    for j, (s, e) in enumerate(zip(starts, ends, strict=True)):
        idx = (t_sorted[s:e] - g0) // step - 1
        energy[idx, j] = np.rint(values[order[s:e]] * scale).astype(np.int64)
        present[idx, j] = True
    notes: list[str] = []
    valid: npt.NDArray[np.bool_] | None = None
    gaps = []
    for j, (s, e) in enumerate(zip(starts, ends, strict=True)):
        lo = (int(t_sorted[s]) - g0) // step - 1
        hi = (int(t_sorted[e - 1]) - g0) // step
        missing = np.flatnonzero(~present[lo:hi, j])
        if missing.size:
            first_gap = datetime.fromtimestamp(g0 + (lo + int(missing[0]) + 1) * step, UTC)
            gaps.append(f"meter {ids[j]}: {missing.size} missing interval(s), first ending {first_gap.isoformat()}")
    if not present.all():
        valid = present
    if gaps:
        text = "; ".join(gaps[:_SHOW]) + (f"; and {len(gaps) - _SHOW} more meters" if len(gaps) > _SHOW else "")
        if on_incomplete == "fail":
            raise DataError(f"{name}: gaps in the data ({text}); use --skip-incomplete to skip windows with gaps")
        notes.append(f"gaps skipped: {text}")
    return LoadProfile(
        meters=ids,
        step_s=step,
        start=datetime.fromtimestamp(g0, UTC),
        energy=np.ascontiguousarray(energy),
        valid=valid,
        notes=notes,
    )
