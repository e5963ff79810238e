"""CPU time per full readout: our client and our meter in one process over loopback TCP, no baud emulation.

Prints the CPU seconds per readout (client + meter + event loop), and the ratio to the same readout through the
in-memory sans-IO pair (protocol work only).  Wall time is dominated by the protocol's reaction times (t_r and the
post-switch delay), so CPU time is the figure that says how cheap the implementation is.
"""

from __future__ import annotations

import asyncio
import threading
import time

from meterkit.client import MeterClient
from meterkit.iec62056_21.testing import ConnectionPair
from meterkit.meter.static_table import StaticTableMeter
from meterkit.transport import open_transport
from meterkit.transport.server import start_server

N_TCP = 20
N_PAIR = 2000


def main() -> None:
    app = StaticTableMeter()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    endpoints: list[str] = []
    stop = asyncio.Event()

    async def run() -> None:
        handle = await start_server(app, ["tcp://127.0.0.1:0"])
        endpoints.extend(handle.endpoints)
        ready.set()
        await stop.wait()
        await handle.close()

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    ready.wait()
    url = "socket://" + endpoints[0].removeprefix("tcp://")

    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(N_TCP):
        with MeterClient(open_transport(url)) as client:
            assert len(client.readout().datasets) == 9
    tcp_cpu = (time.process_time() - cpu0) / N_TCP
    tcp_wall = (time.perf_counter() - wall0) / N_TCP
    loop.call_soon_threadsafe(stop.set)
    thread.join()

    cpu0 = time.process_time()
    for _ in range(N_PAIR):
        pair = ConnectionPair.for_application(app)
        assert len(pair.readout().datasets) == 9
    pair_cpu = (time.process_time() - cpu0) / N_PAIR

    print(
        f"full readout over loopback TCP: {tcp_cpu * 1e3:.2f} ms CPU per readout (wall {tcp_wall * 1e3:.0f} ms, "
        f"of which protocol waits t_r/post-switch dominate); {N_TCP} readouts"
    )
    print(
        f"same readout through the in-memory sans-IO pair: {pair_cpu * 1e3:.3f} ms CPU per readout; {N_PAIR} readouts"
    )
    print(f"ratio TCP/pair CPU: {tcp_cpu / pair_cpu:.1f}x")


if __name__ == "__main__":
    main()
