"""The meter's optical port served over TCP, a pseudo-terminal or a serial device (asyncio).

One :class:`SessionDriver` per connection runs a :class:`~meterkit.iec62056_21.meter.MeterConnection` and the
application's sessions; it honours ``Transmit.not_before`` (reaction time), applies ``SetLine`` after draining, and
optionally paces output at the current baud rate (10 bits per character).  Nothing a client sends can stop the
server: errors inside one connection close that connection and are reported through the trace/log hook.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlparse

from ..clock import Clock, SystemClock
from ..errors import ConfigError, TransportError
from ..iec62056_21.application import MeterApplication, MeterPortSession
from ..iec62056_21.events import MeterEvent, SessionEnded, SetLine, SignOn, Transmit
from ..iec62056_21.meter import MeterConnection, MeterPortConfig
from ..iec62056_21.trace import FrameRing, TraceHook
from .pacing import line_time

__all__ = ["Endpoint", "ServerHandle", "SessionDriver", "serve", "start_server"]


class Endpoint:
    """A bidirectional byte stream seen by the meter."""

    name = "endpoint"

    async def read(self) -> bytes:
        raise NotImplementedError

    async def write(self, data: bytes) -> None:
        raise NotImplementedError

    def set_line(self, line: SetLine) -> None:
        """Serial endpoints switch the device; TCP and pty only remember the rate for pacing."""

    async def close(self) -> None:
        raise NotImplementedError


class StreamEndpoint(Endpoint):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        peer = writer.get_extra_info("peername")
        self.name = f"tcp {peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "tcp"

    async def read(self) -> bytes:
        try:
            return await self._reader.read(4096)
        except (ConnectionError, OSError):
            return b""

    async def write(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()


class FdEndpoint(Endpoint):
    """A file descriptor (pty master or serial device) driven by the event loop."""

    def __init__(self, fd: int, name: str, on_line: Callable[[SetLine], None] | None = None) -> None:
        self.fd = fd
        self.name = name
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._on_line = on_line
        os.set_blocking(fd, False)
        self._loop.add_reader(fd, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._loop.remove_reader(self.fd)
        self._queue.put_nowait(data)

    async def read(self) -> bytes:
        return await self._queue.get()

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.fd, view)
                view = view[n:]
            except BlockingIOError:
                await asyncio.sleep(0.005)

    def set_line(self, line: SetLine) -> None:
        if self._on_line is not None:
            self._on_line(line)

    async def close(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_reader(self.fd)


@dataclass
class SessionDriver:
    """Runs one meter connection over one endpoint."""

    app: MeterApplication
    endpoint: Endpoint
    clock: Clock = field(default_factory=SystemClock)
    baud_emulation: bool = False
    trace: TraceHook | None = None
    close_on_eof: bool = True

    def __post_init__(self) -> None:
        config = self.app.port_config()
        if not isinstance(config, MeterPortConfig):
            raise ConfigError("the meter application returned no MeterPortConfig")
        self.connection = MeterConnection(config)
        self.frames = FrameRing(hook=self.trace)
        self.session: MeterPortSession | None = None
        self.baud = 300

    async def run(self) -> None:
        conn = self.connection
        try:
            while True:
                deadline = conn.deadline()
                timeout = None if deadline is None else max(0.0, deadline - self.clock.monotonic())
                try:
                    data = await asyncio.wait_for(self.endpoint.read(), timeout)
                except TimeoutError:
                    conn.handle_timer(self.clock.monotonic())
                    await self._process()
                    continue
                now = self.clock.monotonic()
                if data:
                    self.frames.record("<-", data, now)
                conn.receive_data(data, now)
                await self._process()
                if not data and self.close_on_eof:
                    break
        finally:
            if self.session is not None:
                self.session.close("disconnect")
                self.session = None
            await self.endpoint.close()

    async def _process(self) -> None:
        conn = self.connection
        while True:
            event = conn.next_event()
            if event is None:
                break
            self._dispatch(event)
        for directive in conn.outputs():
            if isinstance(directive, Transmit):
                wait = directive.not_before - self.clock.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                await self._write(directive.data)
            else:
                if directive.delay:
                    await asyncio.sleep(directive.delay)
                self.baud = directive.baud
                self.endpoint.set_line(directive)

    async def _write(self, data: bytes) -> None:
        self.frames.record("->", data, self.clock.monotonic())
        if not self.baud_emulation:
            await self.endpoint.write(data)
            return
        # pace in small chunks so a long readout takes as long as on a real line
        chunk = max(1, self.baud // 100)
        for i in range(0, len(data), chunk):
            part = data[i : i + chunk]
            await self.endpoint.write(part)
            await asyncio.sleep(line_time(len(part), self.baud))

    def _dispatch(self, event: MeterEvent) -> None:
        if isinstance(event, SignOn):
            if self.session is not None:
                self.session.close("restart")
            self.session = self.app.open_session()
        if self.session is None:
            return
        reply = self.session.handle(event)
        now = self.clock.monotonic()
        for message in reply.messages:
            self.connection.send(message, now, delay=reply.delay)
        if isinstance(event, SessionEnded):
            self.session.close(event.reason)
            self.session = None


@dataclass
class ServerHandle:
    """What :func:`start_server` started: endpoints (as printed) and how to stop them."""

    endpoints: list[str] = field(default_factory=list)
    _servers: list[asyncio.Server] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _fds: list[int] = field(default_factory=list)
    _closers: list[Callable[[], None]] = field(default_factory=list)

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        for closer in self._closers:
            with contextlib.suppress(Exception):
                closer()
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)


async def start_server(
    app: MeterApplication,
    listen: list[str],
    *,
    baud_emulation: bool = False,
    trace: TraceHook | None = None,
    clock: Clock | None = None,
) -> ServerHandle:
    """Open every endpoint in ``listen`` (``tcp://HOST:PORT``, ``pty``, ``serial:///dev/ttyX``) and serve ``app``."""
    handle = ServerHandle()
    clk = clock or SystemClock()

    def spawn(endpoint: Endpoint, *, close_on_eof: bool) -> None:
        driver = SessionDriver(app, endpoint, clk, baud_emulation, trace, close_on_eof)
        task = asyncio.create_task(driver.run())
        handle._tasks.add(task)
        task.add_done_callback(handle._tasks.discard)

    try:
        for url in listen or ["tcp://127.0.0.1:2100"]:
            if url == "pty":
                master, slave = os.openpty()
                tty.setraw(slave)
                handle._fds += [master, slave]
                path = os.ttyname(slave)
                spawn(FdEndpoint(master, f"pty {path}"), close_on_eof=False)
                handle.endpoints.append(f"pty {path}")
                continue
            parsed = urlparse(url)
            if parsed.scheme == "tcp":
                host = parsed.hostname or "127.0.0.1"
                if parsed.port is None:
                    raise ConfigError(f"--listen {url}: a TCP endpoint needs a port (tcp://HOST:PORT)")

                async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                    task = asyncio.current_task()
                    if task is not None:
                        handle._tasks.add(task)
                    try:
                        driver = SessionDriver(app, StreamEndpoint(reader, writer), clk, baud_emulation, trace)
                        await driver.run()
                    except asyncio.CancelledError:
                        pass
                    finally:
                        if task is not None:
                            handle._tasks.discard(task)

                server = await asyncio.start_server(on_client, host, parsed.port)
                handle._servers.append(server)
                port = server.sockets[0].getsockname()[1]
                handle.endpoints.append(f"tcp://{host}:{port}")
            elif parsed.scheme == "serial":
                device = parsed.path or parsed.netloc
                handle.endpoints.append(_open_serial(device, handle, spawn))
            else:
                raise ConfigError(f"--listen {url}: use tcp://HOST:PORT, pty or serial:///dev/DEVICE")
    except OSError as exc:
        await handle.close()
        raise TransportError(f"cannot listen: {exc}") from exc
    except BaseException:
        await handle.close()
        raise
    return handle


def _open_serial(device: str, handle: ServerHandle, spawn: Callable[..., None]) -> str:
    import serial

    try:
        port = serial.Serial(device, baudrate=300, bytesize=7, parity="E", stopbits=1, timeout=0)
    except (serial.SerialException, OSError) as exc:
        raise TransportError(f"cannot open serial device {device}: {exc}") from exc

    def on_line(line: SetLine) -> None:
        port.flush()
        port.baudrate = line.baud
        port.bytesize = line.bytesize
        port.parity = line.parity

    handle._closers.append(port.close)
    spawn(FdEndpoint(port.fileno(), f"serial {device}", on_line), close_on_eof=False)
    return f"serial {device}"


async def serve(
    app: MeterApplication,
    listen: list[str],
    *,
    baud_emulation: bool = False,
    trace: TraceHook | None = None,
    ready: Callable[[list[str]], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until ``stop`` is set (or forever); ``ready`` gets the endpoint descriptions once they accept."""
    handle = await start_server(app, listen, baud_emulation=baud_emulation, trace=trace)
    try:
        if ready is not None:
            ready(handle.endpoints)
        await (stop or asyncio.Event()).wait()
    finally:
        await handle.close()
