"""The readings publisher: a meter's registers to MQTT with Home Assistant discovery (topics in :mod:`.discovery`).

Every ``interval_s`` the chosen registers of each meter are enqueued as retained JSON states, new event-log and
security-log entries as event messages, and the meter's availability (``online`` while it has supply); on every
(re)connect the discovery configs are enqueued again (a broker without persistence forgets retained messages).
Everything goes through the :class:`~.mqtt_link.MqttLink` outbox, so a broker outage loses nothing.

Many meters (a fleet): while running, the meters are published and announced ``chunk`` at a time, one chunk per
pump step, so the event loop that also answers the meters' optical ports is never held for long; with
``changes_only`` a state or availability whose payload is what the broker already holds (retained) is not sent
again - a fleet's meters hold their clocks, so after the first round only what a session changed goes out.  A new
connection sends everything again (a broker without persistence forgets retained messages).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterable, Sequence

from .discovery import (
    DEFAULT_REGISTERS,
    availability_topic,
    discovery_messages,
    event_message,
    removal_messages,
    state_message,
)
from .mqtt_link import MqttLink, MqttMessage
from .source import MeterSource, Reading

__all__ = ["ReadingsPublisher"]

log = logging.getLogger(__name__)


class ReadingsPublisher:
    """A face: start/stop on the event loop that runs the meters."""

    name = "mqtt"

    def __init__(
        self,
        sources: Sequence[MeterSource],
        link: MqttLink,
        *,
        discovery_prefix: str = "homeassistant",
        registers: Sequence[str] | None = DEFAULT_REGISTERS,
        interval_s: float = 10.0,
        pump_s: float = 0.2,
        feeders: Sequence[Callable[[], object]] = (),
        chunk: int = 25,
        changes_only: bool = False,
    ) -> None:
        self.sources = list(sources)
        self.link = link
        self.prefix = link.url.path
        self.discovery_prefix = discovery_prefix
        self.registers = None if registers is None else tuple(registers)
        self._wanted = frozenset(self.registers or ())
        self.interval_s = interval_s
        self.pump_s = pump_s
        #: called before every pump: more producers for the same link (e.g. :class:`~.alarms.AlarmBridge`)
        self.feeders = list(feeders)
        self.chunk = max(1, chunk)
        self.changes_only = changes_only
        self._announced = 0  # link.connects when discovery was last enqueued
        self._cursors: dict[str, tuple[int, int]] = {}
        self._sent: dict[str, int] = {}  # with changes_only: topic -> hash of the payload last enqueued
        self._to_announce: deque[MeterSource] = deque()
        self._to_publish: deque[MeterSource] = deque()
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def _selected(self, source: MeterSource) -> list[Reading]:
        if self.registers is None:
            return source.readings()
        readings = source.readings(self._wanted)
        by = {r.address: r for r in readings}
        return [by[a] for a in self.registers if a in by]

    def _named(self) -> list[MeterSource]:
        """The meters with a serial (a point-to-point meter a collector has not read yet has none)."""
        return [s for s in self.sources if s.serial]

    def _cursor(self, source: MeterSource) -> tuple[int, int]:
        if source.serial not in self._cursors:  # from now on: the history is in the meter's own logs
            events, security = source.events(), source.security_log()
            self._cursors[source.serial] = (events[-1].seq if events else 0, security[-1].seq if security else 0)
        return self._cursors[source.serial]

    def announce(self) -> None:
        """Enqueue the discovery configs of every meter."""
        self._announce(self._named())

    def _announce(self, sources: Iterable[MeterSource]) -> None:
        for source in sources:
            self.link.enqueue(
                discovery_messages(
                    self.discovery_prefix, self.prefix, self.link.node, source.identification(), self._selected(source)
                )
            )

    def publish_once(self) -> None:
        """Enqueue the states, new log entries and availability of every meter."""
        self._publish(self._named())

    def _fresh(self, message: MqttMessage) -> bool:
        if not self.changes_only:
            return True
        digest = hash(message.payload)
        if self._sent.get(message.topic) == digest:
            return False
        self._sent[message.topic] = digest
        return True

    def _publish(self, sources: Iterable[MeterSource]) -> None:
        for source in sources:
            serial = source.serial
            messages: list[MqttMessage] = [state_message(self.prefix, serial, r) for r in self._selected(source)]
            ev_after, sec_after = self._cursor(source)
            events = source.events(ev_after)
            security = source.security_log(sec_after)
            self._cursors[serial] = (
                events[-1].seq if events else ev_after,
                security[-1].seq if security else sec_after,
            )
            online = source.status().powered
            messages.append(
                MqttMessage(
                    topic=availability_topic(self.prefix, serial),
                    payload=b"online" if online else b"offline",
                    retain=True,
                )
            )
            messages = [m for m in messages if self._fresh(m)]
            messages += [event_message(self.prefix, serial, "event", e) for e in events]
            messages += [event_message(self.prefix, serial, "security", e) for e in security]
            self.link.enqueue(messages)

    def remove(self, addresses: Sequence[str] | None = None) -> None:
        """Enqueue empty retained configs for every meter's entities (Home Assistant removes them): those of
        ``addresses``, or of the registers each meter has now."""
        for source in self._named():
            chosen = [r.address for r in self._selected(source)] if addresses is None else list(addresses)
            self.link.enqueue(removal_messages(self.discovery_prefix, source.serial, chosen))

    async def flush(self, timeout_s: float = 10.0) -> int:
        """Announce and publish now, then pump until the broker acknowledged everything or ``timeout_s`` passed;
        returns the number of messages still waiting."""
        self.announce()
        self.publish_once()
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout_s
        waiting = self.step()
        while waiting and loop.time() < end:
            await asyncio.sleep(0.05)
            waiting = self.step()
        return waiting

    def step(self) -> int:
        """Announce after a new connection, publish the next chunk of a round, then pump the outbox; returns the
        number of messages waiting."""
        connects = self.link.connects
        if connects != self._announced:
            self._announced = connects
            if connects > 1:  # a reconnection: the broker may have forgotten what it held, everything again
                self._sent.clear()
            self._to_announce = deque(self._named())
        budget = self.chunk
        while self._to_announce and budget:
            self._announce([self._to_announce.popleft()])
            budget -= 1
        while self._to_publish and budget:
            source = self._to_publish.popleft()
            try:
                self._publish([source])
            except Exception:  # a meter that cannot be read now must not stop the publisher
                log.exception("publishing the readings of meter %s failed", source.serial)
            budget -= 1
        for feed in self.feeders:
            feed()
        return self.link.pump()

    async def start(self) -> None:
        self.link.start()
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name="meterkit-mqtt-publisher")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        failing = False  # a failing step is logged once, until one succeeds again; the publisher goes on
        while not self._stop.is_set():
            try:
                if loop.time() >= due:
                    due += self.interval_s
                    if not self._to_publish:  # a round still going (a large fleet) is not doubled
                        self._to_publish = deque(self._named())
                self.step()
                failing = False
            except Exception:
                if not failing:
                    log.exception("MQTT publishing failed; trying again")
                failing = True
            # a round still going: the next chunk as soon as the loop has served what waits (the meters' ports)
            pause = self.pump_s if failing else 0.0 if self._to_publish or self._to_announce else self.pump_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), pause)

    async def stop(self, drain_s: float = 2.0) -> None:
        """Stop publishing; give the broker ``drain_s`` to acknowledge what waits, then disconnect."""
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None
        loop = asyncio.get_running_loop()
        end = loop.time() + drain_s
        while self.link.connected and self.step() and loop.time() < end:
            await asyncio.sleep(0.05)
        self.link.pump()
        self.link.stop()
