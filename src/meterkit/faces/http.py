"""A small HTTP/1.1 server on asyncio streams for the metrics endpoint and the web panel.

Why not ``http.server`` in a thread: the faces read and operate the meter, which lives on the event loop; serving on
that loop needs no locking.  Why no framework: the faces need GET/POST, JSON and one server-sent-events stream;
this is about 150 lines, with bounded requests (headers 16 KiB, body 64 KiB) and one response per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from ..errors import ConfigError
from ..transport.control import is_loopback

__all__ = ["HttpServer", "Request", "Response", "is_loopback", "is_number", "parse_bind", "read_request"]

log = logging.getLogger(__name__)

MAX_HEADER = 16 * 1024
MAX_BODY = 64 * 1024


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes = b""


@dataclass(slots=True)
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    #: a stream (server-sent events): chunks written as they come, the connection held open
    stream: AsyncIterator[bytes] | None = None


Handler = Callable[[Request], Awaitable[Response]]


def parse_bind(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` or ``PORT`` -> (host, port); IPv6 as ``[::1]:PORT``."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "", text
    host = host.strip("[]") or default_host
    if not is_number(port) or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{text!r}: give HOST:PORT with a port from 0 to 65535")
    return host, int(port)


class HttpServer:
    def __init__(self, host: str, port: int, handler: Handler, *, name: str = "http") -> None:
        self.host = host
        self.port = port
        self.handler = handler
        self.name = name
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connection, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("%s on %s", self.name, self.url)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            for task in list(self._tasks):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self._server.wait_closed()
            self._server = None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            response = await self._respond(reader)
            await self._write(writer, response)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:  # stop() ends open streams; the connection just closes
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _respond(self, reader: asyncio.StreamReader) -> Response:
        request = await read_request(reader)
        if isinstance(request, Response):
            return request
        try:
            return await self.handler(request)
        except Exception:
            log.exception("%s: %s %s failed", self.name, request.method, request.path)
            return _plain(HTTPStatus.INTERNAL_SERVER_ERROR)

    async def _write(self, writer: asyncio.StreamWriter, response: Response) -> None:
        reason = HTTPStatus(response.status).phrase
        headers = {"Content-Type": response.content_type, "Cache-Control": "no-store", **response.headers}
        if response.stream is None:
            headers["Content-Length"] = str(len(response.body))
        headers["Connection"] = "close"
        head = f"HTTP/1.1 {response.status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write(head.encode("latin-1") + b"\r\n" + response.body)
        await writer.drain()
        if response.stream is not None:
            async for chunk in response.stream:
                writer.write(chunk)
                await writer.drain()


def is_number(text: str) -> bool:
    """ASCII digits only (``str.isdigit`` also takes ``²``, which ``int`` refuses)."""
    return text.isascii() and text.isdigit()


async def read_request(reader: asyncio.StreamReader) -> Request | Response:
    """One request from ``reader``, or the error response for a malformed or oversized one.  Raises only
    :class:`asyncio.IncompleteReadError` (the peer closed before a whole request)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        return _plain(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
    if len(head) > MAX_HEADER:
        return _plain(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[1].startswith("/"):
        return _plain(HTTPStatus.BAD_REQUEST)
    method, target, _ = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    length_text = headers.get("content-length", "0")
    if not is_number(length_text):
        return _plain(HTTPStatus.BAD_REQUEST)
    if int(length_text) > MAX_BODY:
        return _plain(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
    body = await reader.readexactly(int(length_text)) if int(length_text) else b""
    split = urlsplit(target)
    query = {k: v[-1] for k, v in parse_qs(split.query).items()}
    return Request(method=method.upper(), path=split.path, query=query, headers=headers, body=body)


def _plain(status: HTTPStatus) -> Response:
    return Response(status=status.value, body=f"{status.value} {status.phrase}\n".encode())
