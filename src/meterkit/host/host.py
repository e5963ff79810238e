"""The meter host: one meter service and the faces that plug into it, started and stopped together.

``meterkit serve`` is a thin shell over :func:`run_meter`; a program may build a :class:`MeterHost` itself and add its
own faces (a web panel, a publisher, a binary face).  What a running host has to report goes to the standard
``logging`` module (logger ``meterkit.host``); an error inside a running face is logged and never ends the host.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..headend import AlarmSealer
from ..iec62056_21.application import BinarySession
from ..iec62056_21.events import BinaryModeRequested
from ..iec62056_21.trace import TraceHook
from ..meter.adjust_protocol import AdjustmentPort
from ..meter.control import ControlChannel
from ..meter.virtual import VirtualMeter
from ..transport.server import ConnectionLimits
from .adjust_face import AdjustFace
from .faces import ControlFace, Face, HeadendFace, OpticalFace

if TYPE_CHECKING:
    from ..faces.runner import FacesConfig

__all__ = ["TICK_S", "MeterHost", "run_meter"]

log = logging.getLogger(__name__)

#: how often (seconds) a live meter catches up with its clock between sessions
TICK_S = 1.0


class MeterHost:
    """Runs one meter: measures between sessions (the ticker) and serves it through its faces."""

    def __init__(self, meter: VirtualMeter, *, tick_s: float = TICK_S) -> None:
        self.meter = meter
        self.tick_s = tick_s
        #: the meter's physical inputs (supply, cover, button, load); the optical face asks it whether there is supply
        self.channel = ControlChannel(meter)
        self.faces: list[Face] = []

    def add(self, face: Face) -> MeterHost:
        self.faces.append(face)
        return self

    def add_optical(
        self,
        listen: list[str],
        *,
        baud_emulation: bool = False,
        trace: TraceHook | None = None,
        limits: ConnectionLimits | None = None,
    ) -> MeterHost:
        channel = self.channel
        return self.add(
            OpticalFace(
                self.meter,
                listen,
                baud_emulation=baud_emulation,
                trace=trace,
                powered=lambda: channel.powered,
                limits=limits,
            )
        )

    def add_binary_face(self, factory: Callable[[BinaryModeRequested], BinarySession]) -> MeterHost:
        """The binary protocol behind mode E on every optical endpoint (one session per mode E switch)."""
        self.meter.attach_binary_face(factory)
        return self

    def add_control(self, url: str, *, allow_remote: bool = False) -> MeterHost:
        return self.add(ControlFace(self.channel, url, allow_remote=allow_remote))

    def add_adjust_port(self, url: str) -> MeterHost:
        """The adjustment port (the calibration header): a separate endpoint from every optical one."""
        return self.add(AdjustFace(AdjustmentPort(self.meter), url))

    def add_headend(self, state: Path | None, url: str) -> MeterHost:
        if state is None:
            raise ConfigError("--headend keeps undelivered alarms in the state file: give --state too")
        ident = self.meter.config.identity
        sealer = self.meter.outbox.sealer or AlarmSealer(ident.manufacturer, ident.serial, None)
        return self.add(HeadendFace(state, url, sealer))

    def _check_mode_e(self) -> None:
        """A configuration that offers mode E without a binary face falls back to mode C, and says so."""
        if self.meter.config.port.mode_e and not self.meter.port_config().binary_mode:
            log.warning("[port] mode_e is set but no binary face is attached: the port answers as a mode C meter")

    async def _ticker(self) -> None:
        """A live meter keeps measuring between sessions (not while its supply is off)."""
        while True:
            try:
                if self.channel.powered:
                    self.meter.tick()
            except Exception:
                log.exception("meter: measuring failed; the meter goes on")
            await asyncio.sleep(self.tick_s)

    async def run(self, *, ready: Callable[[str], None] | None = None, stop: asyncio.Event | None = None) -> None:
        """Start every face (in order; ``ready`` gets the lines that say where each accepts), serve until ``stop`` is
        set, then stop the faces (in reverse order) and commit the meter's state.  A face that cannot start stops
        the ones already started and raises."""
        self._check_mode_e()
        ticker = asyncio.create_task(self._ticker())
        started: list[Face] = []
        try:
            lines: list[str] = []
            for face in self.faces:
                lines += await face.start()
                started.append(face)
                log.info("%s started", face.name)
            if ready is not None:
                for line in lines:
                    ready(line)
            await (stop or asyncio.Event()).wait()
        finally:
            ticker.cancel()
            for face in reversed(started):
                try:
                    await face.stop()
                except Exception:
                    log.exception("%s: error while stopping", face.name)
            self.meter.save()
            if self.meter.store.pending:  # the disk still refuses them: they end with the process
                log.error(
                    "the state file still refuses writes (%s): %d writes kept in memory are lost on exit",
                    self.meter.store.fault,
                    self.meter.store.pending,
                )


async def run_meter(
    meter: VirtualMeter,
    listen: list[str],
    *,
    control: str | None = None,
    control_allow_remote: bool = False,
    headend: str | None = None,
    adjust_port: str | None = None,
    state: Path | None = None,
    baud_emulation: bool = False,
    trace: TraceHook | None = None,
    ready: Callable[[str], None] | None = None,
    stop: asyncio.Event | None = None,
    tick_s: float = TICK_S,
    faces: FacesConfig | None = None,
    limits: ConnectionLimits | None = None,
) -> None:
    """Serve ``meter`` until ``stop`` is set: the optical port on every ``listen`` endpoint, the control channel on
    ``control``, alarms to ``headend``, the adjustment port on ``adjust_port``, the live faces of ``faces`` (MQTT,
    metrics, web panel), each TCP endpoint held to ``limits``; ``ready`` gets each
    ``listening on ...`` / ``control on ...`` / ``... on ...`` line.  With ``faces.publish`` on the head-end's broker
    the alarms go through the readings' MQTT link (one client)."""
    host = MeterHost(meter, tick_s=tick_s)
    live = None
    if headend is not None and (meter.outbox.sealer is None or meter.outbox.sealer.key is None):
        log.warning("head-end alarms go unsigned: the meter has level keys but no [security] alarm_key")
    if faces is not None and (faces.publish or faces.metrics or faces.web):
        from .live import LiveFaces, shares_broker

        faces.check()
        shared = headend is not None and faces.publish is not None and shares_broker(faces.publish, headend)
        if shared and state is None:
            raise ConfigError("--headend keeps undelivered alarms in the state file: give --state too")
        live = LiveFaces(meter, host.channel, faces, alarms_topic=_alarms_topic(headend) if shared else None)
        headend = None if shared else headend
        trace = live.tap(trace)
    host.add_optical(listen or ["tcp://127.0.0.1:2100"], baud_emulation=baud_emulation, trace=trace, limits=limits)
    if control is not None:
        host.add_control(control, allow_remote=control_allow_remote)
    if headend is not None:
        host.add_headend(state, headend)
    if live is not None:
        host.add(live)
    if adjust_port is not None:
        host.add_adjust_port(adjust_port)
    await host.run(ready=ready, stop=stop)


def _alarms_topic(headend: str | None) -> str | None:
    from ..headend.mqtt import parse_headend_url

    return None if headend is None else parse_headend_url(headend).path
