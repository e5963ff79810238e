"""Listening to a meter that pushes (IEC 62056-21 mode D, DSMR P1): telegrams in, one result per telegram out.

The listener drives a :class:`~meterkit.iec62056_21.client.ClientConnection` in its listen state over any
:class:`~meterkit.transport.base.Transport`.  A telegram is handed over as :class:`Telegram`; what cannot be read (a
DSMR CRC16 that does not match, noise between telegrams, a telegram cut short) is handed over as
:class:`BrokenTelegram` with its bytes, and listening goes on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..clock import Clock, SystemClock
from ..errors import TransportError
from ..iec62056_21.baud import MODE_D_BAUD
from ..iec62056_21.bcc import crc16
from ..iec62056_21.client import ClientConfig, ClientConnection
from ..iec62056_21.events import ProtocolViolation, ReadoutReceived, SetLine
from ..iec62056_21.messages import DataSet, IdentificationMessage
from ..iec62056_21.trace import FrameRing, TraceHook
from ..transport.base import Transport

__all__ = ["BrokenTelegram", "Telegram", "listen"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Telegram:
    """One pushed telegram; ``crc_ok`` True when a DSMR CRC16 was sent and matched, None when there was none."""

    identification: IdentificationMessage
    datasets: tuple[DataSet, ...]
    crc_ok: bool | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class BrokenTelegram:
    """Bytes that were not a readable telegram, and why."""

    reason: str
    data: bytes


def listen(
    transport: Transport,
    *,
    baud: int = MODE_D_BAUD,
    framing: str = "7E1",
    count: int | None = None,
    idle_timeout: float | None = None,
    clock: Clock | None = None,
    trace: TraceHook | None = None,
) -> Iterator[Telegram | BrokenTelegram]:
    """Yield every telegram (and every broken one) the meter pushes; stop after ``count`` telegrams, or when
    nothing arrived for ``idle_timeout`` seconds (``None``: listen until the line closes)."""
    clock = clock or SystemClock()
    frames = FrameRing(hook=trace, label="listener")
    conn = ClientConnection(ClientConfig())
    conn.listen(baud=baud, framing=framing)
    for directive in conn.outputs():
        if isinstance(directive, SetLine):
            transport.set_line(directive)
    seen = 0
    last = clock.monotonic()
    while count is None or seen < count:
        try:
            data = transport.read(0.25)
        except TransportError:
            data = b""
            closed = True
        else:
            closed = False
        now = clock.monotonic()
        if data:
            last = now
            frames.record("<-", data, now, wall=clock.now())
            conn.receive_data(data, now)
        elif closed:
            conn.receive_data(b"", now)  # the end of the stream: an unfinished telegram is reported
        elif idle_timeout is not None and now - last >= idle_timeout:
            return
        while (event := conn.next_event()) is not None:
            if isinstance(event, ProtocolViolation):
                yield BrokenTelegram(reason=str(event.error).split(" (bytes:")[0], data=event.error.data)
            elif isinstance(event, ReadoutReceived) and event.push is not None:
                push = event.push
                if push.crc_ok is False:
                    body = push.raw[: push.raw.rindex(b"!") + 1] if b"!" in push.raw else push.raw
                    yield BrokenTelegram(
                        reason=f"CRC mismatch: the telegram says {push.check}, its bytes give {crc16(body):04X}",
                        data=push.raw,
                    )
                    continue
                seen += 1
                yield Telegram(identification=push.identification, datasets=push.datasets, crc_ok=push.crc_ok)
                if count is not None and seen >= count:
                    return
        if closed:
            return
