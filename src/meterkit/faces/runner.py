"""Start and stop the live faces of one or more meters on the running event loop.

:func:`start_faces` is what the meter host (``meterkit serve --publish/--metrics/--web``) and the collector
(``meterkit poll --mqtt/--metrics``) call with their :class:`~.source.MeterSource` objects; :func:`run_virtual_meter`
runs one :class:`~meterkit.meter.virtual.VirtualMeter` with its faces (the meter brought up to the clock every
second) until told to stop, for tests and scripts before the host exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ..errors import ConfigError
from ..storage import NvStore
from .discovery import DEFAULT_REGISTERS
from .http import is_loopback, parse_bind
from .metrics import MetricsFace, PollHealth, ProtocolCounters
from .mqtt_link import MqttLink, MqttOutbox, parse_mqtt_url
from .publish import ReadingsPublisher
from .source import MeterSource

if TYPE_CHECKING:
    from ..meter.virtual import VirtualMeter

__all__ = [
    "Face",
    "FacesConfig",
    "publish_now",
    "remove_discovery",
    "run_virtual_meter",
    "start_faces",
    "stop_faces",
]

log = logging.getLogger(__name__)


class Face(Protocol):
    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class FacesConfig:
    publish: str | None = None  # mqtt://HOST[:PORT][/PREFIX]
    discovery_prefix: str = "homeassistant"
    publish_interval_s: float = 10.0
    metrics: str | None = None  # HOST:PORT
    web: str | None = None  # HOST:PORT
    #: a web panel bound beyond loopback is physical access to the meter: it needs this flag and a token
    web_allow_remote: bool = False
    web_token: str | None = None
    #: the publishing process's name in its availability topic PREFIX/<node>/status
    node: str = "meterkit"
    #: the registers published and announced (None: every register a source has, e.g. every one a collector read)
    registers: tuple[str, ...] | None = DEFAULT_REGISTERS
    #: with ``publish``: the meter's head-end alarms go through the same link to ALARMS_TOPIC/<serial> (None: not)
    alarms_topic: str | None = None
    #: publish a state or availability only when its payload changed (a fleet's meters hold their clocks)
    changes_only: bool = False
    #: the registers the metrics expose (None: every register a source has)
    metrics_registers: tuple[str, ...] | None = None

    def check(self) -> None:
        """Refuse what is unsafe or malformed before anything starts (ConfigError, one line)."""
        if self.publish is not None:
            parse_mqtt_url(self.publish)
        if self.metrics is not None:
            parse_bind(self.metrics)
        if self.web is not None:
            host, _ = parse_bind(self.web)
            if not is_loopback(host):
                if not self.web_allow_remote:
                    raise ConfigError(
                        f"--web {self.web}: the panel is physical access to the meter; binding beyond loopback "
                        "needs --web-allow-remote and --web-token-file"
                    )
                if not self.web_token or len(self.web_token) < 16:
                    raise ConfigError(
                        f"--web {self.web}: a panel beyond loopback needs a token of 16 characters or more"
                    )


async def start_faces(
    sources: Sequence[MeterSource],
    config: FacesConfig,
    *,
    store: NvStore | None = None,
    counters: ProtocolCounters | None = None,
    health: PollHealth | None = None,
    announce: Callable[[str], None] | None = None,
    feeders: Sequence[Callable[[MqttLink], Callable[[], object]]] = (),
) -> list[Face]:
    """Start the configured faces; ``store`` holds the MQTT outbox (the meter's or collector's store; in memory when
    None); ``announce`` gets one line per face as it serves (``web panel on http://127.0.0.1:8080``); ``feeders``
    make more producers for the MQTT link (called with the link, e.g. an :class:`~.alarms.AlarmBridge`)."""
    config.check()
    say = announce or (lambda line: log.info("%s", line))
    faces: list[Face] = []
    try:
        if config.publish is not None:
            url = parse_mqtt_url(config.publish)
            link = MqttLink(url, config.node, MqttOutbox(store or NvStore(":memory:")))
            publisher = ReadingsPublisher(
                sources,
                link,
                discovery_prefix=config.discovery_prefix,
                registers=config.registers,
                interval_s=config.publish_interval_s,
                feeders=[make(link) for make in feeders],
                changes_only=config.changes_only,
            )
            await publisher.start()
            faces.append(publisher)
            say(f"readings on {url.shown}/{url.path}")
        if config.metrics is not None:
            host, port = parse_bind(config.metrics)
            metrics = MetricsFace(
                sources, host, port, counters=counters, health=health, registers=config.metrics_registers
            )
            await metrics.start()
            faces.append(metrics)
            say(f"metrics on {metrics.url}")
        if config.web is not None:
            from .web.app import WebPanel

            host, port = parse_bind(config.web)
            panel = WebPanel(sources, host, port, token=config.web_token, counters=counters)
            await panel.start()
            faces.append(panel)
            say(f"web panel on {panel.url}")
    except BaseException:
        await stop_faces(faces)
        raise
    return faces


async def publish_now(faces: Sequence[Face], *, timeout_s: float = 10.0) -> int:
    """Announce and publish every meter now (a collector after a poll) and wait up to ``timeout_s`` for the broker's
    acknowledgements; returns the number of messages still waiting (they stay in the outbox)."""
    waiting = 0
    for face in faces:
        if isinstance(face, ReadingsPublisher):
            waiting += await face.flush(timeout_s)
    return waiting


async def stop_faces(faces: Sequence[Face]) -> None:
    for face in reversed(faces):
        try:
            await face.stop()
        except Exception:
            log.exception("stopping the %s face failed", face.name)


async def run_virtual_meter(
    vm: VirtualMeter,
    config: FacesConfig,
    stop: asyncio.Event,
    *,
    announce: Callable[[str], None] | None = None,
    counters: ProtocolCounters | None = None,
    tick_s: float = 1.0,
    listen: Sequence[str] = (),
) -> None:
    """Serve one virtual meter's faces until ``stop`` is set; the meter follows its clock every ``tick_s`` (while it
    has supply).  ``listen``: optical-port endpoints to serve as well (``tcp://127.0.0.1:0``, ``pty``), counted by a
    :class:`~.port_tap.PortTap`; ``announce`` gets their ``listening on ...`` lines too."""
    from ..transport.server import start_server
    from .port_tap import LockoutWatcher, PortTap
    from .virtual_source import VirtualMeterSource

    source = VirtualMeterSource(vm)
    counters = counters or ProtocolCounters()
    lockouts = LockoutWatcher(counters, source)
    feeders: list[Callable[[MqttLink], Callable[[], object]]] = []
    if config.alarms_topic is not None:
        from .alarms import AlarmBridge

        topic = config.alarms_topic
        feeders.append(lambda link: AlarmBridge(vm.outbox, link, source.serial, topic))
    faces = await start_faces([source], config, store=vm.store, counters=counters, announce=announce, feeders=feeders)
    handle = None
    try:
        if listen:
            tap = PortTap(counters, source.serial, lambda: vm.meter.now)
            handle = await start_server(vm, list(listen), trace=tap, powered=lambda: source.channel.powered)
            for endpoint in handle.endpoints:
                (announce or (lambda line: log.info("%s", line)))(f"listening on {endpoint}")
        while not stop.is_set():
            if source.channel.powered:
                vm.tick()
            lockouts.check()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), tick_s)
    finally:
        if handle is not None:
            await handle.close()
        await stop_faces(faces)
        vm.save()


async def remove_discovery(
    sources: Sequence[MeterSource],
    publish: str,
    *,
    discovery_prefix: str = "homeassistant",
    node: str = "meterkit",
    store: NvStore | None = None,
    timeout_s: float = 30.0,
    addresses: Sequence[str] | None = None,
) -> int:
    """``--mqtt-remove``: send empty retained discovery configs for every meter's entities and wait until the broker
    acknowledged them; returns the number still unacknowledged at ``timeout_s`` (0: done; they stay in ``store``)."""
    url = parse_mqtt_url(publish)
    link = MqttLink(url, node, MqttOutbox(store or NvStore(":memory:")))
    publisher = ReadingsPublisher(sources, link, discovery_prefix=discovery_prefix)
    publisher.remove(addresses)
    link.start()
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    waiting = len(link.outbox)
    try:
        while loop.time() < end:
            waiting = link.pump()
            if waiting == 0:
                break
            await asyncio.sleep(0.05)
    finally:
        link.stop()
    return waiting
