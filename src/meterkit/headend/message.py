"""The signed alarm message: what the meter publishes and what the head-end checks.

The message is canonical JSON (keys sorted, no spaces, ASCII only) of::

    {"at": ISO time, "details": {str: str}, "flag": FLAG, "id": 32 hex, "kind": str, "mac": 64 hex,
     "meter": serial, "seq": n, "v": 1}

``mac`` is ``HMAC-SHA256(alarm key, canonical JSON of every other field)`` in lower-case hex, the alarm key being
:func:`meterkit.security.keys.alarm_key` of the meter.  ``seq`` is the alarm's number in the meter's outbox: it
only grows (SQLite ``AUTOINCREMENT`` in the meter's state), so the head-end refuses an alarm whose ``seq`` is not
above the last one it accepted from that meter (a replay, a duplicate of at-least-once delivery, or a reordering).
A meter without an alarm key sends the same message without ``mac``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["ALARM_FORMAT", "AlarmSealer", "alarm_fields", "alarm_mac", "canonical"]

#: the ``v`` of the messages this version writes
ALARM_FORMAT = 1


def canonical(fields: Mapping[str, Any]) -> bytes:
    """The one byte form of a message's fields: JSON, keys sorted, no spaces, non-ASCII escaped."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii")


def alarm_mac(key: bytes, fields: Mapping[str, Any]) -> str:
    """HMAC-SHA256 over the canonical form of ``fields`` (which must not hold ``mac``), 64 hex digits."""
    return hmac.new(key, canonical(fields), hashlib.sha256).hexdigest()


def alarm_fields(
    *, alarm_id: str, flag: str, meter: str, seq: int, kind: str, at: datetime, details: Mapping[str, str]
) -> dict[str, Any]:
    """The signed fields of one alarm."""
    return {
        "v": ALARM_FORMAT,
        "id": alarm_id,
        "flag": flag,
        "meter": meter,
        "seq": seq,
        "kind": kind,
        "at": at.isoformat(),
        "details": dict(details),
    }


@dataclass(frozen=True, slots=True)
class AlarmSealer:
    """Makes a meter's alarm messages: ``flag`` and ``meter`` (serial) name it, ``key`` signs (None: unsigned)."""

    flag: str
    meter: str
    key: bytes | None

    def message(self, *, alarm_id: str, seq: int, kind: str, at: datetime, details: Mapping[str, str]) -> bytes:
        fields = alarm_fields(
            alarm_id=alarm_id, flag=self.flag, meter=self.meter, seq=seq, kind=kind, at=at, details=details
        )
        if self.key is not None:
            fields["mac"] = alarm_mac(self.key, fields)
        return canonical(fields)
