"""The live faces (MQTT readings with Home Assistant discovery, OpenMetrics, the web front panel) as one plug-in of
the meter host: :class:`LiveFaces` starts them over the host's meter and control channel, :class:`FleetLiveFaces`
over every meter of a served fleet, and :func:`guarded_tap` counts what crosses the optical port for the metrics
without ever failing a connection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from ..faces.metrics import ProtocolCounters
from ..faces.mqtt_link import MqttLink, parse_mqtt_url
from ..faces.port_tap import LockoutWatcher, PortTap
from ..faces.runner import Face as RunningFace
from ..faces.runner import FacesConfig, start_faces, stop_faces
from ..faces.virtual_source import VirtualMeterSource
from ..headend.mqtt import parse_headend_url
from ..iec62056_21.trace import FrameRecord, TraceHook
from ..meter.control import ControlChannel
from ..meter.virtual import VirtualMeter
from ..storage import NvStore

__all__ = ["FleetLiveFaces", "LiveFaces", "guarded_tap", "shares_broker"]

log = logging.getLogger("meterkit.host")


def shares_broker(publish: str, headend: str) -> bool:
    """Whether the head-end alarms can go through the readings' MQTT link (the same broker)."""
    url = parse_mqtt_url(publish)
    where = parse_headend_url(headend)
    return (url.host, url.port, url.access) == (where.host, where.port, where.access)


def guarded_tap(tap: PortTap, then: TraceHook | None) -> TraceHook:
    """``tap`` then ``then`` (the ``--trace`` printer); a failing tap is logged, the connection goes on."""

    def hook(record: FrameRecord) -> None:
        try:
            tap(record)
        except Exception:
            log.exception("metrics: counting the optical port's traffic failed")
        if then is not None:
            then(record)

    return hook


@dataclass
class LiveFaces:
    """The configured live faces of one meter, started and stopped with the host.  ``alarms_topic`` (with
    ``config.publish``): the head-end alarms go through the same MQTT link, topic ``ALARMS_TOPIC/<serial>``."""

    meter: VirtualMeter
    channel: ControlChannel
    config: FacesConfig
    counters: ProtocolCounters = field(default_factory=ProtocolCounters)
    alarms_topic: str | None = None
    check_s: float = 1.0
    name: str = "live faces"
    _faces: list[RunningFace] = field(default_factory=list, init=False)
    _watch: asyncio.Task[None] | None = field(default=None, init=False)

    def tap(self, then: TraceHook | None = None) -> TraceHook:
        """The optical face's trace hook that feeds this face's protocol counters (and then ``then``)."""
        meter = self.meter
        return guarded_tap(PortTap(self.counters, meter.config.identity.serial, lambda: meter.meter.now), then)

    async def start(self) -> list[str]:
        self.config.check()
        source = VirtualMeterSource(self.meter, self.channel)
        feeders: list[Callable[[MqttLink], Callable[[], object]]] = []
        if self.alarms_topic is not None and self.config.publish is not None:
            from ..faces.alarms import AlarmBridge

            topic, outbox = self.alarms_topic, self.meter.outbox
            feeders.append(lambda link: AlarmBridge(outbox, link, source.serial, topic))
        lines: list[str] = []
        self._faces = await start_faces(
            [source],
            self.config,
            store=self.meter.store,
            counters=self.counters,
            announce=lines.append,
            feeders=feeders,
        )
        self._watch = asyncio.create_task(self._watch_lockouts(LockoutWatcher(self.counters, source)))
        return lines

    async def _watch_lockouts(self, watcher: LockoutWatcher) -> None:
        while True:
            try:
                watcher.check()
            except Exception:
                log.exception("metrics: reading the security log failed; the host goes on")
            await asyncio.sleep(self.check_s)

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        await stop_faces(self._faces)
        self._faces = []


@dataclass
class FleetLiveFaces:
    """The live faces of every meter of a served fleet, started and stopped with the fleet host: each meter's
    registers to MQTT under its serial with Home Assistant discovery and its own availability topic (besides the
    host's status topic), a state sent only when it changed and the meters a chunk at a time (a fleet's meters hold
    their clocks: after the first round only what a session changed goes out); metrics with one ``meter`` label per
    meter (the published registers); the web panel's searchable fleet index, each meter opening its panel.
    ``store``: where the MQTT outbox lives (the fleet store)."""

    meters: Sequence[VirtualMeter]
    config: FacesConfig
    store: NvStore | None = None
    counters: ProtocolCounters = field(default_factory=ProtocolCounters)
    name: str = "live faces"
    _faces: list[RunningFace] = field(default_factory=list, init=False)

    def tap(self, meter: VirtualMeter, then: TraceHook | None = None) -> TraceHook:
        """The trace hook of one meter's own endpoint (one port per meter) that feeds its protocol counters."""
        return guarded_tap(PortTap(self.counters, meter.config.identity.serial, lambda: meter.meter.now), then)

    async def start(self) -> list[str]:
        registers = self.config.registers
        config = replace(
            self.config,
            changes_only=True,
            metrics_registers=self.config.metrics_registers if self.config.metrics_registers is not None else registers,
        )
        config.check()
        sources = [VirtualMeterSource(vm) for vm in self.meters]
        lines: list[str] = []
        self._faces = await start_faces(
            sources, config, store=self.store, counters=self.counters, announce=lines.append
        )
        return lines

    async def stop(self) -> None:
        await stop_faces(self._faces)
        self._faces = []
