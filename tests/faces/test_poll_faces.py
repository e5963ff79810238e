"""``meterkit poll --mqtt/--metrics/--mqtt-remove`` against served meters and a real Mosquitto: every register read
reaches ``PREFIX/<serial>/<OBIS>`` with Home Assistant discovery and availability, the poll health is scraped and
parsed by prometheus_client, and ``--mqtt-remove`` clears the discovery."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from meterkit.cli.app import main
from meterkit.meter.catalogue import DemandValue, Quantity
from tests.e2e.conftest import running_server
from tests.e2e.test_collector import PASSWORD, served_meter
from tests.headend.test_mqtt_forwarding import Broker, free_port

from .mqttkit import Recorder, discovery_removed, retained_configs, wait_for

pytestmark = [pytest.mark.mqtt, pytest.mark.e2e]

REGISTERS = ["--register", "1.8.0", "--register", "1.6.0", "--register", "0.9.2"]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path, free_port())
    b.start()
    yield b
    b.stop()


def test_poll_publishes_every_register_read_with_discovery_and_removes_it(tmp_path: Path, broker: Broker) -> None:
    vm = served_meter("10000000")
    pw = tmp_path / "pw.txt"
    pw.write_text(f"{PASSWORD}\n")
    recorder = Recorder(broker.port, ("coll/#", "homeassistant/#"))
    mqtt = f"mqtt://127.0.0.1:{broker.port}/coll"
    try:
        with running_server(vm, ["tcp://127.0.0.1:0"]) as served:
            common = [served.tcp_url, "--addresses", "10000000", "--password-file", str(pw)]
            args = [*common, "--out", str(tmp_path / "data"), "--once", *REGISTERS, "--mqtt", mqtt]
            assert main(["poll", *args]) == 0
        energy = vm.reading("1.8.0")
        md = vm.reading("1.6.0")
        assert isinstance(energy, Quantity) and isinstance(md, DemandValue) and md.at is not None
        # states: every register read, as numbers with units; the MD with its time
        state = json.loads(recorder.on("coll/10000000/1.8.0")[-1].payload)
        assert (Decimal(str(state["value"])), state["unit"]) == (energy.value, "kWh")
        state = json.loads(recorder.on("coll/10000000/1.6.0")[-1].payload)
        assert Decimal(str(state["value"])) == md.value_kw and state["unit"] == "kW"
        assert state["max_at"] == md.at.isoformat()
        assert json.loads(recorder.on("coll/10000000/0.9.2")[-1].payload)["value"] == "261104"
        assert recorder.on("coll/10000000/availability")[-1].payload == b"online"
        # discovery: one device, one entity per register read, retained
        config = recorder.on("homeassistant/sensor/meterkit_10000000/1_8_0/config")[-1]
        assert config.retain or config.payload
        entity = json.loads(config.payload)
        assert entity["state_class"] == "total_increasing" and entity["device"]["serial_number"] == "10000000"
        assert entity["device"]["manufacturer"] == vm.config.identity.manufacturer
        assert entity["device"]["model"] == vm.config.identity.ident
        assert json.loads(recorder.on("homeassistant/sensor/meterkit_10000000/1_6_0/config")[-1].payload)[
            "state_class"
        ] == ("measurement")
        # --mqtt-remove: empty retained configs for the registers' entities
        removal = [*common, "--out", str(tmp_path / "data"), "--once", *REGISTERS, "--mqtt", mqtt, "--mqtt-remove"]
        assert main(["poll", *removal]) == 0
        assert discovery_removed(recorder, "10000000")
    finally:
        recorder.close()
    # a new subscriber gets no retained config any more
    assert retained_configs(broker.port) == []


def test_mqtt_remove_without_a_broker_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["socket://127.0.0.1:1", "--addresses", "1", "--out", str(tmp_path), "--once", "--mqtt-remove"]
    assert main(["poll", *args]) == 2
    assert "--mqtt-remove needs --mqtt" in capsys.readouterr().err


def test_poll_metrics_report_the_health_of_each_meter(tmp_path: Path, broker: Broker) -> None:
    vm = served_meter("10000000")
    pw = tmp_path / "pw.txt"
    pw.write_text(f"{PASSWORD}\n")
    metrics = free_port()
    with running_server(vm, ["tcp://127.0.0.1:0"]) as served:
        proc = subprocess.Popen(
            [sys.executable, "-m", "meterkit.cli.app", "poll", served.tcp_url, "--addresses", "10000000,10000099",
             "--password-file", str(pw), "--out", str(tmp_path / "data"), "--interval", "1h", "--timeout", "20",
             "--retries", "0", *REGISTERS, "--mqtt", f"mqtt://127.0.0.1:{broker.port}", "--metrics",
             f"127.0.0.1:{metrics}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            lines = [proc.stdout.readline().strip() for _ in range(2)]
            assert lines == [
                f"readings on mqtt://127.0.0.1:{broker.port}/meterkit",
                f"metrics on http://127.0.0.1:{metrics}/metrics",
            ]

            def scrape() -> dict[str, object]:
                with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=10) as answer:
                    return {f.name: f for f in text_string_to_metric_families(answer.read().decode())}

            def both_polled() -> bool:
                fam = scrape()
                return "meterkit_up" in fam and len(fam["meterkit_up"].samples) == 2  # type: ignore[attr-defined]

            assert wait_for(both_polled, 30)
            families = scrape()
            up = {s.labels["meter"]: s.value for s in families["meterkit_up"].samples}  # type: ignore[attr-defined]
            assert up == {"10000000": 1, "10000099": 0}
            energy = [s for s in families["meterkit_energy_joules"].samples if s.labels["obis"] == "1.8.0"]  # type: ignore[attr-defined]
            reading = vm.reading("1.8.0")
            assert isinstance(reading, Quantity)
            assert [(s.labels["meter"], Decimal(str(s.value))) for s in energy] == [
                ("10000000", reading.value * 3_600_000)
            ]
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(20)
