"""SQL on the security's tables stays in the security's store (storage/security.py, and the schema's migrations)."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).parents[2] / "src" / "meterkit"
#: a statement that names a security table
SECURITY_SQL = re.compile(r"\b(FROM|INTO|UPDATE|TABLE(\s+IF\s+NOT\s+EXISTS)?)\s+security_log\b", re.IGNORECASE)
OWNERS = {"storage/security.py", "storage/schema.py"}


def _files_with_security_sql() -> set[str]:
    return {
        path.relative_to(SRC).as_posix()
        for path in SRC.rglob("*.py")
        if SECURITY_SQL.search(path.read_text(encoding="utf-8"))
    }


def test_the_pattern_finds_the_security_store() -> None:
    assert "storage/security.py" in _files_with_security_sql()
    assert SECURITY_SQL.search('conn.execute("SELECT n FROM security_log WHERE n > ?")')


def test_only_the_security_store_runs_sql_on_the_security_log() -> None:
    assert _files_with_security_sql() - OWNERS == set()
