"""Frame traces for diagnostics: direction, time, printable form and hex, with secrets redacted.

Password and challenge-response values (``P1``/``P2`` commands) never appear in a trace: their data-set value is
replaced by ``***`` in both the printable and the hex form.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

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
_SECRET = re.compile(rb"(\x01P[12]\x02\()([^)]*)(\)|$)")
#: A chunk that ends inside a (possible) P1/P2 frame before its value is closed: hold it back until complete.
_OPEN_SECRET = re.compile(rb"\x01(?:P(?:[12](?:\x02(?:\([^)]*)?)?)?)?$")
_HOLD_LIMIT = 512


def redact(data: bytes) -> bytes:
    """``data`` with the values of P1/P2 commands replaced by ``***`` (the BCC no longer matches)."""
    return _SECRET.sub(lambda m: m.group(1) + b"***" + m.group(3), data)


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
    """One traced chunk of bytes (already redacted)."""

    time: float
    direction: str  # "->" sent by this side, "<-" received
    data: bytes

    def format(self) -> str:
        return format_frame(self.direction, self.data, self.time, already_redacted=True)


def format_frame(direction: str, data: bytes, time: float, *, already_redacted: bool = False) -> str:
    """``"  12.345 -> /?!<CR><LF>  [2F 3F 21 0D 0A]"``."""
    shown = data if already_redacted else redact(data)
    return f"{time:9.3f} {direction} {printable(shown)}  [{shown.hex(' ').upper()}]"


TraceHook = Callable[[FrameRecord], None]


class FrameRing:
    """The most recent frames of a connection (a bounded ring buffer), redacted on entry."""

    def __init__(self, size: int = 256, hook: TraceHook | None = None) -> None:
        self._frames: deque[FrameRecord] = deque(maxlen=size)
        self.hook = hook
        self._hold: dict[str, bytes] = {}

    def record(self, direction: str, data: bytes, time: float) -> None:
        """Record a chunk; a chunk that stops inside a password value is held until the value is complete,
        so a secret split across reads is still redacted."""
        data = self._hold.pop(direction, b"") + data
        if not data:
            return
        if _OPEN_SECRET.search(data) and len(data) < _HOLD_LIMIT:
            self._hold[direction] = data
            return
        rec = FrameRecord(time=time, direction=direction, data=redact(data))
        self._frames.append(rec)
        if self.hook is not None:
            self.hook(rec)

    def frames(self) -> list[FrameRecord]:
        return list(self._frames)

    def dump(self) -> str:
        return "\n".join(r.format() for r in self._frames)
