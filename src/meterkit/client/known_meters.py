"""Meters the hand-held has met before (trust on first use), so a fake meter cannot talk it down to a clear password.

A known-meters file is JSON ``{"format": "meterkit-known-meters/1", "meters": {KEY: {...}}}`` with one entry per meter
identification (``KEY`` = manufacturer id ‖ ``/`` ‖ identification text, the part of ``/XXXZident`` a mode change
does not touch).  An entry records what the genuine meter showed the first time: that it answered with an OP2-HMAC
challenge (``challenge``), its serial number from that challenge, and whether its answers were encrypted
(``encrypts``, recorded only after an encrypted answer opened under the session key: proof that the meter knows the
key), and whether it protected its session (``integrity``, recorded only after its protected answer to ``P2`` passed
its MAC check).  Later sessions with the same identification refuse to send a password in clear, refuse another serial
number, refuse plain answers from a meter that encrypted, and refuse a bare answer to the integrity offer from a meter
that protected its session before (a man in the middle stripping the offer cannot talk the session down).  Entries
written before ``integrity`` existed read as ``false``.  The file is written atomically, mode 0600.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ..errors import DataError
from ..iec62056_21.messages import IdentificationMessage

__all__ = ["FORMAT", "KnownMeter", "KnownMeters", "meter_key"]

FORMAT = "meterkit-known-meters/1"


@dataclass(frozen=True, kw_only=True, slots=True)
class KnownMeter:
    """What one meter showed when the hand-held first met it."""

    challenge: bool = False
    serial: str = ""
    encrypts: bool = False
    integrity: bool = False


def meter_key(identification: IdentificationMessage) -> str:
    """The entry a meter's identification falls under (the baud character is left out: a man in the middle that
    turns a mode C identification into mode B must still find the entry)."""
    return f"{identification.manufacturer}/{identification.ident}"


def _entry(entry: dict[str, object]) -> KnownMeter:
    challenge, serial, encrypts = entry["challenge"], entry["serial"], entry["encrypts"]
    integrity = entry.get("integrity", False)  # absent in files written before it was recorded
    if not (
        isinstance(challenge, bool)
        and isinstance(encrypts, bool)
        and isinstance(integrity, bool)
        and isinstance(serial, str)
    ):
        raise TypeError("a known meter is {challenge: bool, serial: str, encrypts: bool, integrity: bool}")
    return KnownMeter(challenge=challenge, serial=serial, encrypts=encrypts, integrity=integrity)


class KnownMeters:
    """A known-meters file: look meters up, pin what they showed on first use (saved at once)."""

    def __init__(self, path: Path, meters: dict[str, KnownMeter] | None = None) -> None:
        self.path = path
        self.meters: dict[str, KnownMeter] = dict(meters or {})

    @classmethod
    def load(cls, path: Path) -> KnownMeters:
        """The file's entries; an absent file is an empty list (the first use creates it)."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(path)
        except OSError as exc:
            raise DataError(f"{path}: cannot read the known-meters file ({exc.strerror})") from exc
        try:
            doc = json.loads(text)
            if doc["format"] != FORMAT:
                raise DataError(f"{path}: known-meters format {doc['format']!r} is not {FORMAT!r}")
            meters = {key: _entry(entry) for key, entry in doc["meters"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DataError(f"{path}: not a meterkit known-meters file") from exc
        return cls(path, meters)

    def get(self, identification: IdentificationMessage) -> KnownMeter | None:
        return self.meters.get(meter_key(identification))

    def pin_challenge(self, identification: IdentificationMessage, serial: str) -> None:
        """Record that this meter answers with an OP2-HMAC challenge for ``serial`` (first use only)."""
        key = meter_key(identification)
        if key not in self.meters:
            self.meters[key] = KnownMeter(challenge=True, serial=serial)
            self.save()

    def pin_encryption(self, identification: IdentificationMessage) -> None:
        """Record that this meter's answers opened under the session key."""
        key = meter_key(identification)
        entry = self.meters.get(key)
        if entry is not None and entry.challenge and not entry.encrypts:
            self.meters[key] = replace(entry, encrypts=True)
            self.save()

    def pin_integrity(self, identification: IdentificationMessage) -> None:
        """Record that this meter proved the session key with its protected answer to ``P2``."""
        key = meter_key(identification)
        entry = self.meters.get(key)
        if entry is not None and entry.challenge and not entry.integrity:
            self.meters[key] = replace(entry, integrity=True)
            self.save()

    def save(self) -> None:
        """Write the file atomically with mode 0600."""
        doc = {"format": FORMAT, "meters": {key: asdict(entry) for key, entry in sorted(self.meters.items())}}
        directory = self.path.parent
        try:
            fd, tmp = tempfile.mkstemp(prefix=".known-meters-", dir=directory)  # mode 0600
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(json.dumps(doc, indent=1) + "\n")
                os.replace(tmp, self.path)
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError as exc:
            raise DataError(f"{self.path}: cannot write the known-meters file ({exc.strerror})") from exc
