"""Mode E through meterkit's real server: a tiny binary echo face behind the virtual meter's optical port
(``MeterHost.add_binary_face``), driven end to end by ``MeterClient.binary()`` over TCP and over a pty; and a
configuration that offers mode E without a face falls back to mode C."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from meterkit.client import MeterClient
from meterkit.errors import DeviceError
from meterkit.host import MeterHost
from meterkit.iec62056_21.events import BinaryModeRequested
from meterkit.meter.virtual import VirtualMeter, load_virtual_meter
from meterkit.transport import open_transport

from .conftest import _in_background, running_meter

HDLC = b"\x7e\xa0\x07\x03\x21\x93\x0f\x01\x7e"  # 8-bit bytes: the line really is 8N1 after the switch
EOT = b"\x04"
DEMO = Path(__file__).parents[2] / "src" / "meterkit" / "data" / "demo-meter.toml"


@dataclass
class EchoFace:
    """The smallest binary protocol: echoes every byte; an EOT ends it."""

    request: BinaryModeRequested
    received: bytearray = field(default_factory=bytearray)
    closed: str | None = None

    def receive(self, data: bytes) -> bytes:
        self.received += data
        return data

    @property
    def finished(self) -> bool:
        return self.received.endswith(EOT)

    def close(self, reason: str) -> None:
        self.closed = reason


@contextmanager
def hosted_with_echo(listen: list[str]) -> Iterator[tuple[dict[str, str], list[EchoFace]]]:
    faces: list[EchoFace] = []

    def factory(request: BinaryModeRequested) -> EchoFace:
        faces.append(EchoFace(request))
        return faces[-1]

    found: dict[str, str] = {}

    async def main(stop: asyncio.Event, ready: threading.Event, box: dict[str, object]) -> None:
        host = MeterHost(load_virtual_meter(None, None)).add_optical(listen).add_binary_face(factory)

        def on_line(line: str) -> None:
            if line.startswith("listening on tcp://"):
                found["tcp"] = "socket://" + line.removeprefix("listening on tcp://")
            elif line.startswith("listening on pty "):
                found["pty"] = line.removeprefix("listening on pty ")
            if len(found) == len(listen):
                ready.set()

        await host.run(ready=on_line, stop=stop)

    with _in_background(main):
        yield found, faces


def echo_through(url: str) -> tuple[int, bytes]:
    with MeterClient(open_transport(url)) as client:
        link = client.binary()
        link.transport.write(HDLC + EOT)
        got = link.leftover
        while len(got) < len(HDLC) + 1:
            got += link.transport.read(2.0)
    return link.baud, got


@pytest.mark.parametrize("kind", ["tcp", "pty"])
def test_a_binary_echo_face_behind_mode_e_end_to_end(kind: str) -> None:
    with hosted_with_echo(["tcp://127.0.0.1:0", "pty"]) as (found, faces):
        url = found[kind]
        baud, got = echo_through(url)
        assert (baud, got) == (9600, HDLC + EOT)
        assert len(faces) == 1 and bytes(faces[0].received) == HDLC + EOT and faces[0].closed == "binary-done"
        assert faces[0].request.baud == 9600
        # the face finished: the port speaks IEC 62056-21 again at 300 Bd, and a second switch works too
        with MeterClient(open_transport(url)) as client:
            readout = client.readout()
        assert readout.identification.mode_e and any(ds.address == "1.8.0" for ds in readout.datasets)
        assert echo_through(url) == (9600, HDLC + EOT) and len(faces) == 2


def mode_e_config(tmp_path: Path) -> Path:
    text = DEMO.read_text(encoding="utf-8").replace("# mode_e = true", "mode_e = true", 1)
    assert "\nmode_e = true" in text
    path = tmp_path / "meter.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_configuration_offering_mode_e_without_a_face_answers_as_mode_c(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    meter: VirtualMeter = load_virtual_meter(mode_e_config(tmp_path), None)
    assert meter.config.port.mode_e
    with caplog.at_level(logging.WARNING, logger="meterkit.host"):
        with running_meter(meter, ["tcp://127.0.0.1:0"]) as found:
            with MeterClient(open_transport(found["tcp"])) as client:
                with pytest.raises(DeviceError, match="does not announce mode E"):
                    client.binary()
            with MeterClient(open_transport(found["tcp"])) as client:
                assert not client.readout().identification.mode_e
    assert any("mode_e is set but no binary face is attached" in r.getMessage() for r in caplog.records)


def test_mode_e_is_for_mode_c_meters_only(tmp_path: Path) -> None:
    from meterkit.errors import ConfigError

    text = mode_e_config(tmp_path).read_text(encoding="utf-8").replace('protocol_mode = "C"', 'protocol_mode = "A"')
    bad = tmp_path / "bad.toml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"mode_e .*needs protocol_mode C"):
        load_virtual_meter(bad, None)
