"""What the collector stores: load profiles as partitioned Parquet in the DESIGN.md load-profile format.

Layout under the output folder::

    meter=10000042/month=2026-11/part-<first end>-<last end>.parquet   (epoch seconds, UTC)
    _readings/meter=10000042.jsonl                                     (register readings, one line a poll)
    _serials.json                                                      (point-to-point endpoint -> serial read)

Each Parquet file holds rows of one meter and one month (the month, in UTC, of the interval's start): ``timestamp``
(ISO-8601 end of the interval, UTC), ``kwh`` (import active energy of the interval), ``meter`` and the other
channels of ``P.01`` (``kwh_export``, ``kvarh_import``, ``kvarh_export``) and its ``status``.  ``meterkit demand
DIR --dask`` reads the folder (every Parquet file under it).  A file appears atomically (written aside, then
renamed), and its name carries the last interval it holds, so the last stored interval of a meter is known from the
file names alone: a new poll asks the meter only for what follows it, and never stores an interval twice.  Meters
are partitioned, so collector processes polling disjoint meters may share one folder.  A point-to-point meter (no
device address) is partitioned by the serial it reports; ``_serials.json`` remembers which serial answered on which
endpoint (for ``--mqtt-remove`` and for naming the meter while it does not answer).
"""

from __future__ import annotations

import json
import os
import re
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from ..errors import DataError

__all__ = ["ProfileRecord", "ProfileStore", "usable_serial"]

_SERIALS = "_serials.json"
_PART = re.compile(r"^part-(\d+)-(\d+)\.parquet$")
#: a meter's name in the folder: letters, digits, ``_.-``, at most 32 (the longest device address or register value)
_SAFE = re.compile(r"^[0-9A-Za-z_.-]{1,32}$")


def usable_serial(name: str) -> bool:
    """Whether ``name`` (a device address, or the serial a meter reports) can name a meter in the folder."""
    return _SAFE.match(name) is not None


@dataclass(frozen=True, slots=True)
class ProfileRecord:
    """One load-profile interval as read from a meter (energies in Wh / varh, as the meter's 3 decimals of kWh)."""

    end: datetime  # UTC
    status: int
    a_plus_wh: int
    a_minus_wh: int
    r_plus_varh: int
    r_minus_varh: int
    capture_s: int


class ProfileStore:
    """The output folder of a collector."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._serials_lock = threading.Lock()
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(f"{root}: cannot create the output folder ({exc.strerror})") from exc

    def _meter_dir(self, serial: str) -> Path:
        if not usable_serial(serial):
            raise DataError(f"meter {serial!r}: not usable as a folder name")
        return self.root / f"meter={serial}"

    def last_stored(self, serial: str) -> datetime | None:
        """The end of the newest interval stored for ``serial`` (None: nothing yet)."""
        folder = self._meter_dir(serial)
        if not folder.is_dir():
            return None
        last = -1
        for part in folder.glob("month=*/part-*.parquet"):
            m = _PART.match(part.name)
            if m is not None:
                last = max(last, int(m.group(2)))
        return None if last < 0 else datetime.fromtimestamp(last, UTC)

    def stored_rows(self, serial: str) -> int:
        folder = self._meter_dir(serial)
        if not folder.is_dir():
            return 0
        return sum(pl.scan_parquet(p).select(pl.len()).collect().item() for p in folder.glob("month=*/part-*.parquet"))

    def append(self, serial: str, records: Sequence[ProfileRecord]) -> int:
        """Store the records after the last stored interval (earlier ones are dropped); returns how many were new."""
        last = self.last_stored(serial)
        fresh = sorted((r for r in records if last is None or r.end > last), key=lambda r: r.end)
        ends = [r.end for r in fresh]
        if len(set(ends)) != len(ends):
            raise DataError(f"meter {serial}: the load profile repeats an interval end (clock set back?)")
        by_month: dict[str, list[ProfileRecord]] = {}
        for r in fresh:
            start = datetime.fromtimestamp(int(r.end.timestamp()) - r.capture_s, UTC)
            by_month.setdefault(f"{start:%Y-%m}", []).append(r)
        for month, rows in by_month.items():
            self._write(serial, month, rows)
        return len(fresh)

    def _write(self, serial: str, month: str, rows: list[ProfileRecord]) -> None:
        folder = self._meter_dir(serial) / f"month={month}"
        folder.mkdir(parents=True, exist_ok=True)
        first, last = int(rows[0].end.timestamp()), int(rows[-1].end.timestamp())
        frame = pl.DataFrame(
            {
                "timestamp": [r.end.isoformat() for r in rows],
                "kwh": [r.a_plus_wh / 1000 for r in rows],
                "meter": [serial] * len(rows),
                "kwh_export": [r.a_minus_wh / 1000 for r in rows],
                "kvarh_import": [r.r_plus_varh / 1000 for r in rows],
                "kvarh_export": [r.r_minus_varh / 1000 for r in rows],
                "status": [r.status for r in rows],
            },
            schema={
                "timestamp": pl.Utf8,
                "kwh": pl.Float64,
                "meter": pl.Utf8,
                "kwh_export": pl.Float64,
                "kvarh_import": pl.Float64,
                "kvarh_export": pl.Float64,
                "status": pl.Int16,
            },
        )
        final = folder / f"part-{first}-{last}.parquet"
        aside = folder / f".part-{first}-{last}.{os.getpid()}.tmp"
        try:
            frame.write_parquet(aside)
            os.replace(aside, final)
        except OSError as exc:
            aside.unlink(missing_ok=True)
            raise DataError(f"{final}: cannot write ({exc.strerror})") from exc

    def add_readings(self, serial: str, at: datetime, values: dict[str, str]) -> None:
        """Append one poll's register readings (``{address: "value*unit"}``) to the meter's readings file."""
        folder = self.root / "_readings"
        folder.mkdir(exist_ok=True)
        self._meter_dir(serial)  # checks the name
        line = json.dumps({"at": at.isoformat(), "meter": serial, "values": values}, sort_keys=True)
        with (folder / f"meter={serial}.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    def known_serials(self) -> dict[str, str]:
        """``{endpoint: serial}`` of the point-to-point meters read into this folder (empty: none yet)."""
        path = self.root / _SERIALS
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: unreadable ({exc})") from exc
        if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            raise DataError(f"{path}: expected an object of endpoint: serial")
        return data

    def remember_serial(self, endpoint: str, serial: str) -> None:
        """Record that the point-to-point meter on ``endpoint`` reported ``serial`` (written aside, then renamed).
        Thread-safe: the collector calls it from worker threads for endpoints polled in parallel."""
        self._meter_dir(serial)  # checks the name
        with self._serials_lock:  # one read-modify-write at a time, or one thread's entry is lost
            known = self.known_serials()
            if known.get(endpoint) == serial:
                return
            known[endpoint] = serial
            path = self.root / _SERIALS
            text = json.dumps(known, sort_keys=True, indent=1) + "\n"
            # a name no other writer uses (thread or process), created only if new, with the umask's usual mode
            aside = self.root / f".{_SERIALS}.{uuid.uuid4().hex}.tmp"
            try:
                fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except OSError as exc:
                raise DataError(f"{path}: cannot write ({exc.strerror})") from exc
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(text)
                os.replace(aside, path)
            except OSError as exc:
                aside.unlink(missing_ok=True)
                raise DataError(f"{path}: cannot write ({exc.strerror})") from exc
