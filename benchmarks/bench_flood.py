"""Memory under a flood: 100 MiB of noise, of a never-ended ``SOH W1 STX (AAA...``, and of bytes with the parity bit
set, fed to a meter-side decoder in 64 KiB chunks (what a socket read gives).  Prints the growth of the peak RSS per
flood (the bound to hold is 32 MiB), the largest buffer the decoder held, and the decoding rate, measured in this run.

    python benchmarks/bench_flood.py [MiB]
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Iterator

from meterkit.iec62056_21.decoder import Decoder

CHUNK = 65536


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def noise(total: int) -> Iterator[bytes]:
    chunk = bytes(range(0x30, 0x7F)) * (CHUNK // 79)
    for _ in range(total // len(chunk)):
        yield chunk


def never_ended(total: int) -> Iterator[bytes]:
    yield b"\x01W1\x02("
    chunk = b"A" * CHUNK
    for _ in range(total // CHUNK):
        yield chunk


def parity(total: int) -> Iterator[bytes]:
    chunk = bytes(range(0x80, 0x100)) * (CHUNK // 128)
    for _ in range(total // CHUNK):
        yield chunk


def main() -> None:
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    total = mib << 20
    print(f"flood of {mib} MiB per kind, {CHUNK}-byte chunks, meter-side decoder (max_message 4096)")
    for name, source in (("noise", noise), ("never-ended SOH block", never_ended), ("parity-bit bytes", parity)):
        decoder = Decoder("meter")
        before = peak_rss_mib()
        start = time.process_time()
        held = reports = fed = 0
        for chunk in source(total):
            reports += len(decoder.feed(chunk))
            fed += len(chunk)
            held = max(held, decoder.buffered)
        cpu = time.process_time() - start
        grown = peak_rss_mib() - before
        print(
            f"{name:24s} peak RSS +{grown:6.1f} MiB  largest buffer {held:5d} B  {reports:8d} reports  "
            f"{fed / cpu / (1 << 20):6.1f} MiB/s"
        )


if __name__ == "__main__":
    main()
