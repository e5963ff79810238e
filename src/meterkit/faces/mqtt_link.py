"""One MQTT client layer for the faces: QoS 1, reconnect, store-and-forward through a SQLite outbox, an availability
topic with a last will.

A message is enqueued in the outbox (the meter's or the collector's store) and deleted only when the broker
acknowledged it (PUBACK), so nothing is lost while the broker is down or restarts: each message arrives at least
once.  paho-mqtt runs the network in its own thread; the outbox is touched only by :meth:`MqttLink.pump`, which the
owner calls on its own thread (the faces call it on the event loop), so the store needs no locking.

The availability topic ``PREFIX/<node>/status`` holds ``online`` (retained, sent on every connect) and the broker
publishes the retained will ``offline`` when the link is lost without a clean stop; a clean stop sends ``offline``
itself.

Each link connects with a client id of its own, ``meterkit-<node>-<8 random hex digits>``, and a clean session: two
processes for the same node (or a restarted one while the broker still holds the old connection) no longer push each
other off the broker, and what is not yet acknowledged waits in our outbox, not in a broker session.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ..mqtt_access import BrokerUrl, parse_broker_url
from ..mqtt_access import client_id as make_client_id
from ..storage import NvStore

__all__ = ["MqttLink", "MqttMessage", "MqttOutbox", "MqttUrl", "parse_mqtt_url"]

log = logging.getLogger(__name__)

#: rows kept while the broker is away; beyond it the oldest are dropped (and counted)
OUTBOX_CAPACITY = 200_000
#: messages handed to paho in one pump (paho queues them; it sends 20 at a time)
PUMP_BATCH = 1000


#: the readings' broker: a parsed broker URL whose path is the topic prefix
MqttUrl = BrokerUrl


def parse_mqtt_url(url: str, default_prefix: str = "meterkit", *, environ: Mapping[str, str] | None = None) -> MqttUrl:
    """``mqtt[s]://[USER@]HOST[:PORT][/PREFIX][?password-file=PATH&ca=PATH]`` (:func:`meterkit.mqtt_access.
    parse_broker_url`) -> host, port, topic prefix as the path (``meterkit`` when none is given) and the access."""
    broker = parse_broker_url(url, environ=environ)
    return broker if broker.path else replace(broker, path=default_prefix)


@dataclass(frozen=True, slots=True)
class MqttMessage:
    topic: str
    payload: bytes
    retain: bool = False


class MqttOutbox:
    """Messages waiting for the broker's acknowledgement, in a table of the given store."""

    def __init__(self, store: NvStore, capacity: int = OUTBOX_CAPACITY) -> None:
        self.store = store
        self.capacity = capacity
        self.dropped = 0
        store.ensure_schema(
            "CREATE TABLE IF NOT EXISTS mqtt_outbox (n INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, "
            "payload BLOB NOT NULL, retain INTEGER NOT NULL)"
        )

    def put(self, messages: Iterable[MqttMessage]) -> None:
        rows = [(m.topic, m.payload, int(m.retain)) for m in messages]
        if not rows:
            return
        with self.store.transaction() as conn:
            conn.executemany("INSERT INTO mqtt_outbox(topic, payload, retain) VALUES (?, ?, ?)", rows)
            count = int(conn.execute("SELECT count(*) FROM mqtt_outbox").fetchone()[0])
            excess = count - self.capacity
            if excess > 0:
                conn.execute(
                    "DELETE FROM mqtt_outbox WHERE n IN (SELECT n FROM mqtt_outbox ORDER BY n LIMIT ?)", (excess,)
                )
        if excess > 0:
            self.dropped += excess
            log.warning("MQTT outbox full: dropped the %d oldest messages", excess)

    def pending(self, limit: int, after: int = 0) -> list[tuple[int, MqttMessage]]:
        rows = self.store.conn.execute(
            "SELECT n, topic, payload, retain FROM mqtt_outbox WHERE n > ? ORDER BY n LIMIT ?", (after, limit)
        ).fetchall()
        return [(int(n), MqttMessage(topic=t, payload=bytes(p), retain=bool(r))) for n, t, p, r in rows]

    def delivered(self, numbers: Iterable[int]) -> None:
        rows = [(n,) for n in numbers]
        if rows:
            with self.store.transaction() as conn:
                conn.executemany("DELETE FROM mqtt_outbox WHERE n = ?", rows)

    def __len__(self) -> int:
        return int(self.store.conn.execute("SELECT count(*) FROM mqtt_outbox").fetchone()[0])


class MqttLink:
    """A paho-mqtt client that delivers an :class:`MqttOutbox` at QoS 1 and keeps ``PREFIX/<node>/status``."""

    def __init__(self, url: MqttUrl, node: str, outbox: MqttOutbox, *, client_id: str | None = None) -> None:
        self.url = url
        self.node = node
        self.outbox = outbox
        self.status_topic = f"{url.path}/{node}/status"
        self._lock = threading.Lock()
        self._inflight: dict[int, int] = {}  # paho mid -> outbox row
        self._sent_upto = 0  # highest outbox row handed to paho since the last (re)connect
        self._acked: list[int] = []
        self._early: set[int] = set()
        self._connects = 0  # connections made so far (the owner re-sends what a new connection needs)
        self.delivered = 0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or make_client_id(node))
        url.access.apply(self.client)  # user name, password, TLS
        self.client.will_set(self.status_topic, b"offline", qos=1, retain=True)
        self.client.reconnect_delay_set(min_delay=1, max_delay=10)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_connect_fail = self._on_connect_fail
        self._failing = False  # the last attempt to connect failed (logged once until a connection succeeds)

    # --- paho's thread ---------------------------------------------------------------------------------------

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if getattr(reason_code, "is_failure", False):
            log.warning("MQTT broker %s refused the connection: %s", self.url.shown, reason_code)
            return
        client.publish(self.status_topic, b"online", qos=1, retain=True)
        self._failing = False
        with self._lock:
            self._connects += 1
            self._inflight.clear()
            self._early.clear()
            self._sent_upto = 0  # everything not yet acknowledged goes again
        log.info("MQTT connected to %s", self.url.shown)

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        if not self._failing:
            self._failing = True
            log.warning("MQTT broker %s: cannot connect (unreachable, or TLS refused); retrying", self.url.shown)

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        with self._lock:
            self._inflight.clear()
            self._sent_upto = 0
        log.info("MQTT disconnected from %s (%s)", self.url.shown, reason_code)

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason_code: Any, properties: Any) -> None:
        with self._lock:
            row = self._inflight.pop(mid, None)
            if row is not None:
                self._acked.append(row)
            else:  # acknowledged before pump() recorded the mid (pump must not hold the lock inside paho)
                self._early.add(mid)

    # --- the owner's thread -------------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return bool(self.client.is_connected())

    @property
    def connects(self) -> int:
        with self._lock:
            return self._connects

    def start(self) -> None:
        self.client.connect_async(self.url.host, self.url.port, keepalive=30)
        self.client.loop_start()

    def enqueue(self, messages: Iterable[MqttMessage]) -> None:
        self.outbox.put(messages)

    def pump(self) -> int:
        """Forget what the broker acknowledged, hand waiting messages to paho; returns the number still waiting."""
        with self._lock:
            acked, self._acked = self._acked, []
            after = self._sent_upto
        self.outbox.delivered(acked)
        self.delivered += len(acked)
        if self.connected:
            for n, msg in self.outbox.pending(PUMP_BATCH, after):
                # not under the lock: paho calls on_publish holding its own lock
                info = self.client.publish(msg.topic, msg.payload, qos=1, retain=msg.retain)
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    break
                with self._lock:
                    if info.mid in self._early:
                        self._early.discard(info.mid)
                        self._acked.append(n)
                    else:
                        self._inflight[info.mid] = n
                    self._sent_upto = max(self._sent_upto, n)
        return len(self.outbox)

    def stop(self) -> None:
        """Say ``offline`` and disconnect cleanly (unsent messages stay in the outbox for the next start)."""
        if self.connected:
            info = self.client.publish(self.status_topic, b"offline", qos=1, retain=True)
            info.wait_for_publish(2.0)
        self.client.disconnect()
        self.client.loop_stop()
