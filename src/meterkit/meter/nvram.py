"""The meter's non-volatile memory: what is committed when, so that ``kill -9`` loses nothing completed.

* every load-profile capture commits the profile row and a full snapshot of the registers in one transaction;
* every billing reset commits the history record and the snapshot in one transaction;
* every new maximum demand commits the snapshot (unless a capture or reset in the same step already did);
* live serving also commits the snapshot at the end of every minute, so of every demand sub-period (:mod:`.virtual`);
* every event is committed when it is logged;
* parameter changes commit the snapshot.
Each commit also records the meter time as "last alive".  On start, the snapshot and the committed profile, history
and events are loaded; the time from the last commit to the restart is a power failure (a power-down event at the
last-alive time, a power-up event at the restart).

Load-profile rows are keyed by capture order, not by end time: after a clock set backwards the same end time comes
again, and the stored interval is kept (a real meter never overwrites a completed interval); the new one carries the
clock-set status bit.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from ..storage import NvStore
from .core import EVENT_LOG_CAPACITY, BillingRecord, Event, Meter, ProfileRow

__all__ = ["MeterNv"]

_PROFILE_TABLE = (
    "CREATE TABLE IF NOT EXISTS load_profile (n INTEGER PRIMARY KEY AUTOINCREMENT, end_ts TEXT NOT NULL, "
    "a_plus INTEGER, a_minus INTEGER, r_plus INTEGER, r_minus INTEGER, status INTEGER)"
)
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meter_snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), body TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS meter_alive (id INTEGER PRIMARY KEY CHECK (id = 1), at TEXT NOT NULL)",
    _PROFILE_TABLE,
    "CREATE TABLE IF NOT EXISTS billing_history (n INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT, body TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS event_log (n INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT, code INTEGER, text TEXT)",
)
_ALIVE_SQL = "INSERT INTO meter_alive(id, at) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET at = excluded.at"


class MeterNv:
    """Binds a :class:`Meter` to an :class:`NvStore`."""

    def __init__(self, store: NvStore, meter: Meter) -> None:
        self.store = store
        self.meter = meter
        store.ensure_schema(*SCHEMA)
        #: the meter time of the last committed snapshot
        self.snapshot_at = meter.now
        self._keep_rows = meter.config.load_profile.keep_days * 1440 // meter.config.load_profile.capture_min

    def last_alive(self) -> datetime | None:
        """The meter time of the last commit (snapshot or event), None if never recorded."""
        row = self.store.conn.execute("SELECT at FROM meter_alive").fetchone()
        return None if row is None else datetime.fromisoformat(row[0])

    def has_snapshot(self) -> bool:
        return self.store.conn.execute("SELECT 1 FROM meter_snapshot").fetchone() is not None

    def clear_profile(self) -> None:
        """Delete the stored load profile (``PROFILE.RESET``)."""
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM load_profile")

    def attach(self) -> None:
        self.meter.subscribe(self._on_change)

    def _snapshot_sql(self) -> tuple[str, tuple[str]]:
        self.snapshot_at = self.meter.now
        return (
            "INSERT INTO meter_snapshot(id, body) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET body = excluded.body",
            (json.dumps(self.meter.snapshot()),),
        )

    def save_snapshot(self) -> None:
        with self.store.transaction() as conn:
            conn.execute(*self._snapshot_sql())
            conn.execute(_ALIVE_SQL, (self.meter.now.isoformat(),))

    def _on_change(self, kind: str, item: object) -> None:
        with self.store.transaction() as conn:
            conn.execute(_ALIVE_SQL, (self.meter.now.isoformat(),))
            if kind == "profile" and isinstance(item, ProfileRow):
                cur = conn.execute(
                    "INSERT INTO load_profile(end_ts, a_plus, a_minus, r_plus, r_minus, status) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (item.end.isoformat(), item.a_plus, item.a_minus, item.r_plus, item.r_minus, item.status),
                )
                if cur.lastrowid is not None and cur.lastrowid > self._keep_rows:
                    conn.execute("DELETE FROM load_profile WHERE n <= ?", (cur.lastrowid - self._keep_rows,))
                conn.execute(*self._snapshot_sql())
            elif kind == "maximum":
                conn.execute(*self._snapshot_sql())
            elif kind == "billing" and isinstance(item, BillingRecord):
                body = {
                    "reason": item.reason,
                    "energy": item.energy,
                    "maxima": item.maxima,
                    "tariff_energy": item.tariff_energy,
                }
                conn.execute(
                    "INSERT INTO billing_history(at, body) VALUES (?, ?)", (item.at.isoformat(), json.dumps(body))
                )
                conn.execute(*self._snapshot_sql())
            elif kind == "event" and isinstance(item, Event):
                conn.execute(
                    "INSERT INTO event_log(at, code, text) VALUES (?, ?, ?)",
                    (item.at.isoformat(), item.code, item.text),
                )
                self._cap_events(conn)

    def _cap_events(self, conn: sqlite3.Connection) -> None:
        """The event log is a ring of EVENT_LOG_CAPACITY rows; the rows dropped are counted (``event_log.overflow``)."""
        dropped = conn.execute(
            "DELETE FROM event_log WHERE n <= (SELECT max(n) FROM event_log) - ?", (EVENT_LOG_CAPACITY,)
        ).rowcount
        if dropped > 0:
            self.store.set_value(
                "event_log.overflow", str(int(self.store.get_value("event_log.overflow") or 0) + dropped)
            )

    def load(self) -> None:
        """Restore the meter from the store (snapshot, profile, history, events)."""
        row = self.store.conn.execute("SELECT body FROM meter_snapshot").fetchone()
        if row is None:
            return
        snap: dict[str, Any] = json.loads(row[0])
        self.meter.restore(snap)
        profile = [
            ProfileRow(
                end=datetime.fromisoformat(r[0]), a_plus=r[1], a_minus=r[2], r_plus=r[3], r_minus=r[4], status=r[5]
            )
            for r in self.store.conn.execute(
                "SELECT end_ts, a_plus, a_minus, r_plus, r_minus, status FROM load_profile ORDER BY n DESC LIMIT ?",
                (self._keep_rows,),
            )
        ][::-1]
        history = []
        for at, body in self.store.conn.execute("SELECT at, body FROM billing_history ORDER BY n"):
            data = json.loads(body)
            maxima = {k: (tuple(v) if v is not None else None) for k, v in data["maxima"].items()}
            history.append(
                BillingRecord(
                    at=datetime.fromisoformat(at),
                    reason=data["reason"],
                    energy=data["energy"],
                    maxima=maxima,
                    tariff_energy=data.get("tariff_energy", {}),
                )
            )
        events = [
            Event(at=datetime.fromisoformat(at), code=code, text=text)
            for at, code, text in self.store.conn.execute("SELECT at, code, text FROM event_log ORDER BY n")
        ]
        overflow = int(self.store.get_value("event_log.overflow") or 0)
        self.meter.restore_records(profile=profile, history=history, events=events, events_overflow=overflow)
