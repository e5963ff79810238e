"""The OpenAPI description of the panel's REST API (served at ``/api/openapi.json``).

Every route is per meter (``/api/meters/{serial}/...``): one meter (``meterkit serve --web``) or every meter of a
fleet (``meterkit serve --fleet F --web``) answer the same routes; ``/api/meters`` lists them, ``?q=`` searches."""

from __future__ import annotations

from typing import Any

__all__ = ["openapi"]


def _ok(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"description": description}
    if schema is not None:
        body["content"] = {"application/json": {"schema": schema}}
    return body


_SERIAL = {"name": "serial", "in": "path", "required": True, "schema": {"type": "string"}}
_SEARCH = {
    "name": "q",
    "in": "query",
    "required": False,
    "description": "only the meters whose serial, manufacturer or model contains this (case-insensitive)",
    "schema": {"type": "string"},
}
_AFTER = {"name": "after", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0}}
_ERRORS = {
    "400": _ok("bad request body", {"$ref": "#/components/schemas/Error"}),
    "401": _ok("missing or wrong token (panels beyond loopback)"),
    "404": _ok("no such meter", {"$ref": "#/components/schemas/Error"}),
    "409": _ok("the meter refused (e.g. powered down, cover already open)", {"$ref": "#/components/schemas/Error"}),
}


def _control(summary: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "parameters": [_SERIAL],
            "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
            "responses": {"200": _ok("done", {"$ref": "#/components/schemas/Result"}), **_ERRORS},
        }
    }


def openapi() -> dict[str, Any]:
    log_list = {"type": "array", "items": {"$ref": "#/components/schemas/LogEntry"}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "meterkit web panel API",
            "version": "1.1",
            "description": "The front panel of one virtual meter or of every meter of a fleet; routes per meter.",
        },
        "paths": {
            "/api/meters": {
                "get": {
                    "summary": "the meters served (one, or every meter of a fleet), in serial order of the fleet",
                    "parameters": [_SEARCH],
                    "responses": {
                        "200": _ok("meters", {"type": "array", "items": {"$ref": "#/components/schemas/Meter"}})
                    },
                }
            },
            "/api/meters/{serial}": {
                "get": {
                    "summary": "identification and status",
                    "parameters": [_SERIAL],
                    "responses": {"200": _ok("the meter", {"$ref": "#/components/schemas/Meter"}), **_ERRORS},
                }
            },
            "/api/meters/{serial}/registers": {
                "get": {
                    "summary": "every register now",
                    "parameters": [_SERIAL],
                    "responses": {
                        "200": _ok("registers", {"type": "array", "items": {"$ref": "#/components/schemas/Reading"}}),
                        **_ERRORS,
                    },
                }
            },
            "/api/meters/{serial}/events": {
                "get": {
                    "summary": "event log entries after a sequence number",
                    "parameters": [_SERIAL, _AFTER],
                    "responses": {"200": _ok("entries", log_list), **_ERRORS},
                }
            },
            "/api/meters/{serial}/security-log": {
                "get": {
                    "summary": "security log entries after a sequence number",
                    "parameters": [_SERIAL, _AFTER],
                    "responses": {"200": _ok("entries", log_list), **_ERRORS},
                }
            },
            "/api/meters/{serial}/cover": _control(
                "open or close the terminal cover",
                {"type": "object", "required": ["open"], "properties": {"open": {"type": "boolean"}}},
            ),
            "/api/meters/{serial}/button": _control(
                "press the sealed button (seal: level 3 for the next session) or the billing-reset button",
                {"type": "object", "properties": {"kind": {"enum": ["seal", "reset"], "default": "seal"}}},
            ),
            "/api/meters/{serial}/supply": _control(
                "switch the supply on or off",
                {"type": "object", "required": ["on"], "properties": {"on": {"type": "boolean"}}},
            ),
            "/api/meters/{serial}/load": _control(
                "set the live load of one phase (1-3) or of all three (phase null)",
                {
                    "type": "object",
                    "required": ["voltage_v", "current_a"],
                    "properties": {
                        "phase": {"type": ["integer", "null"], "minimum": 1, "maximum": 3},
                        "voltage_v": {"type": "number"},
                        "current_a": {"type": "number"},
                        "angle_deg": {"type": "number", "default": 0},
                    },
                },
            ),
            "/api/meters/{serial}/stream": {
                "get": {
                    "summary": "server-sent events: a 'state' event every second (status, registers, new log entries)",
                    "parameters": [_SERIAL],
                    "responses": {"200": {"description": "text/event-stream"}, **_ERRORS},
                }
            },
        },
        "components": {
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "properties": {"error": {"type": "string"}}},
                "Result": {"type": "object", "properties": {"result": {"type": "string"}}},
                "Meter": {
                    "type": "object",
                    "properties": {
                        "serial": {"type": "string"},
                        "manufacturer": {"type": "string"},
                        "model": {"type": "string"},
                        "status": {"type": "object"},
                    },
                },
                "Reading": {
                    "type": "object",
                    "properties": {
                        "address": {"type": "string"},
                        "value": {"type": ["number", "string"]},
                        "text": {"type": "string"},
                        "unit": {"type": "string"},
                        "description": {"type": "string"},
                        "at": {"type": "string", "format": "date-time"},
                        "max_at": {"type": ["string", "null"], "format": "date-time"},
                    },
                },
                "LogEntry": {
                    "type": "object",
                    "properties": {
                        "seq": {"type": "integer"},
                        "at": {"type": "string", "format": "date-time"},
                        "kind": {"type": "string"},
                        "text": {"type": "string"},
                        "level": {"enum": ["info", "warning", "alarm"]},
                    },
                },
            },
        },
    }
