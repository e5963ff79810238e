"""The live faces of a 1,000-meter fleet (``meterkit serve --fleet examples/fleet-1000.toml --publish --metrics
--web``), measured on the code the fleet host runs, without a broker (the MQTT messages stop in the outbox, an
in-memory SQLite table, as while a broker is away).

Prints: the memory the faces add (tracemalloc, after the fleet is built); one publishing round of every meter
(messages, time, the longest step the event loop is held for) and a second round with nothing changed (the fleet's
meters hold their clocks); one metrics scrape over HTTP (size, time; the published registers and every register);
the fleet index's ``/api/meters`` (size, time).  Times depend on the machine: compare them as ratios.
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
import urllib.request
from pathlib import Path

from meterkit.faces.discovery import DEFAULT_REGISTERS
from meterkit.faces.metrics import render_openmetrics
from meterkit.faces.mqtt_link import MqttLink, MqttOutbox, parse_mqtt_url
from meterkit.faces.publish import ReadingsPublisher
from meterkit.faces.runner import FacesConfig
from meterkit.faces.virtual_source import VirtualMeterSource
from meterkit.fleet import load_fleet
from meterkit.fleet.store import FleetStore
from meterkit.host.fleet import build_fleet
from meterkit.host.live import FleetLiveFaces
from meterkit.storage import NvStore

FLEET = Path(__file__).resolve().parents[1] / "examples" / "fleet-1000.toml"


def fetch(url: str) -> tuple[float, int]:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as answer:
        size = len(answer.read())
    return time.perf_counter() - start, size


def publishing_round(publisher: ReadingsPublisher) -> tuple[int, float, float]:
    """Every meter once, a chunk per step as the running publisher does: (messages, seconds, longest step)."""
    before = len(publisher.link.outbox)
    publisher._to_publish.extend(publisher.sources)
    longest = 0.0
    start = time.perf_counter()
    while publisher._to_publish:
        step = time.perf_counter()
        publisher.step()
        longest = max(longest, time.perf_counter() - step)
    return len(publisher.link.outbox) - before, time.perf_counter() - start, longest


async def main() -> None:
    t0 = time.perf_counter()
    meters = build_fleet(load_fleet(FLEET), FleetStore(":memory:"))
    print(f"fleet of {len(meters)} meters built in {time.perf_counter() - t0:.2f} s")

    tracemalloc.start()
    base = tracemalloc.take_snapshot()
    live = FleetLiveFaces(
        [m.meter for m in meters], FacesConfig(metrics="127.0.0.1:0", web="127.0.0.1:0"), NvStore(":memory:")
    )
    lines = await live.start()
    sources = [VirtualMeterSource(m.meter) for m in meters]
    link = MqttLink(parse_mqtt_url("mqtt://127.0.0.1:1/fleet"), "bench", MqttOutbox(NvStore(":memory:")))
    publisher = ReadingsPublisher(sources, link, changes_only=True)
    first = publishing_round(publisher)
    second = publishing_round(publisher)
    grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(base, "filename"))
    tracemalloc.stop()
    print(f"faces' memory (3 faces, publisher state after two rounds, outbox in memory): {grown / 1e6:.1f} MB")
    print(f"first publishing round: {first[0]} messages in {first[1]:.2f} s, longest step {first[2] * 1000:.0f} ms")
    print(f"second round, nothing changed: {second[0]} messages in {second[1]:.2f} s, longest step "
          f"{second[2] * 1000:.0f} ms")  # fmt: skip

    urls = {line.split(" on ", 1)[0]: line.rsplit(" ", 1)[1] for line in lines}
    took, size = await asyncio.to_thread(fetch, urls["metrics"])
    print(f"metrics scrape (the {len(DEFAULT_REGISTERS)} published registers): {size / 1e6:.1f} MB in {took:.2f} s")
    start = time.perf_counter()
    every = render_openmetrics(sources)
    print(f"metrics of every register (for comparison): {len(every) / 1e6:.1f} MB in "
          f"{time.perf_counter() - start:.2f} s")  # fmt: skip
    took, size = await asyncio.to_thread(fetch, urls["web panel"] + "api/meters")
    print(f"fleet index /api/meters: {size / 1e3:.0f} kB in {took * 1000:.0f} ms")
    await live.stop()


if __name__ == "__main__":
    asyncio.run(main())
