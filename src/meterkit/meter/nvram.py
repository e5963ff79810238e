"""The meter's non-volatile memory: what is committed when, so that ``kill -9`` loses nothing completed.

* every load-profile capture commits the profile row and a full snapshot of the registers in one transaction;
* every billing reset commits the history record and the snapshot in one transaction;
* every event is committed when it is logged;
* parameter changes commit the snapshot.
On start, the snapshot and the committed profile, history and events are loaded; the time between the last
snapshot and the restart is a power failure (a power-down/power-up event pair).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ..storage import NvStore
from .core import BillingRecord, Event, Meter, ProfileRow

__all__ = ["MeterNv"]

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meter_snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), body TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS load_profile (end_ts TEXT PRIMARY KEY, a_plus INTEGER, a_minus INTEGER, "
    "r_plus INTEGER, r_minus INTEGER, status INTEGER)",
    "CREATE TABLE IF NOT EXISTS billing_history (n INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT, body TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS event_log (n INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT, code INTEGER, text TEXT)",
)


class MeterNv:
    """Binds a :class:`Meter` to an :class:`NvStore`."""

    def __init__(self, store: NvStore, meter: Meter) -> None:
        self.store = store
        self.meter = meter
        store.ensure_schema(*SCHEMA)

    def has_snapshot(self) -> bool:
        return self.store.conn.execute("SELECT 1 FROM meter_snapshot").fetchone() is not None

    def attach(self) -> None:
        self.meter.listeners.append(self._on_change)

    def _snapshot_sql(self) -> tuple[str, tuple[str]]:
        return (
            "INSERT INTO meter_snapshot(id, body) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET body = excluded.body",
            (json.dumps(self.meter.snapshot()),),
        )

    def save_snapshot(self) -> None:
        with self.store.transaction() as conn:
            conn.execute(*self._snapshot_sql())

    def _on_change(self, kind: str, item: object) -> None:
        with self.store.transaction() as conn:
            if kind == "profile" and isinstance(item, ProfileRow):
                conn.execute(
                    "INSERT OR REPLACE INTO load_profile VALUES (?, ?, ?, ?, ?, ?)",
                    (item.end.isoformat(), item.a_plus, item.a_minus, item.r_plus, item.r_minus, item.status),
                )
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

    def load(self) -> None:
        """Restore the meter from the store (snapshot, profile, history, events)."""
        row = self.store.conn.execute("SELECT body FROM meter_snapshot").fetchone()
        if row is None:
            return
        snap: dict[str, Any] = json.loads(row[0])
        self.meter.restore(snap)
        m = self.meter
        m.profile = [
            ProfileRow(
                end=datetime.fromisoformat(r[0]), a_plus=r[1], a_minus=r[2], r_plus=r[3], r_minus=r[4], status=r[5]
            )
            for r in self.store.conn.execute("SELECT * FROM load_profile ORDER BY end_ts")
        ]
        m.history = []
        for at, body in self.store.conn.execute("SELECT at, body FROM billing_history ORDER BY n"):
            data = json.loads(body)
            maxima = {k: (tuple(v) if v is not None else None) for k, v in data["maxima"].items()}
            m.history.append(
                BillingRecord(
                    at=datetime.fromisoformat(at),
                    reason=data["reason"],
                    energy=data["energy"],
                    maxima=maxima,
                    tariff_energy=data.get("tariff_energy", {}),
                )
            )
        del m.history[: max(0, len(m.history) - m.config.billing.history)]
        m.events = [
            Event(at=datetime.fromisoformat(at), code=code, text=text)
            for at, code, text in self.store.conn.execute("SELECT at, code, text FROM event_log ORDER BY n")
        ]
