"""The head-end's side of the signed alarms: check the MAC with the meter's alarm key and the sequence number.

:class:`AlarmVerifier` holds the alarm keys of the meters it serves (``FLAG:SERIAL`` -> key, from a key file written
by ``meterkit keys headend``) and the last sequence number it accepted from each meter.  :meth:`AlarmVerifier.verify`
returns a :class:`VerifiedAlarm` or raises an :class:`AlarmRejected` subclass: :class:`MalformedAlarm`,
:class:`UnknownMeter`, :class:`ForgedAlarm` (no MAC or a wrong one: not made with that meter's key) or
:class:`ReplayedAlarm` (a sequence number not above the last accepted one: a replay, a duplicate of at-least-once
delivery or a reordering).  Nothing of a rejected message changes the verifier's state.

A message of more than :data:`MAX_ALARM_BYTES` is refused unread (``MalformedAlarm``), and so is JSON nested too
deeply to parse: whoever may publish on the alarm topic cannot make the head-end spend memory or stack on it.
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import DataError, SecurityError
from .message import ALARM_FORMAT, alarm_mac

__all__ = [
    "KEYS_FORMAT",
    "MAX_ALARM_BYTES",
    "AlarmRejected",
    "AlarmVerifier",
    "ForgedAlarm",
    "MalformedAlarm",
    "ReplayedAlarm",
    "UnknownMeter",
    "VerifiedAlarm",
    "load_alarm_keys",
    "write_alarm_keys",
]

#: the ``format`` of a head-end key file
KEYS_FORMAT = "meterkit-alarm-keys/1"
_FIELDS = {"v", "id", "flag", "meter", "seq", "kind", "at", "details", "mac"}
_MAC_HEX = frozenset("0123456789abcdef")
#: the largest message the head-end parses.  The largest alarm a meter makes (a tamper alarm of a 16-character
#: serial, a 19-digit ``seq``, its time to the microsecond) has under 400 bytes: ten times that leaves room for longer
#: details, and a larger message is no alarm of ours.
MAX_ALARM_BYTES = 4096


class AlarmRejected(SecurityError):
    """An alarm message the head-end must not act on."""


class MalformedAlarm(AlarmRejected):
    """Not an alarm message of a known format."""


class UnknownMeter(AlarmRejected):
    """No alarm key for the meter the message names."""


class ForgedAlarm(AlarmRejected):
    """No MAC, or one not made with the named meter's alarm key (a forgery, or a message altered on the way)."""


class ReplayedAlarm(AlarmRejected):
    """A genuine message whose sequence number is not above the last one accepted from its meter."""


@dataclass(frozen=True, slots=True)
class VerifiedAlarm:
    meter: str  # FLAG:SERIAL
    seq: int
    id: str
    kind: str
    at: datetime
    details: dict[str, str]
    missed: int  # sequence numbers skipped since the last accepted alarm (alarms not seen, or not yet)


def _str(doc: Mapping[str, Any], key: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedAlarm(f"field {key!r} must be a non-empty string")
    return value


def _parse(payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_ALARM_BYTES:
        raise MalformedAlarm(f"{len(payload)} bytes, more than the {MAX_ALARM_BYTES} bytes of any alarm")
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedAlarm(f"not JSON ({exc})") from None
    except RecursionError:
        raise MalformedAlarm("not JSON (nested too deeply)") from None
    if not isinstance(doc, dict):
        raise MalformedAlarm("not a JSON object")
    if doc.get("v") != ALARM_FORMAT or isinstance(doc.get("v"), bool):
        raise MalformedAlarm(f"format v={doc.get('v')!r}, expected {ALARM_FORMAT}")
    extra = set(doc) - _FIELDS
    if extra:
        raise MalformedAlarm(f"unknown field(s) {', '.join(sorted(extra))}")
    return doc


class AlarmVerifier:
    """Checks alarm messages against the meters' alarm keys; ``last_seq`` resumes from what a previous run accepted."""

    def __init__(self, keys: Mapping[str, bytes], last_seq: Mapping[str, int] | None = None) -> None:
        self._keys = dict(keys)
        self._last = dict(last_seq or {})

    @property
    def last_seq(self) -> dict[str, int]:
        """The last sequence number accepted per meter (a copy, to keep across restarts)."""
        return dict(self._last)

    def verify(self, payload: bytes, topic: str | None = None) -> VerifiedAlarm:
        """Check one message (``topic``: where it was published; its last level must be the meter's serial)."""
        doc = _parse(payload)
        meter = f"{_str(doc, 'flag')}:{_str(doc, 'meter')}"
        key = self._keys.get(meter)
        if key is None:
            raise UnknownMeter(f"no alarm key for {meter}")
        mac = doc.pop("mac", None)
        if mac is None:
            raise ForgedAlarm(f"unsigned alarm from {meter}")
        if not isinstance(mac, str) or len(mac) != 64 or not set(mac) <= _MAC_HEX:
            raise ForgedAlarm(f"alarm from {meter}: the MAC is not 64 lower-case hex digits")
        try:
            expected = alarm_mac(key, doc)
        except (ValueError, RecursionError):  # a float NaN or infinity, or a nesting too deep, cannot have been signed
            raise ForgedAlarm(f"alarm from {meter}: the MAC does not match its alarm key") from None
        if not hmac.compare_digest(mac, expected):
            raise ForgedAlarm(f"alarm from {meter}: the MAC does not match its alarm key")
        # signed by the meter: the remaining checks are about fields it wrote
        if topic is not None and topic.rpartition("/")[2] != doc["meter"]:
            raise MalformedAlarm(f"alarm from {meter} published on {topic!r}, the topic of another meter")
        seq = doc.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise MalformedAlarm(f"alarm from {meter}: seq must be a positive integer")
        details = doc.get("details")
        if not isinstance(details, dict) or not all(isinstance(v, str) for v in details.values()):
            raise MalformedAlarm(f"alarm from {meter}: details must map names to strings")
        try:
            at = datetime.fromisoformat(_str(doc, "at"))
        except ValueError:
            raise MalformedAlarm(f"alarm from {meter}: 'at' is not an ISO time") from None
        alarm_id, kind = _str(doc, "id"), _str(doc, "kind")
        last = self._last.get(meter, 0)
        if seq <= last:
            raise ReplayedAlarm(f"alarm from {meter}: seq {seq} is not above the last accepted ({last})")
        self._last[meter] = seq  # every check passed: only now does the message change the state
        return VerifiedAlarm(
            meter=meter,
            seq=seq,
            id=alarm_id,
            kind=kind,
            at=at,
            details=dict(details),
            missed=seq - last - 1 if last else 0,
        )


def load_alarm_keys(path: Path) -> dict[str, bytes]:
    """The alarm keys of a head-end key file (``meterkit keys headend``)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataError(f"{path}: cannot read the alarm keys ({exc.strerror})") from exc
    except ValueError as exc:
        raise DataError(f"{path}: not a head-end key file ({exc})") from exc
    meters = doc.get("meters") if isinstance(doc, dict) else None
    if not isinstance(doc, dict) or doc.get("format") != KEYS_FORMAT or not isinstance(meters, dict):
        raise DataError(f"{path}: not a head-end key file (format {KEYS_FORMAT})")
    try:
        keys = {str(m): bytes.fromhex(k) for m, k in meters.items()}
    except (TypeError, ValueError):
        raise DataError(f"{path}: a key is not hexadecimal") from None
    if any(len(k) != 32 for k in keys.values()):
        raise DataError(f"{path}: every alarm key has 32 bytes")
    return keys


def write_alarm_keys(path: Path, keys: Mapping[str, bytes], *, overwrite: bool = False) -> None:
    """Write a head-end key file with mode 0600 (an existing file only with ``overwrite``)."""
    doc = {"format": KEYS_FORMAT, "meters": {m: k.hex() for m, k in sorted(keys.items())}}
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise DataError(f"{path} exists; refusing to overwrite a key file (--force replaces it)") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot write the key file ({exc.strerror})") from exc
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2)
        fh.write("\n")
