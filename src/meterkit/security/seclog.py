"""The security log: append-only, bounded, separate from the billing logs, with an overflow counter.

Two classes keep their own bounds, so a storm of failed logins cannot evict tamper events: ``tamper`` (cover,
relay, key changes) and ``access`` (authentication, lockouts, writes).  Entries never hold secrets: no passwords,
keys or tags.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..storage import NvStore

__all__ = ["SecurityLog", "SecurityLogEntry"]

CAPACITY = {"access": 500, "tamper": 200}
TAMPER_KINDS = frozenset(
    {
        "COVER_OPEN_AUTH",
        "COVER_OPEN_UNAUTH",
        "COVER_CLOSE",
        "RELAY_TRIP",
        "RELAY_CONNECT",
        "KEY_CHANGED",
        "TAMPER_AT_POWER_UP",
    }
)


@dataclass(frozen=True, slots=True)
class SecurityLogEntry:
    at: datetime
    kind: str
    detail: str


class SecurityLog:
    def __init__(self, store: NvStore) -> None:
        self.store = store
        store.ensure_schema(
            "CREATE TABLE IF NOT EXISTS security_log (n INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT, klass TEXT, "
            "kind TEXT, detail TEXT)"
        )

    def add(self, at: datetime, kind: str, detail: str = "") -> None:
        klass = "tamper" if kind in TAMPER_KINDS else "access"
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO security_log(at, klass, kind, detail) VALUES (?, ?, ?, ?)",
                (at.isoformat(), klass, kind, detail),
            )
            count = conn.execute("SELECT count(*) FROM security_log WHERE klass = ?", (klass,)).fetchone()[0]
            excess = count - CAPACITY[klass]
            if excess > 0:
                conn.execute(
                    "DELETE FROM security_log WHERE n IN (SELECT n FROM security_log WHERE klass = ? ORDER BY n LIMIT ?)",
                    (klass, excess),
                )
                overflow = int(self.store.get_value(f"security.overflow.{klass}", "0") or 0) + excess
                conn.execute(
                    "INSERT INTO kv(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (f"security.overflow.{klass}", str(overflow)),
                )

    def entries(self) -> list[SecurityLogEntry]:
        rows = self.store.conn.execute("SELECT at, kind, detail FROM security_log ORDER BY n").fetchall()
        return [SecurityLogEntry(at=datetime.fromisoformat(a), kind=k, detail=d) for a, k, d in rows]

    def overflow(self, klass: str) -> int:
        return int(self.store.get_value(f"security.overflow.{klass}", "0") or 0)
