"""Protocol counters from what crosses a meter's optical port, without touching the protocol code.

:class:`PortTap` is a frame-trace hook (:data:`meterkit.iec62056_21.trace.TraceHook`, what ``start_server(...,
trace=...)`` takes): it decodes both directions with the protocol's own decoder and counts sign-on requests
(sessions), NAKs, received messages with a wrong BCC and error answers (``ER01``...), and marks port activity.
Traces are redacted (a password's value and BCC are masked), so password commands are never counted as BCC errors.
With several connections served at once their bytes interleave in one trace and the counts are approximate; the
meter host, which sees each connection, should count there instead.

:class:`LockoutWatcher` counts the lockouts a meter's security log reports (``LOCKOUT_START``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ..errors import RemoteProtocolError
from ..iec62056_21.decoder import Decoder
from ..iec62056_21.messages import CommandMessage, ErrorAnswer, Nak, RequestMessage
from ..iec62056_21.trace import FrameRecord
from .metrics import ProtocolCounters
from .source import MeterSource

__all__ = ["LockoutWatcher", "PortTap"]


class PortTap:
    def __init__(self, counters: ProtocolCounters, meter: str, now: Callable[[], datetime]) -> None:
        self.counters = counters
        self.meter = meter
        self.now = now
        self._received = Decoder("meter")
        self._sent = Decoder("client")

    def __call__(self, record: FrameRecord) -> None:
        counters, meter = self.counters, self.meter
        counters.activity(meter, self.now())
        if record.direction == "<-":
            for item in self._decode(self._received, record.data):
                # after a sign-on request the meter identifies itself and an option select may follow
                self._received.expect(option_ack=isinstance(item, RequestMessage))
                if isinstance(item, RequestMessage):
                    counters.session(meter)
                elif isinstance(item, Nak):
                    counters.nak(meter)
                elif isinstance(item, RemoteProtocolError):
                    if "BCC" in str(item):
                        counters.bcc_error(meter)
                elif getattr(item, "bcc_ok", None) is False and not (
                    isinstance(item, CommandMessage) and item.command == "P"
                ):
                    counters.bcc_error(meter)
        else:
            for item in self._decode(self._sent, record.data):
                if isinstance(item, Nak):
                    counters.nak(meter)
                elif isinstance(item, ErrorAnswer):
                    counters.error_answer(meter, item.text[:8])

    @staticmethod
    def _decode(decoder: Decoder, data: bytes) -> list[object]:
        try:
            return list(decoder.feed(data))
        except RemoteProtocolError as exc:  # the tap never disturbs the port it watches
            decoder.reset()
            return [exc]


class LockoutWatcher:
    """Call :meth:`check` now and then: new ``LOCKOUT_START`` entries of the meter's security log are counted."""

    def __init__(self, counters: ProtocolCounters, source: MeterSource) -> None:
        self.counters = counters
        self.source = source
        entries = source.security_log()
        self._after = entries[-1].seq if entries else 0

    def check(self) -> None:
        for entry in self.source.security_log(self._after):
            self._after = entry.seq
            if entry.kind == "LOCKOUT_START":
                self.counters.lockout(self.source.serial)
