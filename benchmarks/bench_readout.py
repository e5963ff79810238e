"""CPU time per full readout: our client and our meter in one process over loopback TCP, no baud emulation.

Two meters: the protocol reference ``StaticTableMeter`` (9 data sets) and the demo meter that ``meterkit serve`` runs
(``VirtualMeter`` from ``demo_config_path()``, here on a simulated clock so the metrology does not run between
readouts).  For each it prints the CPU milliseconds per readout (client + meter + event loop), and the ratio to the same
readout through the in-memory sans-IO pair (protocol work only).  Wall time is dominated by the protocol's reaction
times (t_r and the post-switch delay), so CPU time is the figure that says how cheap the implementation is.
"""

from __future__ import annotations

import asyncio
import threading
import time

from meterkit.client import MeterClient
from meterkit.clock import SimulatedClock
from meterkit.iec62056_21.application import MeterApplication
from meterkit.iec62056_21.testing import ConnectionPair
from meterkit.meter.config import load_config
from meterkit.meter.static_table import StaticTableMeter
from meterkit.meter.virtual import VirtualMeter, demo_config_path
from meterkit.transport import open_transport
from meterkit.transport.server import start_server

N_TCP = 20
N_PAIR = 1000


def tcp_readouts(app: MeterApplication, n: int) -> tuple[float, float, int]:
    """CPU and wall seconds per readout over loopback TCP, and the number of data sets read."""
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
    count = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(n):
        with MeterClient(open_transport(url)) as client:
            count = len(client.readout().datasets)
    cpu = (time.process_time() - cpu0) / n
    wall = (time.perf_counter() - wall0) / n
    loop.call_soon_threadsafe(stop.set)
    thread.join()
    return cpu, wall, count


def pair_readouts(app: MeterApplication, n: int) -> float:
    cpu0 = time.process_time()
    for _ in range(n):
        assert ConnectionPair.for_application(app).readout().datasets
    return (time.process_time() - cpu0) / n


def main() -> None:
    meters: list[tuple[str, MeterApplication]] = [
        ("StaticTableMeter", StaticTableMeter()),
        (
            "demo VirtualMeter (meterkit serve)",
            VirtualMeter(load_config(demo_config_path()), clock=SimulatedClock(), follow_clock=False),
        ),
    ]
    for name, app in meters:
        tcp_cpu, tcp_wall, count = tcp_readouts(app, N_TCP)
        pair_cpu = pair_readouts(app, N_PAIR)
        print(
            f"{name}: {count} data sets; loopback TCP {tcp_cpu * 1e3:.2f} ms CPU per full readout "
            f"(wall {tcp_wall * 1e3:.0f} ms, protocol waits t_r/post-switch dominate; {N_TCP} readouts); "
            f"in-memory pair {pair_cpu * 1e3:.3f} ms CPU ({N_PAIR} readouts); ratio TCP/pair {tcp_cpu / pair_cpu:.1f}x"
        )


if __name__ == "__main__":
    main()
