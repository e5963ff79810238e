"""The meter host: faces start in order and stop in reverse, errors in a running face are logged, never fatal."""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass, field

import pytest

from meterkit.errors import ConfigError
from meterkit.host import MeterHost
from meterkit.iec62056_21.application import SessionReply
from meterkit.iec62056_21.events import MeterEvent
from meterkit.meter.static_table import StaticTableMeter
from meterkit.meter.virtual import VirtualMeter, load_virtual_meter
from meterkit.transport.server import start_server


def demo_meter() -> VirtualMeter:
    return load_virtual_meter(None, None)


@dataclass
class RecordingFace:
    name: str
    journal: list[str]
    fail_on_stop: bool = False
    lines: list[str] = field(default_factory=list)

    async def start(self) -> list[str]:
        self.journal.append(f"start {self.name}")
        return [f"{self.name} on somewhere"]

    async def stop(self) -> None:
        self.journal.append(f"stop {self.name}")
        if self.fail_on_stop:
            raise RuntimeError("stuck")


@dataclass
class BrokenFace:
    name: str = "broken"

    async def start(self) -> list[str]:
        raise ConfigError("broken: cannot start")

    async def stop(self) -> None:  # pragma: no cover - never started
        raise AssertionError("a face that did not start is not stopped")


def test_faces_start_in_order_announce_and_stop_in_reverse_even_when_one_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    journal: list[str] = []
    host = MeterHost(demo_meter(), tick_s=0.01)
    host.add(RecordingFace("a", journal, fail_on_stop=True)).add(RecordingFace("b", journal))
    lines: list[str] = []

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.05, stop.set)
        await host.run(ready=lines.append, stop=stop)

    with caplog.at_level(logging.ERROR, logger="meterkit.host"):
        asyncio.run(main())
    assert journal == ["start a", "start b", "stop b", "stop a"]
    assert lines == ["a on somewhere", "b on somewhere"]
    assert [r.getMessage() for r in caplog.records] == ["a: error while stopping"]


def test_a_face_that_cannot_start_stops_the_started_ones_and_raises() -> None:
    journal: list[str] = []
    host = MeterHost(demo_meter()).add(RecordingFace("a", journal)).add(BrokenFace())
    with pytest.raises(ConfigError, match="broken: cannot start"):
        asyncio.run(host.run(stop=asyncio.Event()))
    assert journal == ["start a", "stop a"]


def test_a_measuring_error_is_logged_and_the_meter_goes_on(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    meter = demo_meter()
    ticks: list[int] = []

    def tick() -> None:
        ticks.append(1)
        if len(ticks) == 1:
            raise RuntimeError("sensor")

    monkeypatch.setattr(meter, "tick", tick)
    host = MeterHost(meter, tick_s=0.001)

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.1, stop.set)
        await host.run(stop=stop)

    with caplog.at_level(logging.ERROR, logger="meterkit.host"):
        asyncio.run(main())
    assert len(ticks) > 1  # it went on measuring after the failure
    assert "measuring failed" in caplog.records[0].getMessage()


class ExplodingSession:
    def handle(self, event: MeterEvent) -> SessionReply:
        raise RuntimeError("bug in a session")

    def close(self, reason: str) -> None:
        pass


@dataclass
class FlakyMeter(StaticTableMeter):
    opened: list[int] = field(default_factory=list)

    def open_session(self):  # type: ignore[no-untyped-def,override]
        self.opened.append(1)
        return ExplodingSession() if len(self.opened) == 1 else super().open_session()


def _exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        s.settimeout(3)
        try:
            return s.recv(100)
        except (TimeoutError, ConnectionError):
            return b""


@pytest.mark.e2e
def test_an_error_in_one_connection_is_logged_and_the_server_serves_the_next(caplog: pytest.LogCaptureFixture) -> None:
    app = FlakyMeter()

    async def main() -> tuple[bytes, bytes]:
        handle = await start_server(app, ["tcp://127.0.0.1:0"])
        port = int(handle.endpoints[0].rsplit(":", 1)[1])
        try:
            first = await asyncio.to_thread(_exchange, port, b"/?!\r\n")
            second = await asyncio.to_thread(_exchange, port, b"/?!\r\n")
        finally:
            await handle.close()
        return first, second

    with caplog.at_level(logging.ERROR, logger="meterkit.transport.server"):
        first, second = asyncio.run(main())
    assert second.startswith(b"/MKT5STATIC1")
    assert any("a session failed; the port starts afresh" in r.getMessage() for r in caplog.records)
    assert first == b"" or first.startswith(b"/MKT5")


def test_a_binary_face_plugs_into_the_virtual_meter_behind_mode_e() -> None:
    from meterkit.iec62056_21.testing import ConnectionPair
    from meterkit.iec62056_21.transitions import MeterState

    from ..protocol.test_binary_face import EOT, EchoFace

    faces: list[EchoFace] = []

    def factory(_request: object) -> EchoFace:
        faces.append(EchoFace())
        return faces[-1]

    meter = demo_meter()
    MeterHost(meter).add_binary_face(factory)
    pair = ConnectionPair.for_application(meter)
    assert pair.sign_on().identification.mode_e
    pair.client_send_raw(b"\x06252\r\n" + b"\x7e\xa0\x07" + EOT)  # HDLC-looking bytes, then the end
    assert faces[0].received == [b"\x7e\xa0\x07" + EOT] and faces[0].closed == "binary-done"
    assert pair.wire.sent_by("meter")[-1] == b"\x7e\xa0\x07" + EOT
    assert pair.meter.state is MeterState.IDLE
    meter.attach_binary_face(None)
    assert not ConnectionPair.for_application(meter).sign_on().identification.mode_e
