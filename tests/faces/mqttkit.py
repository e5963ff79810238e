"""A recording MQTT subscriber for the face tests (the broker comes from the head-end tests' helper)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool


class Recorder:
    """Subscribes to ``topics`` (again after every reconnect) and records every message."""

    def __init__(self, port: int, topics: tuple[str, ...] = ("#",)) -> None:
        self.messages: list[Received] = []
        self.subscribed = threading.Event()
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe([(t, 1) for t in topics])
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.subscribed.wait(10)

    def _on_message(self, client: object, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(Received(msg.topic, bytes(msg.payload), bool(msg.retain)))

    def on(self, topic: str) -> list[Received]:
        with self._lock:
            return [m for m in self.messages if m.topic == topic]

    def reconnect(self) -> None:
        self.subscribed.clear()
        self.client.reconnect()
        assert self.subscribed.wait(10)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def wait_for(predicate: Callable[[], object], timeout: float = 15.0, pump: Callable[[], object] | None = None) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pump is not None:
            pump()
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def discovery_removed(recorder: Recorder, serial: str, objects: tuple[str, ...] = ("1_8_0", "1_6_0", "0_9_2")) -> bool:
    """Whether ``--mqtt-remove`` emptied the retained discovery configs of ``serial``'s ``objects`` (waits for each)."""
    return all(
        wait_for(
            lambda topic=f"homeassistant/sensor/meterkit_{serial}/{obj}/config": recorder.on(topic)[-1].payload == b""
        )
        for obj in objects
    )


def retained_configs(port: int) -> list[str]:
    """The discovery topics a new subscriber still gets a (non-empty) retained config on."""
    fresh = Recorder(port, ("homeassistant/#",))
    time.sleep(0.5)
    try:
        return [m.topic for m in fresh.messages if m.payload]
    finally:
        fresh.close()
