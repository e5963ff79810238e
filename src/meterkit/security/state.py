"""Where the security keeps its state: one small storage interface (the SQL lives in
:class:`meterkit.storage.security.NvSecurityStore`; tests may use :class:`MemorySecurityStore`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

__all__ = ["MemorySecurityStore", "SecurityStore", "refusal_count", "refusal_detail"]


def refusal_detail(count: int, last: str) -> str:
    """The detail of an aggregated refusal entry."""
    return f"{count} refused, last {last}" if last else f"{count} refused"


def refusal_count(detail: str) -> int:
    """The count of an aggregated refusal entry's detail (0 when it is not one)."""
    head = detail.split(" ", 1)[0]
    return int(head) if head.isdigit() else 0


class SecurityStore(Protocol):
    """Non-volatile security state: named values, and the security log bounded per class."""

    def get(self, key: str) -> str | None:
        """The value stored under ``key`` (None: never stored)."""
        ...

    def put(self, values: Mapping[str, str]) -> None:
        """Store ``values``, all or none (one atomic commit)."""
        ...

    def append_log(self, *, at: str, klass: str, kind: str, detail: str, capacity: int) -> None:
        """Append a log entry; beyond ``capacity`` entries of ``klass`` the oldest go and are counted as overflow."""
        ...

    def count_refusal(self, *, minute: str, kind: str, last: str, capacity: int) -> None:
        """Count one refusal in the ``refusal`` entry of (``minute``, ``kind``), made when missing (detail
        ``"<count> refused, last <last>"``); beyond ``capacity`` such entries the oldest go and are counted."""
        ...

    def log_rows(self) -> list[tuple[str, str, str]]:
        """All log entries in order: (ISO time, kind, detail)."""
        ...

    def numbered_log_rows(self, after: int = 0) -> list[tuple[int, str, str, str]]:
        """The log entries numbered above ``after``, in order: (number, ISO time, kind, detail).  An entry's number
        is given when it is appended and never changes or comes back, also when older entries are evicted."""
        ...

    def overflow(self, klass: str) -> int:
        """How many entries of ``klass`` were dropped for lack of space."""
        ...


class MemorySecurityStore:
    """A volatile :class:`SecurityStore` (tests, tools)."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}
        self._log: list[tuple[int, str, str, str, str]] = []  # (number, at, klass, kind, detail)
        self._numbered = 0
        self._overflow: dict[str, int] = {}

    def get(self, key: str) -> str | None:
        return self._values.get(key)

    def put(self, values: Mapping[str, str]) -> None:
        self._values.update(values)

    def append_log(self, *, at: str, klass: str, kind: str, detail: str, capacity: int) -> None:
        self._numbered += 1
        self._log.append((self._numbered, at, klass, kind, detail))
        mine = [i for i, row in enumerate(self._log) if row[2] == klass]
        excess = len(mine) - capacity
        if excess > 0:
            drop = set(mine[:excess])
            self._log = [row for i, row in enumerate(self._log) if i not in drop]
            self._overflow[klass] = self._overflow.get(klass, 0) + excess

    def count_refusal(self, *, minute: str, kind: str, last: str, capacity: int) -> None:
        for i, (n, at, klass, k, detail) in enumerate(self._log):
            if klass == "refusal" and at == minute and k == kind:
                self._log[i] = (n, at, klass, k, refusal_detail(refusal_count(detail) + 1, last))
                return
        self.append_log(at=minute, klass="refusal", kind=kind, detail=refusal_detail(1, last), capacity=capacity)

    def log_rows(self) -> list[tuple[str, str, str]]:
        return [(at, kind, detail) for _n, at, kind, detail in self.numbered_log_rows()]

    def numbered_log_rows(self, after: int = 0) -> list[tuple[int, str, str, str]]:
        return [(n, at, kind, detail) for n, at, _klass, kind, detail in self._log if n > after]

    def overflow(self, klass: str) -> int:
        return self._overflow.get(klass, 0)
