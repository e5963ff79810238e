"""Reading and checking load-profile files (CSV or Parquet).

Format (docs/analytics.md): ``timestamp`` (ISO-8601, end of the interval), either ``kw`` (average power over the interval)
or ``kwh`` (energy in the interval), optional ``meter``.  Energies are held as integers in milli-watt-hours
(``mWh``), time-major (one row per interval, one column per meter), on a grid that starts at a full hour of local
time in the billing time zone (``tz``; the UTC offset at the start of the profile decides, so Asia/Kolkata's grid
starts at hh:30 UTC), so that every demand is an exact integer sum.

Timestamps carry a UTC offset, or none at all: then they are local times in ``tz``.  A local-time file runs through
the repeated hour at the end of daylight saving time twice, as a meter records it: per meter and in file order, the
first pass is read as daylight saving time and the second (after the local time went back) as standard time.  Local
times skipped when the clocks go forward do not exist and are errors.

Nothing is guessed: unreadable cells, negative readings, duplicates, out-of-order rows, timestamps off the interval
grid and mixed intervals are errors that name their rows (1-based data rows, the header not counted; rows of several
files are named with their file); gaps are errors too unless the caller chooses to skip incomplete windows, and name
the row after which the data are missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import polars as pl

from ..errors import DataError

__all__ = [
    "FrameArrays",
    "LoadProfile",
    "RowNames",
    "frame_arrays",
    "gap_summary",
    "gaps_error",
    "gaps_note",
    "profile_from_arrays",
    "read_frame",
    "read_load_profile",
    "shortest_interval",
]

MWH_PER_KWH = 1_000_000
_SHOW = 5
_OFFSET = r"(Z|[+-]\d\d:?\d\d)$"


@dataclass
class LoadProfile:
    """Energies per interval on a regular grid for one or more meters."""

    meters: list[str]
    step_s: int
    start: datetime  # start of the first grid interval (UTC instant of a full hour of local time in ``tz``)
    energy: npt.NDArray[np.int64]  # shape (T, M), mWh per interval, time-major
    valid: npt.NDArray[np.bool_] | None = None  # shape (T, M); None: every cell holds a reading
    notes: list[str] = field(default_factory=list)
    gaps: dict[str, str] = field(default_factory=dict)  # meter -> what is missing (meters with gaps, sorted)
    tz: str = "UTC"

    @property
    def n_steps(self) -> int:
        return int(self.energy.shape[0])

    def end_times(self) -> npt.NDArray[np.datetime64]:
        """End of every grid interval (UTC, as datetime64[s])."""
        start = np.datetime64(self.start.replace(tzinfo=None), "s")
        return start + np.arange(1, self.n_steps + 1, dtype=np.int64) * np.timedelta64(self.step_s, "s")


@dataclass(frozen=True)
class RowNames:
    """How messages name input rows: 1-based data rows of one file, or rows of several files with the file's name.

    ``row_of[i]`` is the 0-based data row of array element ``i`` in its file (default: ``i``) and ``file_of[i]``
    indexes ``files`` (default: one file, not named).
    """

    files: Sequence[str] = ()
    file_of: npt.NDArray[np.int64] | None = None
    row_of: npt.NDArray[np.int64] | None = None

    def _where(self, i: int) -> tuple[str | None, str]:
        row = int(i) if self.row_of is None else int(self.row_of[i])
        file = None if self.file_of is None else self.files[int(self.file_of[i])]
        return file, str(row + 1)

    def rows(self, indices: npt.NDArray[np.int64] | Sequence[int]) -> str:
        """``rows 2, 3 and 4 more`` or ``rows 2, 3 of a.parquet; 7 of b.parquet``."""
        listed = [int(i) for i in indices]
        groups: dict[str | None, list[str]] = {}
        for i in listed[:_SHOW]:
            file, row = self._where(i)
            groups.setdefault(file, []).append(row)
        text = "; ".join(", ".join(r) + ("" if f is None else f" of {f}") for f, r in groups.items())
        more = len(listed) - _SHOW
        return "rows " + text + (f" and {more} more" if more > 0 else "")

    def row(self, i: int) -> str:
        """``row 2`` or ``row 2 of a.parquet``."""
        file, row = self._where(i)
        return f"row {row}" + ("" if file is None else f" of {file}")


def read_frame(path: Path) -> pl.DataFrame:
    """The file as a frame (CSV: every column as text, checked by :func:`frame_arrays`)."""
    parquet = path.suffix.lower() in (".parquet", ".pq")
    if not path.exists():
        raise DataError(f"{path}: no such file")
    try:
        if parquet:
            return pl.read_parquet(path)
        return pl.read_csv(path, infer_schema_length=0)
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read the file as {'Parquet' if parquet else 'CSV'} ({exc})") from exc


def _utc_offset_s(tz: str, at_s: int) -> int:
    offset = datetime.fromtimestamp(at_s, UTC).astimezone(ZoneInfo(tz)).utcoffset()
    return 0 if offset is None else int(offset.total_seconds())


def _second_pass(naive_s: npt.NDArray[np.int64], meters: npt.NDArray[np.object_]) -> npt.NDArray[np.bool_]:
    """For rows of ambiguous local times (in file order): which belong to the second pass through the repeated
    hour, i.e. come after a row of the same meter whose local time is not earlier (the clock went back)."""
    _ids, codes = np.unique(meters.astype(str), return_inverse=True)
    order = np.lexsort((np.arange(naive_s.size), codes))
    big = np.int64(1) << np.int64(40)  # > any span of local times in seconds: keys of one meter stay together
    key = codes[order].astype(np.int64) * big + (naive_s[order] - naive_s.min())
    before = np.maximum.accumulate(key)
    second_sorted = np.zeros(key.size, dtype=np.bool_)
    second_sorted[1:] = before[:-1] >= key[1:]
    second = np.empty_like(second_sorted)
    second[order] = second_sorted
    return second


def _localize(
    naive: pl.Series, name: str, tz: str, meters: npt.NDArray[np.object_], names: RowNames
) -> npt.NDArray[np.int64]:
    """Epoch seconds of local date-times in ``tz``; the repeated hour resolved by order, missing local times
    refused."""
    early = naive.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
    late = naive.dt.replace_time_zone(tz, ambiguous="latest", non_existent="null")
    gone = np.flatnonzero(early.is_null().to_numpy())
    if gone.size:
        raise DataError(
            f"{name}: {gone.size} local timestamp(s) do not exist in {tz} (skipped when the clocks go forward), "
            f"{names.rows(gone)}"
        )
    first = early.dt.epoch("s").to_numpy().astype(np.int64)
    again = late.dt.epoch("s").to_numpy().astype(np.int64)
    ambiguous = np.flatnonzero(first != again)
    if ambiguous.size:
        naive_s = naive.dt.epoch("s").to_numpy().astype(np.int64)
        second = _second_pass(naive_s[ambiguous], meters[ambiguous])
        first[ambiguous[second]] = again[ambiguous[second]]
    return first


def _to_datetime(text: pl.Series, time_zone: str | None = None) -> pl.Series:
    """ISO-8601 text to date-times, null where unreadable (also when no cell at all is readable)."""
    try:
        return text.str.to_datetime(time_zone=time_zone, strict=False)
    except pl.exceptions.PolarsError:  # polars finds no format when no cell is readable
        return pl.Series(text.name, [None] * text.len(), dtype=pl.Datetime("us", time_zone))


def _parse_times(
    col: pl.Series, name: str, tz: str, meters: npt.NDArray[np.object_], names: RowNames
) -> npt.NDArray[np.int64]:
    """Epoch seconds (UTC) of the ``timestamp`` column."""
    if isinstance(col.dtype, pl.Datetime):
        if col.dtype.time_zone is not None:
            return col.dt.convert_time_zone("UTC").dt.epoch("s").to_numpy().astype(np.int64)
        return _localize(col, name, tz, meters, names)
    text = col.cast(pl.Utf8)
    has_offset = text.str.contains(_OFFSET).fill_null(False).to_numpy()
    if has_offset.any():
        parsed = _to_datetime(text, "UTC")
        unreadable = has_offset & parsed.is_null().to_numpy()
        local = np.flatnonzero(~has_offset)
        if local.size:
            readable = _to_datetime(text.gather(local)).is_not_null().to_numpy()
            unreadable[local[~readable]] = True
            local = local[readable]
        bad = np.flatnonzero(unreadable)
        if bad.size:
            raise DataError(f"{name}: {bad.size} unreadable timestamp(s) (not ISO-8601 date-times), {names.rows(bad)}")
        if local.size:
            raise DataError(
                f"{name}: {local.size} timestamp(s) without a UTC offset among ones with, {names.rows(local)}"
            )
        return parsed.dt.epoch("s").to_numpy().astype(np.int64)
    naive = _to_datetime(text)
    bad = np.flatnonzero(naive.is_null().to_numpy())
    if bad.size:
        raise DataError(f"{name}: {bad.size} unreadable timestamp(s) (not ISO-8601 date-times), {names.rows(bad)}")
    return _localize(naive, name, tz, meters, names)


@dataclass(frozen=True)
class FrameArrays:
    """The checked columns of one file, in file order."""

    epoch_s: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    meters: npt.NDArray[np.object_]
    quantity: Literal["kw", "kwh"]


def frame_arrays(
    df: pl.DataFrame, name: str, *, tz: str = "UTC", default_meter: str, names: RowNames | None = None
) -> FrameArrays:
    """Check the columns and cells of one file (rows named by ``names``, by default 1-based data rows)."""
    names = names or RowNames()
    cols = set(df.columns)
    if "timestamp" not in cols:
        raise DataError(f"{name}: missing column 'timestamp' (columns: {', '.join(df.columns) or 'none'})")
    if ("kw" in cols) == ("kwh" in cols):
        raise DataError(f"{name}: needs exactly one of the columns 'kw' or 'kwh'")
    if df.height == 0:
        raise DataError(f"{name}: no data rows")
    quantity: Literal["kw", "kwh"] = "kw" if "kw" in cols else "kwh"
    meters = (
        df["meter"].cast(pl.Utf8).fill_null("").to_numpy().astype(object)
        if "meter" in cols
        else np.full(df.height, default_meter, dtype=object)
    )
    epoch = _parse_times(df["timestamp"], name, tz, meters, names)
    values = df[quantity].cast(pl.Float64, strict=False)
    bad = np.flatnonzero(values.is_null().to_numpy() | ~np.isfinite(values.fill_null(0.0).to_numpy()))
    if bad.size:
        raise DataError(f"{name}: {bad.size} '{quantity}' value(s) are not numbers, {names.rows(bad)}")
    vals = values.to_numpy().astype(np.float64)
    neg = np.flatnonzero(vals < 0)
    if neg.size:
        raise DataError(f"{name}: {neg.size} negative '{quantity}' reading(s), {names.rows(neg)}")
    return FrameArrays(epoch_s=epoch, values=vals, meters=meters, quantity=quantity)


def read_load_profile(
    path: str | Path,
    *,
    on_incomplete: Literal["fail", "skip"] = "fail",
    tz: str = "UTC",
) -> LoadProfile:
    """Read and check a load-profile file; see the module docstring for the rules.

    ``tz`` is the billing time zone: local timestamps are read in it and the grid starts at its full hour."""
    path = Path(path)
    name = str(path)
    arrays = frame_arrays(read_frame(path), name, tz=tz, default_meter=path.stem)
    return profile_from_arrays(
        arrays.epoch_s,
        arrays.values,
        arrays.meters,
        quantity=arrays.quantity,
        name=name,
        on_incomplete=on_incomplete,
        tz=tz,
    )


def gap_summary(gaps: Sequence[str]) -> str:
    """The per-meter gap texts as one message part (at most five meters named)."""
    return "; ".join(gaps[:_SHOW]) + (f"; and {len(gaps) - _SHOW} more meters" if len(gaps) > _SHOW else "")


def gaps_error(name: str, gaps: Sequence[str]) -> DataError:
    """The error for gaps when incomplete windows are not to be skipped."""
    return DataError(f"{name}: gaps in the data ({gap_summary(gaps)}); use --skip-incomplete to skip windows with gaps")


def gaps_note(gaps: Sequence[str]) -> str:
    """The note for gaps whose windows were skipped."""
    return f"gaps skipped: {gap_summary(gaps)}"


def shortest_interval(epoch_s: npt.NDArray[np.int64], meters: npt.NDArray[np.object_]) -> int | None:
    """The shortest positive time between consecutive readings of a meter (arrays in file order), or None."""
    order = np.argsort(meters, kind="stable")
    same = meters[order][1:] == meters[order][:-1]
    d = np.diff(epoch_s[order])[same]
    d = d[d > 0]
    return int(d.min()) if d.size else None


def profile_from_arrays(
    epoch_s: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    meters: npt.NDArray[np.object_],
    *,
    quantity: Literal["kw", "kwh"],
    name: str = "load profile",
    on_incomplete: Literal["fail", "skip"] = "fail",
    tz: str = "UTC",
    names: RowNames | None = None,
    step_s: int | None = None,
) -> LoadProfile:
    """Build the grid from parallel arrays (file order); the checks of :func:`read_load_profile` apply.

    ``step_s`` is the interval length when known from a larger data set (a fleet partition); by default the shortest
    time between two readings of a meter."""
    names = names or RowNames()
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
            raise DataError(f"{name}: {dup.size} duplicate timestamp(s) for meter {m_sorted[s]}, {names.rows(dup)}")
        back = rows[d < 0]
        if back.size:
            raise DataError(f"{name}: {back.size} row(s) out of time order for meter {m_sorted[s]}, {names.rows(back)}")
        diffs_all.append(d)
    positive = np.concatenate(diffs_all) if diffs_all else np.array([], dtype=np.int64)
    if positive.size == 0 and step_s is None:
        raise DataError(f"{name}: need at least two readings per meter to know the interval length")
    step = int(np.min(positive)) if step_s is None else int(step_s)
    odd = np.flatnonzero(positive % step)
    if odd.size:
        raise DataError(f"{name}: mixed interval lengths ({step} s and {int(positive[odd[0]])} s); resample first")
    if 3600 % step:
        raise DataError(f"{name}: interval of {step} s does not divide an hour")
    first_start = int(epoch_s.min()) - step
    # the grid starts at a full hour of local time (the offset at the start of the profile decides)
    g0 = first_start - (first_start + _utc_offset_s(tz, first_start)) % 3600
    off_grid = np.flatnonzero((epoch_s - g0) % step)
    if off_grid.size:
        where = "" if tz == "UTC" else f" of {tz}"
        raise DataError(
            f"{name}: {off_grid.size} timestamp(s) off the grid of {step} s intervals counted from the full hour"
            f"{where}, {names.rows(off_grid)}"
        )
    last_end = int(epoch_s.max())
    n = -(-(last_end - g0) // 3600) * (3600 // step)
    energy = np.zeros((n, len(ids)), dtype=np.int64)
    present = np.zeros((n, len(ids)), dtype=np.bool_)
    per_h = step / 3600.0
    scale = MWH_PER_KWH * (per_h if quantity == "kw" else 1.0)
    cells: list[npt.NDArray[np.int64]] = []
    for j, (s, e) in enumerate(zip(starts, ends, strict=True)):
        idx = (t_sorted[s:e] - g0) // step - 1
        cells.append(idx)
        energy[idx, j] = np.rint(values[order[s:e]] * scale).astype(np.int64)
        present[idx, j] = True
    gaps: dict[str, str] = {}
    for j, s in enumerate(starts):
        lo, hi = int(cells[j][0]), int(cells[j][-1]) + 1
        missing = np.flatnonzero(~present[lo:hi, j])
        if missing.size:
            first_missing = lo + int(missing[0])
            before = order[s + int(np.searchsorted(cells[j], first_missing)) - 1]  # the reading before the gap
            first_gap = datetime.fromtimestamp(g0 + (first_missing + 1) * step, UTC)
            gaps[ids[j]] = (
                f"meter {ids[j]}: {missing.size} missing interval(s), first ending {first_gap.isoformat()}"
                f" (after {names.row(int(before))})"
            )
    notes: list[str] = []
    if gaps:
        if on_incomplete == "fail":
            raise gaps_error(name, list(gaps.values()))
        notes.append(gaps_note(list(gaps.values())))
    return LoadProfile(
        meters=ids,
        step_s=step,
        start=datetime.fromtimestamp(g0, UTC),
        energy=np.ascontiguousarray(energy),
        valid=None if present.all() else present,
        notes=notes,
        gaps=gaps,
        tz=tz,
    )
