"""Client transport over pyserial URLs: ``/dev/ttyUSB0``, ``socket://HOST:PORT``, ``rfc2217://...``, ``loop://``.

The port is opened 7E1 at 300 Bd with a short fixed read time-out set in the constructor (pyserial cannot change
the time-out later on a 7E1 pty), and reads poll until the requested time has passed.

Pseudo-terminals carry bytes, not characters on a wire: Linux forces them to 8 data bits without parity, and
``tcsetattr`` then fails with ``EINVAL`` whenever the only requested change is the framing (7E1 re-applied at the speed
the pty already has, e.g. after an earlier session left it at 300 Bd).  A pty is therefore opened 8N1 and only its
speed is switched; 7-bit ASCII passes through it unchanged.  :func:`open_serial` and :func:`apply_line` are shared
with the meter's ``serial://`` endpoint.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import socket
import stat
import termios
import time
from typing import Any
from urllib.parse import urlparse

import serial

from ..errors import ConfigError, TransportError
from ..iec62056_21.baud import INITIAL_BAUD
from ..iec62056_21.events import SetLine

__all__ = [
    "SerialTransport",
    "TcpTransport",
    "apply_line",
    "is_pty",
    "open_serial",
    "open_transport",
    "parse_tcp_url",
]

_PARITY = {"E": serial.PARITY_EVEN, "N": serial.PARITY_NONE, "O": serial.PARITY_ODD}
_BYTESIZE = {7: serial.SEVENBITS, 8: serial.EIGHTBITS}
_POLL = 0.02
#: Linux: the majors of Unix98 pty slaves (``/dev/pts/N``); macOS names them ``/dev/ttysNNN``.
_PTY_MAJORS = range(136, 144)
_MAC_PTY = re.compile(r"^/dev/ttys\d+$")
#: What pyserial, termios and the OS raise for a device that fails or refuses a setting.
_DEVICE_ERRORS = (serial.SerialException, termios.error, OSError, ValueError)


def is_pty(device: str) -> bool:
    """Whether ``device`` (a path, not a URL) is the slave side of a pseudo-terminal."""
    if "://" in device:
        return False
    try:
        real = os.path.realpath(device)
        st = os.stat(real)
    except OSError:
        return False
    if not stat.S_ISCHR(st.st_mode):
        return False
    return real.startswith("/dev/pts/") or os.major(st.st_rdev) in _PTY_MAJORS or bool(_MAC_PTY.match(real))


def _one_line(exc: BaseException) -> str:
    """``termios.error(22, 'Invalid argument')`` -> ``Invalid argument (errno 22)``; other errors on one line."""
    args: tuple[object, ...] = tuple(exc.args)
    if isinstance(exc, termios.error) and len(args) == 2 and isinstance(args[0], int):
        text = f"{args[1]} (errno {args[0]})"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def open_serial(
    url: str, *, baud: int = INITIAL_BAUD, timeout: float | None = _POLL, write_timeout: float = 5.0
) -> Any:
    """Open ``url`` through pyserial's ``serial_for_url`` at ``baud`` 7E1 (8N1 on a pty, see the module notes).

    Every failure, including ``termios.error``, is a :class:`TransportError` with a one-line message.
    """
    pty = is_pty(url)
    try:
        port = serial.serial_for_url(
            url,
            baudrate=baud,
            bytesize=serial.EIGHTBITS if pty else serial.SEVENBITS,
            parity=serial.PARITY_NONE if pty else serial.PARITY_EVEN,
            stopbits=serial.STOPBITS_ONE,
            timeout=timeout,
            write_timeout=write_timeout,
            do_not_open=True,
        )
        port.open()
    except _DEVICE_ERRORS as exc:
        raise TransportError(f"cannot open {url}: {_one_line(exc)}") from exc
    return port


def apply_line(port: Any, line: SetLine, *, pty: bool = False) -> None:
    """Switch an open pyserial port to ``line`` (the caller has drained the output), touching only what changes.

    On a pty only the speed is switched (its framing is always 8N1).  Raises :class:`TransportError`.
    """
    framing = f"{line.bytesize}{line.parity}{line.stopbits}"
    if line.bytesize not in _BYTESIZE or line.parity not in _PARITY:
        raise TransportError(f"{port.port}: unsupported framing {framing} (7E1 or 8N1)")
    try:
        if port.baudrate != line.baud:
            port.baudrate = line.baud
        if pty:
            return
        if port.bytesize != _BYTESIZE[line.bytesize]:
            port.bytesize = _BYTESIZE[line.bytesize]
        if port.parity != _PARITY[line.parity]:
            port.parity = _PARITY[line.parity]
    except _DEVICE_ERRORS as exc:
        raise TransportError(
            f"{port.port}: cannot switch the line to {line.baud} Bd {framing}: {_one_line(exc)}"
        ) from exc


class SerialTransport:
    """A :class:`~meterkit.transport.base.Transport` over a pyserial port."""

    def __init__(self, url: str, *, baud: int = INITIAL_BAUD, open_timeout: float = 5.0) -> None:
        self.url = url
        self.is_pty = is_pty(url)
        self._port = open_serial(url, baud=baud, timeout=_POLL, write_timeout=open_timeout)

    def write(self, data: bytes) -> None:
        try:
            self._port.write(data)
            self._port.flush()
        except _DEVICE_ERRORS as exc:
            raise TransportError(f"{self.url}: write failed: {_one_line(exc)}") from exc

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
        except _DEVICE_ERRORS as exc:
            raise TransportError(f"{self.url}: read failed: {_one_line(exc)}") from exc

    def set_line(self, line: SetLine) -> None:
        try:
            self._port.flush()
        except _DEVICE_ERRORS as exc:
            raise TransportError(f"{self.url}: cannot drain the output: {_one_line(exc)}") from exc
        if line.delay:
            time.sleep(line.delay)
        apply_line(self._port, line, pty=self.is_pty)

    def close(self) -> None:
        with contextlib.suppress(*_DEVICE_ERRORS):
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


_BARE_HOST_PORT = re.compile(r"(?:[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.%A-Za-z]*\]?):[-+0-9A-Za-z]*")
_TCP_SCHEMES = ("socket://", "tcp://")


def parse_tcp_url(url: str) -> tuple[str, int]:
    """``socket://HOST:PORT`` or ``tcp://HOST:PORT`` (the form ``meterkit serve`` prints) as ``(host, port)``;
    IPv6 hosts in brackets.  A malformed URL (a letter in the port, a port out of 1-65535, a broken IPv6 literal)
    is a :class:`ConfigError` with one line saying what is wrong."""
    try:
        parsed = urlparse(url)
        host, port = parsed.hostname, parsed.port
    except ValueError as exc:
        raise ConfigError(f"{url}: {exc} (expected socket://HOST:PORT, IPv6 as socket://[::1]:PORT)") from exc
    netloc = parsed.netloc
    if host is None or port is None or not host:
        raise ConfigError(f"{url}: expected socket://HOST:PORT (IPv6 as socket://[::1]:PORT)")
    if ":" in host and not netloc.startswith("["):
        raise ConfigError(f"{url}: an IPv6 address goes in brackets: socket://[{host}]:{port}")
    if not 1 <= port <= 65535:
        raise ConfigError(f"{url}: port {port} is out of range 1-65535")
    if parsed.path not in ("", "/") or parsed.query or parsed.fragment:
        raise ConfigError(f"{url}: expected socket://HOST:PORT with nothing after the port")
    return host, port


def open_transport(url: str, *, baud: int = INITIAL_BAUD) -> SerialTransport | TcpTransport:
    """Open a client transport: ``socket://HOST:PORT`` (or ``tcp://HOST:PORT``) as raw TCP, anything else through
    pyserial.  A bare ``HOST:PORT`` is refused with a hint (pyserial would look for a device of that name)."""
    if url.startswith(_TCP_SCHEMES):
        host, port = parse_tcp_url(url)
        return TcpTransport(host, port)
    if "://" not in url and not url.startswith("/") and _BARE_HOST_PORT.fullmatch(url):
        raise ConfigError(f"{url}: a network port needs its scheme: socket://{url}")
    return SerialTransport(url, baud=baud)
