"""The layout version of a meter state file and the ordered migrations that bring an older file up to date.

The version is SQLite's ``user_version``.  A new file gets :data:`SCHEMA_VERSION` at once; an older file runs every
migration above its version, in order, in one transaction (all or nothing), before anything else reads it.  A file
written by a newer meterkit is refused.  Files written before versions existed have ``user_version`` 0.

Add a migration: append a :class:`Migration` with the next number to :func:`migrations`, make it a no-op on
files that lack the tables it touches, and add a state file written by the previous version to ``tests/fixtures``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["KNOWN_TABLES", "SCHEMA_VERSION", "Migration", "migrations"]

#: tables a meter state file may hold; a file with tables but none of these belongs to another program
KNOWN_TABLES = frozenset(
    {
        "kv",
        "meter_snapshot",
        "meter_alive",
        "load_profile",
        "billing_history",
        "event_log",
        "security_log",
        "alarm_outbox",
        "mqtt_outbox",
    }
)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int  # the version the file has after it
    description: str
    apply: Callable[[sqlite3.Connection], None]


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [str(r[1]) for r in conn.execute(f"PRAGMA table_info({table})")]


def _profile_by_capture_order(conn: sqlite3.Connection) -> None:
    """Load-profile rows were keyed by their end time; a clock set backwards repeats end times, so rows are keyed by
    capture order."""
    cols = _columns(conn, "load_profile")
    if not cols or "n" in cols:
        return
    conn.execute("ALTER TABLE load_profile RENAME TO load_profile_old")
    conn.execute(
        "CREATE TABLE load_profile (n INTEGER PRIMARY KEY AUTOINCREMENT, end_ts TEXT NOT NULL, "
        "a_plus INTEGER, a_minus INTEGER, r_plus INTEGER, r_minus INTEGER, status INTEGER)"
    )
    conn.execute(
        "INSERT INTO load_profile(end_ts, a_plus, a_minus, r_plus, r_minus, status) "
        "SELECT end_ts, a_plus, a_minus, r_plus, r_minus, status FROM load_profile_old ORDER BY end_ts"
    )
    conn.execute("DROP TABLE load_profile_old")


def _md_reset_registers(conn: sqlite3.Connection) -> None:
    """The snapshot gains the number of MD resets (every billing reset so far reset MD) and the cumulative MD
    (unknown for the periods before: it starts at 0)."""
    if not _columns(conn, "meter_snapshot"):
        return
    row = conn.execute("SELECT body FROM meter_snapshot WHERE id = 1").fetchone()
    if row is None:
        return
    snap = json.loads(row[0])
    snap.setdefault("md_reset_count", int(snap.get("reset_count", 0)))
    snap.setdefault("cumulative_md", {})
    conn.execute("UPDATE meter_snapshot SET body = ? WHERE id = 1", (json.dumps(snap),))


def migrations() -> tuple[Migration, ...]:
    """Every migration, in order."""
    return (
        Migration(1, "load-profile rows keyed by capture order", _profile_by_capture_order),
        Migration(2, "snapshot: MD reset count and cumulative MD", _md_reset_registers),
    )


#: the layout this version of meterkit writes
SCHEMA_VERSION = 2
