"""Alarms reach the head-end through a real Mosquitto broker on loopback, also after the broker was down."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from meterkit.headend import AlarmOutbox, AlarmSealer
from meterkit.headend.mqtt import MqttForwarder, wait_until
from meterkit.storage import NvStore

pytestmark = pytest.mark.mqtt

MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    def __init__(self, tmp: Path, port: int) -> None:
        self.conf = tmp / "mosquitto.conf"
        self.conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert MOSQUITTO is not None, "make test installs mosquitto (scripts/ensure-mosquitto.sh)"
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path, free_port())
    b.start()
    yield b
    b.stop()


def subscriber(port: int, received: list[dict[str, object]], *, session: str | None = None) -> mqtt.Client:
    """A head-end's subscriber, ready once the broker acknowledged its subscription.  With ``session`` it keeps a
    persistent session under that client id: the broker queues QoS 1 alarms for it while it is away (and, with
    persistence, across a broker restart), so nothing depends on who reconnects first."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=session or "", clean_session=session is None)
    ready = threading.Event()
    client.on_connect = lambda c, u, f, rc, p: c.subscribe("meterkit/alarms/#", qos=1)
    client.on_subscribe = lambda c, u, mid, rcs, p: ready.set()
    client.on_message = lambda c, u, msg: received.append(json.loads(msg.payload))
    client.connect("127.0.0.1", port)
    client.loop_start()
    assert ready.wait(10)
    return client


def test_alarms_are_delivered_once_acknowledged_and_kept_while_the_broker_is_down(
    tmp_path: Path, broker: Broker
) -> None:
    state = tmp_path / "meter.sqlite"
    outbox = AlarmOutbox(NvStore(state))
    received: list[dict[str, object]] = []
    # the broker keeps the head-end's session over its restart: the alarm forwarded after the restart reaches the
    # head-end whether the forwarder or the head-end reconnects first
    broker.stop()
    keep_user = f"user {getpass.getuser()}\n" if os.geteuid() == 0 else ""  # root: Mosquitto would drop to its own
    broker.conf.write_text(
        f"listener {broker.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
        f"persistence_location {tmp_path}/\n{keep_user}"
    )
    broker.start()
    sub = subscriber(broker.port, received, session="head-end-under-test")
    sealer = AlarmSealer(flag="MKT", meter="12345678", key=None)
    forwarder = MqttForwarder(state, f"mqtt://127.0.0.1:{broker.port}/meterkit/alarms", sealer, interval=0.1)
    forwarder.start()
    try:
        outbox.raise_alarm("TAMPER", {"event": "COVER_OPEN_UNAUTH"}, datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
        assert wait_until(lambda: len(received) == 1 and not outbox.pending(), 15)
        first = received[0]
        assert first["kind"] == "TAMPER" and first["meter"] == "12345678" and len(str(first["id"])) == 32

        broker.stop()  # head-end link down: alarms wait in the meter's SQLite
        outbox.raise_alarm("SEC_BRUTE_FORCE", {"failures": "10"}, datetime(2026, 11, 2, 9, 5, tzinfo=UTC))
        time.sleep(1.0)
        assert [a.kind for a in outbox.pending()] == ["SEC_BRUTE_FORCE"]

        broker.start()
        assert wait_until(lambda: not outbox.pending(), 40)
        assert wait_until(lambda: any(m["kind"] == "SEC_BRUTE_FORCE" for m in received), 10)
        ids = [m["id"] for m in received]
        assert len(set(ids)) == 2  # each alarm at least once; duplicates share their id
    finally:
        forwarder.stop()
        sub.loop_stop()
        sub.disconnect()
