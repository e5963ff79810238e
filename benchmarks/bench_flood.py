"""Memory under a flood: 100 MiB of noise, of a never-ended ``SOH W1 STX (AAA...``, and of bytes with the parity bit
set, fed to a meter-side decoder in 64 KiB chunks (what a socket read gives).  Prints the growth of the peak RSS per
flood (the bound to hold is 32 MiB), the largest buffer the decoder held, and the decoding rate, measured in this run.

    python benchmarks/bench_flood.py [MiB] [--server]

With ``--server`` the floods go to a ``meterkit serve`` process over TCP and its RSS (VmRSS, peak VmHWM) is printed.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path

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
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    mib = int(args[0]) if args else 100
    if "--server" in sys.argv:
        server_flood(mib)
        return
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


def server_flood(mib: int) -> None:
    """The same floods against a ``meterkit serve`` process over TCP: its resident memory before and after."""
    import re
    import socket
    import subprocess

    def rss(pid: int) -> tuple[float, float]:
        status = Path(f"/proc/{pid}/status").read_text()
        return tuple(  # type: ignore[return-value]
            int(re.search(rf"^{key}:\s+(\d+) kB", status, re.M).group(1)) / 1024  # type: ignore[union-attr]
            for key in ("VmRSS", "VmHWM")
        )

    proc = subprocess.Popen(
        [sys.executable, "-m", "meterkit.cli.app", "serve", "--listen", "tcp://127.0.0.1:0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        host, port = line.removeprefix("listening on tcp://").rsplit(":", 1)
        print(f"server flood of {mib} MiB per kind over TCP ({line})")
        for name, source in (("noise", noise), ("never-ended SOH block", never_ended), ("parity-bit bytes", parity)):
            before, _ = rss(proc.pid)
            start = time.monotonic()
            with socket.create_connection((host, int(port))) as sock:
                for chunk in source(mib << 20):
                    sock.sendall(chunk)
                sock.shutdown(socket.SHUT_WR)
                sock.settimeout(600)
                while sock.recv(65536):
                    pass
            now, peak = rss(proc.pid)
            took = time.monotonic() - start
            print(f"{name:24s} RSS {before:6.1f} -> {now:6.1f} MiB (peak {peak:6.1f})  {mib / took:6.1f} MiB/s")
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
