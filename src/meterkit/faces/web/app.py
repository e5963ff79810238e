"""The web panel's server: pages, static assets, the REST API under ``/api`` and the server-sent-events stream.

Whoever reaches the panel has physical access to the meter (cover, buttons, supply).  So: loopback by default (the
runner refuses another address without an explicit flag and a token); with a token every request needs it (header
``Authorization: Bearer TOKEN`` or, for pages and the event stream, ``?token=TOKEN``; the static assets need none, as
they hold no meter data); a loopback panel answers only requests whose ``Host`` is a loopback name (no DNS
rebinding); control requests must be ``application/json`` (a cross-site form cannot send that without a preflight,
which the panel does not grant).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from importlib import resources
from typing import Any

from ..http import HttpServer, Request, Response, is_loopback, is_number
from ..metrics import ProtocolCounters
from ..source import (
    Control,
    CoverControl,
    FaceError,
    LoadControl,
    LogEntry,
    MeterSource,
    PhaseLoad,
    Reading,
    SealedButton,
    SupplyControl,
)
from .openapi import openapi

__all__ = ["DISPLAY_LIST", "WebPanel", "parse_control"]

log = logging.getLogger(__name__)

#: what the LCD scrolls through, in order
DISPLAY_LIST = ("0.9.2", "0.9.1", "1.8.0", "1.8.1", "1.8.2", "2.8.0", "1.7.0", "1.4.0", "1.6.0", "0.1.0", "F.F")
#: registers the stream carries besides the display list (chart and phase values)
_STREAM_EXTRA = ("1.5.0", "21.7.0", "41.7.0", "61.7.0", "32.7.0", "52.7.0", "72.7.0", "31.7.0", "51.7.0", "71.7.0")
_STATIC = {
    "panel.html": "text/html; charset=utf-8",
    "fleet.html": "text/html; charset=utf-8",
    "panel.js": "text/javascript; charset=utf-8",
    "fleet.js": "text/javascript; charset=utf-8",
    "panel.css": "text/css; charset=utf-8",
}
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:",
    "Referrer-Policy": "no-referrer",
}
#: log entries a new page gets at first
LOG_BACKLOG = 200
#: a port LED lights for this long after optical-port traffic (seconds)
ACTIVITY_S = 2.0


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _json(data: object, status: int = 200) -> Response:
    body = json.dumps(data, default=_json_default).encode()
    return Response(status=status, body=body, content_type="application/json", headers=dict(_SECURITY_HEADERS))


def _error(status: int, message: str) -> Response:
    return _json({"error": message}, status)


def _reading(r: Reading) -> dict[str, Any]:
    return {
        "address": r.address,
        "value": r.value,
        "text": str(r.value),
        "unit": r.unit,
        "description": r.description,
        "at": r.at,
        "max_at": r.max_at,
    }


def _entry(e: LogEntry) -> dict[str, Any]:
    return asdict(e)


def parse_control(action: str, body: bytes) -> Control:
    """A control request's JSON body -> the control (``action``: cover, supply, button, load); raises
    :class:`FaceError` with a one-line message for anything else."""
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise FaceError("the body is not JSON") from None
    if not isinstance(data, dict):
        raise FaceError("the body must be a JSON object")

    def flag(name: str) -> bool:
        value = data.get(name)
        if not isinstance(value, bool):
            raise FaceError(f"{name!r} must be true or false")
        return value

    def number(name: str, default: float | None = None) -> float:
        value = data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FaceError(f"{name!r} must be a number")
        return float(value)

    if action == "cover":
        return CoverControl(open=flag("open"))
    if action == "supply":
        return SupplyControl(on=flag("on"))
    if action == "button":
        kind = data.get("kind", "seal")
        if kind not in ("seal", "reset"):
            raise FaceError("'kind' must be 'seal' or 'reset'")
        return SealedButton(kind=kind)
    phase = data.get("phase")
    if phase is not None and (isinstance(phase, bool) or phase not in (1, 2, 3)):
        raise FaceError("'phase' must be 1, 2, 3 or null")
    load = PhaseLoad(voltage_v=number("voltage_v"), current_a=number("current_a"), angle_deg=number("angle_deg", 0.0))
    return LoadControl(phase=phase, load=load)


class WebPanel:
    """A face: the panel for each meter at ``/meter/<serial>``, the fleet list at ``/`` (one meter: ``/`` leads to
    its panel).  A fleet's list is one request (``/api/meters``, searchable with ``?q=``); a panel reads its own
    meter only while it is open, so a fleet of 1,000 costs nothing until a panel is opened."""

    name = "web"

    def __init__(
        self,
        sources: Sequence[MeterSource],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token: str | None = None,
        counters: ProtocolCounters | None = None,
        stream_s: float = 1.0,
    ) -> None:
        self.sources = {s.serial: s for s in sources}
        self.token = token
        self.counters = counters
        self.stream_s = stream_s
        self.server = HttpServer(host, port, self._handle, name="web panel")

    @property
    def url(self) -> str:
        return self.server.url + "/"

    async def start(self) -> None:
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()

    # --- access ------------------------------------------------------------------------------------------------

    def _allowed(self, request: Request) -> Response | None:
        if is_loopback(self.server.host):
            host = request.headers.get("host", "").rpartition(":")[0].strip("[]") or request.headers.get("host", "")
            if not is_loopback(host):
                return _error(403, "the panel answers loopback names only")
        if self.token is not None and not request.path.startswith("/static/"):  # the assets hold no meter data
            given = request.query.get("token", "")
            auth = request.headers.get("authorization", "")
            if auth.startswith("Bearer "):
                given = auth.removeprefix("Bearer ")
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                return Response(status=401, body=b"401 token needed\n", headers={"WWW-Authenticate": "Bearer"})
        return None

    # --- routing -----------------------------------------------------------------------------------------------

    async def _handle(self, request: Request) -> Response:
        refused = self._allowed(request)
        if refused is not None:
            return refused
        parts = [p for p in request.path.split("/") if p]
        if request.method == "GET":
            if not parts:
                if len(self.sources) == 1:
                    serial = next(iter(self.sources))
                    return Response(status=303, headers={"Location": f"/meter/{serial}" + self._token_query()})
                return self._static("fleet.html")
            if parts[0] == "static" and len(parts) == 2:
                return self._static(parts[1])
            if parts[0] == "meter" and len(parts) == 2:
                if parts[1] not in self.sources:
                    return _error(404, f"no meter {parts[1]}")
                return self._static("panel.html")
        if parts[:1] == ["api"]:
            return await self._api(request, parts[1:])
        return _error(404, f"nothing at {request.path}")

    def _token_query(self) -> str:
        return "" if self.token is None else f"?token={self.token}"

    def _static(self, name: str) -> Response:
        if name not in _STATIC:
            return _error(404, f"no file {name}")
        body = (resources.files(__package__) / "static" / name).read_bytes()
        return Response(body=body, content_type=_STATIC[name], headers=dict(_SECURITY_HEADERS))

    async def _api(self, request: Request, parts: list[str]) -> Response:
        if parts == ["openapi.json"] and request.method == "GET":
            return _json(openapi())
        if parts == ["meters"] and request.method == "GET":
            needle = request.query.get("q", "").strip().lower()
            return _json([self._meter(s) for s in self.sources.values() if not needle or self._matches(s, needle)])
        if len(parts) < 2 or parts[0] != "meters":
            return _error(404, f"nothing at {request.path}")
        source = self.sources.get(parts[1])
        if source is None:
            return _error(404, f"no meter {parts[1]}")
        rest = parts[2:]
        if request.method == "GET":
            return self._get(source, rest, request)
        if request.method == "POST" and len(rest) == 1 and rest[0] in ("cover", "button", "supply", "load"):
            if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
                return _error(415, "send the body as application/json")
            try:
                command = parse_control(rest[0], request.body)
            except FaceError as exc:
                return _error(400, str(exc))
            try:
                result = source.control(command)
            except FaceError as exc:
                return _error(409, str(exc))
            log.info("panel: meter %s %s -> %s", source.serial, rest[0], result)
            return _json({"result": result})
        return _error(405 if rest else 404, f"{request.method} {request.path} is not supported")

    def _get(self, source: MeterSource, rest: list[str], request: Request) -> Response:
        after_text = request.query.get("after", "0")
        if not is_number(after_text):
            return _error(400, "'after' must be a whole number")
        after = int(after_text)
        if not rest:
            return _json(self._meter(source))
        if rest == ["registers"]:
            return _json([_reading(r) for r in source.readings()])
        if rest == ["events"]:
            return _json([_entry(e) for e in source.events(after)])
        if rest == ["security-log"]:
            return _json([_entry(e) for e in source.security_log(after)])
        if rest == ["stream"]:
            return Response(
                content_type="text/event-stream",
                headers={**_SECURITY_HEADERS, "X-Accel-Buffering": "no"},
                stream=self._stream(source),
            )
        return _error(404, f"nothing at {request.path}")

    @staticmethod
    def _matches(source: MeterSource, needle: str) -> bool:
        ident = source.identification()
        return any(needle in text.lower() for text in (ident.serial, ident.manufacturer, ident.model))

    def _meter(self, source: MeterSource) -> dict[str, Any]:
        ident = source.identification()
        return {
            "serial": ident.serial,
            "manufacturer": ident.manufacturer,
            "model": ident.model,
            "status": asdict(source.status()),
        }

    def _state(self, source: MeterSource, events_after: int, security_after: int) -> dict[str, Any]:
        wanted = set(DISPLAY_LIST) | set(_STREAM_EXTRA)
        readings = {r.address: _reading(r) for r in source.readings() if r.address in wanted}
        status = source.status()
        last = None if self.counters is None else self.counters.last_activity(source.serial)
        active = last is not None and abs((status.at - last).total_seconds()) <= ACTIVITY_S
        return {
            "meter": self._meter(source),
            "display": [readings[a] for a in DISPLAY_LIST if a in readings],
            "registers": readings,
            "port_active": active,
            # the first state carries the newest entries only; later ones what is new
            "events": [_entry(e) for e in source.events(events_after)[-LOG_BACKLOG:]],
            "security": [_entry(e) for e in source.security_log(security_after)[-LOG_BACKLOG:]],
        }

    async def _stream(self, source: MeterSource) -> AsyncIterator[bytes]:
        events_after = security_after = 0
        yield b"retry: 1000\n\n"
        while True:
            state = self._state(source, events_after, security_after)
            if state["events"]:
                events_after = state["events"][-1]["seq"]
            if state["security"]:
                security_after = state["security"][-1]["seq"]
            data = json.dumps(state, default=_json_default)
            yield f"event: state\ndata: {data}\n\n".encode()
            await asyncio.sleep(self.stream_s)
