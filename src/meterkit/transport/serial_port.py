"""Client transport over pyserial URLs: ``/dev/ttyUSB0``, ``socket://HOST:PORT``, ``rfc2217://...``, ``loop://``.

The port is opened 7E1 at 300 Bd with a short fixed read time-out set in the constructor (pyserial cannot change
the time-out later on a 7E1 pty), and reads poll until the requested time has passed.
"""

from __future__ import annotations

import contextlib
import select
import socket
import time
from urllib.parse import urlparse

import serial

from ..errors import TransportError
from ..iec62056_21.baud import INITIAL_BAUD
from ..iec62056_21.events import SetLine

__all__ = ["SerialTransport", "TcpTransport", "open_transport"]

_PARITY = {"E": serial.PARITY_EVEN, "N": serial.PARITY_NONE, "O": serial.PARITY_ODD}
_BYTESIZE = {7: serial.SEVENBITS, 8: serial.EIGHTBITS}
_POLL = 0.02


class SerialTransport:
    """A :class:`~meterkit.transport.base.Transport` over a pyserial port."""

    def __init__(self, url: str, *, baud: int = INITIAL_BAUD, open_timeout: float = 5.0) -> None:
        self.url = url
        try:
            self._port = serial.serial_for_url(
                url,
                baudrate=baud,
                bytesize=serial.SEVENBITS,
                parity=serial.PARITY_EVEN,
                stopbits=serial.STOPBITS_ONE,
                timeout=_POLL,
                write_timeout=open_timeout,
                do_not_open=True,
            )
            self._port.open()
        except (serial.SerialException, ValueError, OSError) as exc:
            raise TransportError(f"cannot open {url}: {exc}") from exc

    def write(self, data: bytes) -> None:
        try:
            self._port.write(data)
            self._port.flush()
        except (serial.SerialException, OSError) as exc:
            raise TransportError(f"{self.url}: write failed: {exc}") from exc

    def read(self, timeout: float) -> bytes:
        end = time.monotonic() + max(0.0, timeout)
        try:
            while True:
                data = self._port.read(1)
                if data:
                    rest = self._port.in_waiting
                    return bytes(data) + (bytes(self._port.read(rest)) if rest else b"")
                if time.monotonic() >= end:
                    return b""
        except (serial.SerialException, OSError) as exc:
            raise TransportError(f"{self.url}: read failed: {exc}") from exc

    def set_line(self, line: SetLine) -> None:
        try:
            self._port.flush()
            if line.delay:
                time.sleep(line.delay)
            # only touch what changes: a pty rejects re-applying 7E1 settings (termios EINVAL)
            if self._port.baudrate != line.baud:
                self._port.baudrate = line.baud
            if self._port.bytesize != _BYTESIZE[line.bytesize]:
                self._port.bytesize = _BYTESIZE[line.bytesize]
            if self._port.parity != _PARITY[line.parity]:
                self._port.parity = _PARITY[line.parity]
        except (serial.SerialException, OSError, KeyError, ValueError) as exc:
            raise TransportError(f"{self.url}: cannot switch the line to {line.baud} Bd: {exc}") from exc

    def close(self) -> None:
        with contextlib.suppress(serial.SerialException, OSError):
            self._port.close()


class TcpTransport:
    """``socket://HOST:PORT``: a raw TCP connection (an IR head behind a network gateway, or a virtual meter).

    Line settings have no meaning on TCP and are ignored.
    """

    def __init__(self, host: str, port: int, *, connect_timeout: float = 5.0) -> None:
        self.url = f"socket://{host}:{port}"
        try:
            self._sock = socket.create_connection((host, port), timeout=connect_timeout)
        except OSError as exc:
            raise TransportError(f"cannot connect to {self.url}: {exc}") from exc
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def write(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except OSError as exc:
            raise TransportError(f"{self.url}: write failed: {exc}") from exc

    def read(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self._sock], [], [], max(0.0, timeout))
        if not ready:
            return b""
        try:
            data = self._sock.recv(65536)
        except OSError as exc:
            raise TransportError(f"{self.url}: read failed: {exc}") from exc
        if not data:
            raise TransportError(f"{self.url}: the meter closed the connection")
        return data

    def set_line(self, line: SetLine) -> None:
        return None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()


def open_transport(url: str, *, baud: int = INITIAL_BAUD) -> SerialTransport | TcpTransport:
    """Open a client transport: ``socket://HOST:PORT`` as raw TCP, anything else through pyserial."""
    if url.startswith("socket://"):
        parsed = urlparse(url)
        if parsed.hostname is None or parsed.port is None:
            raise TransportError(f"{url}: expected socket://HOST:PORT")
        return TcpTransport(parsed.hostname, parsed.port)
    return SerialTransport(url, baud=baud)
