"""One non-volatile store for a whole served fleet: every meter's registers, load profile, billing history and events
in one SQLite file (WAL, ``synchronous=FULL``), keyed by serial.

The commit rules are the single meter's (:mod:`meterkit.meter.nvram`): a load-profile capture commits the row and
the meter's snapshot in one transaction, a billing reset the record and the snapshot, a new maximum the snapshot,
an event itself; each also records the meter time as the meter's "last alive".  A history is imported per meter in
one transaction, so ``kill -9`` at any moment leaves every meter either wholly imported or absent (and imported again
at the next start), and never loses a completed interval of a meter it holds.

The served meter takes what is stored through its own method (:meth:`Meter.load_history
<meterkit.meter.core.Meter.load_history>` with a :class:`StoredHistory`); nothing writes into a meter from outside.
Profile times are stored as epoch seconds (UTC).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..meter.core import BillingRecord, Event, Meter, MeterImage, ProfileRow
from ..meter.nvram import billing_body, billing_record
from ..storage import NvStore

__all__ = ["FleetNv", "FleetStore", "StoredHistory"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS fleet_meter (serial TEXT PRIMARY KEY, snapshot TEXT NOT NULL, alive TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS fleet_profile (serial TEXT NOT NULL, n INTEGER NOT NULL, end_s INTEGER NOT NULL, "
    "a_plus INTEGER, a_minus INTEGER, r_plus INTEGER, r_minus INTEGER, status INTEGER, PRIMARY KEY (serial, n)) "
    "WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS fleet_billing (serial TEXT NOT NULL, n INTEGER NOT NULL, at TEXT NOT NULL, "
    "body TEXT NOT NULL, PRIMARY KEY (serial, n)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS fleet_events (serial TEXT NOT NULL, n INTEGER NOT NULL, at TEXT NOT NULL, "
    "code INTEGER NOT NULL, text TEXT NOT NULL, PRIMARY KEY (serial, n)) WITHOUT ROWID",
)
_SNAPSHOT_SQL = (
    "INSERT INTO fleet_meter(serial, snapshot, alive) VALUES (?, ?, ?) "
    "ON CONFLICT(serial) DO UPDATE SET snapshot = excluded.snapshot, alive = excluded.alive"
)
_ALIVE_SQL = "UPDATE fleet_meter SET alive = ? WHERE serial = ?"


def _epoch_s(t: datetime) -> int:
    return int((t - _EPOCH).total_seconds())


@dataclass(frozen=True, slots=True)
class StoredHistory:
    """A meter as the fleet store holds it (a :class:`~meterkit.meter.core.MeterImage`)."""

    serial: str
    state: dict[str, Any]
    alive: datetime
    profile: tuple[tuple[int, int, int, int, int, int], ...]
    billing: tuple[BillingRecord, ...]
    events: tuple[Event, ...]

    def profile_rows(self) -> list[ProfileRow]:
        return [
            ProfileRow(end=_EPOCH + timedelta(seconds=t), a_plus=a, a_minus=b, r_plus=c, r_minus=d, status=s)
            for t, a, b, c, d, s in self.profile
        ]


class FleetStore:
    """The fleet's SQLite file (``":memory:"`` for tests)."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.store = NvStore(path)
        self.store.ensure_schema(*SCHEMA)

    @property
    def path(self) -> str:
        return self.store.path

    def serials(self) -> set[str]:
        """The meters the store holds."""
        return {row[0] for row in self.store.conn.execute("SELECT serial FROM fleet_meter")}

    def import_history(self, serial: str, image: MeterImage, at: datetime, *, keep_rows: int | None = None) -> None:
        """One meter's whole history (``at``: its last-alive time) in one transaction; DataError if it is held."""
        rows = [(_epoch_s(r.end), r.a_plus, r.a_minus, r.r_plus, r.r_minus, r.status) for r in image.profile_rows()]
        if keep_rows is not None:
            rows = rows[-keep_rows:] if keep_rows else []
        conn = self.store.conn
        with self.store.transaction():
            if conn.execute("SELECT 1 FROM fleet_meter WHERE serial = ?", (serial,)).fetchone() is not None:
                raise DataError(f"{self.path}: meter {serial} is already in the fleet store")
            conn.execute(_SNAPSHOT_SQL, (serial, json.dumps(image.state), at.isoformat()))
            conn.executemany(
                "INSERT INTO fleet_profile(serial, n, end_s, a_plus, a_minus, r_plus, r_minus, status) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(serial, n, *row) for n, row in enumerate(rows, 1)],
            )
            conn.executemany(
                "INSERT INTO fleet_billing(serial, n, at, body) VALUES (?, ?, ?, ?)",
                [(serial, n, b.at.isoformat(), json.dumps(billing_body(b))) for n, b in enumerate(image.billing, 1)],
            )
            conn.executemany(
                "INSERT INTO fleet_events(serial, n, at, code, text) VALUES (?, ?, ?, ?, ?)",
                [(serial, n, e.at.isoformat(), e.code, e.text) for n, e in enumerate(image.events, 1)],
            )

    def read(self, serial: str, *, keep_rows: int | None = None) -> StoredHistory:
        """What the store holds of one meter (DataError if nothing)."""
        conn = self.store.conn
        row = conn.execute("SELECT snapshot, alive FROM fleet_meter WHERE serial = ?", (serial,)).fetchone()
        if row is None:
            raise DataError(f"{self.path}: meter {serial} is not in the fleet store")
        profile = conn.execute(
            "SELECT end_s, a_plus, a_minus, r_plus, r_minus, status FROM fleet_profile WHERE serial = ? "
            "ORDER BY n DESC LIMIT ?",
            (serial, -1 if keep_rows is None else keep_rows),
        ).fetchall()[::-1]
        billing = conn.execute("SELECT at, body FROM fleet_billing WHERE serial = ? ORDER BY n", (serial,))
        events = conn.execute("SELECT at, code, text FROM fleet_events WHERE serial = ? ORDER BY n", (serial,))
        return StoredHistory(
            serial=serial,
            state=json.loads(row[0]),
            alive=datetime.fromisoformat(row[1]),
            profile=tuple(tuple(r) for r in profile),
            billing=tuple(billing_record(at, body) for at, body in billing),
            events=tuple(Event(at=datetime.fromisoformat(at), code=code, text=text) for at, code, text in events),
        )

    def profile_count(self, serial: str) -> int:
        return int(
            self.store.conn.execute("SELECT count(*) FROM fleet_profile WHERE serial = ?", (serial,)).fetchone()[0]
        )

    def transaction(self) -> Any:
        """Group many meters' commits into one (a host ticking every meter)."""
        return self.store.transaction()

    def close(self) -> None:
        self.store.close()


class FleetNv:
    """Commits one served meter's changes into the fleet store, by :mod:`meterkit.meter.nvram`'s rules."""

    def __init__(self, store: FleetStore, serial: str, meter: Meter) -> None:
        self.store = store
        self.serial = serial
        self.meter = meter
        capture_min = meter.config.load_profile.capture_min
        self._keep_rows = meter.config.load_profile.keep_days * 1440 // capture_min
        conn = store.store.conn
        self._n = {
            table: int(conn.execute(sql, (serial,)).fetchone()[0])
            for table, sql in (
                ("fleet_profile", "SELECT coalesce(max(n), 0) FROM fleet_profile WHERE serial = ?"),
                ("fleet_billing", "SELECT coalesce(max(n), 0) FROM fleet_billing WHERE serial = ?"),
                ("fleet_events", "SELECT coalesce(max(n), 0) FROM fleet_events WHERE serial = ?"),
            )
        }

    def attach(self) -> None:
        self.meter.subscribe(self._on_change)

    def _next(self, table: str) -> int:
        self._n[table] += 1
        return self._n[table]

    def save_snapshot(self) -> None:
        with self.store.transaction() as conn:
            conn.execute(_SNAPSHOT_SQL, (self.serial, json.dumps(self.meter.snapshot()), self.meter.now.isoformat()))

    def _on_change(self, kind: str, item: object) -> None:
        serial = self.serial
        with self.store.transaction() as conn:
            if kind == "profile" and isinstance(item, ProfileRow):
                n = self._next("fleet_profile")
                conn.execute(
                    "INSERT INTO fleet_profile(serial, n, end_s, a_plus, a_minus, r_plus, r_minus, status) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (serial, n, _epoch_s(item.end), item.a_plus, item.a_minus, item.r_plus, item.r_minus, item.status),
                )
                if n > self._keep_rows:
                    conn.execute("DELETE FROM fleet_profile WHERE serial = ? AND n <= ?", (serial, n - self._keep_rows))
            elif kind == "billing" and isinstance(item, BillingRecord):
                conn.execute(
                    "INSERT INTO fleet_billing(serial, n, at, body) VALUES (?, ?, ?, ?)",
                    (serial, self._next("fleet_billing"), item.at.isoformat(), json.dumps(billing_body(item))),
                )
            elif kind == "event" and isinstance(item, Event):
                conn.execute(
                    "INSERT INTO fleet_events(serial, n, at, code, text) VALUES (?, ?, ?, ?, ?)",
                    (serial, self._next("fleet_events"), item.at.isoformat(), item.code, item.text),
                )
                conn.execute(_ALIVE_SQL, (self.meter.now.isoformat(), serial))
                return
            conn.execute(_SNAPSHOT_SQL, (serial, json.dumps(self.meter.snapshot()), self.meter.now.isoformat()))


def stored_rows(store: FleetStore, serial: str) -> Iterator[Sequence[int]]:
    """Every stored profile row of a meter (end_s, A+, A-, R+, R-, status), oldest first."""
    yield from store.store.conn.execute(
        "SELECT end_s, a_plus, a_minus, r_plus, r_minus, status FROM fleet_profile WHERE serial = ? ORDER BY n",
        (serial,),
    )
