"""Readings and discovery reach a real Mosquitto broker, and nothing is lost while the broker is down."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from meterkit.faces import CoverControl, LoadControl, PhaseLoad
from meterkit.faces.mqtt_link import MqttLink, MqttOutbox, parse_mqtt_url
from meterkit.faces.publish import ReadingsPublisher
from meterkit.faces.virtual_source import VirtualMeterSource
from meterkit.storage import NvStore
from tests.headend.test_mqtt_forwarding import Broker, free_port

from .meters import live_meter
from .mqttkit import Recorder, wait_for

pytestmark = [pytest.mark.mqtt, pytest.mark.e2e]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path, free_port())
    b.start()
    yield b
    b.stop()


def test_discovery_states_and_events_arrive_and_the_outage_loses_nothing(tmp_path: Path, broker: Broker) -> None:
    vm, clock = live_meter()
    source = VirtualMeterSource(vm)
    source.control(LoadControl(load=PhaseLoad(voltage_v=230.0, current_a=100.0)))
    recorder = Recorder(broker.port)
    store = NvStore(tmp_path / "outbox.sqlite")
    link = MqttLink(parse_mqtt_url(f"mqtt://127.0.0.1:{broker.port}/meterkit"), "host-a", MqttOutbox(store))
    publisher = ReadingsPublisher([source], link)
    link.start()
    try:
        assert wait_for(lambda: link.connected)
        clock.advance(20 * 60)
        vm.tick()
        publisher.publish_once()
        assert wait_for(lambda: recorder.on("meterkit/12345678/1.6.0"), pump=publisher.step)
        assert wait_for(lambda: publisher.step() == 0)

        config = json.loads(recorder.on("homeassistant/sensor/meterkit_12345678/1_8_0/config")[-1].payload)
        assert config["device"]["manufacturer"] == "MKT" and config["device"]["model"] == "VM3PH-100"
        assert config["state_class"] == "total_increasing" and config["unit_of_measurement"] == "kWh"
        demand = json.loads(recorder.on("homeassistant/sensor/meterkit_12345678/1_4_0/config")[-1].payload)
        assert (demand["device_class"], demand["state_class"]) == ("power", "measurement")
        md = json.loads(recorder.on("meterkit/12345678/1.6.0")[-1].payload)
        assert md["value"] == 69.0 and md["max_at"] == "2026-11-02T09:15:00+00:00"
        assert recorder.on("meterkit/12345678/availability")[-1].payload == b"online"
        assert recorder.on("meterkit/host-a/status")[-1].payload == b"online"

        broker.stop()  # the broker goes away: readings and events wait in the SQLite outbox
        assert wait_for(lambda: not link.connected)
        sent_during_outage = []
        for _ in range(3):
            clock.advance(60)
            vm.tick()
            publisher.publish_once()
            energy = next(r for r in source.readings() if r.address == "1.8.0")
            sent_during_outage.append(float(energy.value))
        source.control(CoverControl(open=True))
        publisher.publish_once()
        assert publisher.step() > 0 and len(link.outbox) > 0

        broker.start()
        recorder.reconnect()
        assert wait_for(lambda: link.connected, 30)
        assert wait_for(lambda: publisher.step() == 0, 30)
        energies = [json.loads(m.payload)["value"] for m in recorder.on("meterkit/12345678/1.8.0")]
        assert sent_during_outage == [24.15, 25.3, 26.45]  # 69 kW for one more minute each
        assert energies[-4:] == [*sent_during_outage, 26.45]  # every state of the outage, in order, then the last
        events = [json.loads(m.payload) for m in recorder.on("meterkit/12345678/events")]
        kinds = [(e["log"], e["kind"], e["level"]) for e in events]
        assert ("security", "COVER_OPEN_UNAUTH", "alarm") in kinds and ("security", "RELAY_TRIP", "alarm") in kinds
        # the broker forgot its retained messages: discovery was sent again on the new connection
        assert len(recorder.on("homeassistant/sensor/meterkit_12345678/1_8_0/config")) == 2
    finally:
        link.stop()
        recorder.close()
        store.close()


def test_removal_leaves_no_retained_discovery(tmp_path: Path, broker: Broker) -> None:
    import asyncio

    from meterkit.faces.runner import remove_discovery

    vm, _ = live_meter()
    source = VirtualMeterSource(vm)
    store = NvStore(":memory:")
    link = MqttLink(parse_mqtt_url(f"mqtt://127.0.0.1:{broker.port}"), "host-b", MqttOutbox(store))
    publisher = ReadingsPublisher([source], link, discovery_prefix="ha")
    link.start()
    try:
        assert wait_for(lambda: link.connected)
        assert wait_for(lambda: publisher.step() == 0 and link.delivered >= 30)
    finally:
        link.stop()
    before = Recorder(broker.port, ("ha/#",))  # every retained config is there
    assert wait_for(lambda: len(before.messages) == 30)
    before.close()
    assert asyncio.run(remove_discovery([source], f"mqtt://127.0.0.1:{broker.port}", discovery_prefix="ha")) == 0
    late = Recorder(broker.port, ("ha/#",))  # a new subscriber gets every retained config still there: none
    assert not wait_for(lambda: late.messages, timeout=1.0)
    late.close()


def test_the_runner_publishes_a_served_meter_and_says_offline_when_it_stops(broker: Broker) -> None:
    from meterkit.faces.runner import FacesConfig

    from .background import serving

    vm, _ = live_meter()
    recorder = Recorder(broker.port)
    config = FacesConfig(publish=f"mqtt://127.0.0.1:{broker.port}/site7", node="bench-host", publish_interval_s=0.5)
    try:
        with serving(vm, config) as served:
            assert served.lines == [f"readings on mqtt://127.0.0.1:{broker.port}/site7"]
            assert wait_for(lambda: recorder.on("site7/12345678/1.8.0"))
            assert wait_for(lambda: recorder.on("homeassistant/sensor/meterkit_12345678/1_6_0/config"))
            assert recorder.on("site7/bench-host/status")[-1].payload == b"online"
        assert wait_for(lambda: recorder.on("site7/bench-host/status")[-1].payload == b"offline")
        config_md = json.loads(recorder.on("homeassistant/sensor/meterkit_12345678/1_6_0/config")[-1].payload)
        assert config_md["availability"][0]["topic"] == "site7/bench-host/status"
    finally:
        recorder.close()


def test_tamper_alarms_share_the_readings_link(broker: Broker) -> None:
    from meterkit.faces.runner import FacesConfig

    from .background import serving

    vm, _ = live_meter()
    recorder = Recorder(broker.port)
    config = FacesConfig(
        publish=f"mqtt://127.0.0.1:{broker.port}", alarms_topic="meterkit/alarms", publish_interval_s=0.5
    )
    try:
        with serving(vm, config) as served:
            served.call(lambda: VirtualMeterSource(vm).control(CoverControl(open=True)))
            assert wait_for(lambda: recorder.on("meterkit/alarms/12345678"))
            assert served.call(lambda: vm.outbox.pending()) == []
        alarm = json.loads(recorder.on("meterkit/alarms/12345678")[0].payload)
        assert alarm["kind"] == "TAMPER" and alarm["meter"] == "12345678"
        assert alarm["details"] == {"event": "COVER_OPEN_UNAUTH", "relay": "open"}
    finally:
        recorder.close()
