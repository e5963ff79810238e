"""The panel's REST API, its event stream and its access rules, over HTTP on loopback."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from typing import Any

import pytest

from meterkit.faces.runner import FacesConfig

from .background import serving
from .meters import live_meter

pytestmark = pytest.mark.e2e


def get(url: str, headers: dict[str, str] | None = None) -> Any:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as r:
        return json.loads(r.read())


def post(url: str, body: object, content_type: str = "application/json", token: str | None = None) -> Any:
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.loads(r.read())


def status_of(call: Any) -> int:
    with pytest.raises(urllib.error.HTTPError) as err:
        call()
    return err.value.code


def test_the_api_drives_the_meter_and_reports_its_logs() -> None:
    vm, _ = live_meter()
    with serving(vm, FacesConfig(web="127.0.0.1:0")) as served:
        base = served.url("web panel") + "api/meters/12345678"
        assert get(served.url("web panel") + "api/meters")[0]["model"] == "VM3PH-100"
        result = post(base + "/load", {"phase": 1, "voltage_v": 230, "current_a": 50})
        assert result["result"].startswith("ok load L1=230V/50A")
        assert get(base)["status"]["phases"][0]["current_a"] == 50.0
        assert post(base + "/cover", {"open": True})["result"].startswith("ok cover=open relay=open")
        kinds = [(e["kind"], e["level"]) for e in get(base + "/security-log")]
        assert ("COVER_OPEN_UNAUTH", "alarm") in kinds and ("RELAY_TRIP", "alarm") in kinds
        seen = get(base + "/events")[-1]["seq"]
        post(base + "/supply", {"on": False})
        assert [e["kind"] for e in get(f"{base}/events?after={seen}")] == ["power down"]
        assert status_of(lambda: post(base + "/button", {"kind": "reset"})) == 409  # powered down
        assert status_of(lambda: post(base + "/supply", {"on": "yes"})) == 400
        assert status_of(lambda: post(base + "/load", {"phase": 4, "voltage_v": 1, "current_a": 1})) == 400
        assert status_of(lambda: post(base + "/cover", {"open": True}, content_type="text/plain")) == 415
        assert status_of(lambda: get(served.url("web panel") + "api/meters/999")) == 404
        registers = {r["address"]: r for r in get(base + "/registers")}
        assert registers["1.8.0"]["unit"] == "kWh" and registers["0.0.0"]["value"] == "12345678"


def test_openapi_describes_every_route_the_page_uses() -> None:
    vm, _ = live_meter()
    with serving(vm, FacesConfig(web="127.0.0.1:0")) as served:
        spec = get(served.url("web panel") + "api/openapi.json")
        assert spec["openapi"].startswith("3.")
        for path in ("cover", "button", "supply", "load", "stream", "events", "security-log", "registers"):
            assert f"/api/meters/{{serial}}/{path}" in spec["paths"]


def test_the_stream_sends_state_events_with_the_display_list() -> None:
    vm, _ = live_meter()
    with serving(vm, FacesConfig(web="127.0.0.1:0")) as served:
        url = served.url("web panel") + "api/meters/12345678/stream"
        with urllib.request.urlopen(url, timeout=10) as r:
            assert r.headers["Content-Type"] == "text/event-stream"
            lines = [r.readline() for _ in range(4)]
        assert lines[:3] == [b"retry: 1000\n", b"\n", b"event: state\n"]
        state = json.loads(lines[3].removeprefix(b"data: "))
        assert [d["address"] for d in state["display"]][:3] == ["0.9.2", "0.9.1", "1.8.0"]
        assert state["meter"]["status"]["relay_closed"] is True
        assert any(e["kind"] == "power up" for e in state["events"])


def raw_request(port: int, head: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head.encode())
        return s.recv(200)


def test_a_loopback_panel_refuses_foreign_host_names() -> None:
    vm, _ = live_meter()
    with serving(vm, FacesConfig(web="127.0.0.1:0")) as served:
        port = int(served.url("web panel").rstrip("/").rsplit(":", 1)[1])
        answer = raw_request(port, "GET /api/meters HTTP/1.1\r\nHost: attacker.example:80\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 403")
        assert raw_request(port, f"GET /api/meters HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n").startswith(
            b"HTTP/1.1 200"
        )


def test_a_token_is_needed_when_one_is_set() -> None:
    vm, _ = live_meter()
    token = "t" * 24
    with serving(vm, FacesConfig(web="127.0.0.1:0", web_token=token)) as served:
        base = served.url("web panel")
        assert status_of(lambda: get(base + "api/meters")) == 401
        assert status_of(lambda: get(base + "api/meters?token=wrong")) == 401
        assert get(base + f"api/meters?token={token}")[0]["serial"] == "12345678"
        assert get(base + "api/meters", {"Authorization": f"Bearer {token}"})[0]["serial"] == "12345678"
        assert post(base + "api/meters/12345678/cover", {"open": True}, token=token)["result"].startswith("ok")


def test_a_fleet_gets_a_list_page_and_one_panel_per_meter() -> None:
    from meterkit.faces.virtual_source import VirtualMeterSource

    from .background import serving_sources

    sources = [VirtualMeterSource(live_meter(serial)[0]) for serial in ("10000001", "10000002", "20000003")]
    with serving_sources(list(sources), FacesConfig(web="127.0.0.1:0")) as served:
        base = served.url("web panel")
        with urllib.request.urlopen(base, timeout=10) as r:
            assert r.geturl() == base and b'id="search"' in r.read()
        assert [m["serial"] for m in get(base + "api/meters")] == ["10000001", "10000002", "20000003"]
        with urllib.request.urlopen(base + "meter/20000003", timeout=10) as r:
            assert b'id="lcd"' in r.read()
        assert status_of(lambda: urllib.request.urlopen(base + "meter/30000000", timeout=10)) == 404
        post(base + "api/meters/10000002/cover", {"open": True})
        statuses = {m["serial"]: m["status"]["relay_closed"] for m in get(base + "api/meters")}
        assert statuses == {"10000001": True, "10000002": False, "20000003": True}
