"""Makes docs/img/web-panel.png: the demo meter on a fast simulated clock (30 s of meter time every 0.1 s) under a
varying live load, its web panel in headless Chromium (scripts/ensure-chromium.sh), a screenshot after two hours.

    .venv/bin/python scripts/panel-screenshot.py [OUT.png]
"""

from __future__ import annotations

import asyncio
import math
import sys
from datetime import UTC, datetime
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from meterkit.clock import SimulatedClock
from meterkit.faces import CoverControl, LoadControl, PhaseLoad
from meterkit.faces.virtual_source import VirtualMeterSource
from meterkit.faces.web import WebPanel
from meterkit.meter.config import load_config
from meterkit.meter.virtual import VirtualMeter, demo_config_path

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img/web-panel.png")


def shoot(url: str, done: asyncio.AbstractEventLoop, steps: list[int]) -> None:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(url)
        while steps[0] < 250:
            import time

            time.sleep(0.2)
        driver.save_screenshot(str(OUT))
    finally:
        driver.quit()


async def main() -> None:
    text = demo_config_path().read_text().replace('kind = "synthetic"', 'kind = "live"')
    clock = SimulatedClock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    vm = VirtualMeter(load_config(text=text), clock=clock)
    source = VirtualMeterSource(vm)
    panel = WebPanel([source], stream_s=0.1)
    await panel.start()
    steps = [0]
    browser = asyncio.create_task(asyncio.to_thread(shoot, panel.url, asyncio.get_running_loop(), steps))
    await asyncio.sleep(2)  # the page is open and streaming
    while not browser.done():
        k = steps[0]
        amps = 90 + 45 * math.sin(k / 25) + (40 if 100 <= k < 130 else 0)
        for phase, share in ((1, 1.1), (2, 1.0), (3, 0.9)):
            source.control(LoadControl(phase=phase, load=PhaseLoad(voltage_v=230.0, current_a=round(amps * share, 1))))
        if k == 245:
            source.control(CoverControl(open=True))
        clock.advance(30)
        vm.tick()
        steps[0] += 1
        await asyncio.sleep(0.1)
    await browser
    await panel.stop()
    print(f"wrote {OUT}")


asyncio.run(main())
