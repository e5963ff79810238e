"""The security's state in the meter's NV memory: the only SQL of the security (``kv`` values under the
``security.`` prefix and the ``security_log`` table)."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping

from .nvstore import NvStore

__all__ = ["NvSecurityStore"]

_PREFIX = "security."
_LOG_TABLE = (
    "CREATE TABLE IF NOT EXISTS security_log (n INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT, klass TEXT, "
    "kind TEXT, detail TEXT)"
)


def refusal_detail(count: int, last: str) -> str:
    """The detail of an aggregated refusal entry (the format :class:`~meterkit.security.state.SecurityStore` names)."""
    return f"{count} refused, last {last}" if last else f"{count} refused"


def refusal_count(detail: str) -> int:
    head = detail.split(" ", 1)[0]
    return int(head) if head.isdigit() else 0


class NvSecurityStore:
    """A :class:`~meterkit.security.state.SecurityStore` in an :class:`NvStore`."""

    def __init__(self, store: NvStore) -> None:
        self.store = store
        store.ensure_schema(_LOG_TABLE)

    def get(self, key: str) -> str | None:
        return self.store.get_value(_PREFIX + key)

    def put(self, values: Mapping[str, str]) -> None:
        # each value reads back at once, and all are committed together (now, or when a full disk takes them)
        for key, value in values.items():
            self.store.set_value(_PREFIX + key, value)

    def append_log(self, *, at: str, klass: str, kind: str, detail: str, capacity: int) -> None:
        """Committed now, or when a full disk takes writes again (:meth:`NvStore.write`)."""

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO security_log(at, klass, kind, detail) VALUES (?, ?, ?, ?)", (at, klass, kind, detail)
            )
            count = conn.execute("SELECT count(*) FROM security_log WHERE klass = ?", (klass,)).fetchone()[0]
            excess = count - capacity
            if excess > 0:
                conn.execute(
                    "DELETE FROM security_log WHERE n IN (SELECT n FROM security_log WHERE klass = ? ORDER BY n LIMIT ?)",
                    (klass, excess),
                )
                self.store.set_value(f"{_PREFIX}overflow.{klass}", str(self.overflow(klass) + excess))

        self.store.write(work)

    def count_refusal(self, *, minute: str, kind: str, last: str, capacity: int) -> None:
        """One entry per cause per minute, counting (committed now, or when a full disk takes writes again)."""

        def work(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "SELECT n, detail FROM security_log WHERE klass = 'refusal' AND at = ? AND kind = ? ORDER BY n DESC",
                (minute, kind),
            ).fetchone()
            if row is not None:
                detail = refusal_detail(refusal_count(str(row[1])) + 1, last)
                conn.execute("UPDATE security_log SET detail = ? WHERE n = ?", (detail, row[0]))
                return
            self.append_log(at=minute, klass="refusal", kind=kind, detail=refusal_detail(1, last), capacity=capacity)

        self.store.write(work)

    def log_rows(self) -> list[tuple[str, str, str]]:
        return [(at, kind, detail) for _n, at, kind, detail in self.numbered_log_rows()]

    def numbered_log_rows(self, after: int = 0) -> list[tuple[int, str, str, str]]:
        # ``n`` is AUTOINCREMENT: never reused, so the numbers stay stable across the eviction of old entries
        rows = self.store.conn.execute(
            "SELECT n, at, kind, detail FROM security_log WHERE n > ? ORDER BY n", (after,)
        ).fetchall()
        return [(int(n), str(a), str(k), str(d)) for n, a, k, d in rows]

    def overflow(self, klass: str) -> int:
        return int(self.get(f"overflow.{klass}") or 0)
