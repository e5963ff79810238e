"""The security log: append-only, bounded, separate from the billing logs, with an overflow counter.

Three classes keep their own bounds: ``tamper`` (cover, relay, key changes; 200 entries), ``access``
(authentication, lockouts, writes; 500) and ``refusal`` (requests refused for their level, a closed cover or a lock;
500).  Refusals are aggregated: one entry per cause (kind) per minute holding the count and the last name refused, so
a flood of refused requests costs one entry a minute and can never evict an authentication, write, key or tamper
entry.  Failed authentications stay single ``access`` entries: the lockout bounds them (three, then one per lock).
Entries never hold secrets: no passwords, keys or tags.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .state import SecurityStore

__all__ = ["SecurityLog", "SecurityLogEntry"]

CAPACITY = {"access": 500, "tamper": 200, "refusal": 500}
REFUSAL_KINDS = frozenset({"WRITE_DENIED_LEVEL", "WRITE_DENIED_COVER_CLOSED", "AUTH_REFUSED_LOCKED"})
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
    """One entry; ``seq`` is its number in the log, stable while it is kept (entries after a number: ``entries(n)``)."""

    seq: int
    at: datetime
    kind: str
    detail: str


class SecurityLog:
    def __init__(self, store: SecurityStore) -> None:
        self.store = store

    def add(self, at: datetime, kind: str, detail: str = "") -> None:
        if kind in REFUSAL_KINDS:
            minute = at.replace(second=0, microsecond=0).isoformat()
            self.store.count_refusal(minute=minute, kind=kind, last=detail[:64], capacity=CAPACITY["refusal"])
            return
        klass = "tamper" if kind in TAMPER_KINDS else "access"
        self.store.append_log(at=at.isoformat(), klass=klass, kind=kind, detail=detail, capacity=CAPACITY[klass])

    def entries(self, after: int = 0) -> list[SecurityLogEntry]:
        """The entries numbered above ``after``, oldest first."""
        return [
            SecurityLogEntry(seq=n, at=datetime.fromisoformat(a), kind=k, detail=d)
            for n, a, k, d in self.store.numbered_log_rows(after)
        ]

    def overflow(self, klass: str) -> int:
        return self.store.overflow(klass)
