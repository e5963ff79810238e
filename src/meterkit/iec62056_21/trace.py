"""Frame traces for diagnostics: direction, time, printable form and hex, with secrets redacted.

Password and challenge-response values (``P1``/``P2`` commands) never appear in a trace: their data-set value is
replaced by ``***``, and their BCC (the XOR of the password characters with constant framing, i.e. a checksum of the
secret) by a placeholder shown as ``<BCC?>`` in the printable form and ``**`` in the hex form.  Matching ignores the
parity bit, so a 7E1 line read as 8N1 is redacted too.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

__all__ = ["FrameRecord", "FrameRing", "TraceHook", "format_frame", "printable", "redact"]

_NAMES = {
    0x00: "NUL",
    0x01: "SOH",
    0x02: "STX",
    0x03: "ETX",
    0x04: "EOT",
    0x06: "ACK",
    0x0A: "LF",
    0x0D: "CR",
    0x15: "NAK",
}
#: P1/P2 frame: head, secret value, and (when present) ``)``, ETX/EOT and the BCC byte.
_SECRET = re.compile(rb"(\x01P[12]\x02\()([^)]*)(?:(\))(?:([\x03\x04])(.)?)?)?", re.DOTALL)
#: A chunk that ends inside a (possible) P1/P2 frame before its BCC has arrived: hold it back until complete.
_OPEN_SECRET = re.compile(rb"\x01(?:P(?:[12](?:\x02(?:\([^)]*(?:\)[\x03\x04]?)?)?)?)?)?$")
#: What a redacted BCC becomes in the recorded bytes (shown as ``<BCC?>`` / ``**`` by :func:`format_frame`).
REDACTED_BCC = b"?"
#: A redacted P1/P2 frame up to its BCC placeholder, for the formatter.
_REDACTED_FRAME = re.compile(rb"\x01P[12]\x02\(\*\*\*\)[\x03\x04]\?")
_MASK7 = bytes(b & 0x7F for b in range(256))
_HOLD_LIMIT = 512


def redact(data: bytes) -> bytes:
    """``data`` with the values of P1/P2 commands replaced by ``***`` and their BCC by :data:`REDACTED_BCC`."""
    out = bytearray()
    last = 0
    for m in _SECRET.finditer(data.translate(_MASK7)):  # positions are the same in the masked copy
        out += data[last : m.start()]
        out += data[m.start(1) : m.end(1)] + b"***"
        if m.group(3) is not None:
            out += data[m.start(3) : m.end(4) if m.group(4) is not None else m.end(3)]
        if m.group(5) is not None:
            out += REDACTED_BCC
        last = m.end()
    out += data[last:]
    return bytes(out)


def _bcc_positions(shown: bytes) -> set[int]:
    return {m.end() - 1 for m in _REDACTED_FRAME.finditer(shown)}


def printable(data: bytes) -> str:
    """Control characters as ``<STX>``, other non-printables as ``<xNN>``."""
    out: list[str] = []
    for b in data:
        if b in _NAMES:
            out.append(f"<{_NAMES[b]}>")
        elif 0x20 <= b <= 0x7E:
            out.append(chr(b))
        else:
            out.append(f"<x{b:02X}>")
    return "".join(out)


@dataclass(frozen=True, kw_only=True, slots=True)
class FrameRecord:
    """One traced chunk of bytes (already redacted).

    ``label`` names the side and connection (``"client"``, ``"tcp://127.0.0.1:2100 #3"``); ``wall`` is the wall-clock
    time of the chunk (shown in ISO form instead of the monotonic seconds when present).
    """

    time: float
    direction: str  # "->" sent by this side, "<-" received
    data: bytes
    label: str = ""
    wall: datetime | None = None

    def format(self) -> str:
        line = format_frame(self.direction, self.data, self.time, already_redacted=True)
        if self.wall is not None:
            line = self.wall.isoformat(timespec="milliseconds") + " " + line.lstrip().split(" ", 1)[1]
        return f"{self.label} {line}" if self.label else line


def format_frame(direction: str, data: bytes, time: float, *, already_redacted: bool = False) -> str:
    """``"  12.345 -> /?!<CR><LF>  [2F 3F 21 0D 0A]"``; a redacted BCC shows as ``<BCC?>`` and ``**``."""
    shown = data if already_redacted else redact(data)
    hidden = _bcc_positions(shown)
    text = "".join("<BCC?>" if i in hidden else printable(shown[i : i + 1]) for i in range(len(shown)))
    hexed = " ".join("**" if i in hidden else f"{b:02X}" for i, b in enumerate(shown))
    return f"{time:9.3f} {direction} {text}  [{hexed}]"


TraceHook = Callable[[FrameRecord], None]


class FrameRing:
    """The most recent frames of a connection (a bounded ring buffer), redacted on entry."""

    def __init__(self, size: int = 256, hook: TraceHook | None = None, *, label: str = "") -> None:
        self._frames: deque[FrameRecord] = deque(maxlen=size)
        self.hook = hook
        self.label = label
        self._hold: dict[str, bytes] = {}

    def record(self, direction: str, data: bytes, time: float, *, wall: datetime | None = None) -> None:
        """Record a chunk; a chunk that stops inside a password value is held until the value is complete,
        so a secret split across reads is still redacted.  ``wall``: the wall-clock time, for the printed form."""
        data = self._hold.pop(direction, b"") + data
        if not data:
            return
        if _OPEN_SECRET.search(data.translate(_MASK7)) and len(data) < _HOLD_LIMIT:
            self._hold[direction] = data
            return
        rec = FrameRecord(time=time, direction=direction, data=redact(data), label=self.label, wall=wall)
        self._frames.append(rec)
        if self.hook is not None:
            self.hook(rec)

    def frames(self) -> list[FrameRecord]:
        return list(self._frames)

    def dump(self) -> str:
        return "\n".join(r.format() for r in self._frames)
