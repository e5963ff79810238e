"""``meterkit serve --publish --metrics --web`` as a real process: the faces are plug-ins of the meter host, each
announces where it serves, a real Mosquitto gets discovery and states, prometheus_client parses the scrape, /api
answers; bad face options are usage errors before anything listens."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from meterkit.client import MeterClient
from meterkit.host.live import shares_broker
from meterkit.transport import open_transport
from tests.headend.test_mqtt_forwarding import Broker, free_port

from .mqttkit import Recorder, wait_for

pytestmark = [pytest.mark.mqtt, pytest.mark.e2e]

MK = [sys.executable, "-m", "meterkit.cli.app"]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path, free_port())
    b.start()
    yield b
    b.stop()


def _serve(args: list[str], want: int) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        [*MK, "serve", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    assert proc.stdout is not None
    lines: list[str] = []
    while len(lines) < want:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"serve ended: {lines} {proc.stderr.read() if proc.stderr else ''}")
        lines.append(line.strip())
    return proc, lines


def _get(url: str) -> tuple[str, bytes]:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.headers.get("Content-Type", ""), answer.read()


def test_serve_runs_the_three_faces_as_host_plug_ins(tmp_path: Path, broker: Broker) -> None:
    metrics, web, port = free_port(), free_port(), free_port()
    recorder = Recorder(broker.port, ("site7/#", "homeassistant/#"))
    proc, lines = _serve(
        [
            "--state", str(tmp_path / "m.sqlite"),
            "--listen", f"tcp://127.0.0.1:{port}",
            "--publish", f"mqtt://127.0.0.1:{broker.port}/site7",
            "--metrics", f"127.0.0.1:{metrics}",
            "--web", f"127.0.0.1:{web}",
        ],
        want=4,
    )  # fmt: skip
    try:
        assert lines == [
            f"listening on tcp://127.0.0.1:{port}",
            f"readings on mqtt://127.0.0.1:{broker.port}/site7",
            f"metrics on http://127.0.0.1:{metrics}/metrics",
            f"web panel on http://127.0.0.1:{web}/",
        ]
        # MQTT: discovery of the demo meter's 1.8.0 and its state, availability online
        config_topic = "homeassistant/sensor/meterkit_12345678/1_8_0/config"
        assert wait_for(lambda: recorder.on(config_topic) and recorder.on("site7/12345678/1.8.0"))
        discovery = json.loads(recorder.on(config_topic)[-1].payload)
        assert discovery["state_topic"] == "site7/12345678/1.8.0"
        assert discovery["state_class"] == "total_increasing"
        assert discovery["unit_of_measurement"] == "kWh"
        state = json.loads(recorder.on("site7/12345678/1.8.0")[-1].payload)
        assert state["unit"] == "kWh" and state["value"] >= 0
        assert wait_for(lambda: recorder.on("site7/12345678/availability"))
        assert recorder.on("site7/12345678/availability")[-1].payload == b"online"
        # a readout over the optical port is counted (the port tap sits on the host's optical face)
        with MeterClient(open_transport(f"socket://127.0.0.1:{port}")) as client:
            client.readout()
        # OpenMetrics parsed by prometheus_client
        start = time.perf_counter()
        kind, body = _get(f"http://127.0.0.1:{metrics}/metrics")
        print(f"scrape of the demo meter: {1000 * (time.perf_counter() - start):.1f} ms, {len(body)} bytes")
        assert kind.startswith("application/openmetrics-text")
        families = {f.name: f for f in text_string_to_metric_families(body.decode())}
        energy = [s for s in families["meterkit_energy_joules"].samples if s.labels["obis"] == "1.8.0"]
        assert energy and energy[0].labels["meter"] == "12345678" and energy[0].value >= 0
        assert [(s.labels["meter"], s.value) for s in families["meterkit_sessions"].samples] == [("12345678", 1)]
        # the panel's API
        kind, body = _get(f"http://127.0.0.1:{web}/api/meters")
        meters = json.loads(body)
        assert [m["serial"] for m in meters] == ["12345678"]
        _, body = _get(f"http://127.0.0.1:{web}/api/meters/12345678/registers")
        assert "1.8.0" in {r["address"] for r in json.loads(body)}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    # a clean stop says the publishing node is offline (the discovery's second availability topic)
    node = f"site7/meterkit-{socket.gethostname()}/status"
    try:
        assert wait_for(lambda: recorder.on(node) and recorder.on(node)[-1].payload == b"offline", 5)
        assert node in {a["topic"] for a in discovery["availability"]}
    finally:
        recorder.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--web", "0.0.0.0:8080"], "--web-allow-remote"),
        (["--web", "0.0.0.0:8080", "--web-allow-remote"], "token of 16 characters"),
        (["--publish", "http://127.0.0.1/x"], "mqtt://HOST"),
        (["--metrics", "127.0.0.1:notaport"], "--metrics"),
    ],
)
def test_bad_face_options_are_usage_errors_before_anything_listens(args: list[str], message: str) -> None:
    done = subprocess.run(
        [*MK, "serve", "--listen", "tcp://127.0.0.1:0", *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "listening on" not in done.stdout
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_remote_panel_with_the_flag_and_a_token_serves(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("0123456789abcdef-secret\n")
    web = free_port()
    proc, lines = _serve(
        [
            "--listen",
            "tcp://127.0.0.1:0",
            "--web",
            f"0.0.0.0:{web}",
            "--web-allow-remote",
            "--web-token-file",
            str(token),
        ],
        want=2,
    )
    try:
        assert lines[1] == f"web panel on http://0.0.0.0:{web}/"
        with pytest.raises(urllib.error.HTTPError) as refused:
            _get(f"http://127.0.0.1:{web}/api/meters")
        assert refused.value.code == 401
        request = urllib.request.Request(
            f"http://127.0.0.1:{web}/api/meters", headers={"Authorization": "Bearer 0123456789abcdef-secret"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert [m["serial"] for m in json.loads(answer.read())] == ["12345678"]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0


def test_alarms_and_readings_share_one_mqtt_link_on_the_same_broker(tmp_path: Path, broker: Broker) -> None:
    web = free_port()
    recorder = Recorder(broker.port, ("alarms/#", "site7/#"))
    proc, lines = _serve(
        [
            "--state", str(tmp_path / "m.sqlite"),
            "--listen", "tcp://127.0.0.1:0",
            "--headend", f"mqtt://127.0.0.1:{broker.port}/alarms",
            "--publish", f"mqtt://127.0.0.1:{broker.port}/site7",
            "--web", f"127.0.0.1:{web}",
        ],
        want=3,
    )  # fmt: skip
    try:
        assert lines[1:] == [
            f"readings on mqtt://127.0.0.1:{broker.port}/site7",
            f"web panel on http://127.0.0.1:{web}/",
        ]
        request = urllib.request.Request(
            f"http://127.0.0.1:{web}/api/meters/12345678/cover",
            data=b'{"open": true}',
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200
        assert wait_for(lambda: recorder.on("alarms/12345678"))
        alarm = json.loads(recorder.on("alarms/12345678")[0].payload)
        assert alarm["meter"] == "12345678" and alarm["kind"] == "TAMPER"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        recorder.close()


def test_the_head_end_shares_the_link_only_on_the_same_broker() -> None:
    assert shares_broker("mqtt://127.0.0.1:1883/site", "mqtt://127.0.0.1/alarms")
    assert not shares_broker("mqtt://127.0.0.1:1884/site", "mqtt://127.0.0.1:1883/alarms")
    assert not shares_broker("mqtt://broker-a/site", "mqtt://broker-b/alarms")
