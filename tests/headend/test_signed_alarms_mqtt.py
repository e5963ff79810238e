"""Signed alarms through a real Mosquitto broker: the head-end (``meterkit headend listen``) accepts the meter's
genuine alarm and rejects what anyone else on the broker publishes; forwarders and links for the same meter no longer
push each other off the broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from meterkit.faces.alarms import AlarmBridge
from meterkit.faces.mqtt_link import MqttLink, MqttOutbox, parse_mqtt_url
from meterkit.headend import AlarmOutbox, AlarmSealer
from meterkit.headend.mqtt import MqttForwarder, wait_until
from meterkit.headend.verify import AlarmVerifier, write_alarm_keys
from meterkit.security.keys import MeterIdentity, alarm_key
from meterkit.storage import NvStore
from tests.faces.meters import START, live_meter
from tests.faces.mqttkit import Recorder

from .test_alarm_signature import DEMO_ALARM_KEY, DEMO_MASTER
from .test_mqtt_forwarding import Broker, free_port

pytestmark = pytest.mark.mqtt

OTHER_KEY = alarm_key(DEMO_MASTER, MeterIdentity("MKT", "87654321"))


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path, free_port())
    b.start()
    yield b
    b.stop()


class Listener:
    """``meterkit headend listen`` in a subprocess, its output lines collected by a thread."""

    def __init__(self, url: str, keys: Path, count: int, seen: Path) -> None:
        self.lines: list[str] = []
        args = ["headend", "listen", url, "--keys", str(keys), "--count", str(count), "--seen", str(seen)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "meterkit.cli.app", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_lines(self, n: int, timeout: float = 20.0) -> list[str]:
        assert wait_until(lambda: len(self.lines) >= n, timeout), (self.lines, self.proc.poll())
        return list(self.lines)

    def finish(self) -> int:
        try:
            return self.proc.wait(20)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


def publish(port: int, topic: str, payload: bytes) -> None:
    """Anyone on the broker: another client publishes one message."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="intruder")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        info = client.publish(topic, payload, qos=1)
        info.wait_for_publish(10)
        assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def test_the_head_end_accepts_the_genuine_alarm_and_rejects_forged_replayed_and_foreign_ones(
    tmp_path: Path, broker: Broker
) -> None:
    keys = tmp_path / "headend-keys.json"
    write_alarm_keys(keys, {"MKT:12345678": DEMO_ALARM_KEY, "MKT:87654321": OTHER_KEY})
    url = f"mqtt://127.0.0.1:{broker.port}/meterkit/alarms"
    topic = "meterkit/alarms/12345678"
    recorder = Recorder(broker.port, ("meterkit/alarms/#",))
    seen = tmp_path / "seen.json"
    listener = Listener(url, keys, count=3, seen=seen)
    state = tmp_path / "meter.sqlite"
    vm, _clock = live_meter(store=NvStore(state))
    assert vm.outbox.sealer is not None
    forwarder = MqttForwarder(state, url, vm.outbox.sealer, interval=0.1)
    try:
        assert listener.wait_lines(1)[0].startswith("verifying alarms on")
        forwarder.start()
        vm.security.cover_opened()  # a tamper: the meter's signed alarm
        assert wait_until(lambda: recorder.on(topic), 15)
        genuine = recorder.on(topic)[0].payload
        assert listener.wait_lines(2)[1] == (
            "MKT:12345678 #1 TAMPER at 2026-11-02T09:00:00+00:00 event=COVER_OPEN_UNAUTH relay=open"
        )

        forged = json.loads(genuine)
        forged.update(kind="SEC_BRUTE_FORCE", seq=2)  # the MAC of the genuine one, kept
        publish(broker.port, topic, json.dumps(forged).encode())
        assert "REJECTED meterkit/alarms/12345678: forged" in listener.wait_lines(3)[2]

        publish(broker.port, topic, genuine)  # the genuine bytes again
        assert listener.wait_lines(4)[3].startswith(
            "REJECTED meterkit/alarms/12345678: replayed: alarm from MKT:12345678: seq 1 is not above"
        )
        assert listener.finish() == 0
        assert json.loads(seen.read_text()) == {"MKT:12345678": 1}
    finally:
        forwarder.stop()
        recorder.close()
        if listener.proc.poll() is None:
            listener.proc.kill()

    # a restarted head-end remembers what it accepted (--seen); and an alarm signed with the other meter's key (its
    # owner extracted it) in the name of 12345678 is refused
    second = Listener(url, keys, count=2, seen=seen)
    try:
        second.wait_lines(1)
        publish(broker.port, topic, genuine)
        assert "REJECTED meterkit/alarms/12345678: replayed" in second.wait_lines(2)[1]
        sealer = AlarmSealer(flag="MKT", meter="12345678", key=OTHER_KEY)
        publish(broker.port, topic, sealer.message(alarm_id="f" * 32, seq=50, kind="TAMPER", at=START, details={}))
        line = second.wait_lines(3)[2]
        assert line == (
            "REJECTED meterkit/alarms/12345678: forged: alarm from MKT:12345678: the MAC does not match its alarm key"
        )
        assert second.finish() == 0
    finally:
        if second.proc.poll() is None:
            second.proc.kill()


def test_alarms_through_the_faces_link_are_signed_too(tmp_path: Path, broker: Broker) -> None:
    vm, _clock = live_meter()
    recorder = Recorder(broker.port, ("meterkit/alarms/#",))
    link = MqttLink(parse_mqtt_url(f"mqtt://127.0.0.1:{broker.port}/meterkit"), "host-a", MqttOutbox(vm.store))
    bridge = AlarmBridge(vm.outbox, link, "12345678")
    link.start()
    try:
        vm.security.cover_opened()
        assert wait_until(lambda: bridge() >= 0 and link.pump() == 0 and recorder.on("meterkit/alarms/12345678"), 15)
        alarm = AlarmVerifier({"MKT:12345678": DEMO_ALARM_KEY}).verify(
            recorder.on("meterkit/alarms/12345678")[0].payload
        )
        assert (alarm.kind, alarm.seq, alarm.details["event"]) == ("TAMPER", 1, "COVER_OPEN_UNAUTH")
    finally:
        link.stop()
        recorder.close()


def test_two_forwarders_for_the_same_meter_both_stay_connected_and_both_deliver(tmp_path: Path, broker: Broker) -> None:
    url = f"mqtt://127.0.0.1:{broker.port}/meterkit/alarms"
    sealer = AlarmSealer(flag="MKT", meter="12345678", key=DEMO_ALARM_KEY)
    recorder = Recorder(broker.port, ("meterkit/alarms/#",))
    outboxes, forwarders = [], []
    for name in ("a", "b"):
        state = tmp_path / f"{name}.sqlite"
        outboxes.append(AlarmOutbox(NvStore(state)))
        forwarders.append(MqttForwarder(state, url, sealer, interval=0.1))
    assert forwarders[0].client._client_id != forwarders[1].client._client_id
    try:
        for forwarder in forwarders:
            forwarder.start()
        assert wait_until(lambda: all(f.client.is_connected() for f in forwarders), 15)
        for outbox, kind in zip(outboxes, ("TAMPER", "SEC_BRUTE_FORCE"), strict=True):
            outbox.raise_alarm(kind, {}, START)
        assert wait_until(lambda: not any(o.pending() for o in outboxes), 15)
        time.sleep(2.0)  # with one client id the broker would have dropped one of them by now, and again on reconnect
        assert [f.connects for f in forwarders] == [1, 1]
        assert all(f.client.is_connected() for f in forwarders)
        kinds = sorted(json.loads(m.payload)["kind"] for m in recorder.on("meterkit/alarms/12345678"))
        assert kinds == ["SEC_BRUTE_FORCE", "TAMPER"]
    finally:
        for forwarder in forwarders:
            forwarder.stop()
        recorder.close()


def test_two_faces_links_for_the_same_node_both_stay_connected(tmp_path: Path, broker: Broker) -> None:
    url = parse_mqtt_url(f"mqtt://127.0.0.1:{broker.port}/meterkit")
    links = [MqttLink(url, "host-a", MqttOutbox(NvStore(tmp_path / f"{n}.sqlite"))) for n in ("a", "b")]
    try:
        for link in links:
            link.start()
        assert wait_until(lambda: all(link.connected for link in links), 15)
        time.sleep(2.0)
        assert [link.connects for link in links] == [1, 1]
    finally:
        for link in links:
            link.stop()
