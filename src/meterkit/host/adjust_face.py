"""The adjustment port as a face of the meter host: the calibration header, a separate endpoint from every optical
one (:mod:`meterkit.meter.adjust_protocol`, :mod:`meterkit.transport.adjust_port`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..meter.adjust_protocol import AdjustmentPort
from ..transport.adjust_port import AdjustServer, start_adjust_port

__all__ = ["AdjustFace"]


@dataclass
class AdjustFace:
    """Serves one meter's adjustment port on ``url`` (``tcp://127.0.0.1:PORT`` or ``pty``)."""

    port: AdjustmentPort
    url: str
    name: str = "adjustment port"
    _server: AdjustServer | None = field(default=None, init=False)

    async def start(self) -> list[str]:
        self._server = await start_adjust_port(self.port.handle, self.url)
        return [f"adjustment port on {self._server.where}"]

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.close()
            self._server = None
