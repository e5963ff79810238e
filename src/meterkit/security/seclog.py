"""The security log: append-only, bounded, separate from the billing logs, with an overflow counter.

Two classes keep their own bounds, so a storm of failed logins cannot evict tamper events: ``tamper`` (cover,
relay, key changes) and ``access`` (authentication, lockouts, writes).  Entries never hold secrets: no passwords,
keys or tags.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .state import SecurityStore

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
    def __init__(self, store: SecurityStore) -> None:
        self.store = store

    def add(self, at: datetime, kind: str, detail: str = "") -> None:
        klass = "tamper" if kind in TAMPER_KINDS else "access"
        self.store.append_log(at=at.isoformat(), klass=klass, kind=kind, detail=detail, capacity=CAPACITY[klass])

    def entries(self) -> list[SecurityLogEntry]:
        return [SecurityLogEntry(at=datetime.fromisoformat(a), kind=k, detail=d) for a, k, d in self.store.log_rows()]

    def overflow(self, klass: str) -> int:
        return self.store.overflow(klass)
