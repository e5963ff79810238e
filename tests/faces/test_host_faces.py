"""The live faces as a plug-in of the meter host: a face that fails while running is logged and the host (its
optical port, its other faces) goes on."""

from __future__ import annotations

import asyncio
import logging
import threading
import urllib.error
import urllib.request

import pytest

from meterkit.client import MeterClient
from meterkit.faces.runner import FacesConfig
from meterkit.host import run_meter
from meterkit.meter.catalogue import Reading
from meterkit.meter.config import load_config
from meterkit.meter.virtual import VirtualMeter, demo_config_path
from meterkit.transport import open_transport
from tests.headend.test_mqtt_forwarding import free_port


class BrokenRegisters(VirtualMeter):
    """A meter whose typed values cannot be read (the faces' view of it fails; its port answers)."""

    def reading(self, address: str) -> Reading:
        raise RuntimeError("register store unreadable")


def test_a_failing_face_is_logged_and_the_host_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    vm = BrokenRegisters(load_config(demo_config_path()))
    metrics, web = free_port(), free_port()
    config = FacesConfig(metrics=f"127.0.0.1:{metrics}", web=f"127.0.0.1:{web}")
    lines: list[str] = []
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def on_line(line: str) -> None:
        lines.append(line)
        if len(lines) == 3:
            ready.set()

    thread = threading.Thread(
        target=loop.run_until_complete,
        args=(run_meter(vm, ["tcp://127.0.0.1:0"], faces=config, ready=on_line, stop=stop),),
        daemon=True,
    )
    thread.start()
    try:
        assert ready.wait(20)
        assert lines[1:] == [f"metrics on http://127.0.0.1:{metrics}/metrics", f"web panel on http://127.0.0.1:{web}/"]
        with caplog.at_level(logging.ERROR), pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=10)
        assert failed.value.code == 500
        assert any("register store unreadable" in (r.exc_text or str(r.exc_info)) for r in caplog.records)
        # the web panel still serves, and so does the optical port
        with urllib.request.urlopen(f"http://127.0.0.1:{web}/api/meters", timeout=10) as answer:
            assert answer.status == 200
        port = lines[0].removeprefix("listening on tcp://")
        with MeterClient(open_transport(f"socket://{port}")) as client:
            readout = client.readout()
        assert any(ds.address == "0.0.0" for ds in readout.datasets)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(20)
        loop.close()
