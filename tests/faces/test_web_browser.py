"""The front panel in a real headless Chromium (Debian's, driven by Selenium through the system chromedriver):
a readout lights the optical-port LED, a load slider raises the demand, opening the cover shows the tamper event and
the relay trip."""

from __future__ import annotations

import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from meterkit.faces.runner import FacesConfig
from meterkit.meter.config import load_config
from meterkit.meter.virtual import VirtualMeter, demo_config_path

from .background import serving

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: where the test leaves its screenshot (build/ is not committed)
ARTIFACTS = Path(os.environ.get("MK_ARTIFACTS", Path(__file__).resolve().parents[2] / "build" / "artifacts"))


@pytest.fixture
def browser() -> Iterator[object]:
    assert CHROMIUM.exists() and CHROMEDRIVER.exists(), "make test installs them (scripts/ensure-chromium.sh)"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1250"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def number(text: str) -> Decimal:
    return Decimal(text.split()[0])


def test_the_panel_shows_port_activity_demand_rising_and_the_cover_tamper(browser: object) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    from meterkit.client import MeterClient
    from meterkit.transport import open_transport

    text = (
        demo_config_path().read_text().split("[adjustment.raw_error]")[0].replace('kind = "synthetic"', 'kind = "live"')
    )
    vm = VirtualMeter(load_config(text=text))  # the real clock: the page shows live demand
    driver: any = browser  # type: ignore[valid-type]
    with serving(vm, FacesConfig(web="127.0.0.1:0"), tick_s=0.25, listen=("tcp://127.0.0.1:0",)) as served:
        wait = WebDriverWait(driver, 20, poll_frequency=0.1)
        driver.get(served.url("web panel"))
        assert driver.current_url.endswith("/meter/12345678")
        wait.until(lambda d: d.find_element(By.ID, "conn").text == "live")
        assert "on" not in driver.find_element(By.ID, "port-led").get_attribute("class").split()
        port = "socket://" + served.url("listening on").removeprefix("tcp://")
        with MeterClient(open_transport(port)) as client:
            client.readout()
        wait.until(lambda d: "on" in d.find_element(By.ID, "port-led").get_attribute("class").split())
        assert driver.find_element(By.ID, "relay-state").text == "closed"
        assert number(driver.find_element(By.ID, "demand-now").text) == 0

        slider = driver.find_element(By.ID, "load-1")
        slider.click()
        slider.send_keys(Keys.END)  # 400 A on L1: 92 kW
        wait.until(lambda d: number(d.find_element(By.ID, "power-now").text) == Decimal("92.000"))
        wait.until(lambda d: number(d.find_element(By.ID, "demand-now").text) > 0)
        assert driver.find_element(By.ID, "load-1-out").text.startswith("400")

        driver.find_element(By.ID, "cover-btn").click()
        wait.until(lambda d: "COVER_OPEN_UNAUTH" in d.find_element(By.ID, "security").text)
        wait.until(lambda d: d.find_element(By.ID, "relay-state").text == "open (tripped)")
        rows = driver.find_elements(By.CSS_SELECTOR, "#security tr.lvl-alarm")
        assert {"COVER_OPEN_UNAUTH", "RELAY_TRIP"} <= {r.find_elements(By.TAG_NAME, "td")[3].text for r in rows}
        assert driver.find_element(By.ID, "cover-state").text == "open"
        assert driver.find_element(By.ID, "lcd-addr").text != ""

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "web-panel.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000


def test_the_fleet_list_is_searchable_and_opens_a_panel(browser: object) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from meterkit.faces.virtual_source import VirtualMeterSource

    from .background import serving_sources
    from .meters import live_meter

    sources = [VirtualMeterSource(live_meter(f"1000{n:04d}")[0]) for n in range(12)]
    driver: any = browser  # type: ignore[valid-type]
    with serving_sources(list(sources), FacesConfig(web="127.0.0.1:0")) as served:
        wait = WebDriverWait(driver, 20, poll_frequency=0.1)
        driver.get(served.url("web panel"))
        wait.until(lambda d: d.find_element(By.ID, "count").text == "12 of 12")
        driver.find_element(By.ID, "search").send_keys("0007")
        wait.until(lambda d: d.find_element(By.ID, "count").text == "1 of 12")
        driver.find_element(By.LINK_TEXT, "10000007").click()
        wait.until(lambda d: d.find_element(By.ID, "plate-serial").text == "10000007")
        assert driver.current_url.endswith("/meter/10000007")


def test_a_panel_with_a_token_works_from_the_tokened_link(browser: object) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from .meters import live_meter

    vm, _ = live_meter()
    token = "k" * 20
    driver: any = browser  # type: ignore[valid-type]
    with serving(vm, FacesConfig(web="127.0.0.1:0", web_token=token)) as served:
        wait = WebDriverWait(driver, 20, poll_frequency=0.1)
        driver.get(served.url("web panel"))
        assert "401" in driver.page_source
        driver.get(served.url("web panel") + f"?token={token}")
        wait.until(lambda d: d.find_element(By.ID, "conn").text == "live")
        driver.find_element(By.ID, "cover-btn").click()
        wait.until(lambda d: d.find_element(By.ID, "relay-state").text == "open (tripped)")


def test_a_served_fleet_index_finds_a_meter_and_opens_its_panel(browser: object, tmp_path: Path) -> None:
    """``serve --fleet F --web``'s library core: the index lists every meter, a search by serial leaves one, its link
    opens that meter's panel, whose display shows the meter's own energy register."""
    import asyncio
    import threading
    from datetime import timedelta

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from meterkit.fleet import load_fleet
    from meterkit.fleet.store import FleetStore
    from meterkit.host.fleet import run_fleet
    from tests.fleet.test_fleet_faces import SERIALS, expected_readings, fleet_file

    path = fleet_file(tmp_path)
    expected = expected_readings(path)
    lines: list[str] = []
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def on_line(line: str) -> None:
        lines.append(line)
        if len(lines) == 2:  # listening on ..., web panel on ...
            ready.set()

    async def main() -> None:
        await run_fleet(
            load_fleet(path),
            store=FleetStore(":memory:"),
            history=timedelta(days=1),
            listen=["tcp://127.0.0.1:0"],
            ready=on_line,
            stop=stop,
            faces=FacesConfig(web="127.0.0.1:0"),
        )

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    driver: any = browser  # type: ignore[valid-type]
    try:
        assert ready.wait(120), lines
        url = next(line.rsplit(" ", 1)[1] for line in lines if line.startswith("web panel"))
        wait = WebDriverWait(driver, 20, poll_frequency=0.1)
        driver.get(url)
        total = len(SERIALS)
        wait.until(lambda d: d.find_element(By.ID, "count").text == f"{total} of {total}")
        serial = SERIALS[2]
        driver.find_element(By.ID, "search").send_keys(serial)
        wait.until(lambda d: d.find_element(By.ID, "count").text == f"1 of {total}")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "fleet-index.png"))
        driver.find_element(By.LINK_TEXT, serial).click()
        wait.until(lambda d: d.find_element(By.ID, "plate-serial").text == serial)
        assert driver.current_url.endswith(f"/meter/{serial}")
        wait.until(lambda d: d.find_element(By.ID, "lcd-addr").text not in ("", "--.--.-"))
        for _ in range(12):  # step the display list to the active energy
            if driver.find_element(By.ID, "lcd-addr").text == "1.8.0":
                break
            driver.find_element(By.ID, "step").click()
        assert driver.find_element(By.ID, "lcd-addr").text == "1.8.0"
        assert Decimal(driver.find_element(By.ID, "lcd-value").text) == expected[serial]["1.8.0"]
        assert driver.find_element(By.ID, "lcd-unit").text == "kWh"
        shot = ARTIFACTS / "fleet-panel.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()
