"""Connections held under a half-open flood: N idle TCP connections (never signing on) against the served demo
meter with the default limits (:class:`meterkit.transport.server.ConnectionLimits`: cap 64, idle time-out 30 s),
then a genuine client signs on.  Prints how many flood connections the server still holds, the genuine client's
sign-on time, and the growth of the process's peak RSS, measured in this run.

    python benchmarks/bench_connections.py [N]
"""

from __future__ import annotations

import asyncio
import resource
import socket
import sys
import threading
import time

from meterkit.meter.config import load_config
from meterkit.meter.virtual import VirtualMeter, demo_config_path
from meterkit.transport.server import start_server


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1100
    text = demo_config_path().read_text().replace('kind = "synthetic"', 'kind = "live"')
    vm = VirtualMeter(load_config(text=text), follow_clock=False)
    loop = asyncio.new_event_loop()
    box: dict[str, str] = {}
    ready = threading.Event()
    stop = asyncio.Event()

    async def serve() -> None:
        handle = await start_server(vm, ["tcp://127.0.0.1:0"])
        box["url"] = handle.endpoints[0]
        ready.set()
        await stop.wait()
        await handle.close()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    ready.wait(10)
    host, port = box["url"].removeprefix("tcp://").rsplit(":", 1)
    before = peak_rss_mib()
    flood = []
    for _ in range(n):
        flood.append(socket.create_connection((host, int(port))))
    time.sleep(2)
    start = time.monotonic()
    genuine = socket.create_connection((host, int(port)))
    genuine.sendall(b"/?!\r\n")
    genuine.settimeout(10)
    got = b""
    while b"\r\n" not in got and time.monotonic() - start < 10:
        got += genuine.recv(100)
    signed_on = time.monotonic() - start
    time.sleep(0.5)
    held = 0
    for sock in flood:
        sock.setblocking(False)
        try:
            held += sock.recv(1) != b""
        except BlockingIOError:
            held += 1  # nothing to read and not closed: the server still holds it
        except OSError:
            pass
    print(f"flood connections opened: {n}; still held by the server: {held}")
    print(f"genuine client identification: {got.strip()!r} after {signed_on * 1000:.0f} ms")
    print(f"peak RSS growth (client and server in one process): {peak_rss_mib() - before:.1f} MiB")
    for sock in flood:
        sock.close()
    genuine.close()
    loop.call_soon_threadsafe(stop.set)
    thread.join(10)


if __name__ == "__main__":
    main()
