"""SQLite-backed non-volatile memory.

One database file holds everything a meter must keep across power loss.  Components own their
tables: each creates them with ``CREATE TABLE IF NOT EXISTS`` through :meth:`NvStore.ensure_schema`
and writes inside :meth:`NvStore.transaction`, so a group of changes is atomic.  WAL mode with
``synchronous=FULL`` makes a committed transaction survive both ``kill -9`` and power loss.

An existing file is first opened read-only and checked: a SQLite file of another program (none of the meter's
tables) or of a newer meterkit is refused before anything in it changes (no WAL switch, no table created).

When the disk refuses a write (full, I/O error, read-only), :meth:`NvStore.write` keeps the work in memory, in order,
and the store is *faulted*: later work queues behind it without touching the disk, and :meth:`NvStore.flush` (the
meter host calls it every second) commits all of it in one transaction as soon as the disk takes it.  Values written
with :meth:`set_value` read back at once from memory while they wait.  Watchers (:meth:`watch`) hear when the fault
starts and ends.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from ..errors import DataError
from .schema import KNOWN_TABLES, SCHEMA_VERSION, migrations

__all__ = ["NvStore"]


class NvStore:
    """A meter's non-volatile memory in one SQLite file (``":memory:"`` for tests)."""

    def __init__(self, path: str | Path = ":memory:", *, before_commit: Callable[[], None] | None = None) -> None:
        """``before_commit``: called before every commit, may raise :class:`sqlite3.OperationalError` (tests inject
        a full disk with it)."""
        self.path = str(path)
        self._before_commit = before_commit
        self._pending: list[tuple[str | None, Callable[[sqlite3.Connection], None]]] = []
        self._kv_waiting: dict[str, str] = {}
        self._watchers: list[Callable[[bool, int], None]] = []
        #: why the disk refused the last write (None: writable)
        self.fault: str | None = None
        if self.path != ":memory:":
            _check_existing(Path(self.path))
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
        self._ensure_kv()

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
        try:
            with self.transaction():
                for statement in statements:
                    self.conn.execute(statement)
        except sqlite3.Error as exc:
            raise DataError(f"{self.path}: cannot prepare the state file ({exc})") from exc

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
            try:
                if self._before_commit is not None:
                    self._before_commit()
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise

    # --- writes that survive a full disk ----------------------------------------------------------------

    @property
    def pending(self) -> int:
        """How many writes wait in memory for the disk."""
        return len(self._pending)

    def watch(self, watcher: Callable[[bool, int], None]) -> None:
        """``watcher(writable, deferred)``: called with False when the disk starts refusing writes, and with True and
        the number of writes committed late when it takes them again."""
        self._watchers.append(watcher)

    def write(self, work: Callable[[sqlite3.Connection], None], *, key: str | None = None) -> bool:
        """Run ``work`` in a transaction and commit it; True when committed.  When the disk refuses, the work waits
        in memory (in order, behind any work already waiting) for :meth:`flush`; waiting work with the same ``key``
        is replaced (a newer snapshot supersedes an older one).  Inside a transaction, ``work`` joins it."""
        if self._depth > 0:
            work(self.conn)
            return True
        if key is not None:
            self._pending = [p for p in self._pending if p[0] != key]
        self._pending.append((key, work))
        if self.fault is not None:
            return False  # waits for flush(); no retry per write (that would be quadratic while the disk is full)
        try:
            return self._commit_pending()
        except BaseException:
            self._pending.pop()
            raise

    def flush(self) -> bool:
        """Commit the waiting writes (all in one transaction); True when nothing waits any more."""
        return self._commit_pending() if self._pending else True

    def _commit_pending(self) -> bool:
        try:
            with self.transaction() as conn:
                for _key, work in self._pending:
                    work(conn)
        except sqlite3.Error as exc:
            if not _disk_refused(exc):
                raise
            started = self.fault is None
            self.fault = str(exc)
            if started:
                for watcher in list(self._watchers):
                    watcher(False, len(self._pending))
            return False
        done = len(self._pending)
        self._pending.clear()
        self._kv_waiting.clear()
        if self.fault is not None:
            self.fault = None
            for watcher in list(self._watchers):
                watcher(True, done)
        return True

    def get_value(self, key: str, default: str | None = None) -> str | None:
        """Small key-value settings (schema version, serial, secrets written once)."""
        if key in self._kv_waiting:
            return self._kv_waiting[key]
        row = self.conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return default if row is None else str(row[0])

    def set_value(self, key: str, value: str) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO kv(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

        if self._depth == 0 and not self.write(work):
            self._kv_waiting[key] = value
        elif self._depth > 0:
            work(self.conn)

    def _ensure_kv(self) -> None:
        self.conn.execute("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> NvStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: SQLite result codes (low byte) that mean "the disk does not take this write now"
_SQLITE_IOERR, _SQLITE_FULL, _SQLITE_READONLY = 10, 13, 8


def _disk_refused(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (_SQLITE_IOERR, _SQLITE_FULL, _SQLITE_READONLY)
    text = str(exc)
    return any(m in text for m in ("disk is full", "disk I/O error", "readonly database"))


def _check_existing(path: Path) -> None:
    """Open an existing, non-empty file read-only and refuse it unless it is a meter state file of a layout this
    meterkit knows; nothing is written to it before this check."""
    try:
        if not path.is_file() or path.stat().st_size == 0:
            return
    except OSError:
        return  # _private_file reports it
    try:
        conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise DataError(f"{path}: cannot open the meter state file ({exc})") from exc
    try:
        tables = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        raise DataError(f"{path}: not a usable meter state file ({exc})") from exc
    finally:
        conn.close()
    tables.discard("sqlite_sequence")
    if tables and not tables & KNOWN_TABLES:
        raise DataError(
            f"{path}: not a meter state file (it holds {', '.join(sorted(tables)[:3])}"
            f"{' …' if len(tables) > 3 else ''}); give a new file or a state written by meterkit serve"
        )
    if version > SCHEMA_VERSION:
        raise DataError(
            f"{path}: written by a newer meterkit (state layout {version}, this one knows {SCHEMA_VERSION})"
        )


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
