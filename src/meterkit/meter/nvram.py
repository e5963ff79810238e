"""The meter's non-volatile memory: what is committed when, so that ``kill -9`` loses nothing completed.

* every load-profile capture commits the profile row and a full snapshot of the registers in one transaction;
* every billing reset commits the history record and the snapshot in one transaction;
* every new maximum demand commits the snapshot (unless a capture or reset in the same step already did);
* live serving also commits the snapshot at the end of every minute, so of every demand sub-period (:mod:`.virtual`);
* every event is committed when it is logged; the event log keeps the newest ``EVENT_LOG_CAPACITY`` (a ring: the
  row numbers go on, so the number dropped is the last row number minus the rows kept);
* parameter changes commit the snapshot.
Each commit also records the meter time as "last alive".  On start, the snapshot and the committed profile, history
and events are loaded; the time from the last commit to the restart is a power failure (a power-down event at the
last-alive time, a power-up event at the restart).

When the disk refuses a write (full, I/O error), the work waits in memory in order (:meth:`NvStore.write`): the
meter goes on measuring and answering from memory, ``F.F`` bit 0 (NV memory) is set and an event (11) says so;
when the disk takes writes again, everything that waited is committed in one transaction and an event (11) says how
many writes were late.

The state records whose it is (:data:`IDENTITY_KEY`: serial, manufacturer and the settings its contents depend on);
:meth:`MeterNv.check_identity` refuses another meter's state unless it is adopted explicitly.

Load-profile rows are keyed by capture order, not by end time: after a clock set backwards the same end time comes
again, and the stored interval is kept (a real meter never overwrites a completed interval); the new one carries the
clock-set status bit.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from datetime import datetime
from typing import Any

from ..errors import DataError
from ..storage import NvStore
from .core import EVENT_LOG_CAPACITY, BillingRecord, Event, Meter, MeterImage, ProfileRow

__all__ = ["IDENTITY_KEY", "NV_EVENT", "MeterNv", "billing_body", "billing_record"]

log = logging.getLogger(__name__)

#: the ``kv`` key of the meter identity and the settings the state's contents depend on
IDENTITY_KEY = "meter.identity"
#: the event code of NV memory errors and of an adopted state
NV_EVENT = 11
_NV_BIT = 0x01

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
_SNAPSHOT_SQL = "INSERT INTO meter_snapshot(id, body) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET body = excluded.body"


def billing_body(record: BillingRecord) -> dict[str, Any]:
    """A billing record as stored (JSON), without its time."""
    return {
        "reason": record.reason,
        "energy": record.energy,
        "maxima": record.maxima,
        "tariff_energy": record.tariff_energy,
    }


def billing_record(at: str, body: str) -> BillingRecord:
    """A stored billing record read back."""
    data = json.loads(body)
    maxima = {k: (tuple(v) if v is not None else None) for k, v in data["maxima"].items()}
    return BillingRecord(
        at=datetime.fromisoformat(at),
        reason=data["reason"],
        energy=data["energy"],
        maxima=maxima,
        tariff_energy=data.get("tariff_energy", {}),
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

    def identity(self) -> dict[str, str]:
        """What this meter's state depends on: who wrote it and the settings that shape its contents."""
        cfg = self.meter.config
        return {
            "manufacturer": cfg.identity.manufacturer,
            "serial": cfg.identity.serial,
            "capture_min": str(cfg.load_profile.capture_min),
            "display_scale": cfg.demand.display_scale,
        }

    def check_identity(self, *, adopt: bool = False) -> dict[str, str] | None:
        """Refuse (DataError, one line naming both) a state written by another meter or with other settings, unless
        ``adopt``; a state that does not say whose it is (older layout, new file) gets this meter's identity.
        Returns the identity taken over when a different one was adopted."""
        mine = self.identity()
        raw = self.store.get_value(IDENTITY_KEY)
        theirs: dict[str, str] = json.loads(raw) if raw else {}
        differ = [k for k in mine if k in theirs and theirs[k] != mine[k]]
        if differ and not adopt:
            said = ", ".join(_describe(k, theirs[k]) for k in differ)
            says = ", ".join(_describe(k, mine[k]) for k in differ)
            raise DataError(
                f"{self.store.path}: the state belongs to a meter with {said}, the configuration says {says}; "
                "refused (serve --adopt-state takes it over)"
            )
        if theirs != mine:
            self.store.set_value(IDENTITY_KEY, json.dumps(mine))
        return {k: theirs[k] for k in differ} if differ else None

    def watch_disk(self) -> None:
        """Follow the NV memory's write faults: ``F.F`` bit 0 while writes wait in memory, an event at both ends."""
        self.store.watch(self._on_disk)

    def _on_disk(self, writable: bool, deferred: int) -> None:
        if writable:
            self.meter.set_error_bits(0, mask=_NV_BIT)
            log.warning("NV memory writable again: %d writes committed late", deferred)
            self.meter.log(NV_EVENT, f"NV memory writable again: {deferred} writes committed late")
        else:
            self.meter.set_error_bits(_NV_BIT, mask=_NV_BIT)
            log.error("NV memory error (%s): writes wait in memory until the disk takes them", self.store.fault)
            self.meter.log(NV_EVENT, f"NV memory error ({self.store.fault}): writes wait in memory")

    def last_alive(self) -> datetime | None:
        """The meter time of the last commit (snapshot or event), None if never recorded."""
        row = self.store.conn.execute("SELECT at FROM meter_alive").fetchone()
        return None if row is None else datetime.fromisoformat(row[0])

    def has_snapshot(self) -> bool:
        return self.store.conn.execute("SELECT 1 FROM meter_snapshot").fetchone() is not None

    def clear_profile(self) -> None:
        """Delete the stored load profile (``PROFILE.RESET``)."""
        self.store.write(lambda conn: _execute(conn, "DELETE FROM load_profile"))

    def attach(self) -> None:
        self.meter.subscribe(self._on_change)

    def _snapshot_body(self) -> str:
        self.snapshot_at = self.meter.now
        return json.dumps(self.meter.snapshot())

    def save_snapshot(self) -> None:
        snapshot = self._snapshot_body()
        alive = (self.meter.now.isoformat(),)

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(_SNAPSHOT_SQL, (snapshot,))
            conn.execute(_ALIVE_SQL, alive)

        self.store.write(work, key="snapshot")

    def _on_change(self, kind: str, item: object) -> None:
        # what to write is taken now (the snapshot as it is now), written now or when the disk takes it
        snapshot = self._snapshot_body() if kind in ("profile", "maximum", "billing") else None
        alive = (self.meter.now.isoformat(),)

        def work(conn: sqlite3.Connection) -> None:
            self._write_change(conn, kind, item, snapshot, alive)

        self.store.write(work)

    def _write_change(
        self,
        conn: sqlite3.Connection,
        kind: str,
        item: object,
        snapshot: str | None,
        alive: tuple[str],
    ) -> None:
        conn.execute(_ALIVE_SQL, alive)
        if kind == "profile" and isinstance(item, ProfileRow):
            cur = conn.execute(
                "INSERT INTO load_profile(end_ts, a_plus, a_minus, r_plus, r_minus, status) VALUES (?, ?, ?, ?, ?, ?)",
                (item.end.isoformat(), item.a_plus, item.a_minus, item.r_plus, item.r_minus, item.status),
            )
            if cur.lastrowid is not None and cur.lastrowid > self._keep_rows:
                conn.execute("DELETE FROM load_profile WHERE n <= ?", (cur.lastrowid - self._keep_rows,))
            conn.execute(_SNAPSHOT_SQL, (snapshot,))
        elif kind == "maximum":
            conn.execute(_SNAPSHOT_SQL, (snapshot,))
        elif kind == "billing" and isinstance(item, BillingRecord):
            conn.execute(
                "INSERT INTO billing_history(at, body) VALUES (?, ?)",
                (item.at.isoformat(), json.dumps(billing_body(item))),
            )
            conn.execute(_SNAPSHOT_SQL, (snapshot,))
        elif kind == "event" and isinstance(item, Event):
            cur = conn.execute(
                "INSERT INTO event_log(at, code, text) VALUES (?, ?, ?)",
                (item.at.isoformat(), item.code, item.text),
            )
            if cur.lastrowid is not None and cur.lastrowid > EVENT_LOG_CAPACITY:  # the ring: the oldest go
                conn.execute("DELETE FROM event_log WHERE n <= ?", (cur.lastrowid - EVENT_LOG_CAPACITY,))

    def import_history(self, image: MeterImage, at: datetime) -> None:
        """Write a whole history (snapshot, load profile, billing history, events; ``at`` as the last-alive time) into
        an empty store in one transaction (DataError if the store already holds a meter)."""
        if self.has_snapshot():
            raise DataError(f"{self.store.path}: the NV store already holds a meter; import into an empty one")
        rows = [(r.end.isoformat(), r.a_plus, r.a_minus, r.r_plus, r.r_minus, r.status) for r in image.profile_rows()]
        with self.store.transaction() as conn:
            conn.execute("INSERT INTO meter_snapshot(id, body) VALUES (1, ?)", (json.dumps(image.state),))
            conn.execute(_ALIVE_SQL, (at.isoformat(),))
            conn.executemany(
                "INSERT INTO load_profile(end_ts, a_plus, a_minus, r_plus, r_minus, status) VALUES (?, ?, ?, ?, ?, ?)",
                rows[-self._keep_rows :],
            )
            conn.executemany(
                "INSERT INTO billing_history(at, body) VALUES (?, ?)",
                [(b.at.isoformat(), json.dumps(billing_body(b))) for b in image.billing],
            )
            conn.executemany(
                "INSERT INTO event_log(at, code, text) VALUES (?, ?, ?)",
                [(e.at.isoformat(), e.code, e.text) for e in image.events[-EVENT_LOG_CAPACITY:]],
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
        history = [
            billing_record(at, body)
            for at, body in self.store.conn.execute("SELECT at, body FROM billing_history ORDER BY n")
        ]
        events = [
            Event(at=datetime.fromisoformat(at), code=code, text=text)
            for at, code, text in self.store.conn.execute("SELECT at, code, text FROM event_log ORDER BY n")
        ]
        last, kept = self.store.conn.execute("SELECT coalesce(max(n), 0), count(*) FROM event_log").fetchone()
        self.meter.restore_records(
            profile=profile, history=history, events=events, events_dropped=int(last) - int(kept)
        )


def _describe(key: str, value: str) -> str:
    return f"capture period {value} min" if key == "capture_min" else f"{key.replace('_', ' ')} {value}"


def _execute(conn: sqlite3.Connection, sql: str) -> None:
    conn.execute(sql)
