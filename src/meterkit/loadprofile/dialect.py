"""The files people have: CSV dialects, column names and units, mapped onto the load-profile columns.

A file is read as text first (separator, header line, decimal mark, encoding, column roles and units are found
where the file leaves no doubt, otherwise given as :class:`FileFormat` options) and then handed on as the
canonical columns ``timestamp``, ``kwh`` or ``kw`` (as text, decimal point) and optionally ``meter``, with the
factor that turns the file's unit into kWh or kW.

Detection rules (each one can be overridden):

* encoding: a UTF-8 byte-order mark means UTF-8; a head that is not valid UTF-8 is read as Latin-1;
* separator: the one of ``; , TAB |`` whose count per line is the same on the most lines at the end of the head
  (ties: the larger count); the header is the first line from which every line has that count;
* decimal mark: a comma when the separator is not a comma and the value cells hold commas (``1.234,5`` is then
  1234.5);
* columns: by name (English or German, case and units ignored: ``timestamp``/``Zeitstempel``/``Datum``…, a column
  named like the end (``bis``, ``end``) or the start (``von``, ``start``) of the interval, ``kwh``/``Wert``/
  ``Energie``…, ``meter``/``Zählpunkt``/``Messlokation``…); the unit (kWh, kW, Wh, W, MWh, MW) from the column name
  (``Wert (kWh)``, ``Leistung [kW]``, ``kwh``) and otherwise it must be given (``kwh=Wert``);
* time: ISO-8601, or ``DD.MM.YYYY hh:mm[:ss]``.
"""

from __future__ import annotations

import codecs
import io
import re
import sys
import tomllib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final, Literal, TypeVar

import polars as pl

from ..errors import ConfigError, DataError

__all__ = [
    "QUANTITIES",
    "CanonicalFrame",
    "FileFormat",
    "canonical_frame",
    "estimate_rows",
    "file_quantity",
    "load_format_profile",
    "meter_counts",
    "parse_columns",
    "read_canonical",
]

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)

# unit -> (load-profile quantity, factor to kWh / kW)
QUANTITIES: Final[dict[str, tuple[Literal["kw", "kwh"], float]]] = {
    "kwh": ("kwh", 1.0),
    "kw": ("kw", 1.0),
    "wh": ("kwh", 1e-3),
    "w": ("kw", 1e-3),
    "mwh": ("kwh", 1e3),
    "mw": ("kw", 1e3),
}
ROLES: Final = ("timestamp", "start", "end", "date", "time", "meter", *QUANTITIES)
SEPARATORS: Final = (";", ",", "\t", "|")
HEAD_BYTES: Final = 1 << 20
PARQUET_MAGIC: Final = b"PAR1"

_TIME_NAMES: Final = ("timestamp", "zeitstempel", "time", "datetime", "date time", "datum/zeit", "datum zeit", "zeit",
                      "datum", "date", "zeitpunkt", "interval end")  # fmt: skip
_END_NAMES: Final = ("bis", "ende", "end", "to", "datum bis", "zeit bis", "end time", "interval end")
_START_NAMES: Final = ("von", "beginn", "start", "from", "datum von", "zeit von", "start time", "interval start")
_METER_NAMES: Final = ("meter", "meter id", "meter_id", "zählpunkt", "zaehlpunkt", "zählpunktbezeichnung",
                       "messlokation", "melo", "malo", "marktlokation", "zähler", "zählernummer", "zaehler",
                       "zaehlernummer", "id", "serial")  # fmt: skip
_VALUE_NAMES: Final = ("wert", "value", "energie", "energy", "verbrauch", "consumption", "leistung", "power",
                       "menge", "bezug", "wirkarbeit", "wirkleistung", "active energy", "active power")  # fmt: skip
_DATE_NAMES: Final = ("datum", "date", "tag", "day")  # a date column beside a time-of-day column
_CLOCK_NAMES: Final = ("uhrzeit", "zeit", "time", "time of day", "tageszeit")
_BARE_DATE: Final = re.compile(r"\s*(\d{4}-\d\d-\d\d|\d{1,2}[./-]\d{1,2}[./-]\d{2,4})\s*")
_BARE_CLOCK: Final = re.compile(r"\s*\d{1,2}:\d\d(:\d\d(\.\d+)?)?\s*")
_UNIT_RE: Final = re.compile(r"(?:[\[(]\s*|\bin\s+|^)(kwh|kw|wh|w|mwh|mw)\s*(?:[\])]|$)", re.IGNORECASE)


@dataclass(frozen=True)
class FileFormat:
    """How to read a file; ``None`` (or empty) means: find it in the file."""

    sep: str | None = None
    decimal: Literal[".", ","] | None = None
    encoding: str | None = None
    skip_rows: int | None = None  # lines before the header line
    columns: Mapping[str, str] = field(default_factory=dict)  # role -> column name in the file
    label: Literal["start", "end"] | None = None  # what the timestamp marks: the start or the end of the interval
    time_format: str | None = None  # strftime format of the timestamps (default: ISO-8601 or DD.MM.YYYY hh:mm)

    def merged(self, other: FileFormat) -> FileFormat:
        """``other``'s settings where given, else these (command-line options over a format profile)."""
        return FileFormat(
            sep=other.sep if other.sep is not None else self.sep,
            decimal=other.decimal if other.decimal is not None else self.decimal,
            encoding=other.encoding if other.encoding is not None else self.encoding,
            skip_rows=other.skip_rows if other.skip_rows is not None else self.skip_rows,
            columns=_merged_columns(self.columns, other.columns),
            label=other.label if other.label is not None else self.label,
            time_format=other.time_format if other.time_format is not None else self.time_format,
        )


_TIME_ROLES: Final = ("timestamp", "start", "end", "date", "time")


def _merged_columns(base: Mapping[str, str], given: Mapping[str, str]) -> dict[str, str]:
    """``given``'s roles over ``base``'s; time roles count as one group (``date``/``time`` given replace a
    profile's ``timestamp``, and the other way round), as do the value roles."""
    drop = set()
    if any(r in _TIME_ROLES for r in given):
        drop |= set(_TIME_ROLES)
    if any(r in QUANTITIES for r in given):
        drop |= set(QUANTITIES)
    return {**{r: c for r, c in base.items() if r not in drop}, **given}


def parse_columns(text: str) -> dict[str, str]:
    """``timestamp=Zeitstempel,kwh=Wert,meter=Zählpunkt`` -> role -> column."""
    out: dict[str, str] = {}
    for part in (p for p in text.split(",") if p.strip()):
        role, eq, column = part.partition("=")
        role = role.strip().lower()
        if not eq or not column.strip():
            raise ConfigError(f"--columns {part.strip()!r}: write ROLE=COLUMN, e.g. kwh=Wert")
        if role not in ROLES:
            raise ConfigError(f"--columns: unknown role {role!r} (roles: {', '.join(ROLES)})")
        out[role] = column.strip()
    _check_roles(out, "--columns")
    return out


def _check_roles(columns: Mapping[str, str], where: str) -> None:
    values = [r for r in columns if r in QUANTITIES]
    if len(values) > 1:
        raise ConfigError(f"{where}: give one value column (kwh, kw, wh, w, mwh or mw), not {', '.join(values)}")
    times = [r for r in columns if r in ("timestamp", "start", "end", "date")]
    if len(times) > 1:
        raise ConfigError(
            f"{where}: give one time column (timestamp, start or end, or date with time), not {', '.join(times)}"
        )
    if "time" in columns and "date" not in columns:
        raise ConfigError(
            f"{where}: time= names the time-of-day column and needs date= beside it (a column holding date and time "
            "is timestamp=)"
        )
    if "date" in columns and "time" not in columns:
        raise ConfigError(f"{where}: date= needs time= (the time-of-day column); a date and time column is timestamp=")


def load_format_profile(path: Path) -> FileFormat:
    """A portal's format as TOML: ``sep``, ``decimal``, ``encoding``, ``skip_rows``, ``label``, ``time_format`` and a
    ``[columns]`` table of role = column name."""
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"--format-profile {path}: {exc}") from exc
    known = {"sep", "decimal", "encoding", "skip_rows", "label", "time_format", "columns", "name", "description"}
    unknown = sorted(set(doc) - known)
    if unknown:
        raise ConfigError(
            f"--format-profile {path}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )

    def text(key: str, allowed: tuple[str, ...] | None = None) -> str | None:
        value = doc.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or (allowed is not None and value not in allowed):
            want = "text" if allowed is None else " or ".join(repr(a) for a in allowed)
            raise ConfigError(f"--format-profile {path}: {key} must be {want}, not {value!r}")
        return value

    skip = doc.get("skip_rows")
    if skip is not None and (not isinstance(skip, int) or isinstance(skip, bool) or skip < 0):
        raise ConfigError(f"--format-profile {path}: skip_rows must be a whole number >= 0, not {skip!r}")
    columns = doc.get("columns", {})
    if not isinstance(columns, dict) or not all(isinstance(v, str) for v in columns.values()):
        raise ConfigError(f"--format-profile {path}: [columns] must map roles to column names")
    bad = sorted(set(columns) - set(ROLES))
    if bad:
        raise ConfigError(
            f"--format-profile {path}: unknown column role(s) {', '.join(bad)} (roles: {', '.join(ROLES)})"
        )
    _check_roles(columns, f"--format-profile {path}")
    decimal = text("decimal", (".", ","))
    label = text("label", ("start", "end"))
    return FileFormat(
        sep=text("sep"),
        decimal=None if decimal is None else ("," if decimal == "," else "."),
        encoding=text("encoding"),
        skip_rows=skip,
        columns={str(k): str(v) for k, v in columns.items()},
        label=None if label is None else ("start" if label == "start" else "end"),
        time_format=text("time_format"),
    )


@dataclass
class CanonicalFrame:
    """A file's columns under the load-profile names (``timestamp``, ``kwh`` or ``kw`` as numbers or as text with a
    decimal point, optional ``meter``), the factor to kWh or kW, and what the timestamps mark."""

    frame: pl.DataFrame
    quantity: Literal["kw", "kwh"]
    factor: float
    label: Literal["start", "end"] | None  # None: not known from the file or the options
    time_format: str | None
    notes: list[str] = field(default_factory=list)
    odd_rows_only: bool = False  # only the rows whose cells did not parse (a large file: see read_canonical)


@dataclass(frozen=True)
class Roles:
    """Which of a file's columns is the time, the value (and its unit) and the meter."""

    time: str
    value: str
    unit: str
    meter: str | None
    label: Literal["start", "end"] | None
    clock: str | None = None  # a separate time-of-day column: ``time`` then holds the date

    def wanted(self, columns: list[str]) -> list[str]:
        """The columns to read, in file order."""
        keep = {self.time, self.clock, self.value, self.meter, "status"}
        return [c for c in columns if c in keep]

    def joined(self, frame: FrameT) -> FrameT:
        """With a separate time-of-day column: the date and the time as one text ``DATE TIME`` in the date column
        (the time-of-day column dropped), read from then on as one timestamp column; else the frame as it is."""
        if self.clock is None or self.clock not in frame.collect_schema().names():
            return frame
        text = [pl.col(c).cast(pl.String).str.strip_chars() for c in (self.time, self.clock)]
        return frame.with_columns(pl.concat_str(text, separator=" ").alias(self.time)).drop(self.clock)


TEXT_WHOLE: Final = 64 << 20  # a larger CSV whose cells do not all parse is first searched for the odd rows
ROW: Final = "__row"  # the 0-based data row in the file, kept when only some meters are read


def read_canonical(
    source: Path | str,
    fmt: FileFormat,
    *,
    stdin: IO[bytes] | None = None,
    meters: Collection[str] | None = None,
    whole_text: bool = False,
) -> CanonicalFrame:
    """Read a file (``-``: standard input) and map its columns (see the module docstring).  Only the columns that
    are needed are read; numbers and ISO-8601 times are parsed by the reader where it can, and the file is read
    again as text when a cell does not parse, so that the checks name the row: a file larger than
    :data:`TEXT_WHOLE` first gives only the rows whose cells do not parse (``odd_rows_only``, streamed, with their
    row numbers in ``__row``); when they show no error, the caller reads it again with ``whole_text``.  With
    ``meters``, only their rows are read (streamed: the rest never is in memory), numbered the same way."""
    name = "<stdin>" if str(source) == "-" else str(source)
    if str(source) == "-":
        data = (stdin or sys.stdin.buffer).read()
        if data[:4] == PARQUET_MAGIC:
            return _parquet(io.BytesIO(data), name, fmt)
        return _csv_bytes(data, name, fmt)
    path = Path(source)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a directory")
    if path.suffix.lower() in (".parquet", ".pq"):
        return _parquet(path, name, fmt, meters)
    try:
        with path.open("rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file ({exc})") from exc
    encoding = _encoding(head, fmt.encoding)
    if encoding == "utf-8" and not head.startswith(b"\xef\xbb\xbf"):
        sep, skip = _dialect(_text_head(head, encoding), fmt, name)
        odd_only = not whole_text and meters is None and path.stat().st_size > TEXT_WHOLE
        return _csv(lambda: path, name, sep, skip, fmt, meters, odd_only)
    if meters is not None:
        raise DataError(f"{name}: reading by meter groups needs a UTF-8 file ({encoding} given); convert it first")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file ({exc})") from exc
    return _csv_bytes(data, name, fmt)


def _only(lazy: pl.LazyFrame, roles: Roles, meters: Collection[str] | None, name: str) -> pl.LazyFrame:
    if meters is None:
        return lazy
    if roles.meter is None:
        raise DataError(f"{name}: no meter column to read the file by meter groups")
    return lazy.with_row_index(ROW).filter(pl.col(roles.meter).cast(pl.String).is_in(list(meters)))


def _parquet(
    source: Path | io.BytesIO, name: str, fmt: FileFormat, meters: Collection[str] | None = None
) -> CanonicalFrame:
    try:
        columns = list(pl.read_parquet_schema(source))
        if isinstance(source, io.BytesIO):
            source.seek(0)
        roles = _roles(columns, name, fmt, lambda: _first_parquet_row(source))
        if isinstance(source, io.BytesIO):
            source.seek(0)
        lazy = _only(roles.joined(pl.scan_parquet(source).select(roles.wanted(columns))), roles, meters, name)
        if roles.meter is not None and meters is not None:  # a group of a large file: 4 bytes a row, not the text
            # (a whole file keeps the text: a file grouped by meter gets its codes from the runs, faster than this)
            lazy = lazy.with_columns(pl.col(roles.meter).cast(pl.String).cast(pl.Categorical))
        frame = lazy.collect(engine="streaming")
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise DataError(f"{name}: cannot read the file as Parquet ({exc})") from exc
    return _canonical(frame, name, fmt, roles)


def _first_parquet_row(source: Path | io.BytesIO) -> dict[str, str | None]:
    if isinstance(source, io.BytesIO):
        source.seek(0)
    head = pl.read_parquet(source, n_rows=1)
    return {c: (None if head.height == 0 else _cell_text(head[c][0])) for c in head.columns}


def _cell_text(value: object) -> str | None:
    return None if value is None else str(value)


def _csv_bytes(data: bytes, name: str, fmt: FileFormat) -> CanonicalFrame:
    encoding = _encoding(data[:HEAD_BYTES], fmt.encoding)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DataError(f"{name}: not {encoding} text at byte {exc.start}; give --encoding") from exc
    sep, skip = _dialect(text[:HEAD_BYTES], fmt, name)
    utf8 = text.encode("utf-8")
    del text
    return _csv(lambda: io.BytesIO(utf8), name, sep, skip, fmt)


def _csv(
    open_source: Callable[[], Path | io.BytesIO],
    name: str,
    sep: str,
    skip: int,
    fmt: FileFormat,
    meters: Collection[str] | None = None,
    odd_only: bool = False,
) -> CanonicalFrame:
    def read(**kw: Any) -> pl.DataFrame:
        try:
            return pl.read_csv(open_source(), separator=sep, skip_rows=skip, quote_char='"', **kw)
        except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataError(
                f"{name}: cannot read the file as CSV with separator {sep!r} and the header on line {skip + 1} "
                f"({first}); give --sep / --skip-rows"
            ) from exc

    head = read(n_rows=1, infer_schema_length=0)
    columns = head.columns
    roles = _roles(columns, name, fmt, lambda: {c: head[c][0] if head.height else None for c in columns})
    wanted = roles.wanted(columns)
    head = roles.joined(head)
    first_time = head[roles.time].to_list()[0] if head.height else None
    layout = iso_layout(first_time) if isinstance(first_time, str) and fmt.time_format is None else None
    kinds: dict[str, pl.DataType | type[pl.DataType]] = {c: pl.String for c in wanted if c != roles.value}
    if roles.meter is not None:
        kinds[roles.meter] = pl.Categorical  # 4 bytes a row, not the text
    frame: pl.DataFrame | None = None
    try:  # typed and streamed: numbers and times parsed chunk by chunk as the file is read (fast, small)
        source = open_source()
        lazy = pl.scan_csv(
            source if isinstance(source, Path) else source.getvalue(),
            separator=sep,
            skip_rows=skip,
            quote_char='"',
            infer_schema_length=10_000,
            schema_overrides=kinds,
        ).select(wanted)
        lazy = _only(roles.joined(lazy), roles, meters, name)
        if layout is not None:
            time_fmt, zone = layout
            lazy = lazy.with_columns(pl.col(roles.time).str.to_datetime(time_fmt, time_zone=zone, strict=False))
        frame = lazy.collect(engine="streaming")
        if layout is not None and frame[roles.time].null_count():
            frame = None  # another layout somewhere: the text path finds and names the rows
    except (pl.exceptions.PolarsError, OSError, ValueError):
        frame = None  # a cell that does not parse: read as text, the checks name its row
    if frame is None and odd_only:  # only the rows that do not parse, streamed: the checks name them
        text = pl.scan_csv(open_source(), separator=sep, skip_rows=skip, quote_char='"', infer_schema_length=0)
        value = pl.col(roles.value).str.strip_chars()
        odd = value.cast(pl.Float64, strict=False).is_null() & ~value.str.contains(",", literal=True).fill_null(False)
        if layout is not None:
            odd = odd | pl.col(roles.time).str.to_datetime(layout[0], time_zone=layout[1], strict=False).is_null()
        try:
            frame = roles.joined(text.select(wanted)).with_row_index(ROW).filter(odd).collect(engine="streaming")
        except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
            raise DataError(f"{name}: cannot read the file as CSV ({str(exc).strip().splitlines()[0]})") from exc
        canon = _canonical(frame, name, fmt, roles)
        canon.odd_rows_only = True
        return canon
    if frame is None and meters is None:
        frame = read(columns=wanted, infer_schema_length=0)
    elif frame is None:
        source = open_source()
        text = pl.scan_csv(
            source if isinstance(source, Path) else source.getvalue(),
            separator=sep,
            skip_rows=skip,
            quote_char='"',
            infer_schema_length=0,
        ).select(wanted)
        try:
            frame = _only(roles.joined(text), roles, meters, name).collect(engine="streaming")
        except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
            raise DataError(f"{name}: cannot read the file as CSV ({str(exc).strip().splitlines()[0]})") from exc
    return _canonical(frame, name, fmt, roles)


def file_quantity(path: Path, fmt: FileFormat) -> tuple[Literal["kw", "kwh"], float]:
    """The quantity of a file's value column and the factor from its unit, from the header and the first row only
    (what a reader of many files needs to know before reading them)."""
    name = str(path)
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            columns = list(pl.read_parquet_schema(path))
            roles = _roles(columns, name, fmt, lambda: _first_parquet_row(path))
        else:
            with path.open("rb") as fh:
                head = fh.read(HEAD_BYTES)
            text = _text_head(head, _encoding(head, fmt.encoding))
            sep, skip = _dialect(text, fmt, name)
            lines = text.splitlines()[skip : skip + 2]
            first = pl.read_csv(
                io.StringIO("\n".join(lines) + "\n"), separator=sep, quote_char='"', infer_schema_length=0
            )
            roles = _roles(
                first.columns, name, fmt, lambda: {c: first[c][0] if first.height else None for c in first.columns}
            )
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise DataError(
            f"{name}: cannot read the file ({str(exc).strip().splitlines()[0] if str(exc).strip() else exc})"
        ) from exc
    return QUANTITIES[roles.unit]


def meter_counts(path: Path, fmt: FileFormat) -> dict[str, int] | None:
    """Rows per meter of a UTF-8 CSV or a Parquet file, counted in one streaming pass (None: no meter column)."""
    name = str(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        columns = list(pl.read_parquet_schema(path))
        roles = _roles(columns, name, fmt)
        lazy = pl.scan_parquet(path)
    else:
        with path.open("rb") as fh:
            head = fh.read(HEAD_BYTES)
        encoding = _encoding(head, fmt.encoding)
        if encoding != "utf-8" or head.startswith(b"\xef\xbb\xbf"):
            return None
        sep, skip = _dialect(_text_head(head, encoding), fmt, name)
        columns = pl.read_csv(path, separator=sep, skip_rows=skip, n_rows=0, quote_char='"').columns
        roles = _roles(columns, name, fmt)
        lazy = pl.scan_csv(path, separator=sep, skip_rows=skip, quote_char='"', infer_schema_length=0)
    if roles.meter is None:
        return None
    try:
        counts = lazy.group_by(pl.col(roles.meter).cast(pl.String)).len().collect(engine="streaming")
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise DataError(f"{name}: cannot count the rows per meter ({str(exc).strip().splitlines()[0]})") from exc
    return {("" if m is None else str(m)): int(n) for m, n in counts.iter_rows()}


def estimate_rows(path: Path) -> int:
    """About how many data rows a file holds: Parquet's row count, or a CSV's size over the length of its lines."""
    if path.suffix.lower() in (".parquet", ".pq"):
        return int(pl.scan_parquet(path).select(pl.len()).collect().item())  # from the metadata
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(1 << 16)
    lines = head.count(b"\n")
    return size // max(1, len(head) // max(1, lines)) if lines else 1


def _encoding(head: bytes, given: str | None) -> str:
    if given is not None:
        try:
            return _codec_name(given)
        except LookupError as exc:
            raise ConfigError(f"--encoding {given!r}: unknown encoding") from exc
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    cut = head[: head.rfind(b"\n") + 1] if len(head) == HEAD_BYTES else head
    try:
        cut.decode("utf-8")
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"


def _codec_name(name: str) -> str:
    return codecs.lookup(name).name.replace("iso8859-1", "latin-1")


def _text_head(head: bytes, encoding: str) -> str:
    cut = head[: head.rfind(b"\n") + 1] if len(head) == HEAD_BYTES else head
    return cut.decode(encoding, errors="replace")


def _dialect(head: str, fmt: FileFormat, name: str) -> tuple[str, int]:
    """Separator and number of lines before the header."""
    lines = [ln for ln in head.splitlines()[:200]]
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DataError(f"{name}: the file is empty")
    candidates = (fmt.sep,) if fmt.sep is not None else SEPARATORS
    best: tuple[tuple[int, int], str, int] | None = None
    for sep in candidates:
        counts = [_count(ln, sep) for ln in lines]
        tail = counts[len(counts) // 2 :]
        n = max(set(tail), key=lambda c: (tail.count(c), c))
        if n == 0 and fmt.sep is None:
            continue
        start = len(counts)
        while start > 0 and counts[start - 1] == n:
            start -= 1
        score = (len(counts) - start, n)
        if best is None or score > best[0]:
            best = (score, sep, start)
    if best is None:
        raise DataError(f"{name}: cannot tell the separator (none of ; , TAB | on every line); give --sep")
    _, sep, start = best
    return sep, fmt.skip_rows if fmt.skip_rows is not None else start


def _count(line: str, sep: str) -> int:
    if '"' not in line:
        return line.count(sep)
    inside, n = False, 0
    for ch in line:
        if ch == '"':
            inside = not inside
        elif ch == sep and not inside:
            n += 1
    return n


def _norm(name: str) -> str:
    base = re.sub(r"[\[(].*?[\])]", "", name)
    base = re.sub(r"\bin\s+(kwh|kw|wh|w|mwh|mw)\s*$", "", base, flags=re.IGNORECASE)
    return re.sub(r"\s+", " ", base.replace("_", " ")).strip().lower()


def _unit(name: str) -> str | None:
    m = _UNIT_RE.search(name.strip())
    return None if m is None else m.group(1).lower()


_ISO: Final = re.compile(r"\d{4}-\d\d-\d\d([T ])\d\d:\d\d(:\d\d)?(\.\d+)?(Z|[+-]\d\d:\d\d)?")


def iso_layout(cell: str) -> tuple[str, str | None] | None:
    """The strptime format of an ISO-8601 date-time like ``cell`` and the zone it implies (``Z``: UTC), or None."""
    m = _ISO.fullmatch(cell.strip())
    if m is None:
        return None
    sep, seconds, fraction, zone = m.groups()
    fmt = "%Y-%m-%d" + sep + "%H:%M" + (":%S" if seconds else "") + ("%.f" if fraction else "")
    if zone == "Z":
        return fmt + "Z", "UTC"
    return (fmt + "%:z", None) if zone else (fmt, None)


def _roles(
    columns: list[str],
    name: str,
    fmt: FileFormat,
    first_row: Callable[[], Mapping[str, str | None]] | None = None,
) -> Roles:
    """Map column names to roles (``fmt.columns`` first, then by name; ``first_row`` gives the cells of the first
    data row, to tell a date column and a time-of-day column from two date-and-time columns)."""
    given = dict(fmt.columns)
    missing = [c for c in given.values() if c not in columns]
    if missing:
        raise DataError(f"{name}: no column {missing[0]!r} (columns: {', '.join(columns) or 'none'})")
    label = fmt.label
    time_col: str | None = None
    clock_col: str | None = None
    if "date" in given or "time" in given:
        _check_roles(given, "columns")  # both or neither (a FileFormat made in Python is not checked before)
        time_col, clock_col = given["date"], given["time"]
    for role in ("timestamp", "end", "start"):
        if role in given:
            time_col = given[role]
            if role != "timestamp":
                label = label or ("end" if role == "end" else "start")
    if time_col is None:
        normed = {c: _norm(c) for c in columns}
        ends = [c for c, n in normed.items() if n in _END_NAMES]
        starts = [c for c, n in normed.items() if n in _START_NAMES]
        plain = [c for c, n in normed.items() if n in _TIME_NAMES]
        pair = _date_and_clock(normed, first_row) if not (ends or starts) else None
        if ends:
            time_col, label = ends[0], label or "end"
        elif starts:
            time_col, label = starts[0], label or "start"
        elif pair is not None:
            time_col, clock_col = pair
        elif plain:
            time_col = plain[0]
        else:
            raise DataError(
                f"{name}: missing column 'timestamp' (columns: {', '.join(columns) or 'none'}); "
                "name it with --columns timestamp=COLUMN"
            )
    value_roles = [r for r in given if r in QUANTITIES]
    if value_roles:
        unit, value_col = value_roles[0], given[value_roles[0]]
    else:
        exact = [c for c in columns if c.strip().lower() in QUANTITIES]
        if len(exact) > 1:
            raise DataError(f"{name}: needs exactly one of the columns 'kw' or 'kwh' (found {', '.join(exact)})")
        if exact:
            value_col, unit = exact[0], exact[0].strip().lower()
        else:
            named = [
                c
                for c in columns
                if c not in (time_col, clock_col) and (_norm(c) in _VALUE_NAMES or _unit(c) is not None)
            ]
            if not named:
                raise DataError(
                    f"{name}: needs exactly one of the columns 'kw' or 'kwh' (columns: {', '.join(columns)}); "
                    "name it with --columns kwh=COLUMN (or kw=, wh=, w=)"
                )
            if len(named) > 1:
                raise DataError(
                    f"{name}: more than one value column ({', '.join(named)}); choose one with --columns kwh=COLUMN"
                )
            value_col = named[0]
            found = _unit(value_col)
            if found is None:
                raise DataError(
                    f"{name}: the unit of column {value_col!r} is not in its name; give it with --columns "
                    f"kwh={value_col} (or kw=, wh=, w=)"
                )
            unit = found
    meter_col = given.get("meter")
    if meter_col is None:
        meters = [c for c in columns if _norm(c) in _METER_NAMES and c not in (time_col, clock_col, value_col)]
        meter_col = meters[0] if len(meters) == 1 else None
    return Roles(time=time_col, value=value_col, unit=unit, meter=meter_col, label=label, clock=clock_col)


def _date_and_clock(
    normed: Mapping[str, str], first_row: Callable[[], Mapping[str, str | None]] | None
) -> tuple[str, str] | None:
    """One column named like a date and one like a time of day whose first cells are a bare date and a bare time
    (``25.10.2026``, ``02:30``), or None."""
    dates = [c for c, n in normed.items() if n in _DATE_NAMES]
    clocks = [c for c, n in normed.items() if n in _CLOCK_NAMES]
    if len(dates) != 1 or len(clocks) != 1 or first_row is None:
        return None
    row = first_row()
    date, clock = row.get(dates[0]), row.get(clocks[0])
    if date is None or clock is None or not _BARE_DATE.fullmatch(date) or not _BARE_CLOCK.fullmatch(clock):
        return None
    return dates[0], clocks[0]


def canonical_frame(df: pl.DataFrame, name: str, fmt: FileFormat) -> CanonicalFrame:
    """Map a frame's columns onto the load-profile columns (see the module docstring)."""
    first = {c: (_cell_text(df[c][0]) if df.height else None) for c in df.columns}
    return _canonical(df, name, fmt, _roles(df.columns, name, fmt, lambda: first))


def _canonical(df: pl.DataFrame, name: str, fmt: FileFormat, roles: Roles) -> CanonicalFrame:
    df = roles.joined(df)
    quantity, factor = QUANTITIES[roles.unit]
    values = df[roles.value]
    if values.dtype == pl.String:
        values = _decimal_point(values.str.strip_chars(), fmt.decimal, name)
    cols = [df[roles.time].alias("timestamp"), values.alias(quantity)]
    if roles.meter is not None:
        meter = df[roles.meter]
        keep = meter.dtype == pl.String or isinstance(meter.dtype, pl.Categorical)
        cols.append((meter if keep else meter.cast(pl.String)).alias("meter"))
    if "status" in df.columns and "status" not in (roles.time, roles.value, roles.meter):
        cols.append(df["status"].alias("status"))
    if ROW in df.columns:
        cols.append(df[ROW].cast(pl.Int64))
    return CanonicalFrame(pl.DataFrame(cols), quantity, factor, roles.label, fmt.time_format, [])


_COMMA_NUMBER: Final = r"^[+-]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?$"


def _decimal_point(values: pl.Series, decimal: Literal[".", ","] | None, name: str) -> pl.Series:
    if decimal == "." or (decimal is None and not bool(values.str.contains(",", literal=True).any())):
        return values
    if decimal is None:  # commas in the values: a decimal comma if every cell with a comma reads as one
        commas = values.filter(values.str.contains(",", literal=True))
        if not bool(commas.str.contains(_COMMA_NUMBER).all()):
            return values  # not numbers either way: the value check names the rows
    comma_ok = values.str.contains(_COMMA_NUMBER)
    fixed = values.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True)
    return pl.Series(values.name, fixed).zip_with(comma_ok.fill_null(False), values)
