"""Decoder cost versus chunk size: a 78 KB readout fed in one chunk and in 20-byte chunks (client side), and a 4 KB
command fed byte by byte (meter side).  The search for a message's end resumes where the previous ``feed`` stopped,
so the chunked/one-chunk ratio should stay small and independent of the message size (it was ~300x before).

Prints CPU seconds per decode and the ratio chunked/one-chunk, measured in this run.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from meterkit.iec62056_21.bcc import bcc
from meterkit.iec62056_21.decoder import Decoder
from meterkit.iec62056_21.messages import DataMessage, DataSet


def readout(n_datasets: int = 2600) -> bytes:
    rows = tuple(
        DataSet.single(f"1.8.{i % 100}*{i % 90 + 10}", f"{i:010d}.{i % 1000:03d}", "kWh") for i in range(n_datasets)
    )
    return b"/MKT5TEST1\r\n" + DataMessage(datasets=rows).to_bytes()


def long_command(size: int = 4000) -> bytes:
    body = b"W1\x02P.01(" + b"0" * (size - 12) + b")\x03"
    return b"\x01" + body + bytes([bcc(body)])


def cpu(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def feed(role: str, stream: bytes, size: int) -> int:
    decoder = Decoder(role)  # type: ignore[arg-type]
    items = 0
    for i in range(0, len(stream), size):
        items += len(decoder.feed(stream[i : i + size]))
    return items


def main() -> None:
    data = readout()
    one = cpu(lambda: feed("client", data, len(data)), 20)
    chunked = cpu(lambda: feed("client", data, 20), 5)
    print(
        f"client, {len(data) / 1000:.0f} KB readout: one chunk {one * 1e3:.2f} ms, 20-byte chunks {chunked * 1e3:.2f} ms "
        f"CPU; ratio chunked/one-chunk {chunked / one:.1f}x"
    )
    cmd = long_command()
    one_m = cpu(lambda: feed("meter", cmd, len(cmd)), 50)
    byte_m = cpu(lambda: feed("meter", cmd, 1), 10)
    print(
        f"meter, {len(cmd) / 1000:.0f} KB command: one chunk {one_m * 1e3:.3f} ms, byte at a time {byte_m * 1e3:.2f} ms "
        f"CPU; ratio byte-at-a-time/one-chunk {byte_m / one_m:.1f}x"
    )


if __name__ == "__main__":
    main()
