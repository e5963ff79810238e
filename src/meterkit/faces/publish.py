"""The readings publisher: a meter's registers to MQTT with Home Assistant discovery (topics in :mod:`.discovery`).

Every ``interval_s`` the chosen registers of each meter are enqueued as retained JSON states, new event-log and
security-log entries as event messages, and the meter's availability (``online`` while it has supply); on every
(re)connect the discovery configs are enqueued again (a broker without persistence forgets retained messages).
Everything goes through the :class:`~.mqtt_link.MqttLink` outbox, so a broker outage loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

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
    ) -> None:
        self.sources = list(sources)
        self.link = link
        self.prefix = link.url.prefix
        self.discovery_prefix = discovery_prefix
        self.registers = None if registers is None else tuple(registers)
        self.interval_s = interval_s
        self.pump_s = pump_s
        #: called before every pump: more producers for the same link (e.g. :class:`~.alarms.AlarmBridge`)
        self.feeders = list(feeders)
        self._announced = 0  # link.connects when discovery was last enqueued
        self._cursors: dict[str, tuple[int, int]] = {}
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def _selected(self, source: MeterSource) -> list[Reading]:
        readings = source.readings()
        if self.registers is None:
            return readings
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
        for source in self._named():
            self.link.enqueue(
                discovery_messages(
                    self.discovery_prefix, self.prefix, self.link.node, source.identification(), self._selected(source)
                )
            )

    def publish_once(self) -> None:
        """Enqueue the states, new log entries and availability of every meter."""
        for source in self._named():
            serial = source.serial
            messages: list[MqttMessage] = [state_message(self.prefix, serial, r) for r in self._selected(source)]
            ev_after, sec_after = self._cursor(source)
            events = source.events(ev_after)
            security = source.security_log(sec_after)
            messages += [event_message(self.prefix, serial, "event", e) for e in events]
            messages += [event_message(self.prefix, serial, "security", e) for e in security]
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
        """Announce after a new connection, then pump the outbox; returns the number of messages waiting."""
        connects = self.link.connects
        if connects != self._announced:
            self._announced = connects
            self.announce()
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
        while not self._stop.is_set():
            if loop.time() >= due:
                due += self.interval_s
                try:
                    self.publish_once()
                except Exception:  # a meter that cannot be read now must not stop the publisher
                    log.exception("publishing the readings failed")
            self.step()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.pump_s)

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
