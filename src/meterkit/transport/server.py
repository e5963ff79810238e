"""The meter's optical port served over TCP, a pseudo-terminal or a serial device (asyncio).

One :class:`SessionDriver` per connection runs a :class:`~meterkit.iec62056_21.meter.MeterConnection` and the
application's sessions; it honours ``Transmit.not_before`` (reaction time), applies ``SetLine`` after draining, and
optionally paces output at the current baud rate (10 bits per character: each byte reaches the client when its stop
bit would have, and ``Transmit.gap`` is kept from when the previous message's last byte actually arrived).  Trace
frames are labelled with the endpoint and connection (``tcp://127.0.0.1:2100 #3``) and carry wall-clock times.  Nothing a client sends can stop the
server: errors inside one connection close that connection and are reported through the trace/log hook.

Timers follow the injected clock: the driver never waits longer than ``timer_poll`` real seconds before it looks at the
clock again, so a simulated clock moved forward by a test expires the protocol's time-outs (inactivity, option select)
within ``timer_poll``.  While ``powered()`` (optional) says the meter has no supply, the port is dead: received bytes
are dropped and a running session ends.

A served pty is put back into its initial raw state after every session (a client may leave it at any speed or in
cooked mode).  ``serial://URL`` serves on any pyserial URL (``serial:///dev/ttyUSB0``, ``serial://rfc2217://HOST:PORT``,
``serial://socket://HOST:PORT``) opened through ``serial_for_url``; device files are driven by the event loop, other
URL handlers by a reader thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import termios
import threading
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from ..clock import Clock, SystemClock
from ..errors import ConfigError, TransportError
from ..iec62056_21.application import MeterApplication, SessionRunner
from ..iec62056_21.baud import INITIAL_BAUD
from ..iec62056_21.events import SessionEnded, SetLine, Transmit
from ..iec62056_21.meter import MeterConnection, MeterPortConfig
from ..iec62056_21.trace import FrameRing, TraceHook
from ..iec62056_21.transitions import MeterState
from .multidrop import MultiDropBus
from .pacing import line_time
from .serial_port import apply_line, is_pty, open_serial, parse_tcp_url

__all__ = [
    "ConnectionLimits",
    "Endpoint",
    "ServerHandle",
    "SessionDriver",
    "check_listen_url",
    "serve",
    "start_server",
    "tcp_listen_address",
]

log = logging.getLogger(__name__)

#: Longest real wait before the driver looks at the (possibly simulated) clock again.
TIMER_POLL_S = 0.25


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """What one TCP endpoint holds at most (ptys and serial lines are one connection each and are never closed).

    ``idle_timeout``: seconds a connection may stay without a running session (from the connection or the end of its
    last session; bytes that are not a sign-on do not count as activity) before it is closed; after a sign-on the
    standard's inactivity time-out (60-120 s, :class:`~meterkit.iec62056_21.meter.MeterPortConfig`) ends the session
    and this time-out runs again.  ``max_connections``: at the cap a new connection sheds the connection idle the
    longest; when every held connection is in a session, the new one is refused (a session in progress is never cut
    by a newcomer)."""

    max_connections: int = 64
    idle_timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.max_connections < 1 or not self.idle_timeout > 0:
            raise ConfigError("connection limits: max_connections >= 1 and idle_timeout > 0 are required")


class Endpoint:
    """A bidirectional byte stream seen by the meter."""

    name = "endpoint"

    async def read(self) -> bytes:
        raise NotImplementedError

    async def write(self, data: bytes) -> None:
        raise NotImplementedError

    async def set_line(self, line: SetLine) -> None:
        """Serial endpoints switch the device (after draining); TCP and pty have no line settings."""

    async def session_ended(self) -> None:
        """A session ended: put the medium back into its idle state (a pty's termios)."""

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

    def __init__(
        self,
        fd: int,
        name: str,
        on_line: Callable[[SetLine], None] | None = None,
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        self.fd = fd
        self.name = name
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._on_line = on_line
        self._on_idle = on_idle
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

    async def set_line(self, line: SetLine) -> None:
        if self._on_line is not None:  # drains the output first: in a worker thread, not in the event loop
            await self._loop.run_in_executor(None, self._on_line, line)

    async def session_ended(self) -> None:
        if self._on_idle is not None:
            self._on_idle()

    async def close(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_reader(self.fd)


class PortEndpoint(Endpoint):
    """A pyserial URL handler without a file descriptor (``rfc2217://``, ``socket://``): a reader thread feeds the
    event loop; writes and line switches run in worker threads."""

    def __init__(self, port: Any, name: str) -> None:
        self.port = port
        self.name = name
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._reader, name=f"meterkit {name}", daemon=True)
        self._thread.start()

    def _reader(self) -> None:
        while not self._closed.is_set():
            try:
                data = bytes(self.port.read(1))
                if data and self.port.in_waiting:
                    data += bytes(self.port.read(self.port.in_waiting))
            except Exception:  # the device went away: end of stream
                data = b""
                self._closed.set()
            if data or self._closed.is_set():
                with contextlib.suppress(RuntimeError):  # the loop is already closed
                    self._loop.call_soon_threadsafe(self._queue.put_nowait, data)

    async def read(self) -> bytes:
        return await self._queue.get()

    async def write(self, data: bytes) -> None:
        await self._loop.run_in_executor(None, self.port.write, data)

    async def set_line(self, line: SetLine) -> None:
        def switch() -> None:
            self.port.flush()
            apply_line(self.port, line)

        await self._loop.run_in_executor(None, switch)

    async def close(self) -> None:
        self._closed.set()


@dataclass
class SessionDriver:
    """Runs one meter connection over one endpoint (or a multi-drop line of many meters)."""

    app: MeterApplication | MultiDropBus
    endpoint: Endpoint
    clock: Clock = field(default_factory=SystemClock)
    baud_emulation: bool = False
    trace: TraceHook | None = None
    close_on_eof: bool = True
    #: False while the meter has no supply (its port is dead); None: always powered.
    powered: Callable[[], bool] | None = None
    timer_poll: float = TIMER_POLL_S
    #: what the trace says about this connection (``tcp://127.0.0.1:2100 #3``)
    label: str = ""
    #: closes the connection when no session ran for this long (TCP; None: never)
    idle_timeout: float | None = None

    def __post_init__(self) -> None:
        config = self.app.port_config()
        if not isinstance(config, MeterPortConfig):
            raise ConfigError("the meter application returned no MeterPortConfig")
        if isinstance(self.app, MultiDropBus):  # the hook for many meters on one line (by device address)
            self.runner: SessionRunner = self.app.open_line()
        else:
            self.runner = SessionRunner.for_application(MeterConnection(config), self.app)
        self.frames = FrameRing(hook=self.trace, label=self.label)
        self.baud = INITIAL_BAUD
        #: event-loop time when the last byte written so far has reached the far end (baud emulation computes it)
        self._line_free = float("-inf")
        self._ended = False
        self._down = False
        self.idle_since: float | None = self.clock.monotonic()
        if config.protocol_mode == "D":  # a push meter's listeners never sign on: no idle time-out for them
            self.idle_timeout = None
        #: failures inside this connection's sessions that were logged and survived
        self.failures = 0

    async def run(self) -> None:
        # one read stays pending across timer wake-ups (never cancelled and restarted: no byte is lost, and the
        # driver's own cancellation is never swallowed as asyncio.wait_for may do on Python 3.11)
        reading: asyncio.Task[bytes] | None = None
        try:
            while True:
                timeout = self._wait_timeout()
                if reading is None:
                    reading = asyncio.ensure_future(self.endpoint.read())
                done, _ = await asyncio.wait({reading}, timeout=timeout)
                if not done:
                    if await self._dead():
                        continue
                    if self._idle_expired():
                        log.info("%s: no session for %.0f s, connection closed", self.endpoint.name, self.idle_timeout)
                        break
                    await self._guarded(None)
                    continue
                data, reading = reading.result(), None
                if await self._dead():
                    if not data and self.close_on_eof:
                        break
                    continue
                await self._guarded(data)
                if not data and self.close_on_eof:
                    break
        finally:
            if reading is not None:
                reading.cancel()
            self.runner.close("disconnect")
            await self.endpoint.close()

    def _wait_timeout(self) -> float | None:
        """How long to wait for bytes: the protocol's next deadline or the idle time-out, at most ``timer_poll``."""
        now = self.clock.monotonic()
        deadlines = [d for d in (self.runner.connection.deadline(), self._idle_deadline()) if d is not None]
        return None if not deadlines else min(self.timer_poll, max(0.0, min(deadlines) - now))

    def _idle_deadline(self) -> float | None:
        if self.idle_timeout is None or self.idle_since is None:
            return None
        return self.idle_since + self.idle_timeout

    def _idle_expired(self) -> bool:
        deadline = self._idle_deadline()
        return deadline is not None and self.clock.monotonic() >= deadline

    def _track_idle(self) -> None:
        """A connection is idle from its start and from the end of each session, busy while a session runs."""
        if self.runner.connection.state is not MeterState.IDLE:
            self.idle_since = None
        elif self.idle_since is None:
            self.idle_since = self.clock.monotonic()

    async def _guarded(self, data: bytes | None) -> None:
        """Bytes (``None``: a timer) through the runner; a failure in the session is logged and the port starts
        afresh (idle, 300 Bd): nothing a client sends ends the endpoint."""
        try:
            now = self.clock.monotonic()
            if data is None:
                self.runner.connection.handle_timer(now)
            else:
                if data:
                    self.frames.record("<-", data, now, wall=self.clock.now())
                self.runner.receive_data(data, now)
            await self._process()
        except ConnectionError:  # the peer reset or broke the connection: the endpoint's end, not a session failure
            raise
        except Exception:
            self.failures += 1
            log.exception("%s: a session failed; the port starts afresh", self.endpoint.name)
            self.runner.restart(MeterConnection(self.runner.connection.config), "failure")
            self._ended = False
            if self.baud != INITIAL_BAUD:
                self.baud = INITIAL_BAUD
                with contextlib.suppress(Exception):
                    await self.endpoint.set_line(SetLine(baud=INITIAL_BAUD))
            with contextlib.suppress(Exception):
                await self.endpoint.session_ended()
        self._track_idle()

    async def _dead(self) -> bool:
        """No supply: drop what arrives; at the power cut the session ends and the port starts afresh (idle, 300 Bd)."""
        if self.powered is None or self.powered():
            self._down = False
            return False
        if not self._down:
            self._down = True
            self.runner.restart(MeterConnection(self.runner.connection.config), "power-down")
            if self.baud != INITIAL_BAUD:
                self.baud = INITIAL_BAUD
                await self.endpoint.set_line(SetLine(baud=INITIAL_BAUD))
            await self.endpoint.session_ended()
        return True

    @property
    def connection(self) -> MeterConnection:
        return self.runner.connection

    async def _process(self) -> None:
        runner = self.runner
        if any(isinstance(event, SessionEnded) for event in runner.process(self.clock.monotonic())):
            self._ended = True
        for directive in runner.outputs():
            if isinstance(directive, Transmit):
                await self._wait_for(directive)
                await self._write(directive.data)
            else:
                if directive.delay:
                    await asyncio.sleep(directive.delay)
                self.baud = directive.baud
                await self.endpoint.set_line(directive)
        if self._ended:
            self._ended = False
            await self.endpoint.session_ended()

    async def _wait_for(self, directive: Transmit) -> None:
        """Until the directive's ``not_before`` (on the injected clock) and its ``gap`` after the previous
        transmission's last byte has actually reached the far end (so a late write never shortens t_r or t_t)."""
        loop = asyncio.get_running_loop()
        wait = max(directive.not_before - self.clock.monotonic(), self._line_free + directive.gap - loop.time())
        if wait > 0:
            await asyncio.sleep(wait)

    async def _write(self, data: bytes) -> None:
        self.frames.record("->", data, self.clock.monotonic(), wall=self.clock.now())
        if not self.baud_emulation:
            await self.endpoint.write(data)
            self._line_free = asyncio.get_running_loop().time()
            return
        await self._paced(data)

    async def _paced(self, data: bytes) -> None:
        """Baud emulation: the bytes reach the far end as on a real line, each chunk (about 20 ms of line time) when
        its last stop bit would have arrived, on one schedule from the first byte so that sleeps do not add up."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        chunk = max(1, self.baud // 500)
        for i in range(0, len(data), chunk):
            part = data[i : i + chunk]
            delay = start + line_time(i + len(part), self.baud) - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await self.endpoint.write(part)
        self._line_free = loop.time()


@dataclass
class ServerHandle:
    """What :func:`start_server` started: endpoints (as printed) and how to stop them."""

    endpoints: list[str] = field(default_factory=list)
    _servers: list[asyncio.Server] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _fds: list[int] = field(default_factory=list)
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def own_fds(self, *fds: int) -> None:
        """File descriptors to close with the handle."""
        self._fds.extend(fds)

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
    app: MeterApplication | MultiDropBus,
    listen: list[str],
    *,
    baud_emulation: bool = False,
    trace: TraceHook | None = None,
    clock: Clock | None = None,
    powered: Callable[[], bool] | None = None,
    timer_poll: float = TIMER_POLL_S,
    limits: ConnectionLimits | None = None,
) -> ServerHandle:
    """Open every endpoint in ``listen`` (``tcp://HOST:PORT``, ``pty``, ``serial://URL``) and serve ``app``.

    ``clock`` times the protocol (reaction and time-outs); ``powered`` (optional) tells whether the meter has supply;
    ``limits`` bounds each TCP endpoint (:class:`ConnectionLimits`; the defaults when None).
    """
    handle = ServerHandle()
    clk = clock or SystemClock()
    bounds = limits or ConnectionLimits()

    def driver(endpoint: Endpoint, *, close_on_eof: bool, label: str = "") -> SessionDriver:
        idle = bounds.idle_timeout if close_on_eof else None
        return SessionDriver(
            app,
            endpoint,
            clk,
            baud_emulation,
            trace,
            close_on_eof,
            powered,
            timer_poll,
            label=label or f"{endpoint.name} #1",
            idle_timeout=idle,
        )

    def spawn(endpoint: Endpoint, *, close_on_eof: bool) -> None:
        task = asyncio.create_task(_logged(driver(endpoint, close_on_eof=close_on_eof), endpoint.name))
        handle._tasks.add(task)
        task.add_done_callback(handle._tasks.discard)

    try:
        for url in listen or ["tcp://127.0.0.1:2100"]:
            if url == "pty":
                handle.endpoints.append(_open_pty(handle, spawn))
                continue
            if url.startswith("serial://"):
                handle.endpoints.append(_open_serial(url.removeprefix("serial://"), handle, spawn))
                continue
            if url.startswith("tcp://"):
                host, listen_port = tcp_listen_address(url)
                numbers = _ConnectionLabels()

                table = _ConnectionTable(bounds.max_connections)

                async def on_client(
                    reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter,
                    table: _ConnectionTable = table,
                    numbers: _ConnectionLabels = numbers,
                ) -> None:
                    task = asyncio.current_task()
                    endpoint = StreamEndpoint(reader, writer)
                    served = driver(endpoint, close_on_eof=True, label=numbers.next())
                    if task is None or not table.admit(served, task, endpoint.name):
                        await endpoint.close()
                        return
                    handle._tasks.add(task)
                    try:
                        await _logged(served, endpoint.name)
                    except asyncio.CancelledError:
                        pass
                    finally:
                        table.leave(served)
                        handle._tasks.discard(task)

                server = await asyncio.start_server(on_client, host, listen_port)
                handle._servers.append(server)
                port = server.sockets[0].getsockname()[1]
                listening = f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"
                numbers.name_endpoint(listening)
                handle.endpoints.append(listening)
            else:
                raise ConfigError(f"--listen {url}: use tcp://HOST:PORT, pty or serial:///dev/DEVICE")
    except OSError as exc:
        await handle.close()
        raise TransportError(f"cannot listen: {exc}") from exc
    except BaseException:
        await handle.close()
        raise
    return handle


def tcp_listen_address(url: str) -> tuple[str, int]:
    """``tcp://HOST:PORT`` to listen on as ``(host, port)``; port 0 picks a free port.  A malformed URL (a letter in
    the port, a port out of range, a broken IPv6 literal) is a :class:`ConfigError` of one line."""
    try:
        parsed = urlparse(url)
        port = parsed.port
    except ValueError as exc:  # a letter in the port, a port above 65535 or below 0
        raise ConfigError(f"--listen {url}: {exc} (expected tcp://HOST:PORT)") from exc
    if port is None:
        raise ConfigError(f"--listen {url}: a TCP endpoint needs a port (tcp://HOST:PORT)")
    if port == 0:
        return parsed.hostname or "127.0.0.1", 0
    try:
        return parse_tcp_url(url)
    except ConfigError as exc:
        raise ConfigError(f"--listen {str(exc).replace('socket://', 'tcp://')}") from exc


def check_listen_url(url: str) -> None:
    """A :class:`ConfigError` of one line unless ``url`` is an endpoint :func:`start_server` can open
    (``tcp://HOST:PORT``, ``pty``, ``serial://URL``); found before anything starts."""
    if url == "pty" or (url.startswith("serial://") and url != "serial://"):
        return
    if url.startswith("tcp://"):
        tcp_listen_address(url)
        return
    if url == "serial://":
        raise ConfigError(
            "--listen serial://: name a device, e.g. serial:///dev/ttyUSB0 or serial://rfc2217://HOST:PORT"
        )
    raise ConfigError(f"--listen {url}: use tcp://HOST:PORT, pty or serial:///dev/DEVICE")


class _ConnectionLabels:
    """Trace labels of one listening endpoint's connections: ``tcp://127.0.0.1:2100 #1``, ``#2`` ..."""

    def __init__(self) -> None:
        self.listening = ""
        self._numbers = itertools.count(1)

    def name_endpoint(self, listening: str) -> None:
        """The endpoint's URL, known once it listens (port 0 becomes the port the system chose)."""
        self.listening = listening

    def next(self) -> str:
        return f"{self.listening} #{next(self._numbers)}"


class _ConnectionTable:
    """The TCP connections of one endpoint, at most ``cap``: at the cap the one idle the longest is shed."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.held: dict[int, tuple[SessionDriver, asyncio.Task[Any]]] = {}  # by id(): a driver is not hashable
        self.shed = 0
        self.refused = 0

    def admit(self, driver: SessionDriver, task: asyncio.Task[Any], name: str) -> bool:
        if len(self.held) >= self.cap:
            idle = [(d.idle_since, key) for key, (d, _task) in self.held.items() if d.idle_since is not None]
            if not idle:
                self.refused += 1
                log.info("%s refused: %d connections held, all in a session", name, len(self.held))
                return False
            victim = min(idle, key=lambda entry: entry[0])[1]  # ties: the first admitted (insertion order)
            self.shed += 1
            log.info("%s: %d connections held, the one idle the longest is shed", name, len(self.held))
            self.held.pop(victim)[1].cancel()
        self.held[id(driver)] = (driver, task)
        return True

    def leave(self, driver: SessionDriver) -> None:
        self.held.pop(id(driver), None)


async def _logged(driver: SessionDriver, name: str) -> None:
    """Run one connection; an error in it ends that connection only, and is logged."""
    try:
        await driver.run()
    except asyncio.CancelledError:
        raise
    except ConnectionError as exc:  # the peer reset or broke the connection: its business, no traceback
        log.info("%s: the peer ended the connection (%s)", name, exc.strerror or exc)
    except Exception:
        log.exception("%s: the connection failed and was closed", name)


def _open_pty(handle: ServerHandle, spawn: Callable[..., None]) -> str:
    """A raw pseudo-terminal; the meter keeps the slave open so the master never sees EIO between clients."""
    master, slave = os.openpty()
    handle.own_fds(master, slave)
    tty.setraw(slave)
    initial = termios.tcgetattr(slave)
    path = os.ttyname(slave)

    def reset() -> None:
        # whatever the last client left (a speed, cooked mode, echo), the next one finds the pty as it was created
        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(slave, termios.TCSANOW, initial)

    spawn(FdEndpoint(master, f"pty {path}", on_idle=reset), close_on_eof=False)
    return f"pty {path}"


def _open_serial(url: str, handle: ServerHandle, spawn: Callable[..., None]) -> str:
    """``url`` is a device path or any pyserial URL, opened through ``serial_for_url`` (7E1 at 300 Bd)."""
    if not url:
        raise ConfigError(
            "--listen serial://: name a device, e.g. serial:///dev/ttyUSB0 or serial://rfc2217://HOST:PORT"
        )
    import serial

    pty = is_pty(url)
    port = open_serial(url, baud=INITIAL_BAUD, timeout=0.05 if "://" in url else 0)
    handle._closers.append(port.close)
    name = f"serial {url}"
    if type(port).__module__ == serial.Serial.__module__:  # a device file: the event loop watches its descriptor

        def on_line(line: SetLine) -> None:
            port.flush()
            apply_line(port, line, pty=pty)

        spawn(FdEndpoint(port.fileno(), name, on_line), close_on_eof=False)
    else:
        spawn(PortEndpoint(port, name), close_on_eof=False)
    return name


async def serve(
    app: MeterApplication,
    listen: list[str],
    *,
    baud_emulation: bool = False,
    trace: TraceHook | None = None,
    ready: Callable[[list[str]], None] | None = None,
    stop: asyncio.Event | None = None,
    clock: Clock | None = None,
    powered: Callable[[], bool] | None = None,
) -> None:
    """Serve until ``stop`` is set (or forever); ``ready`` gets the endpoint descriptions once they accept."""
    handle = await start_server(app, listen, baud_emulation=baud_emulation, trace=trace, clock=clock, powered=powered)
    try:
        if ready is not None:
            ready(handle.endpoints)
        await (stop or asyncio.Event()).wait()
    finally:
        await handle.close()
