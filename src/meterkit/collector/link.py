"""An asyncio driver of the sans-IO hand-held core (:class:`~meterkit.iec62056_21.client.ClientConnection`) over
a TCP stream, for reading many meters concurrently from one process.

The protocol lives in the core; this module only moves bytes and time: it performs the core's ``Transmit``
directives (waiting for their ``not_before``), feeds received bytes and fires its timer.  Line settings
(``SetLine``) mean nothing on a TCP stream and are skipped.  A meter's refusal becomes a
:class:`~meterkit.errors.DeviceError`, silence a :class:`~meterkit.errors.TransportTimeout` - as with the
synchronous :class:`~meterkit.client.MeterClient`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from urllib.parse import urlparse

from ..client.auth import Authenticator, IntegrityGuard
from ..client.hhu import wanted
from ..errors import ConfigError, DeviceError, LocalProtocolError, TransportError
from ..iec62056_21.client import ClientConfig, ClientConnection
from ..iec62056_21.events import (
    AnswerReceived,
    ClientEvent,
    ErrorReceived,
    IdentificationReceived,
    OperandReceived,
    PositiveAck,
    Transmit,
)
from ..iec62056_21.messages import CommandMessage, DataSet, IdentificationMessage
from ..iec62056_21.transitions import ClientState

__all__ = ["AsyncMeterLink", "parse_endpoint"]

_READ = 4096


def parse_endpoint(url: str) -> tuple[str, int]:
    """``socket://HOST:PORT`` (or ``tcp://``) as (host, port); anything else is a ConfigError."""
    parsed = urlparse(url)
    if parsed.scheme not in ("socket", "tcp") or parsed.hostname is None or parsed.port is None:
        raise ConfigError(f"{url}: the collector reads meters over TCP, give socket://HOST:PORT")
    return parsed.hostname, parsed.port


class AsyncMeterLink:
    """One session with one meter on an open stream (sign on, programming, reads, sign off)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        config: ClientConfig,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.connection = ClientConnection(config)
        self._now = monotonic
        self._auth: IntegrityGuard | None = None  # the authenticator, with the session's MACs
        self.identification: IdentificationMessage | None = None
        #: what went over the line: bytes each way and messages sent (for wire-time estimates)
        self.bytes_sent = 0
        self.bytes_received = 0
        self.messages_sent = 0

    @classmethod
    async def open(cls, url: str, config: ClientConfig, *, connect_timeout: float = 5.0) -> AsyncMeterLink:
        host, port = parse_endpoint(url)
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), connect_timeout)
        except (OSError, TimeoutError) as exc:
            raise TransportError(f"{url}: cannot connect ({exc or 'time-out'})") from exc
        return cls(reader, writer, config)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):  # the peer already went away
            await self.writer.wait_closed()

    # --- plumbing -------------------------------------------------------------------------------------

    async def _flush(self) -> None:
        for directive in self.connection.outputs():
            if isinstance(directive, Transmit):
                wait = directive.not_before - self._now()
                if wait > 0:
                    await asyncio.sleep(wait)
                self.writer.write(directive.data)
                self.bytes_sent += len(directive.data)
                self.messages_sent += 1
                try:
                    await self.writer.drain()
                except OSError as exc:
                    raise TransportError(f"the connection failed while sending ({exc})") from exc

    async def _wait(self, *kinds: type) -> ClientEvent:
        conn = self.connection
        while True:
            await self._flush()
            event = conn.next_event()
            while event is not None:
                if wanted(event, kinds):
                    await self._flush()
                    return event
                event = conn.next_event()
            deadline = conn.deadline()
            if deadline is None and conn.state in (ClientState.IDLE, ClientState.PROGRAMMING):
                raise LocalProtocolError(f"nothing to wait for in state {conn.state.value}")
            timeout = 1.0 if deadline is None else max(0.0, deadline - self._now())
            try:
                data = await asyncio.wait_for(self.reader.read(_READ), timeout)
            except TimeoutError:
                conn.handle_timer(self._now())
                continue
            except OSError as exc:
                raise TransportError(f"the connection failed ({exc})") from exc
            self.bytes_received += len(data)
            conn.receive_data(data, self._now())  # b"" (closed) ends the wait with a time-out event

    # --- operations -----------------------------------------------------------------------------------

    async def programming(self, auth: Authenticator | None) -> IdentificationMessage:
        """Sign on (mode C), enter programming mode and authenticate; returns the identification."""
        self.connection.sign_on(self._now())
        event = await self._wait(IdentificationReceived)
        assert isinstance(event, IdentificationReceived)
        ident = self.identification = event.identification
        if self.connection.state is not ClientState.IDENTIFIED:
            raise DeviceError(f"meter {ident.manufacturer} {ident.ident} is not a mode C meter; the collector needs C")
        self.connection.select_option(self._now(), mode="1")
        event = await self._wait(OperandReceived)
        assert isinstance(event, OperandReceived)
        if auth is not None:
            guard = self._auth = IntegrityGuard(auth)
            reply = await self._command(guard.respond(event.operand, ident))
            if not isinstance(reply, PositiveAck):
                raise DeviceError("the meter did not accept the password")
        return ident

    async def _command(self, command: CommandMessage) -> ClientEvent:
        self.connection.send(command if self._auth is None else self._auth.protect(command), self._now())
        event = await self._wait(AnswerReceived, ErrorReceived, PositiveAck)
        if self._auth is not None:  # a protected session: the answer's MAC (docs/security.md)
            event = self._auth.check(event)
        if isinstance(event, ErrorReceived):
            target = command.data_set.address if command.data_set is not None else ""
            raise DeviceError(f"the meter refused {(command.code + ' ' + target).strip()}: {event.text}")
        return event

    async def _data(self, command: CommandMessage) -> tuple[DataSet, ...]:
        event = await self._command(command)
        if not isinstance(event, AnswerReceived):
            raise DeviceError(f"the meter answered {command.code} without data")
        datasets = event.answer.datasets
        return self._auth.unwrap(datasets) if self._auth is not None else datasets

    async def read(self, address: str) -> tuple[DataSet, ...]:
        """R1: one register."""
        return await self._data(CommandMessage(command="R", command_type="1", data_set=DataSet.single(address)))

    async def load_profile(self, start: str = "", end: str = "") -> tuple[DataSet, ...]:
        """R5 ``P.01(start;end)``, times ``YYMMDDhhmm`` in the meter's local time (empty: open end)."""
        value = f"{start};{end}" if (start or end) else ""
        return await self._data(CommandMessage(command="R", command_type="5", data_set=DataSet.single("P.01", value)))

    async def sign_off(self) -> None:
        if self.connection.state is ClientState.PROGRAMMING:
            self.connection.sign_off(self._now())
            await self._flush()
        self._auth = None
