"""SQLite-backed non-volatile memory.

One database file holds everything a meter must keep across power loss.  Components own their
tables: each creates them with ``CREATE TABLE IF NOT EXISTS`` through :meth:`NvStore.ensure_schema`
and writes inside :meth:`NvStore.transaction`, so a group of changes is atomic.  WAL mode with
``synchronous=FULL`` makes a committed transaction survive both ``kill -9`` and power loss.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import DataError
from .schema import SCHEMA_VERSION, migrations

__all__ = ["NvStore"]


class NvStore:
    """A meter's non-volatile memory in one SQLite file (``":memory:"`` for tests)."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        if self.path != ":memory:":
            _private_file(Path(self.path))
        try:
            self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            if self.path != ":memory:":
                mode = self.conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise DataError(f"{self.path}: could not switch the state file to WAL mode (got {mode})")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.execute("PRAGMA quick_check").fetchone()
        except sqlite3.DatabaseError as exc:
            raise DataError(f"{self.path}: not a usable meter state file ({exc})") from exc
        self._depth = 0
        self.migrated: list[int] = self._migrate()

    @property
    def version(self) -> int:
        """The layout version of the file (:mod:`.schema`)."""
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> list[int]:
        """Bring the file to :data:`SCHEMA_VERSION` (a new file is at it already); the versions applied."""
        version = self.version
        if version > SCHEMA_VERSION:
            raise DataError(
                f"{self.path}: written by a newer meterkit (state layout {version}, this one knows {SCHEMA_VERSION})"
            )
        fresh = self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
        pending = [] if fresh else [m for m in migrations() if m.version > version]
        try:
            with self.transaction() as conn:
                for migration in pending:
                    migration.apply(conn)
                if version != SCHEMA_VERSION:
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
        except sqlite3.DatabaseError as exc:
            raise DataError(f"{self.path}: cannot migrate the state file to layout {SCHEMA_VERSION} ({exc})") from exc
        return [m.version for m in pending]

    def ensure_schema(self, *statements: str) -> None:
        """Run ``CREATE TABLE/INDEX IF NOT EXISTS`` statements atomically."""
        with self.transaction():
            for statement in statements:
                self.conn.execute(statement)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An atomic unit of work; nests (only the outermost level commits)."""
        if self._depth == 0:
            self.conn.execute("BEGIN IMMEDIATE")
        self._depth += 1
        try:
            yield self.conn
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                self.conn.execute("ROLLBACK")
            raise
        self._depth -= 1
        if self._depth == 0:
            self.conn.execute("COMMIT")

    def get_value(self, key: str, default: str | None = None) -> str | None:
        """Small key-value settings (schema version, serial, secrets written once)."""
        self._ensure_kv()
        row = self.conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return default if row is None else str(row[0])

    def set_value(self, key: str, value: str) -> None:
        self._ensure_kv()
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO kv(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def _ensure_kv(self) -> None:
        self.conn.execute("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> NvStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _private_file(path: Path) -> None:
    """Create the state file readable by its owner only (0600; it holds the meter's keys and passwords), or take the
    group and world bits off an existing one.  SQLite gives the WAL and shared-memory files the same mode."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o600)
    except OSError as exc:
        raise DataError(f"{path}: cannot open the meter state file ({exc.strerror})") from exc
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISREG(mode) and mode & 0o077:
            os.fchmod(fd, stat.S_IMODE(mode) & 0o700)
    except OSError:  # not our file: SQLite reports what it can or cannot do with it
        pass
    finally:
        os.close(fd)
