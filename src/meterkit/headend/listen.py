"""A head-end's MQTT subscription to the alarm topic: every message, in arrival order, for the verifier.

paho-mqtt runs the network in its own thread and puts each message into a queue; :meth:`AlarmSubscription.next`
takes them on the caller's thread.  The subscription is QoS 1 with a client id of its own (:func:`meterkit.mqtt_access.client_id`).
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ..errors import TransportError
from ..mqtt_access import client_id
from .mqtt import parse_headend_url

__all__ = ["AlarmSubscription", "Received"]


@dataclass(frozen=True, slots=True)
class Received:
    topic: str
    payload: bytes


class AlarmSubscription:
    """Subscribes to ``TOPIC/+`` of a head-end URL (``mqtt[s]://[USER@]HOST[:PORT]/TOPIC``, :func:`.mqtt.parse_headend_url`)."""

    def __init__(self, url: str) -> None:
        where = parse_headend_url(url)
        self.host, self.port = where.host, where.port
        self.filter = f"{where.path}/+"
        self._queue: queue.Queue[Received] = queue.Queue()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id("headend"), clean_session=True)
        where.access.apply(self.client)  # user name, password, TLS
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if not getattr(reason_code, "is_failure", False):
            client.subscribe(self.filter, qos=1)  # again after every reconnect

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reason_codes: Any, properties: Any) -> None:
        self._subscribed.set()

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self._queue.put(Received(msg.topic, bytes(msg.payload)))

    def start(self, timeout: float = 10.0) -> None:
        """Connect and subscribe; a broker that cannot be reached in ``timeout`` seconds is a TransportError."""
        try:
            self.client.connect(self.host, self.port, keepalive=30)
        except OSError as exc:
            raise TransportError(f"MQTT broker {self.host}:{self.port}: {exc.strerror or exc}") from exc
        self.client.loop_start()
        if not self._subscribed.wait(timeout):
            self.stop()
            raise TransportError(f"MQTT broker {self.host}:{self.port}: no subscription within {timeout:g} s")

    def next(self, timeout: float | None = None) -> Received | None:
        """The next message, or None after ``timeout`` seconds without one."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
