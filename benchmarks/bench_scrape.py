"""Scraping the demo meter's OpenMetrics endpoint (``meterkit serve --metrics``): the face served on loopback by the
same code the meter host runs, scraped over HTTP 200 times after a 20-scrape warm-up.

Prints the body size, the median and 95th-percentile scrape time, and the median rendering time and its share of a scrape (the rest is
HTTP on loopback and the event loop), so the figure can be compared across machines as a ratio.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import urllib.request

from meterkit.faces.metrics import ProtocolCounters, render_openmetrics
from meterkit.faces.runner import FacesConfig, start_faces, stop_faces
from meterkit.faces.virtual_source import VirtualMeterSource
from meterkit.meter.virtual import load_virtual_meter

SCRAPES = 200


def scrape(url: str) -> tuple[float, int]:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=10) as answer:
        size = len(answer.read())
    return time.perf_counter() - start, size


async def main() -> None:
    source = VirtualMeterSource(load_virtual_meter(None, None))
    lines: list[str] = []
    faces = await start_faces([source], FacesConfig(metrics="127.0.0.1:0"), announce=lines.append)
    url = lines[0].removeprefix("metrics on ")
    try:
        for _ in range(20):
            await asyncio.to_thread(scrape, url)
        times: list[float] = []
        size = 0
        for _ in range(SCRAPES):
            took, size = await asyncio.to_thread(scrape, url)
            times.append(took)
    finally:
        await stop_faces(faces)
    counters = ProtocolCounters()
    renders: list[float] = []
    for _ in range(SCRAPES):
        start = time.perf_counter()
        render_openmetrics([source], counters=counters)
        renders.append(time.perf_counter() - start)
    render_s = statistics.median(renders)
    times.sort()
    median = statistics.median(times)
    p95 = times[int(0.95 * len(times)) - 1]
    print(f"demo meter scrape: {size} bytes, median {median * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms")
    print(f"rendering: {render_s * 1000:.2f} ms = {render_s / median:.0%} of a scrape")


if __name__ == "__main__":
    asyncio.run(main())
