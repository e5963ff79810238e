"""Faces of a meter host: each plugs into the meter service and has ``start``/``stop``.

A face depends on the meter; the meter depends on none of its faces.  ``start`` returns the lines that announce
where the face accepts (``listening on tcp://127.0.0.1:2100``); a face that cannot start raises (a configuration or
transport error), one that fails while running logs it and the host goes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..iec62056_21.application import MeterApplication
from ..iec62056_21.trace import TraceHook
from ..meter.control import ControlChannel
from ..transport.control import ControlServer, start_control_server
from ..transport.server import ConnectionLimits, ServerHandle, start_server

if TYPE_CHECKING:
    from ..headend.message import AlarmSealer
    from ..headend.mqtt import MqttForwarder

__all__ = ["ControlFace", "Face", "HeadendFace", "OpticalFace"]


class Face(Protocol):
    """Something a meter host starts and stops."""

    @property
    def name(self) -> str: ...

    async def start(self) -> list[str]:
        """Start accepting; the lines that say where (may be empty)."""
        ...

    async def stop(self) -> None: ...


@dataclass
class OpticalFace:
    """The IEC 62056-21 optical port on TCP, pseudo-terminal and serial endpoints."""

    app: MeterApplication
    listen: list[str]
    baud_emulation: bool = False
    trace: TraceHook | None = None
    powered: Callable[[], bool] | None = None
    name: str = "optical port"
    #: connection cap and idle time-out of each TCP endpoint (None: the defaults of ConnectionLimits)
    limits: ConnectionLimits | None = None
    _handle: ServerHandle | None = field(default=None, init=False)

    async def start(self) -> list[str]:
        self._handle = await start_server(
            self.app,
            self.listen or ["tcp://127.0.0.1:2100"],
            baud_emulation=self.baud_emulation,
            trace=self.trace,
            powered=self.powered,
            limits=self.limits,
        )
        return [f"listening on {ep}" for ep in self._handle.endpoints]

    async def stop(self) -> None:
        if self._handle is not None:
            await self._handle.close()
            self._handle = None


@dataclass
class ControlFace:
    """The control channel (cover, button, supply, load): physical access to the meter, loopback by default."""

    channel: ControlChannel
    url: str
    allow_remote: bool = False
    name: str = "control channel"
    _server: ControlServer | None = field(default=None, init=False)

    async def start(self) -> list[str]:
        self._server = await start_control_server(self.channel.handle, self.url, allow_remote=self.allow_remote)
        return [f"control on {self._server.url}"]

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.close()
            self._server = None


@dataclass
class HeadendFace:
    """The alarm forwarder to the head-end (MQTT); it reads the outbox of the state file in a thread of its own."""

    state: Path
    url: str
    sealer: AlarmSealer
    name: str = "head-end forwarder"
    _forwarder: MqttForwarder | None = field(default=None, init=False)

    async def start(self) -> list[str]:
        from ..headend.mqtt import MqttForwarder  # paho-mqtt only when a head-end is configured

        self._forwarder = MqttForwarder(self.state, self.url, self.sealer)
        self._forwarder.start()
        return []

    async def stop(self) -> None:
        if self._forwarder is not None:
            await asyncio.to_thread(self._forwarder.stop)
            self._forwarder = None
