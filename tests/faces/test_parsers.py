"""Every input parser of the faces, fuzzed: a value or the one error, nothing else."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meterkit.errors import ConfigError
from meterkit.faces import CoverControl, FaceError, LoadControl, PhaseLoad, SealedButton, SupplyControl
from meterkit.faces.http import MAX_BODY, Request, Response, parse_bind, read_request
from meterkit.faces.mqtt_link import parse_mqtt_url
from meterkit.faces.web.app import parse_control


def request_from(data: bytes) -> Request | Response | None:
    async def run() -> Request | Response | None:
        reader = asyncio.StreamReader(limit=MAX_BODY)
        reader.feed_data(data)
        reader.feed_eof()
        try:
            return await read_request(reader)
        except asyncio.IncompleteReadError:
            return None

    return asyncio.run(run())


def test_a_request_is_read_with_its_query_headers_and_body() -> None:
    request = request_from(
        b"POST /api/meters/1/cover?after=3&x=%41 HTTP/1.1\r\nHost: 127.0.0.1:8\r\nContent-Type: application/json\r\n"
        b'Content-Length: 14\r\n\r\n{"open": true}'
    )
    assert request == Request(
        method="POST",
        path="/api/meters/1/cover",
        query={"after": "3", "x": "A"},
        headers={"host": "127.0.0.1:8", "content-type": "application/json", "content-length": "14"},
        body=b'{"open": true}',
    )


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"GET / HTTP/1.1\r\nContent-Length: \xb2\r\n\r\n", 400),  # a superscript two is a digit to str.isdigit
        (b"GET / HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n", 413),
        (b"GET /\r\n\r\n", 400),
        (b"GET http://x/ HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 70_000 + b"\r\n\r\n", 431),
    ],
)
def test_malformed_requests_get_one_error_status(data: bytes, status: int) -> None:
    answer = request_from(data)
    assert isinstance(answer, Response) and answer.status == status


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=600)
    | st.builds(lambda a, b: a + b"\r\n\r\n" + b, st.binary(max_size=200), st.binary(max_size=50))
)
def test_any_bytes_give_a_request_an_error_response_or_an_early_end(data: bytes) -> None:
    answer = request_from(data)
    assert answer is None or isinstance(answer, Request) or 400 <= answer.status < 500


@pytest.mark.parametrize(
    ("action", "body", "control"),
    [
        ("cover", b'{"open": true}', CoverControl(open=True)),
        ("supply", b'{"on": false}', SupplyControl(on=False)),
        ("button", b"{}", SealedButton(kind="seal")),
        ("button", b'{"kind": "reset"}', SealedButton(kind="reset")),
        (
            "load",
            b'{"phase": 2, "voltage_v": 230, "current_a": 12.5}',
            LoadControl(phase=2, load=PhaseLoad(voltage_v=230.0, current_a=12.5)),
        ),
        (
            "load",
            b'{"voltage_v": 231, "current_a": 1, "angle_deg": 30}',
            LoadControl(load=PhaseLoad(voltage_v=231.0, current_a=1.0, angle_deg=30.0)),
        ),
    ],
)
def test_control_bodies_become_controls(action: str, body: bytes, control: object) -> None:
    assert parse_control(action, body) == control


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["cover", "supply", "button", "load"]),
    st.fixed_dictionaries(
        {},
        optional={
            "open": json_values,
            "on": json_values,
            "kind": json_values,
            "phase": json_values,
            "voltage_v": json_values,
            "current_a": json_values,
        },
    ).map(lambda d: json.dumps(d).encode())
    | st.binary(max_size=40),
)
def test_any_control_body_gives_a_control_or_a_face_error(action: str, body: bytes) -> None:
    try:
        control = parse_control(action, body)
    except FaceError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(control, CoverControl | SupplyControl | SealedButton | LoadControl)


def test_mqtt_urls() -> None:
    url = parse_mqtt_url("mqtt://broker.lan:1884/site/7")
    assert (url.host, url.port, url.path) == ("broker.lan", 1884, "site/7")
    assert parse_mqtt_url("mqtt://127.0.0.1").path == "meterkit" and parse_mqtt_url("mqtt://127.0.0.1").port == 1883
    for bad in ("http://x", "mqtt://", "mqtt://x:99999", "mqtt://x/a/#", "mqtt://x/a//b", "mqtt://u:p@x"):
        with pytest.raises(ConfigError):
            parse_mqtt_url(bad)


@given(st.text(max_size=40))
def test_any_mqtt_url_parses_or_is_a_config_error(text: str) -> None:
    try:
        url = parse_mqtt_url(text)
    except ConfigError:
        return
    assert url.host and 0 < url.port <= 65535 and "#" not in url.path and "+" not in url.path


@given(st.text(max_size=30))
def test_any_bind_address_parses_or_is_a_config_error(text: str) -> None:
    try:
        host, port = parse_bind(text)
    except ConfigError:
        return
    assert 0 <= port <= 65535 and host


def test_bind_addresses() -> None:
    assert parse_bind("127.0.0.1:9100") == ("127.0.0.1", 9100)
    assert parse_bind(":9100") == ("127.0.0.1", 9100)
    assert parse_bind("[::1]:80") == ("::1", 80)
    with pytest.raises(ConfigError):
        parse_bind("127.0.0.1:http")
