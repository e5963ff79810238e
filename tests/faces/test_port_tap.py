"""Protocol counters from an optical port's frame trace, and lockouts from the security log."""

from __future__ import annotations

from datetime import UTC, datetime

from meterkit.faces import LogEntry
from meterkit.faces.metrics import ProtocolCounters
from meterkit.faces.port_tap import LockoutWatcher, PortTap
from meterkit.iec62056_21.bcc import bcc
from meterkit.iec62056_21.trace import FrameRecord

AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SOH, STX, ETX, NAK = b"\x01", b"\x02", b"\x03", b"\x15"


def block(head: bytes, body: bytes, *, good: bool = True) -> bytes:
    payload = head[1:] + STX + body + ETX if head else body + ETX
    check = bcc(payload)
    return head[:1] + (STX if not head else b"") + payload + bytes([check if good else check ^ 0x7F])


def counts(counters: ProtocolCounters) -> tuple[int, int, int, dict[tuple[str, str], int]]:
    ports, errors = counters.snapshot()
    c = ports["12345678"]
    return c.sessions, c.naks, c.bcc_errors, errors


def test_sign_ons_naks_bcc_errors_and_error_answers_are_counted() -> None:
    counters = ProtocolCounters()
    tap = PortTap(counters, "12345678", lambda: AT)
    tap(FrameRecord(time=0.0, direction="<-", data=b"/?!\r\n"))
    tap(FrameRecord(time=0.1, direction="->", data=b"/MKT5VM3PH-100\r\n"))
    tap(FrameRecord(time=0.2, direction="<-", data=b"\x06051\r\n"))
    tap(FrameRecord(time=0.3, direction="<-", data=block(SOH + b"R1", b"1.8.0()", good=False)))
    tap(FrameRecord(time=0.4, direction="->", data=NAK))
    tap(FrameRecord(time=0.5, direction="<-", data=block(SOH + b"R1", b"1.8.0()")))
    tap(FrameRecord(time=0.6, direction="->", data=block(b"", b"(ER03)")))
    # a redacted password command: its BCC is masked in the trace, which is no BCC error
    tap(FrameRecord(time=0.7, direction="<-", data=block(SOH + b"P1", b"(***)", good=False)))
    tap(FrameRecord(time=0.8, direction="<-", data=b"/?12345678!\r\n"))
    sessions, naks, bcc_errors, errors = counts(counters)
    assert (sessions, naks, bcc_errors) == (2, 1, 1)
    assert errors == {("12345678", "ER03"): 1}
    assert counters.last_activity("12345678") == AT


def test_garbage_on_the_line_never_escapes_the_tap() -> None:
    counters = ProtocolCounters()
    tap = PortTap(counters, "12345678", lambda: AT)
    for chunk in (b"\x00\xff" * 3000, SOH + b"R1" + STX + b"x" * 5000, b"\x03\x03"):
        tap(FrameRecord(time=0.0, direction="<-", data=chunk))
        tap(FrameRecord(time=0.0, direction="->", data=chunk))
    tap(FrameRecord(time=0.0, direction="<-", data=b"/?!\r\n"))
    assert counts(counters)[0] == 1


class _Log:
    serial = "12345678"

    def __init__(self) -> None:
        self.entries: list[LogEntry] = []

    def security_log(self, after: int = 0) -> list[LogEntry]:
        return [e for e in self.entries if e.seq > after]

    def add(self, kind: str) -> None:
        self.entries.append(LogEntry(seq=len(self.entries) + 1, at=AT, kind=kind, text=""))


def test_lockouts_are_counted_once_each_from_the_security_log() -> None:
    counters = ProtocolCounters()
    log = _Log()
    log.add("LOCKOUT_START")  # before the watcher: history, not counted
    watcher = LockoutWatcher(counters, log)  # type: ignore[arg-type]
    log.add("AUTH_FAIL")
    log.add("LOCKOUT_START")
    watcher.check()
    watcher.check()
    log.add("LOCKOUT_END")
    log.add("LOCKOUT_START")
    watcher.check()
    assert counters.snapshot()[0]["12345678"].lockouts == 2
