"""Forwarding the alarm outbox to the head-end over MQTT (paho-mqtt, QoS 1).

An alarm is marked delivered only when the broker acknowledged it (PUBACK); until then it stays in the meter's
SQLite outbox and is sent again after a reconnect, so each alarm arrives at least once, identified by its id.
The forwarder runs in a thread of its own with its own connection to the state file.  It publishes each alarm as
the signed message of :mod:`.message` (the meter's :class:`~.message.AlarmSealer`).

Client id and session: every forwarder connects as ``meterkit-<meter>-<8 random hex digits>`` (:func:`meterkit.mqtt_access.client_id`)
with a clean session.  MQTT lets one client id hold one connection: a fixed id made two processes for the same meter
(or a restarted one while the broker still held the old connection) push each other off the broker in turn.  A
persistent session would buy nothing here: what is not yet acknowledged waits in the meter's own outbox and is
published again after every reconnect, and a fresh id per process would leave an orphaned session on the broker at
every restart.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ..mqtt_access import BrokerUrl, client_id, parse_broker_url
from ..storage import NvStore
from .message import AlarmSealer
from .outbox import AlarmOutbox

__all__ = ["HeadendUrl", "MqttForwarder", "parse_headend_url"]

log = logging.getLogger(__name__)


#: where the alarms go: a parsed broker URL whose path is the alarm topic
HeadendUrl = BrokerUrl


def parse_headend_url(url: str, *, environ: Mapping[str, str] | None = None) -> HeadendUrl:
    """``mqtt[s]://[USER@]HOST[:PORT]/TOPIC[?password-file=PATH&ca=PATH]`` (:func:`meterkit.mqtt_access.
    parse_broker_url`) -> broker, the alarm topic as the path (``meterkit/alarms`` when none is given) and access."""
    broker = parse_broker_url(url, what="head-end", form="mqtt://HOST[:PORT]/TOPIC", environ=environ)
    return broker if broker.path else replace(broker, path="meterkit/alarms")


class MqttForwarder:
    def __init__(self, state: Path, url: str, sealer: AlarmSealer, *, interval: float = 0.5) -> None:
        where = parse_headend_url(url)
        self.host, self.port, self.topic = where.host, where.port, where.path
        self.state = state
        self.sealer = sealer
        self.meter_id = sealer.meter
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._inflight: dict[int, str] = {}
        self._acked: list[str] = []
        self._early: set[int] = set()  # acknowledged before the publishing thread recorded the message id
        self._lock = threading.Lock()
        self._connects = 0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id(self.meter_id), clean_session=True)
        where.access.apply(self.client)  # user name, password, TLS
        self.client.on_publish = self._on_publish
        self.client.on_connect = self._on_connect
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if not getattr(reason_code, "is_failure", False):
            with self._lock:
                self._connects += 1
                self._early.clear()

    @property
    def connects(self) -> int:
        """Connections made so far (1 for a forwarder that never lost its broker)."""
        with self._lock:
            return self._connects

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason_code: Any, properties: Any) -> None:
        with self._lock:
            alarm_id = self._inflight.pop(mid, None)
            if alarm_id is not None:
                self._acked.append(alarm_id)
            else:  # the PUBACK came before _cycle recorded the mid (it must not hold the lock inside paho)
                self._early.add(mid)

    def start(self) -> None:
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        self._thread = threading.Thread(target=self._run, name="meterkit-headend", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        store = NvStore(self.state)
        outbox = AlarmOutbox(store)
        try:
            while not self._stop.is_set():
                self._guarded_cycle(outbox)
                self._stop.wait(self.interval)
            self._guarded_cycle(outbox)
        finally:
            store.close()

    def _guarded_cycle(self, outbox: AlarmOutbox) -> None:
        """One cycle; an error is logged and the forwarder tries again at the next one (alarms stay in the outbox)."""
        try:
            self._cycle(outbox)
        except Exception:
            log.exception("head-end: forwarding failed; retrying")

    def _cycle(self, outbox: AlarmOutbox) -> None:
        with self._lock:
            acked, self._acked = self._acked, []
            waiting = set(self._inflight.values())
        for alarm_id in acked:
            outbox.delivered(alarm_id)
        if not self.client.is_connected():
            with self._lock:
                self._inflight.clear()  # sent again after the reconnect
            return
        for alarm in outbox.pending():
            if alarm.id in waiting or alarm.id in acked:
                continue
            info = self.client.publish(f"{self.topic}/{self.meter_id}", alarm.message(self.sealer), qos=1)
            with self._lock:
                if info.mid in self._early:
                    self._early.discard(info.mid)
                    self._acked.append(alarm.id)
                else:
                    self._inflight[info.mid] = alarm.id

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.client.loop_stop()
        self.client.disconnect()


def wait_until(predicate: Any, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())
