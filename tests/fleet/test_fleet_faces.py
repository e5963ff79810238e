"""``meterkit serve --fleet F --publish ... --metrics ... --web ...`` as a real process with a real Mosquitto: every
meter's registers reach ``PREFIX/<serial>/<OBIS>`` with its own Home Assistant device and availability topic,
prometheus_client's parser finds every meter's label, and the REST API lists, searches and reads every meter.

The expected values come from the same fleet built in this process (a fleet file gives the same meters every time).
"""

from __future__ import annotations

import asyncio
import json
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from meterkit.faces.discovery import DEFAULT_REGISTERS
from meterkit.faces.virtual_source import VirtualMeterSource
from meterkit.fleet import load_fleet
from meterkit.fleet.store import FleetStore
from meterkit.host.fleet import build_fleet
from tests.faces.mqttkit import Received, Recorder, wait_for
from tests.headend.test_mqtt_forwarding import Broker, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.mqtt]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fleet-1000.toml"
COUNT = 4
SERIALS = [str(10000000 + i) for i in range(COUNT)]


@dataclass
class ServedFleet:
    proc: subprocess.Popen[str]
    lines: list[str]
    broker: Broker
    recorder: Recorder
    #: {serial: {address: value}} of the same fleet built here
    expected: dict[str, dict[str, Decimal | str]]

    def url(self, kind: str) -> str:
        return next(line.rsplit(" ", 1)[1] for line in self.lines if line.startswith(kind))


def fleet_file(folder: Path) -> Path:
    path = folder / "fleet.toml"
    path.write_text(EXAMPLE.read_text().replace("count = 1000", f"count = {COUNT}"))
    return path


def expected_readings(path: Path) -> dict[str, dict[str, Decimal | str]]:
    meters = build_fleet(load_fleet(path), FleetStore(":memory:"), timedelta(days=1))
    return {m.serial: {r.address: r.value for r in VirtualMeterSource(m.meter).readings()} for m in meters}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedFleet]:
    folder = tmp_path_factory.mktemp("fleet-faces")
    path = fleet_file(folder)
    broker = Broker(folder, free_port())
    broker.start()
    recorder = Recorder(broker.port, ("fleet/#", "homeassistant/#"))
    args = [
        "serve", "--fleet", str(path), "--history", "1d", "--listen", "tcp://127.0.0.1:0",
        "--publish", f"mqtt://127.0.0.1:{broker.port}/fleet", "--metrics", "127.0.0.1:0", "--web", "127.0.0.1:0",
    ]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "meterkit.cli.app", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    out = proc.stdout
    got: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [got.put(line.strip()) for line in out], daemon=True).start()
    lines: list[str] = []
    try:
        for _ in range(4):
            try:
                lines.append(got.get(timeout=120))
            except queue.Empty:
                proc.kill()
                raise AssertionError(f"the fleet did not start: {proc.stderr.read() if proc.stderr else ''}") from None
        yield ServedFleet(proc, lines, broker, recorder, expected_readings(path))
        # SIGINT stops the fleet cleanly: exit 0, the host's status topic says offline
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0

        def host_status() -> list[Received]:
            return [
                m for m in recorder.messages if m.topic.startswith("fleet/meterkit-") and m.topic.endswith("/status")
            ]

        assert wait_for(lambda: host_status() and host_status()[-1].payload == b"offline")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        recorder.close()
        broker.stop()


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.loads(answer.read())


def test_the_fleet_announces_its_endpoint_and_each_face(served: ServedFleet) -> None:
    kinds = [line.split(" on ", 1)[0] for line in served.lines]
    assert kinds == ["listening", "readings", "metrics", "web panel"]
    assert served.url("readings") == f"mqtt://127.0.0.1:{served.broker.port}/fleet"


def test_every_meter_is_published_under_its_serial_with_discovery(served: ServedFleet) -> None:
    recorder = served.recorder
    for serial in SERIALS:
        topic = f"fleet/{serial}/1.8.0"
        assert wait_for(lambda topic=topic: recorder.on(topic), 60), topic
        want = served.expected[serial]
        for address in (
            "1.8.0",
            "1.8.1",
            "1.6.0",
            "2.8.0",
        ):  # a meter's registers may come in more than one message batch
            assert wait_for(lambda t=f"fleet/{serial}/{address}": recorder.on(t)), (serial, address)
            state = json.loads(recorder.on(f"fleet/{serial}/{address}")[-1].payload)
            assert Decimal(str(state["value"])) == want[address], (serial, address)
        assert wait_for(lambda serial=serial: recorder.on(f"fleet/{serial}/availability"))
        assert recorder.on(f"fleet/{serial}/availability")[-1].payload == b"online"
        config = f"homeassistant/sensor/meterkit_{serial}/1_8_0/config"
        assert wait_for(lambda config=config: recorder.on(config))
        entity = json.loads(recorder.on(config)[-1].payload)
        assert entity["device"]["serial_number"] == serial and entity["device"]["identifiers"] == [f"meterkit_{serial}"]
        assert entity["state_topic"] == f"fleet/{serial}/1.8.0" and entity["state_class"] == "total_increasing"
    # one device per meter; the host's status topic besides each meter's availability
    devices = {m.topic.split("/")[2] for m in recorder.messages if m.topic.startswith("homeassistant/")}
    assert devices == {f"meterkit_{s}" for s in SERIALS}
    assert any(m.topic.endswith("/status") and m.payload == b"online" for m in recorder.messages)


def test_an_unchanged_meter_is_not_published_again(served: ServedFleet) -> None:
    recorder = served.recorder
    topic = f"fleet/{SERIALS[0]}/1.8.0"
    assert wait_for(lambda: recorder.on(topic), 60)
    before = len(recorder.on(topic))
    subscriber = Recorder(served.broker.port, (topic,))  # a newcomer still gets the retained value
    try:
        assert wait_for(lambda: subscriber.on(topic))
        assert subscriber.on(topic)[-1].retain
    finally:
        subscriber.close()
    time.sleep(11)  # a publishing round (10 s) passes
    assert len(recorder.on(topic)) == before


def test_the_metrics_carry_every_meter_as_its_own_label(served: ServedFleet) -> None:
    with urllib.request.urlopen(served.url("metrics"), timeout=30) as answer:
        families = {f.name: f for f in text_string_to_metric_families(answer.read().decode())}
    info = families["meterkit_meter"].samples
    assert sorted(s.labels["meter"] for s in info) == SERIALS
    energy = {
        s.labels["meter"]: Decimal(str(s.value))
        for s in families["meterkit_energy_joules"].samples
        if s.labels["obis"] == "1.8.0"
    }
    assert energy == {s: Decimal(served.expected[s]["1.8.0"]) * 3_600_000 for s in SERIALS}
    # a fleet's metrics keep to the published registers
    obis = {s.labels["obis"] for f in families.values() for s in f.samples if "obis" in s.labels}
    assert obis <= set(DEFAULT_REGISTERS) and "1.8.0" in obis


def test_the_api_lists_searches_and_reads_every_meter(served: ServedFleet) -> None:
    base = served.url("web panel")
    assert [m["serial"] for m in get(base + "api/meters")] == SERIALS
    assert [m["serial"] for m in get(base + f"api/meters?q={SERIALS[2][-3:]}")] == [SERIALS[2]]
    assert get(base + "api/meters?q=nothing-like-it") == []
    for serial in SERIALS:
        registers = {r["address"]: r for r in get(base + f"api/meters/{serial}/registers")}
        assert Decimal(str(registers["1.8.0"]["value"])) == served.expected[serial]["1.8.0"]
        assert get(base + f"api/meters/{serial}")["serial"] == serial
    spec = get(base + "api/openapi.json")
    assert [p["name"] for p in spec["paths"]["/api/meters"]["get"]["parameters"]] == ["q"]
    with urllib.request.urlopen(base, timeout=10) as answer:  # the fleet index, not one meter's panel
        assert b"fleet.js" in answer.read() and answer.url == base


def test_one_port_per_meter_counts_each_meters_sessions_in_the_metrics(tmp_path: Path) -> None:
    """``--port-per-meter``: each meter's endpoint feeds its own protocol counters (the ``meter`` label)."""
    from meterkit.client import MeterClient
    from meterkit.faces.runner import FacesConfig
    from meterkit.host.fleet import FleetHost
    from meterkit.transport import open_transport

    path = fleet_file(tmp_path)
    store = FleetStore(":memory:")
    meters = build_fleet(load_fleet(path), store)
    first = free_port()
    loop = asyncio.new_event_loop()
    host = FleetHost(
        meters,
        store,
        [f"tcp://127.0.0.1:{first}"],
        port_per_meter=True,
        warm_keys=False,
        faces=FacesConfig(metrics="127.0.0.1:0"),
    )
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        lines = asyncio.run_coroutine_threadsafe(host.start(), loop).result(60)
        metrics = next(line.rsplit(" ", 1)[1] for line in lines if line.startswith("metrics on"))
        with MeterClient(open_transport(f"socket://127.0.0.1:{first + 2}")) as client:  # the third meter
            client.readout()
        with urllib.request.urlopen(metrics, timeout=30) as answer:
            families = {f.name: f for f in text_string_to_metric_families(answer.read().decode())}
        sessions = {s.labels["meter"]: s.value for s in families["meterkit_sessions"].samples}
        assert sessions == {SERIALS[2]: 1}
    finally:
        asyncio.run_coroutine_threadsafe(host.stop(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
