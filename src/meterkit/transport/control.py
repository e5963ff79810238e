"""The control channel on the network: a line server (asyncio) and a one-shot client.

Protocol: UTF-8 text lines ending in ``\\n``; every command line gets exactly one reply line (``ok ...`` or
``error: ...``).  The handler is any ``Callable[[str], str]`` that never raises (the virtual meter's is
:meth:`meterkit.meter.control.ControlChannel.handle`); it runs in the event loop that serves the meter, so it needs
no locking.

The control port is the equivalent of physical access to the meter (cover, sealed button, supply).  It listens on a
loopback address only, unless the caller explicitly allows a remote one.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlparse

from ..errors import ConfigError, TransportError, TransportTimeout

__all__ = ["ControlServer", "is_loopback", "parse_control_url", "send_control", "start_control_server"]

MAX_LINE = 4096


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1); a host name other than localhost is not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_control_url(url: str, *, allow_remote: bool = False, need_port: bool = True) -> tuple[str, int]:
    """``tcp://HOST:PORT`` -> (host, port); a non-loopback host is refused unless ``allow_remote``."""
    try:
        parsed = urlparse(url)
        port = parsed.port
    except ValueError as exc:  # a broken IPv6 literal, a port out of 0-65535
        raise ConfigError(
            f"{url}: {exc}; the control channel needs tcp://HOST:PORT, e.g. tcp://127.0.0.1:2101"
        ) from exc
    if parsed.scheme != "tcp" or not parsed.hostname or (port is None and need_port):
        raise ConfigError(f"{url}: the control channel needs tcp://HOST:PORT, e.g. tcp://127.0.0.1:2101")
    host = parsed.hostname
    if not allow_remote and not is_loopback(host):
        raise ConfigError(
            f"{url}: the control port is physical access to the meter; it listens on loopback only "
            "(127.0.0.1, ::1, localhost) unless --control-allow-remote is given"
        )
    return host, port or 0


@dataclass
class ControlServer:
    """A running control line server; ``url`` is what it accepts on (the real port when 0 was asked for)."""

    url: str
    _server: asyncio.Server
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def close(self) -> None:
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self._server.wait_closed()


async def start_control_server(handler: Callable[[str], str], url: str, *, allow_remote: bool = False) -> ControlServer:
    """Listen on ``url`` (``tcp://HOST:PORT``) and answer every line with ``handler(line)``."""
    host, port = parse_control_url(url, allow_remote=allow_remote)
    tasks: set[asyncio.Task[None]] = set()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            tasks.add(task)
        try:
            while True:
                try:
                    raw = await reader.readuntil(b"\n")
                except asyncio.IncompleteReadError as exc:
                    raw = exc.partial  # the last line may come without its newline
                    if not raw.strip():
                        break
                except asyncio.LimitOverrunError:
                    writer.write(f"error: line too long (at most {MAX_LINE} bytes)\n".encode())
                    await writer.drain()
                    break
                try:
                    line = raw.decode("utf-8").strip()
                except UnicodeDecodeError:
                    reply = "error: a command is UTF-8 text"
                else:
                    if not line:
                        continue
                    reply = handler(line)
                writer.write(reply.replace("\n", " ").encode("utf-8", "replace") + b"\n")
                await writer.drain()
                if not raw.endswith(b"\n"):
                    break
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
                await writer.wait_closed()
            if task is not None:
                tasks.discard(task)

    try:
        server = await asyncio.start_server(on_client, host, port, limit=MAX_LINE)
    except OSError as exc:
        raise TransportError(f"cannot listen for control on {url}: {exc.strerror or exc}") from exc
    bound = server.sockets[0].getsockname()
    shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    return ControlServer(url=f"tcp://{shown}:{bound[1]}", _server=server, _tasks=tasks)


def send_control(url: str, command: str, *, timeout: float = 5.0) -> str:
    """Send one command line to a control server and return its reply line (``ok ...`` or ``error: ...``)."""
    host, port = parse_control_url(url, allow_remote=True)
    if "\n" in command or "\r" in command:
        raise ConfigError("a control command is one line")
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(command.encode("utf-8") + b"\n")
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                buf += chunk
                if len(buf) > 65536:
                    raise TransportError(f"{url}: the control reply is too long")
    except TimeoutError as exc:
        raise TransportTimeout(f"{url}: no control reply within {timeout:g} s") from exc
    except OSError as exc:
        raise TransportError(f"cannot reach the control channel {url}: {exc.strerror or exc}") from exc
    if not buf:
        raise TransportError(f"{url}: the control channel closed without a reply")
    reply = buf.decode("utf-8", "replace").split("\n", 1)[0].strip()
    if not (reply == "ok" or reply.startswith(("ok ", "error:"))):
        raise TransportError(f"{url}: not a meterkit control channel (it answered {reply[:60]!r})")
    return reply
