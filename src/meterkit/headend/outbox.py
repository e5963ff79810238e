"""The alarm outbox: every alarm gets a unique id and stays in the meter's SQLite until the head-end acknowledged
it, so nothing is lost while the link is down and each alarm is delivered at least once (the id lets the head-end
drop duplicates).  A forwarder takes ``pending()`` alarms, publishes their :meth:`AlarmOutbox.message` and calls
``delivered(id)``.

Each alarm's ``seq`` is its row number, an SQLite ``AUTOINCREMENT`` key: it only grows, is never reused (not even
after rows are deleted) and is committed with the alarm, so the signed message (:mod:`.message`) carries a per-meter
sequence number that survives restarts and power cuts without a counter of its own."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from ..storage import NvStore
from .message import AlarmSealer

__all__ = ["Alarm", "AlarmOutbox"]


@dataclass(frozen=True, slots=True)
class Alarm:
    id: str
    at: datetime
    kind: str
    details: dict[str, str]
    seq: int = 0  # the alarm's number in its meter's outbox (see the module's docstring)

    def message(self, sealer: AlarmSealer) -> bytes:
        """The alarm as published: canonical JSON, signed when the sealer has a key."""
        return sealer.message(alarm_id=self.id, seq=self.seq, kind=self.kind, at=self.at, details=self.details)


class AlarmOutbox:
    """Implements :class:`meterkit.security.AlarmSink`; ``sealer`` makes the meter's alarm messages (the forwarders
    publish ``alarm.message(outbox.sealer)``)."""

    def __init__(self, store: NvStore, sealer: AlarmSealer | None = None) -> None:
        self.store = store
        self.sealer = sealer
        store.ensure_schema(
            "CREATE TABLE IF NOT EXISTS alarm_outbox (n INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE, at TEXT, "
            "kind TEXT, details TEXT, delivered INTEGER DEFAULT 0)"
        )

    def raise_alarm(self, kind: str, details: Mapping[str, str], at: datetime) -> None:
        """Queued now; in the state file now, or as soon as a full disk takes writes again (:meth:`NvStore.write`),
        and only then seen by the forwarder."""
        row = (uuid.uuid4().hex, at.isoformat(), kind, json.dumps(dict(details)))

        def work(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO alarm_outbox(id, at, kind, details) VALUES (?, ?, ?, ?)", row)

        self.store.write(work)

    def pending(self) -> list[Alarm]:
        rows = self.store.conn.execute(
            "SELECT n, id, at, kind, details FROM alarm_outbox WHERE delivered = 0 ORDER BY n"
        ).fetchall()
        return [
            Alarm(id=i, at=datetime.fromisoformat(a), kind=k, details=json.loads(d), seq=int(n))
            for n, i, a, k, d in rows
        ]

    def delivered(self, alarm_id: str) -> None:
        with self.store.transaction() as conn:
            conn.execute("UPDATE alarm_outbox SET delivered = 1 WHERE id = ?", (alarm_id,))
