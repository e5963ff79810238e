"""Wall time on a paced line (a served pty with ``baud_emulation``), measured byte by byte at the client's end.

The meter's pauses count from when its bytes have left the line: t_t (the mode C fallback readout when no option
select comes) is 1.5 s < t_t <= 2.2 s after the identification's *last* byte (IEC 62056-21 §6.4.5.3), and a mode B
readout starts at least t_r (0.2 s) after the identification's last byte, so an IR head has time to switch its rate.
Bounds are the standard's, generous against a busy machine, and each would fail with the timing measured before the
fix (t_t 1.49 s after the last byte; mode B readout 0.03 s after it).
"""

from __future__ import annotations

import os
import select
import termios
import time
import tty

from meterkit.iec62056_21.meter import MeterPortConfig
from meterkit.meter.static_table import StaticTableMeter

from .conftest import running_server

IDENT = "LONGIDENT-123456"  # 16 characters: the identification takes 0.77 s at 300 Bd


def small_meter(config: MeterPortConfig) -> StaticTableMeter:
    meter = StaticTableMeter(config=config)
    meter.registers = {k: v for k, v in meter.registers.items() if k in ("0.0.0", "1.8.0")}
    return meter


def arrivals(path: str, request: bytes, until: bytes, timeout: float = 10.0) -> list[tuple[float, int]]:
    """Send ``request`` on the pty and time every byte that arrives until ``until`` has been seen."""
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    try:
        tty.setraw(fd)
        termios.tcflush(fd, termios.TCIOFLUSH)
        os.write(fd, request)
        seen: list[tuple[float, int]] = []
        deadline = time.monotonic() + timeout
        while until not in bytes(b for _, b in seen):
            left = deadline - time.monotonic()
            assert left > 0, f"no {until!r} within {timeout} s; got {bytes(b for _, b in seen)!r}"
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 4096)
                at = time.monotonic()
                seen += [(at, b) for b in chunk]
        return seen
    finally:
        os.close(fd)


def ident_span(seen: list[tuple[float, int]]) -> tuple[float, float, int]:
    """Times of the identification's first and last byte and the index after it."""
    data = bytes(b for _, b in seen)
    start = data.index(b"/")
    end = data.index(b"\r\n", start) + 1
    return seen[start][0], seen[end][0], end + 1


def test_mode_c_fallback_readout_comes_t_t_after_the_identification_has_been_sent() -> None:
    meter = small_meter(MeterPortConfig(manufacturer="MKT", ident=IDENT, baud_char="5"))
    with running_server(meter, ["pty"], baud_emulation=True) as server:
        seen = arrivals(server.pty_path, b"/?!\r\n", until=b"\x02")  # no option select: wait for the readout
    first, last, after = ident_span(seen)
    stx = next(t for t, b in seen[after:] if b == 0x02)
    print(f"identification {last - first:.3f} s on the line; t_t {stx - last:.3f} s after its last byte")
    assert last - first >= 0.6  # 23 characters at 300 Bd really took their time (0.73 s from first to last)
    assert 1.5 < stx - last <= 2.2  # t_t, measured from the identification's end
    assert stx - first > 0.6 + 1.5  # so not from its start


def test_mode_b_readout_leaves_at_least_t_r_after_the_identification() -> None:
    config = MeterPortConfig(manufacturer="MKT", ident=IDENT, baud_char="E", protocol_mode="B")
    with running_server(small_meter(config), ["pty"], baud_emulation=True) as server:
        seen = arrivals(server.pty_path, b"/?!\r\n", until=b"!\r\n\x03")
    first, last, after = ident_span(seen)
    stx = next(t for t, b in seen[after:] if b == 0x02)
    print(f"identification {last - first:.3f} s on the line; readout {stx - last:.3f} s after its last byte")
    assert last - first >= 0.6
    assert stx - last >= 0.2  # t_r: the hand-held's IR head switches to 9600 Bd in between
    assert stx - last < 1.5  # and the readout does come (the meter's own pause is 0.4 s)
