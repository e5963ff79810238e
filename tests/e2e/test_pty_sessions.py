"""Served ptys across many sessions, baud emulation on a pty, and the ``serial://`` endpoint (pty pair, pyserial URL)."""

from __future__ import annotations

import os
import select
import socket
import termios
import time
import tty
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import serial

from meterkit.cli.app import main
from meterkit.client import MeterClient, PasswordAuthenticator
from meterkit.errors import TransportError
from meterkit.iec62056_21.events import SetLine
from meterkit.iec62056_21.meter import MeterPortConfig
from meterkit.iec62056_21.trace import FrameRecord
from meterkit.meter.static_table import StaticTableMeter
from meterkit.transport import SerialTransport, open_transport

from .conftest import running_server


def meter(mode: str = "C", z: str = "5") -> StaticTableMeter:
    return StaticTableMeter(config=MeterPortConfig(manufacturer="MKT", ident="PTY1", baud_char=z, protocol_mode=mode))  # type: ignore[arg-type]


class FdTransport:
    """The client's end of a pty pair (the master): a cable has no line settings of its own."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]

    def read(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        return os.read(self.fd, 4096) if ready else b""

    def set_line(self, line: SetLine) -> None:
        return None

    def close(self) -> None:
        return None


class SocketTransport(FdTransport):
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def write(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        return self.sock.recv(4096) if ready else b""


@contextmanager
def pty_pair() -> Iterator[tuple[int, int, str]]:
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        yield master, slave, os.ttyname(slave)
    finally:
        os.close(master)
        os.close(slave)


def speed(path_or_fd: str | int) -> int:
    if isinstance(path_or_fd, int):
        return int(termios.tcgetattr(path_or_fd)[4])
    fd = os.open(path_or_fd, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        return int(termios.tcgetattr(fd)[4])
    finally:
        os.close(fd)


def wait_for(predicate: object, seconds: float = 8.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


# --- one pty, many sessions ----------------------------------------------------------------------------------


def test_many_sequential_cli_reads_on_one_served_pty(capsys: pytest.CaptureFixture[str]) -> None:
    """The reported bug: after a session at 300 Bd the next ``meterkit read`` crashed with termios EINVAL."""
    with running_server(meter(), ["pty"]) as server:
        pty = server.pty_path
        codes = [
            main(["read", pty, "--baud", baud, "--format", "csv"]) for baud in ("300", "300", "300", "9600", "300")
        ]
        codes.append(main(["read", pty, "--format", "csv"]))
        captured = capsys.readouterr()
    assert codes == [0] * 6, captured.err
    assert captured.out.splitlines().count("1.8.0,0,001234.567,kWh") == 6
    assert captured.err == ""


def test_programming_sessions_back_to_back_on_one_served_pty() -> None:
    app = meter()
    with running_server(app, ["pty"]) as server:
        for i in range(3):
            with MeterClient(open_transport(server.pty_path)) as client:
                client.programming(PasswordAuthenticator("00000000"))
                client.write("1.8.1", f"00000{i}.000")
                assert client.read("1.8.1")[0].value == f"00000{i}.000"


def test_client_opens_a_pty_that_a_previous_session_left_at_300_bd_7e1() -> None:
    with pty_pair() as (master, _slave, path):
        # what any pyserial program leaves behind (Linux silently keeps a pty at 8N1: re-applying 7E1 at the same
        # speed is then refused with EINVAL, which used to escape as a termios.error traceback)
        previous = serial.serial_for_url(path, baudrate=300, bytesize=7, parity="E", stopbits=1)
        previous.close()
        for _ in range(3):
            transport = SerialTransport(path)
            assert transport.is_pty
            transport.set_line(SetLine(baud=9600))
            assert speed(path) == termios.B9600
            transport.set_line(SetLine(baud=300))
            transport.set_line(SetLine(baud=300))  # unchanged: nothing re-applied
            transport.write(b"/?!\r\n")
            assert os.read(master, 100) == b"/?!\r\n"
            os.write(master, b"/MKT5PTY1\r\n")
            assert transport.read(2.0) == b"/MKT5PTY1\r\n"
            transport.close()


def test_device_errors_are_transport_errors_with_one_line() -> None:
    with pytest.raises(TransportError, match=r"^cannot open /dev/nonexistent-meterkit: .*No such file") as info:
        SerialTransport("/dev/nonexistent-meterkit")
    assert "\n" not in str(info.value)
    transport = SerialTransport("loop://")
    with pytest.raises(TransportError, match=r"^loop://: unsupported framing 9E1 \(7E1 or 8N1\)$"):
        transport.set_line(SetLine(baud=300, bytesize=9))
    transport.close()


def test_the_meter_puts_its_pty_back_to_the_initial_raw_state_after_each_session() -> None:
    with running_server(meter(), ["pty"]) as server:
        pty = server.pty_path
        initial = speed(pty)
        assert initial not in (termios.B300, termios.B9600)
        with MeterClient(open_transport(pty)) as client:
            assert client.readout(baud_char="5").datasets
        # the client leaves the pty at 300 or 9600 Bd; the meter ends the session after its repeat window (2 s)
        assert speed(pty) in (termios.B300, termios.B9600)
        assert wait_for(lambda: speed(pty) == initial)


def test_baud_emulation_on_a_pty_takes_at_least_the_line_time() -> None:
    received: list[int] = []

    def count(record: FrameRecord) -> None:
        if record.direction == "<-":
            received.append(len(record.data))

    with running_server(meter("A", "Z"), ["pty"], baud_emulation=True) as server:  # mode A: 300 Bd throughout
        with MeterClient(open_transport(server.pty_path), trace=count) as client:
            start = time.monotonic()
            readout = client.readout()
            elapsed = time.monotonic() - start
    assert len(readout.datasets) == 9
    nbytes = sum(received)
    assert nbytes > 150
    line_time = nbytes * 10 / 300  # 10 bits per character at 300 Bd
    assert elapsed >= 0.8 * line_time, (elapsed, line_time)


# --- serial:// endpoint ---------------------------------------------------------------------------------------


def test_serial_endpoint_on_one_end_of_a_pty_pair_switches_the_real_line() -> None:
    with pty_pair() as (master, slave, path), running_server(meter(), [f"serial://{path}"]) as server:
        assert server.endpoints == [f"serial {path}"]
        with MeterClient(FdTransport(master)) as client:
            readout = client.readout(baud_char="5")
        assert {ds.address: ds.value for ds in readout.datasets}["1.8.0"] == "001234.567"
        assert speed(slave) == termios.B9600  # the meter switched its device for the readout
        assert wait_for(lambda: speed(slave) == termios.B300)  # and back to 300 Bd when the session ended
        with MeterClient(FdTransport(master)) as client:
            client.programming(PasswordAuthenticator("00000000"))
            assert client.read("1.8.0")[0].value == "001234.567"


def test_serial_endpoint_takes_any_pyserial_url() -> None:
    """``serial://socket://HOST:PORT``: the meter behind a serial-over-TCP gateway (needs ``serial_for_url``)."""
    with socket.create_server(("127.0.0.1", 0)) as gateway:
        host, port = gateway.getsockname()
        url = f"socket://{host}:{port}"
        with running_server(meter(), [f"serial://{url}"]) as server:
            assert server.endpoints == [f"serial {url}"]
            gateway.settimeout(5)
            conn, _ = gateway.accept()
            with conn, MeterClient(SocketTransport(conn)) as client:
                readout = client.readout()
    assert {ds.address: ds.value for ds in readout.datasets}["1.8.0"] == "001234.567"


def test_serial_endpoint_that_cannot_open_is_a_one_line_error() -> None:
    with pytest.raises(TransportError, match=r"^cannot open /dev/nonexistent-meterkit: .*No such file"):
        with running_server(meter(), ["serial:///dev/nonexistent-meterkit"]):
            pass  # pragma: no cover
