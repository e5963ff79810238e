"""Lockout of the optical port after failed authentications, kept in non-volatile memory.

The failure counter is incremented *before* a password or tag is verified (a power cut during the check cannot
undo it) and cleared only by a success of the same method (P1 or P2).  From the third consecutive failure the port
locks for 60 s, doubling with every further failure up to 24 h; while locked no P1/P2 is evaluated, even a correct
one; the level-1 readout stays available.  Ten failures within 24 h raise a brute-force alarm.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from .state import SecurityStore

__all__ = ["Lockout", "LockoutPolicy"]

_KEY = "lockout"


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    free_failures: int = 2
    base_s: int = 60
    max_s: int = 86400
    alarm_failures: int = 10
    alarm_window_s: int = 86400


class Lockout:
    """Failure counters per method (``P1`` password, ``P2`` challenge-response) with one lock for the port.

    A success clears only its own method's counter, so knowing the read password does not buy unlimited guesses
    at the challenge-response keys (two wrong tags, one correct password, two wrong tags, ...).  The port locks when
    the failures of all methods together pass the free ones.  The recent-failure list is capped at the alarm
    threshold, so a flood of attempts costs constant time and NV space."""

    def __init__(self, store: SecurityStore, policy: LockoutPolicy) -> None:
        self.store = store
        self.policy = policy
        raw = store.get(_KEY)
        data = json.loads(raw) if raw else {}
        counts = data.get("counts")
        if counts is None:  # an older state: one counter
            counts = {"P2": int(data.get("consecutive", 0))}
        self.counts: dict[str, int] = {str(k): int(v) for k, v in counts.items()}
        self.locked_until = datetime.fromisoformat(data["locked_until"]) if data.get("locked_until") else None
        self.recent = [datetime.fromisoformat(t) for t in data.get("recent", [])][-self._keep :]
        self.pending = bool(data.get("pending", False))
        self.alarmed_at = datetime.fromisoformat(data["alarmed_at"]) if data.get("alarmed_at") else None

    @property
    def _keep(self) -> int:
        return max(1, self.policy.alarm_failures)

    @property
    def consecutive(self) -> int:
        """Failures not yet cleared by a success, all methods together."""
        return sum(self.counts.values())

    def _save(self) -> None:
        state = {
            "counts": self.counts,
            "locked_until": self.locked_until.isoformat() if self.locked_until else None,
            "recent": [t.isoformat() for t in self.recent],
            "pending": self.pending,
            "alarmed_at": self.alarmed_at.isoformat() if self.alarmed_at else None,
        }
        self.store.put({_KEY: json.dumps(state)})

    def is_locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until

    def ended(self, now: datetime) -> bool:
        """True once when a lock has run out (for the LOCKOUT_END log entry)."""
        if self.locked_until is None or now < self.locked_until:
            return False
        self.locked_until = None
        self._save()
        return True

    def _note(self, now: datetime) -> None:
        window = self.policy.alarm_window_s
        kept = [t for t in self.recent if (now - t).total_seconds() < window]
        self.recent = [*kept[max(0, len(kept) - (self._keep - 1)) :], now]

    def begin(self, now: datetime, kind: str = "P2") -> None:
        """Count the attempt as a failure before it is checked (undone by :meth:`succeeded`)."""
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.pending = True
        self._note(now)
        failures_over = self.consecutive - self.policy.free_failures
        if failures_over > 0:
            seconds = min(self.policy.max_s, self.policy.base_s * 2 ** min(failures_over - 1, 40))
            self.locked_until = now + timedelta(seconds=seconds)
        self._save()

    def succeeded(self, kind: str = "P2") -> None:
        self.counts[kind] = 0
        if self.consecutive <= self.policy.free_failures:
            self.locked_until = None
        self.pending = False
        if self.recent:
            self.recent.pop()
        self._save()

    def failed(self) -> None:
        self.pending = False
        self._save()

    def refused(self, now: datetime) -> None:
        """An attempt while locked: not evaluated, but it counts for the brute-force alarm."""
        self._note(now)
        self._save()

    def brute_force_due(self, now: datetime) -> bool:
        """True once per window when the failures of the last 24 h reach the alarm threshold."""
        recent = [t for t in self.recent if (now - t).total_seconds() < self.policy.alarm_window_s]
        if len(recent) < self.policy.alarm_failures:
            return False
        if self.alarmed_at is not None and (now - self.alarmed_at).total_seconds() < self.policy.alarm_window_s:
            return False
        self.alarmed_at = now
        self._save()
        return True
