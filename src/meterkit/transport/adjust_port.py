"""The adjustment port on the wire: a line server on TCP (loopback only) or a pseudo-terminal, and a client.

It is a different endpoint from every optical one: the meter's calibration header, reached only in the factory.
Every line (``\\n`` or ``\\r\\n``) is answered by one reply line from the handler
(:meth:`meterkit.meter.adjust_protocol.AdjustmentPort.handle`, which never raises); the handler runs in the event loop
that serves the meter.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import socket
import termios
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urlparse

from ..errors import ConfigError, TransportError, TransportTimeout
from .control import ControlServer, start_control_server

__all__ = ["AdjustLink", "AdjustServer", "LineBuffer", "check_adjust_url", "start_adjust_port"]

MAX_LINE = 4096


class LineBuffer:
    """Bytes in, complete lines out (sans-IO); an over-long line is cut at :data:`MAX_LINE` and dropped."""

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[str]:
        self._buf += data
        lines: list[str] = []
        while b"\n" in self._buf:
            raw, self._buf = self._buf.split(b"\n", 1)
            lines.append(raw.decode("utf-8", "replace").strip())
        if len(self._buf) > MAX_LINE:
            self._buf = b""
            lines.append("")
        return lines


def check_adjust_url(url: str) -> None:
    """``tcp://HOST:PORT`` on a loopback host, or ``pty``; ConfigError otherwise."""
    if url == "pty":
        return
    parsed = urlparse(url)
    try:
        port = parsed.port
    except ValueError:
        port = None
    host = parsed.hostname or ""
    if parsed.scheme != "tcp" or not host or port is None:
        raise ConfigError(f"{url}: the adjustment port needs tcp://127.0.0.1:PORT or pty")
    if host not in ("127.0.0.1", "::1", "localhost"):
        raise ConfigError(f"{url}: the adjustment port is the meter's calibration header: it listens on loopback only")


@dataclass
class AdjustServer:
    """A running adjustment port; ``where`` is what it accepts on (``tcp://127.0.0.1:N`` or ``pty /dev/pts/N``)."""

    where: str
    _tcp: ControlServer | None = None
    _fds: list[int] = field(default_factory=list)

    async def close(self) -> None:
        if self._tcp is not None:
            await self._tcp.close()
        loop = asyncio.get_running_loop()
        for fd in self._fds:
            with contextlib.suppress(OSError, ValueError):
                loop.remove_reader(fd)
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = []


async def start_adjust_port(handler: Callable[[str], str], url: str) -> AdjustServer:
    """Serve ``handler`` on ``url`` (``tcp://127.0.0.1:PORT`` or ``pty``)."""
    check_adjust_url(url)
    if url != "pty":
        try:
            server = await start_control_server(handler, url)
        except TransportError as exc:
            raise TransportError(f"cannot open the adjustment port {url}: {exc}") from exc
        return AdjustServer(where=server.url, _tcp=server)
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    lines = LineBuffer()

    def readable() -> None:
        try:
            data = os.read(master, 4096)
        except BlockingIOError:
            return
        except OSError:
            return  # no client on the slave side right now (EIO); the slave stays open, so it comes back
        for line in lines.feed(data):
            if not line:
                continue
            reply = handler(line).replace("\n", " ") + "\r\n"
            with contextlib.suppress(OSError):
                os.write(master, reply.encode("utf-8", "replace"))

    asyncio.get_running_loop().add_reader(master, readable)
    return AdjustServer(where=f"pty {os.ttyname(slave)}", _fds=[master, slave])


class AdjustLink:
    """A client of the adjustment port: ``tcp://HOST:PORT`` or the path of its pty; one reply line per request."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout
        self._buf = b""
        self._sock: socket.socket | None = None
        self._fd: int | None = None
        try:
            if url.startswith("tcp://"):
                parsed = urlparse(url)
                if not parsed.hostname or parsed.port is None:
                    raise ConfigError(f"{url}: give tcp://HOST:PORT or the pty's path")
                self._sock = socket.create_connection((parsed.hostname, parsed.port), timeout=timeout)
            else:
                fd = os.open(url, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
                with contextlib.suppress(termios.error):
                    tty.setraw(fd)
                self._fd = fd
        except OSError as exc:
            raise TransportError(f"cannot reach the adjustment port {url}: {exc.strerror or exc}") from exc

    def request(self, line: str) -> str:
        """Send one command line, return the reply line."""
        if "\n" in line or "\r" in line:
            raise ConfigError("a command is one line")
        data = line.encode("utf-8") + b"\n"
        deadline = time.monotonic() + self.timeout
        try:
            if self._sock is not None:
                self._sock.sendall(data)
            elif self._fd is not None:
                os.write(self._fd, data)
            while b"\n" not in self._buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TransportTimeout(f"{self.url}: no reply from the adjustment port within {self.timeout:g} s")
                chunk = self._read(left)
                if chunk is None:
                    continue
                if not chunk:
                    raise TransportError(f"{self.url}: the adjustment port closed the connection")
                self._buf += chunk
                if len(self._buf) > 65536:
                    raise TransportError(f"{self.url}: the reply is too long")
        except OSError as exc:
            raise TransportError(f"{self.url}: {exc.strerror or exc}") from exc
        raw, self._buf = self._buf.split(b"\n", 1)
        return raw.decode("utf-8", "replace").strip()

    def _read(self, timeout: float) -> bytes | None:
        """What arrived (b"": the other side closed), None when nothing came within ``timeout``."""
        if self._sock is not None:
            self._sock.settimeout(timeout)
            try:
                return self._sock.recv(4096)
            except TimeoutError:
                return None
        if self._fd is None:
            raise TransportError(f"{self.url}: the link is closed")
        ready, _, _ = select.select([self._fd], [], [], timeout)
        if not ready:
            return None
        try:
            return os.read(self._fd, 4096) or None
        except BlockingIOError:
            return None

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def __enter__(self) -> AdjustLink:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()
