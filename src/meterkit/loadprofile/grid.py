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

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import polars as pl

from ..demand_rules import MWH_PER_KWH
from ..errors import DataError
from .dialect import ROW, FileFormat, iso_layout, read_canonical

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

MAX_KW = 1e6  # largest plausible average power of one interval (1 GW: more than any one metering point draws)
_LIMIT_MWH = float(1 << 62)  # energies, and each meter's total, stay below this (prefix sums fit in int64)
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
    label: Literal["start", "end"] = "end"  # what the file's timestamps were read as

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


def _second_pass(naive_s: npt.NDArray[np.int64], codes: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """For rows of ambiguous local times (in file order): which belong to the second pass through the repeated
    hour, i.e. come after a row of the same meter whose local time is not earlier (the clock went back)."""
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
    naive: pl.Series, name: str, tz: str, codes: npt.NDArray[np.int64], names: RowNames
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
        second = _second_pass(naive_s[ambiguous], codes[ambiguous])
        first[ambiguous[second]] = again[ambiguous[second]]
    return first


_DOTTED = ("%d.%m.%Y %H:%M", "%d.%m.%Y %H:%M:%S", "%d.%m.%y %H:%M")


def _to_datetime(text: pl.Series, time_zone: str | None = None, time_format: str | None = None) -> pl.Series:
    """ISO-8601 (or ``DD.MM.YYYY hh:mm``, or ``time_format``) text to date-times, null where unreadable (also when
    no cell at all is readable)."""
    formats: tuple[str | None, ...] = (time_format,) if time_format else (None, *_DOTTED)
    empty = pl.Series(text.name, [None] * text.len(), dtype=pl.Datetime("us", time_zone))
    for fmt in formats:
        if fmt is not None and "." in fmt and not bool(text.head(1).str.contains(r"^\s*\d{1,2}\.").all()):
            continue
        try:
            parsed = text.str.strip_chars().str.to_datetime(format=fmt, time_zone=time_zone, strict=False)
        except pl.exceptions.PolarsError:  # polars finds no format when no cell is readable
            continue
        if parsed.null_count() < text.len() or fmt is formats[-1]:
            return parsed
    return empty


def _exact_iso(text: pl.Series) -> pl.Series | None:
    """The column parsed with the ISO-8601 layout of its first cell (fast), or None when any cell has another
    layout (then the general parser finds and names the odd rows)."""
    first = text.head(1).to_list()
    layout = iso_layout(first[0]) if first and first[0] is not None else None
    if layout is None:
        return None
    try:
        parsed = text.str.to_datetime(layout[0], time_zone=layout[1], strict=False)
    except pl.exceptions.PolarsError:
        return None
    return parsed if parsed.null_count() == 0 else None


_PER_SECOND = {"ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def _epoch_s(col: pl.Series) -> npt.NDArray[np.int64]:
    """Unix seconds (floored) of zoned date-times without nulls: their stored UTC count, divided in NumPy (as
    ``dt.epoch("s")`` gives them, at a fraction of its time)."""
    dtype = col.dtype
    assert isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
    ticks = col.to_physical().to_numpy().astype(np.int64, copy=False)
    return ticks // _PER_SECOND[dtype.time_unit or "us"]


def _parse_times(
    col: pl.Series,
    name: str,
    tz: str,
    codes: npt.NDArray[np.int64],
    names: RowNames,
    time_format: str | None = None,
) -> npt.NDArray[np.int64]:
    """Epoch seconds (UTC) of the ``timestamp`` column."""
    if isinstance(col.dtype, pl.Datetime | pl.Date):
        if col.null_count():
            empty = np.flatnonzero(col.is_null().to_numpy())
            raise DataError(f"{name}: {empty.size} empty timestamp(s), {names.rows(empty)}")
        if isinstance(col.dtype, pl.Date):
            col = col.cast(pl.Datetime("us"))
        if isinstance(col.dtype, pl.Datetime) and col.dtype.time_zone is not None:
            return _epoch_s(col)
        return _localize(col, name, tz, codes, names)
    text = col.cast(pl.Utf8)
    fast = _exact_iso(text) if time_format is None else None
    if fast is not None:
        if isinstance(fast.dtype, pl.Datetime) and fast.dtype.time_zone is not None:
            return _epoch_s(fast)
        return _localize(fast, name, tz, codes, names)
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
        return parsed.dt.epoch("s").to_numpy().astype(np.int64, copy=False)
    text, next_day = _end_of_day(text)
    naive = _to_datetime(text, None, time_format)
    if next_day is not None:  # 24:00 is 00:00 of the next day (local calendar days: DST days stay whole)
        naive = pl.select(pl.when(next_day).then(naive.dt.offset_by("1d")).otherwise(naive)).to_series()
    bad = np.flatnonzero(naive.is_null().to_numpy())
    if bad.size:
        raise DataError(f"{name}: {bad.size} unreadable timestamp(s) (not ISO-8601 date-times), {names.rows(bad)}")
    return _localize(naive, name, tz, codes, names)


_END_OF_DAY = r"[T ]24:00(:00)?$"


def _end_of_day(text: pl.Series) -> tuple[pl.Series, pl.Series | None]:
    """Local times written ``… 24:00`` (the end of a day, as portals stamp the day's last interval) as ``… 00:00``,
    and which rows move to the next day (None: no such row)."""
    stripped = text.str.strip_chars()
    late = stripped.str.contains(_END_OF_DAY).fill_null(False)
    if not late.any():
        return text, None
    return stripped.str.replace(r"([T ])24:(00(:00)?)$", "${1}00:${2}"), late


@dataclass(frozen=True)
class FrameArrays:
    """The checked columns of one file, in file order."""

    epoch_s: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]  # kW or kWh
    ids: list[str]  # the meters, sorted
    codes: npt.NDArray[np.int64]  # per row: its meter's index in ``ids``
    quantity: Literal["kw", "kwh"]

    @property
    def meters(self) -> npt.NDArray[np.object_]:
        """Per row: its meter id."""
        return np.array(self.ids, dtype=object)[self.codes]


def meter_codes(meters: pl.Series) -> tuple[list[str], npt.NDArray[np.int64]]:
    """Sorted distinct meter ids and, per row, the index of its id (nulls are the id ``""``)."""
    if isinstance(meters.dtype, pl.Categorical) and not meters.null_count():
        grouped = _grouped_codes(meters)
        if grouped is not None:
            return grouped
        used = meters.unique()
        physical = used.to_physical().to_numpy().astype(np.int64, copy=False)
        text_ids = used.cast(pl.String).to_list()
        rank = np.argsort(np.argsort(np.array(text_ids, dtype=object)))
        lookup = np.zeros(int(physical.max()) + 1, dtype=np.int64)
        lookup[physical] = rank
        return sorted(text_ids), lookup[meters.to_physical().to_numpy()]
    text = meters.cast(pl.String)
    if text.null_count():
        text = text.fill_null("")
    grouped = _grouped_codes(text)
    if grouped is not None:
        return grouped
    ids = sorted(text.unique().to_list())
    return ids, text.cast(pl.Enum(ids)).to_physical().to_numpy().astype(np.int64, copy=False)


_MAX_RUNS = 10_000  # a file grouped by meter has one run of rows per meter: its codes come from the runs


def _grouped_codes(text: pl.Series) -> tuple[list[str], npt.NDArray[np.int64]] | None:
    """Meter ids and codes of a text or categorical column without nulls whose rows come in one run per meter (a
    file grouped by meter), from the runs alone (no hashing of every row); None when it is not grouped so."""
    head_runs = text.head(10_000).rle_id().to_numpy()
    if head_runs.size and int(head_runs[-1]) >= 100:  # many runs early on: not grouped, do not even try
        return None
    runs = text.rle()
    if runs.len() > _MAX_RUNS:
        return None
    values = runs.struct.field("value").to_list()
    ids = sorted(values)
    if len(set(values)) != len(values):
        return None
    rank = {v: i for i, v in enumerate(ids)}
    lengths = runs.struct.field("len").to_numpy().astype(np.int64, copy=False)
    return ids, np.repeat(np.array([rank[v] for v in values], dtype=np.int64), lengths)


def frame_arrays(
    df: pl.DataFrame,
    name: str,
    *,
    tz: str = "UTC",
    default_meter: str,
    names: RowNames | None = None,
    factor: float = 1.0,
    time_format: str | None = None,
) -> FrameArrays:
    """Check the columns and cells of one file (rows named by ``names``, by default 1-based data rows); ``factor``
    turns the values into kW or kWh (1e-3 for W or Wh)."""
    names = names or RowNames()
    cols = set(df.columns)
    if "timestamp" not in cols:
        raise DataError(f"{name}: missing column 'timestamp' (columns: {', '.join(df.columns) or 'none'})")
    if ("kw" in cols) == ("kwh" in cols):
        raise DataError(f"{name}: needs exactly one of the columns 'kw' or 'kwh'")
    if df.height == 0:
        raise DataError(f"{name}: no data rows")
    quantity: Literal["kw", "kwh"] = "kw" if "kw" in cols else "kwh"
    if "meter" in cols:
        ids, codes = meter_codes(df["meter"])
    else:
        ids, codes = [default_meter], np.zeros(df.height, dtype=np.int64)
    epoch = _parse_times(df["timestamp"], name, tz, codes, names, time_format)
    values = df[quantity].cast(pl.Float64, strict=False)
    vals = values.fill_null(np.nan).to_numpy().astype(np.float64, copy=False)
    if not np.isfinite(vals.sum()):  # a NaN, an infinity or a null somewhere (or a sum beyond float range)
        bad = np.flatnonzero(~np.isfinite(vals))
        if bad.size:
            raise DataError(f"{name}: {bad.size} '{quantity}' value(s) are not numbers, {names.rows(bad)}")
    if vals.size and vals.min() < 0:
        neg = np.flatnonzero(vals < 0)
        raise DataError(f"{name}: {neg.size} negative '{quantity}' reading(s), {names.rows(neg)}")
    if factor != 1.0:
        vals = vals * factor
    return FrameArrays(epoch_s=epoch, values=vals, ids=ids, codes=codes, quantity=quantity)


def read_load_profile(
    path: str | Path,
    *,
    on_incomplete: Literal["fail", "skip"] = "fail",
    tz: str = "UTC",
    fmt: FileFormat | None = None,
    max_kw: float = MAX_KW,
    meters: Collection[str] | None = None,
    step_s: int | None = None,
    guess_label: bool = False,
) -> LoadProfile:
    """Read and check a load-profile file; see the module docstring for the rules.

    ``path`` is a CSV or Parquet file, ``-`` (standard input) or a folder (every CSV and Parquet file in it, as one
    profile).  ``tz`` is the billing time zone: local timestamps are read in it and the grid starts at its full
    hour.  ``fmt`` says how to read a CSV dialect (by default found in the file, see
    :mod:`meterkit.loadprofile.dialect`).  ``max_kw`` is the largest plausible average power of one interval.
    ``meters`` reads only those meters' rows (streamed; errors still name the rows of the file) and ``step_s`` sets
    the interval length, as when a large file is read in groups of meters.  Timestamps mark interval ends unless
    ``fmt`` or the time column's name says starts; ``guess_label`` (what ``meterkit demand`` does) also reads a
    file of local times (no UTC offsets) as starts when its first stamp sits on a month boundary and its last does
    not (see :func:`_apply_label`)."""
    fmt = fmt or FileFormat()
    name = str(path)
    sources = _sources(path)
    parts: list[FrameArrays] = []
    labels: set[str | None] = set()
    local = True
    rows_of: list[npt.NDArray[np.int64]] = []
    lines_of: list[npt.NDArray[np.int64]] = []
    for k, source in enumerate(sources):
        src_name = "<stdin>" if str(source) == "-" else str(source)
        canon = read_canonical(source, fmt, meters=meters)
        if canon.odd_rows_only:  # a large file with cells that do not parse: the checks on those rows name them
            if canon.frame.height:
                lines = canon.frame[ROW].to_numpy()
                frame_arrays(
                    canon.frame,
                    src_name,
                    tz=tz,
                    default_meter="meter",
                    names=RowNames(row_of=lines),
                    factor=canon.factor,
                    time_format=canon.time_format,
                )
            canon = read_canonical(source, fmt, meters=meters, whole_text=True)  # nothing found alone: all of it
        height = canon.frame.height
        numbered = ROW in canon.frame.columns
        names = None
        if numbered or len(sources) > 1:  # row numbers of the file, carried along (one file read whole: implied)
            lines = canon.frame[ROW].to_numpy() if numbered else np.arange(height, dtype=np.int64)
            lines_of.append(lines)
            names = RowNames(row_of=lines)
            if len(sources) > 1:
                names = RowNames(files=[src_name], file_of=np.zeros(height, dtype=np.int64), row_of=lines)
                rows_of.append(np.full(height, k, dtype=np.int64))
        default = "meter" if str(source) == "-" else Path(source).stem
        parts.append(
            frame_arrays(
                canon.frame,
                src_name,
                tz=tz,
                default_meter=default,
                names=names,
                factor=canon.factor,
                time_format=canon.time_format,
            )
        )
        labels.add(canon.label)
        local = local and _local_times(canon.frame["timestamp"])
        del canon  # the frame's memory is free before the grid is built
    quantities = {p.quantity for p in parts}
    if len(quantities) > 1:
        raise DataError(f"{name}: the files mix 'kw' and 'kwh' values")
    if len(parts) == 1:
        epoch, values, ids, codes = parts[0].epoch_s, parts[0].values, parts[0].ids, parts[0].codes
    else:  # one id list for all files
        ids = sorted(set().union(*(p.ids for p in parts)))
        epoch = np.concatenate([p.epoch_s for p in parts])
        values = np.concatenate([p.values for p in parts])
        codes = np.concatenate([np.searchsorted(ids, p.ids).astype(np.int64)[p.codes] for p in parts])
    parts_quantity = parts[0].quantity
    del parts
    names = RowNames(row_of=lines_of[0]) if meters is not None and len(sources) == 1 else RowNames()
    if len(sources) > 1:
        names = RowNames(
            files=[str(s) for s in sources], file_of=np.concatenate(rows_of), row_of=np.concatenate(lines_of)
        )
    label = next(iter(labels)) if len(labels) == 1 else None
    if label is None and not (guess_label and local):
        label = "end"
    epoch, notes, read_as = _apply_label(epoch, codes, label, tz, name)
    profile = profile_from_arrays(
        epoch,
        values,
        codes,
        meter_ids=ids,
        quantity=parts_quantity,
        name=name,
        on_incomplete=on_incomplete,
        tz=tz,
        names=names,
        max_kw=max_kw,
        step_s=step_s,
    )
    profile.notes[:0] = notes
    profile.label = read_as
    return profile


_SUFFIXES = (".csv", ".txt", ".tsv", ".parquet", ".pq")


def _sources(path: str | Path) -> list[Path | str]:
    if str(path) == "-":
        return ["-"]
    p = Path(path)
    if not p.is_dir():
        return [p]
    files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in _SUFFIXES)
    if not files:
        raise DataError(f"{p}: no CSV or Parquet files in the folder")
    return list(files)


def _local_times(col: pl.Series) -> bool:
    """True when the timestamps carry no UTC offset (local times of the file's zone)."""
    if isinstance(col.dtype, pl.Datetime):
        return col.dtype.time_zone is None
    first = col.drop_nulls().head(1).cast(pl.String).to_list()
    return not (first and re.search(_OFFSET, first[0].strip()))


def _month_start(epoch_s: int, tz: str) -> bool:
    local = datetime.fromtimestamp(epoch_s, UTC).astimezone(ZoneInfo(tz))
    return local.day == 1 and (local.hour, local.minute, local.second) == (0, 0, 0)


def _apply_label(
    epoch_s: npt.NDArray[np.int64], codes: npt.NDArray[np.int64], label: str | None, tz: str, name: str
) -> tuple[npt.NDArray[np.int64], list[str], Literal["start", "end"]]:
    """Timestamps at the start of the interval moved to its end; without a label, a file whose first stamp sits on
    a month boundary (local time) is read as interval starts when its last stamp does not, and a warning is noted
    when both do (the choice is ambiguous: read as interval ends)."""
    notes: list[str] = []
    if label == "end" or epoch_s.size == 0:
        return epoch_s, notes, "end"
    if label is None:
        first, last = int(epoch_s.min()), int(epoch_s.max())
        if not _month_start(first, tz) or shortest_interval(epoch_s, codes) is None:
            return epoch_s, notes, "end"
        if _month_start(last, tz):
            notes.append(
                "warning: the first and the last timestamp sit on a month boundary, so it is not clear whether they "
                "mark the start or the end of the intervals; read as ends (--label start|end to decide)"
            )
            return epoch_s, notes, "end"
        notes.append(
            "timestamps read as interval starts: the first one sits on a month boundary "
            "(--label end to read them as ends)"
        )
    step = shortest_interval(epoch_s, codes)
    if step is None:
        raise DataError(f"{name}: need at least two readings per meter to know the interval length")
    return epoch_s + step, notes, "start"


def gap_summary(gaps: Sequence[str]) -> str:
    """The per-meter gap texts as one message part (at most five meters named)."""
    return "; ".join(gaps[:_SHOW]) + (f"; and {len(gaps) - _SHOW} more meters" if len(gaps) > _SHOW else "")


def gaps_error(name: str, gaps: Sequence[str]) -> DataError:
    """The error for gaps when incomplete windows are not to be skipped."""
    return DataError(f"{name}: gaps in the data ({gap_summary(gaps)}); use --skip-incomplete to skip windows with gaps")


def gaps_note(gaps: Sequence[str]) -> str:
    """The note for gaps whose windows were skipped."""
    return f"gaps skipped: {gap_summary(gaps)}"


def shortest_interval(epoch_s: npt.NDArray[np.int64], meters: npt.NDArray[Any]) -> int | None:
    """The shortest positive time between consecutive readings of a meter (arrays in file order; ``meters`` ids or
    integer codes), or None."""
    order = np.argsort(meters, kind="stable")
    same = meters[order][1:] == meters[order][:-1]
    d = np.diff(epoch_s[order])[same]
    d = d[d > 0]
    return int(d.min()) if d.size else None


def _check_range(
    values: npt.NDArray[np.float64],
    quantity: Literal["kw", "kwh"],
    step: int,
    max_kw: float,
    codes: npt.NDArray[np.int64],
    name: str,
    names: RowNames,
) -> None:
    """Values that cannot be summed exactly, or that no meter can measure, are errors naming their rows."""
    to_mwh = MWH_PER_KWH * (step / 3600.0 if quantity == "kw" else 1.0)
    to_kw = 1.0 if quantity == "kw" else 3600.0 / step
    top = float(values.max()) if values.size else 0.0
    if top * to_mwh < _LIMIT_MWH / 4 and top * to_kw <= max_kw and top * to_mwh * values.size < _LIMIT_MWH:
        return  # the largest value passes every check (also the sum of any meter's values)
    kw = values if quantity == "kw" else values * (3600.0 / step)
    mwh = values * (MWH_PER_KWH * (step / 3600.0 if quantity == "kw" else 1.0))
    huge = np.flatnonzero(~(mwh < _LIMIT_MWH / 4))
    if huge.size:
        raise DataError(
            f"{name}: {huge.size} '{quantity}' value(s) too large to compute with exactly (at most "
            f"{_LIMIT_MWH / 4 / MWH_PER_KWH:.3g} kWh per interval), {names.rows(huge)}"
        )
    implausible = np.flatnonzero(kw > max_kw)
    if implausible.size:
        raise DataError(
            f"{name}: {implausible.size} '{quantity}' value(s) above a plausible {max_kw:g} kW average power, "
            f"{names.rows(implausible)} (--max-kw raises the limit)"
        )
    totals = np.bincount(codes, weights=mwh)
    if totals.size and float(totals.max()) >= _LIMIT_MWH:
        raise DataError(f"{name}: the energies of a meter sum to more than can be computed with exactly")


#: the times a meter's clock can show (1970-01-01 to 2999-12-31 UTC): beyond them there is no calendar arithmetic
_FIRST_TIME_S, _LAST_TIME_S = 0, 32503680000 - 1


def profile_from_arrays(
    epoch_s: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    meters: npt.NDArray[Any],
    *,
    quantity: Literal["kw", "kwh"],
    name: str = "load profile",
    on_incomplete: Literal["fail", "skip"] = "fail",
    tz: str = "UTC",
    names: RowNames | None = None,
    step_s: int | None = None,
    max_kw: float = MAX_KW,
    meter_ids: Sequence[str] | None = None,
) -> LoadProfile:
    """Build the grid from parallel arrays (file order); the checks of :func:`read_load_profile` apply.

    ``step_s`` is the interval length when known from a larger data set (a fleet partition); by default the shortest
    time between two readings of a meter.  Values above ``max_kw`` average power, or too large to sum exactly, are
    errors that name their rows.  ``meters`` holds the meter ids, or integer codes into ``meter_ids``."""
    names = names or RowNames()
    earliest, latest = (int(epoch_s.min()), int(epoch_s.max())) if epoch_s.size else (0, 0)
    if earliest < _FIRST_TIME_S or latest > _LAST_TIME_S:
        outside = np.flatnonzero((epoch_s < _FIRST_TIME_S) | (epoch_s > _LAST_TIME_S))
        raise DataError(
            f"{name}: {outside.size} timestamp(s) outside the years 1970-2999 a meter's clock can show, "
            f"{names.rows(outside)}"
        )
    if meter_ids is None:
        uniq, inverse = np.unique(np.asarray(meters).astype(str), return_inverse=True)
        all_ids, codes = [str(u) for u in uniq], inverse.ravel().astype(np.int64)
    else:
        all_ids, codes = list(meter_ids), np.asarray(meters, dtype=np.int64)
    # per meter in time order; a file already grouped by meter needs no sort and no copy
    grouped = codes.size < 2 or not bool((codes[1:] < codes[:-1]).any())
    order: npt.NDArray[np.int64] | None = None if grouped else np.argsort(codes, kind="stable")
    c_sorted = codes if order is None else codes[order]
    t_sorted = epoch_s if order is None else epoch_s[order]
    boundaries = np.flatnonzero(c_sorted[1:] != c_sorted[:-1]) + 1
    del c_sorted
    starts = np.concatenate(([0], boundaries)).astype(np.int64)
    ends = np.concatenate((boundaries, [codes.size])).astype(np.int64)
    ids = [all_ids[int(codes[s if order is None else order[s]])] for s in starts]

    def file_rows(a: int, b: int) -> npt.NDArray[np.int64]:  # the rows of sorted positions a..b-1
        return np.arange(a, b, dtype=np.int64) if order is None else order[a:b]

    shortest: int | None = None
    spans: list[tuple[int, int]] = []  # per meter: its shortest and longest time between readings (0, 0: one)
    for meter, s, e in zip(ids, starts, ends, strict=True):
        d = np.diff(t_sorted[s:e])
        lo_d, hi_d = (int(d.min()), int(d.max())) if d.size else (0, 0)
        spans.append((lo_d, hi_d))
        if d.size and lo_d <= 0:
            rows = file_rows(s + 1, e)
            dup = rows[d == 0]
            if dup.size:
                raise DataError(f"{name}: {dup.size} duplicate timestamp(s) for meter {meter}, {names.rows(dup)}")
            back = rows[d < 0]
            raise DataError(f"{name}: {back.size} row(s) out of time order for meter {meter}, {names.rows(back)}")
        if d.size:
            shortest = lo_d if shortest is None else min(shortest, lo_d)
    if shortest is None and step_s is None:
        raise DataError(f"{name}: need at least two readings per meter to know the interval length")
    step = int(step_s) if step_s is not None else int(shortest)  # type: ignore[arg-type]
    for (lo_d, hi_d), s, e in zip(spans, starts, ends, strict=True):
        if e - s > 1 and (hi_d != step or lo_d != step):
            d = np.diff(t_sorted[s:e])
            odd = d[d % step != 0]
            if odd.size:
                raise DataError(f"{name}: mixed interval lengths ({step} s and {int(odd[0])} s); resample first")
    if 3600 % step:
        raise DataError(f"{name}: interval of {step} s does not divide an hour")
    _check_range(values, quantity, step, max_kw, codes, name, names)
    first_start = earliest - step
    # the grid starts at a full hour of local time (the offset at the start of the profile decides)
    g0 = first_start - (first_start + _utc_offset_s(tz, first_start)) % 3600
    # every reading of a meter is its first plus whole intervals: the grid holds it when the first is on it
    if bool(((t_sorted[starts] - g0) % step).any()):
        off_grid = np.flatnonzero((epoch_s - g0) % step)
        where = "" if tz == "UTC" else f" of {tz}"
        raise DataError(
            f"{name}: {off_grid.size} timestamp(s) off the grid of {step} s intervals counted from the full hour"
            f"{where}, {names.rows(off_grid)}"
        )
    last_end = latest
    n = -(-(last_end - g0) // 3600) * (3600 // step)
    energy = np.zeros((n, len(ids)), dtype=np.int64)
    per_h = step / 3600.0
    scale = MWH_PER_KWH * (per_h if quantity == "kw" else 1.0)
    cells: list[npt.NDArray[np.int64] | None] = []  # per meter: its grid cells when it has gaps
    filled: list[tuple[int, int]] = []  # per meter: the grid rows from its first to its last reading
    for j, (s, e) in enumerate(zip(starts, ends, strict=True)):
        first, last = int(t_sorted[s]), int(t_sorted[e - 1])
        lo, hi = (first - g0) // step - 1, (last - g0) // step
        filled.append((lo, hi))
        kwh = np.rint((values[s:e] if order is None else values[order[s:e]]) * scale).astype(np.int64)
        if hi - lo == e - s:  # no gap (readings are strictly increasing on the grid): one strided slice
            cells.append(None)
            energy[lo:hi, j] = kwh
        else:
            idx = (t_sorted[s:e] - g0) // step - 1
            cells.append(idx)
            energy[idx, j] = kwh
    # every cell holds a reading when every meter runs without a gap over the whole grid: no mask is needed
    complete = all(c is None and f == (0, n) for c, f in zip(cells, filled, strict=True))
    present = np.zeros((0, len(ids)) if complete else (n, len(ids)), dtype=np.bool_)
    if not complete:
        for j, (cell, (lo, hi)) in enumerate(zip(cells, filled, strict=True)):
            if cell is None:
                present[lo:hi, j] = True
            else:
                present[cell, j] = True
    gaps: dict[str, str] = {}
    for j, s in enumerate(starts):
        cell = cells[j]
        if cell is None:
            continue
        lo, hi = int(cell[0]), int(cell[-1]) + 1
        missing = np.flatnonzero(~present[lo:hi, j])
        if missing.size:
            first_missing = lo + int(missing[0])
            at = s + int(np.searchsorted(cell, first_missing)) - 1
            before = at if order is None else order[at]  # the reading before the gap
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
        valid=None if complete else present,
        notes=notes,
        gaps=gaps,
        tz=tz,
    )
