"""``meterkit poll socket://HOST:PORT --once --mqtt ...`` for one point-to-point meter (no ``--addresses``): the
meter is named by the serial it reports (``0.0.0``) on the topics, in Home Assistant discovery, in the metrics and
in the output folder; ``--mqtt-remove`` finds it by the serial the earlier poll remembered."""

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
from meterkit.collector.store import ProfileStore
from meterkit.meter.catalogue import DemandValue, Quantity
from tests.e2e.conftest import running_server
from tests.e2e.test_collector import PASSWORD, served_meter
from tests.headend.test_mqtt_forwarding import Broker, free_port

from .mqttkit import Recorder, discovery_removed, retained_configs, wait_for

pytestmark = [pytest.mark.mqtt, pytest.mark.e2e]

REGISTERS = ["--register", "1.8.0", "--register", "1.6.0", "--register", "0.9.2"]
SERIAL = "31415926"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path, free_port())
    b.start()
    yield b
    b.stop()


def test_point_to_point_meter_is_published_under_the_serial_it_reports(tmp_path: Path, broker: Broker) -> None:
    vm = served_meter(SERIAL)
    pw = tmp_path / "pw.txt"
    pw.write_text(f"{PASSWORD}\n")
    out = tmp_path / "data"
    recorder = Recorder(broker.port, ("p2p/#", "homeassistant/#"))
    mqtt = f"mqtt://127.0.0.1:{broker.port}/p2p"
    try:
        with running_server(vm, ["tcp://127.0.0.1:0"]) as served:
            common = [served.tcp_url, "--password-file", str(pw), "--out", str(out), "--once", *REGISTERS]
            assert main(["poll", *common, "--mqtt", mqtt]) == 0
            endpoint = served.tcp_url
        # the poll ends once the broker acknowledged everything; the broker then delivers to subscribers
        wanted = [f"p2p/{SERIAL}/{a}" for a in ("1.8.0", "1.6.0", "0.9.2", "availability")]
        wanted.append(f"homeassistant/sensor/meterkit_{SERIAL}/1_8_0/config")
        assert wait_for(lambda: all(recorder.on(t) for t in wanted))
        energy = vm.reading("1.8.0")
        md = vm.reading("1.6.0")
        assert isinstance(energy, Quantity) and isinstance(md, DemandValue) and md.at is not None
        state = json.loads(recorder.on(f"p2p/{SERIAL}/1.8.0")[-1].payload)
        assert (Decimal(str(state["value"])), state["unit"]) == (energy.value, "kWh")
        state = json.loads(recorder.on(f"p2p/{SERIAL}/1.6.0")[-1].payload)
        assert (Decimal(str(state["value"])), state["unit"], state["max_at"]) == (md.value_kw, "kW", md.at.isoformat())
        assert json.loads(recorder.on(f"p2p/{SERIAL}/0.9.2")[-1].payload)["value"] == "261104"
        assert recorder.on(f"p2p/{SERIAL}/availability")[-1].payload == b"online"
        # nothing under the endpoint or an empty serial: only the meter's serial and the collector's status topic
        named = {m.topic.split("/")[1] for m in recorder.messages if m.topic.startswith("p2p/")}
        assert SERIAL in named and all(n == SERIAL or n.startswith("collector-") for n in named)
        # Home Assistant: one device named by the serial, with the identification's manufacturer and model
        entity = json.loads(recorder.on(f"homeassistant/sensor/meterkit_{SERIAL}/1_8_0/config")[-1].payload)
        assert entity["state_topic"] == f"p2p/{SERIAL}/1.8.0"
        assert entity["state_class"] == "total_increasing" and entity["unit_of_measurement"] == "kWh"
        assert entity["device"] == {
            "identifiers": [f"meterkit_{SERIAL}"],
            "name": f"Meter {SERIAL}",
            "manufacturer": vm.config.identity.manufacturer,
            "model": vm.config.identity.ident,
            "serial_number": SERIAL,
        }
        # the output folder: partitioned by the serial, the endpoint remembered
        store = ProfileStore(out)
        assert store.known_serials() == {endpoint: SERIAL}
        assert store.stored_rows(SERIAL) == len(vm.meter.profile)
        # --mqtt-remove (the meter need not answer): empty retained configs under the remembered serial
        assert main(["poll", *common, "--mqtt", mqtt, "--mqtt-remove"]) == 0
        assert discovery_removed(recorder, SERIAL)
    finally:
        recorder.close()
    assert retained_configs(broker.port) == []


def test_mqtt_remove_of_a_point_to_point_meter_never_polled_is_one_error_line(
    tmp_path: Path, broker: Broker, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["socket://127.0.0.1:1", "--out", str(tmp_path / "data"), "--once", "--register", "1.8.0"]
    assert main(["poll", *args, "--mqtt", f"mqtt://127.0.0.1:{broker.port}", "--mqtt-remove"]) == 1
    err = capsys.readouterr().err
    assert "the serial of the meter on socket://127.0.0.1:1 is not known" in err and "Traceback" not in err


def test_point_to_point_metrics_carry_the_serial_as_the_meter_label(tmp_path: Path) -> None:
    vm = served_meter(SERIAL)
    pw = tmp_path / "pw.txt"
    pw.write_text(f"{PASSWORD}\n")
    metrics = free_port()
    with running_server(vm, ["tcp://127.0.0.1:0"]) as served:
        proc = subprocess.Popen(
            [sys.executable, "-m", "meterkit.cli.app", "poll", served.tcp_url, "--password-file", str(pw),
             "--out", str(tmp_path / "data"), "--interval", "1h", "--timeout", "20", *REGISTERS,
             "--metrics", f"127.0.0.1:{metrics}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == f"metrics on http://127.0.0.1:{metrics}/metrics"

            def scrape() -> dict[str, object]:
                with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=10) as answer:
                    return {f.name: f for f in text_string_to_metric_families(answer.read().decode())}

            assert wait_for(lambda: "meterkit_up" in scrape(), 30)
            families = scrape()
            up = {s.labels["meter"]: s.value for s in families["meterkit_up"].samples}  # type: ignore[attr-defined]
            assert up == {SERIAL: 1}
            info = families["meterkit_meter"].samples  # type: ignore[attr-defined]
            assert [(s.labels["meter"], s.labels["model"]) for s in info] == [(SERIAL, vm.config.identity.ident)]
            energy = [s for s in families["meterkit_energy_joules"].samples if s.labels["obis"] == "1.8.0"]  # type: ignore[attr-defined]
            reading = vm.reading("1.8.0")
            assert isinstance(reading, Quantity)
            assert [(s.labels["meter"], Decimal(str(s.value))) for s in energy] == [(SERIAL, reading.value * 3_600_000)]
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(20)
