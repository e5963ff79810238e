"""Lockout of the optical port after failed authentications, kept in non-volatile memory.

One failure budget per access level, for every attempt that checks a secret: a ``P1`` (a password only ever grants
level 2) counts against level 2; a ``P2`` (a tag for either level's key, or for the password's key) counts against
levels 2 and 3.  The count is incremented *before* the secret is verified (a power cut during the check cannot undo
it); a success at level L clears the budgets of the levels up to L and takes back its own pre-count at the levels
above, so a success at level 2 never resets level 3's budget (correct passwords interleaved with wrong level-3 tags
still lock).  From the third failure at a level the port locks for 60 s, doubling with every further failure up to
24 h; while locked no P1/P2 is evaluated, even a correct one, and no challenge is issued; the level-1 readout stays
available.  A lock ends cleanly: the first attempt after it is evaluated, and a success then does not lock again.
Ten failures within 24 h raise a brute-force alarm.
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


#: The levels whose budget an attempt of each method spends.
METHOD_LEVELS = {"P1": ("2",), "P2": ("2", "3")}


class Lockout:
    """Failure budgets per access level (``"2"``, ``"3"``) with one lock for the port; the recent-failure list is
    capped at the alarm threshold, so a flood of attempts costs constant time and NV space."""

    def __init__(self, store: SecurityStore, policy: LockoutPolicy) -> None:
        self.store = store
        self.policy = policy
        raw = store.get(_KEY)
        data = json.loads(raw) if raw else {}
        self.counts: dict[str, int] = _levels(data)
        self.locked_until = datetime.fromisoformat(data["locked_until"]) if data.get("locked_until") else None
        self.recent = [datetime.fromisoformat(t) for t in data.get("recent", [])][-self._keep :]
        self.pending = bool(data.get("pending", False))
        self.alarmed_at = datetime.fromisoformat(data["alarmed_at"]) if data.get("alarmed_at") else None
        before = data.get("lock_before")
        self._lock_before = datetime.fromisoformat(before) if before else None

    @property
    def _keep(self) -> int:
        return max(1, self.policy.alarm_failures)

    @property
    def consecutive(self) -> int:
        """The failures not yet cleared by a success, at the level that has most of them."""
        return max(self.counts.values(), default=0)

    def _save(self) -> None:
        state = {
            "levels": self.counts,
            "locked_until": self.locked_until.isoformat() if self.locked_until else None,
            "lock_before": self._lock_before.isoformat() if self._lock_before else None,
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
        """Count the attempt as a failure at every level it could reach, before it is checked (undone by
        :meth:`succeeded`)."""
        for level in METHOD_LEVELS.get(kind, ("2", "3")):
            self.counts[level] = self.counts.get(level, 0) + 1
        self.pending = True
        self._lock_before = self.locked_until
        self._note(now)
        failures_over = self.consecutive - self.policy.free_failures
        if failures_over > 0:
            seconds = min(self.policy.max_s, self.policy.base_s * 2 ** min(failures_over - 1, 40))
            self.locked_until = now + timedelta(seconds=seconds)
        self._save()

    def succeeded(self, kind: str = "P2", level: int = 3) -> None:
        """The attempt begun last succeeded at ``level``: the budgets up to it are full again, the levels above get
        back this attempt's pre-count only, and the lock is what it was before the attempt (a lock never starts
        with a success)."""
        for name in METHOD_LEVELS.get(kind, ("2", "3")):
            self.counts[name] = 0 if int(name) <= level else max(0, self.counts.get(name, 0) - 1)
        self.locked_until = self._lock_before
        self._lock_before = None
        self.pending = False
        if self.recent:
            self.recent.pop()
        self._save()

    def failed(self) -> None:
        self.pending = False
        self._lock_before = None
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


def _levels(data: dict[str, object]) -> dict[str, int]:
    """The budgets of a stored state; an older state counted per method (P1, P2) or had one counter."""
    levels = data.get("levels")
    if isinstance(levels, dict):
        return {str(k): int(v) for k, v in levels.items()}
    counts = data.get("counts")
    if not isinstance(counts, dict):
        counts = {"P2": int(str(data.get("consecutive", 0)))}
    p1, p2 = int(counts.get("P1", 0)), int(counts.get("P2", 0))
    return {"2": p1 + p2, "3": p2}
