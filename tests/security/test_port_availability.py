"""Availability of the served optical port: nothing a client sends ends an endpoint (issue #14 item 1)."""

from __future__ import annotations

from meterkit.iec62056_21.application import SessionRunner
from meterkit.iec62056_21.events import CommandReceived, SessionEnded, SignOn, Transmit
from meterkit.iec62056_21.meter import MeterConnection
from meterkit.iec62056_21.transitions import MeterState

from .test_port_fuzz_and_modes import R, meter

SIGN_ON = b"/?!\r\n"
PROGRAMMING = b"\x06051\r\n"


def _runner() -> SessionRunner:
    vm = meter()
    config = vm.port_config()
    assert not isinstance(config, str)
    return SessionRunner.for_application(MeterConnection(config), vm)  # type: ignore[arg-type]


def _feed(runner: SessionRunner, data: bytes, now: float) -> list[object]:
    runner.receive_data(data, now)
    events: list[object] = list(runner.process(now))
    return events


def _programming(runner: SessionRunner) -> float:
    _feed(runner, SIGN_ON, 0.0)
    _feed(runner, PROGRAMMING, 1.0)
    runner.outputs()
    assert runner.connection.state is MeterState.PROGRAMMING
    return 2.0


def test_a_command_and_a_break_in_one_write_drop_the_answer_of_the_ended_session() -> None:
    runner = _runner()
    now = _programming(runner)
    events = _feed(runner, R("R1", "1.8.0").to_bytes() + b"\x01B0\x03q", now)
    assert [type(e) for e in events] == [CommandReceived, SessionEnded]
    sent = b"".join(d.data for d in runner.outputs() if isinstance(d, Transmit))
    assert b"1.8.0" not in sent  # the answer belonged to the ended session: dropped
    assert runner.connection.state is MeterState.IDLE
    assert runner.connection.dropped_answers == 1
    # the next sign-on is served
    events = _feed(runner, SIGN_ON, now + 5)
    assert any(isinstance(e, SignOn) for e in events)
    assert b"/MKT" in b"".join(d.data for d in runner.outputs() if isinstance(d, Transmit))


def test_a_command_and_a_new_sign_on_in_one_write_answer_only_the_new_sign_on() -> None:
    runner = _runner()
    now = _programming(runner)
    events = _feed(runner, R("R1", "1.8.0").to_bytes() + SIGN_ON, now)
    assert [type(e) for e in events] == [CommandReceived, SessionEnded, SignOn]
    sent = b"".join(d.data for d in runner.outputs() if isinstance(d, Transmit))
    assert b"1.8.0" not in sent and sent.startswith(b"/MKT")
    assert runner.connection.state is MeterState.AWAIT_OPTION
    # and that new session runs to a readable programming session
    _feed(runner, PROGRAMMING, now + 1)
    runner.outputs()
    _feed(runner, R("R1", "0.0.0").to_bytes(), now + 2)
    sent = b"".join(d.data for d in runner.outputs() if isinstance(d, Transmit))
    assert b"0.0.0(" in sent or b"ER" in sent


# --- served endpoints: pty and TCP ---------------------------------------------------------------------------

import logging  # noqa: E402
import os  # noqa: E402
import select  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import pytest  # noqa: E402

from meterkit.iec62056_21.application import MeterPortSession, SessionReply  # noqa: E402
from meterkit.iec62056_21.events import MeterEvent, ProgrammingRequested  # noqa: E402
from meterkit.iec62056_21.messages import CommandMessage, DataAnswer, DataSet  # noqa: E402
from meterkit.iec62056_21.meter import MeterPortConfig  # noqa: E402
from meterkit.transport.server import ConnectionLimits  # noqa: E402

from ..e2e.conftest import running_server  # noqa: E402


class Line:
    """A raw client end: a socket or a pty master."""

    def __init__(self, write: Callable[[bytes], object], fileno: int, read: Callable[[], bytes]) -> None:
        self.write, self.fileno, self._read = write, fileno, read

    def read_until(self, marker: bytes, timeout: float = 5.0) -> bytes:
        got = b""
        end = time.monotonic() + timeout
        while marker not in got and time.monotonic() < end:
            ready, _, _ = select.select([self.fileno], [], [], max(0.0, end - time.monotonic()))
            if ready:
                chunk = self._read()
                if not chunk:
                    break
                got += chunk
        return got

    def quiet(self, seconds: float) -> bytes:
        got = b""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            ready, _, _ = select.select([self.fileno], [], [], left)
            if ready:
                chunk = self._read()
                if not chunk:
                    break
                got += chunk
        return got


def _tcp(url: str) -> tuple[socket.socket, Line]:
    host, port = url.removeprefix("socket://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=5)
    return sock, Line(sock.sendall, sock.fileno(), lambda: sock.recv(4096))


def _pty(path: str) -> tuple[int, Line]:
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    import tty

    tty.setraw(fd)
    return fd, Line(lambda data: os.write(fd, data), fd, lambda: os.read(fd, 4096))


def _sign_on_programming(line: Line) -> None:
    line.write(SIGN_ON)
    assert b"/MKT" in line.read_until(b"\r\n")
    line.write(PROGRAMMING)
    assert b"P0" in line.read_until(b"\x03")


@pytest.mark.parametrize("tail", [b"\x01B0\x03q", SIGN_ON], ids=["break", "sign-on"])
def test_a_command_with_a_break_or_sign_on_in_one_write_leaves_pty_and_tcp_serving(tail: bytes) -> None:
    with running_server(meter(), ["pty", "tcp://127.0.0.1:0"]) as server:
        fd, pty_line = _pty(server.pty_path)
        sock, tcp_line = _tcp(server.tcp_url)
        try:
            for line in (pty_line, tcp_line):
                _sign_on_programming(line)
                line.write(R("R1", "1.8.0").to_bytes() + tail)
                assert b"1.8.0" not in line.quiet(0.8)  # no answer into an ended session
                if tail != SIGN_ON:
                    line.write(SIGN_ON)
                    assert b"/MKT" in line.read_until(b"\r\n")
                line.write(PROGRAMMING)
                assert b"P0" in line.read_until(b"\x03")  # the next sign-on is served
                line.write(R("R1", "0.0.0").to_bytes())
                assert b"0.0.0(" in line.read_until(b"\x03")
        finally:
            os.close(fd)
            sock.close()


class _Exploding:
    """A meter whose session fails on ``R1(BOOM)`` (stands for any bug a client could reach)."""

    def port_config(self) -> MeterPortConfig:
        return MeterPortConfig(manufacturer="MKT", ident="BOOM", baud_char="5", reaction_time=0.02)

    def open_session(self) -> MeterPortSession:
        return _ExplodingSession()


class _ExplodingSession:
    def handle(self, event: MeterEvent) -> SessionReply:
        if isinstance(event, CommandReceived):
            if event.command.data_set.address == "BOOM":
                raise RuntimeError("a bug in the session")
            return SessionReply(messages=(DataAnswer(datasets=(DataSet.single("X", "1"),)),))
        if isinstance(event, ProgrammingRequested):
            return SessionReply(messages=(CommandMessage(command="P", command_type="0", data_set=DataSet.single("")),))
        return SessionReply()

    def close(self, reason: str) -> None:
        return None


def test_a_failing_session_is_logged_and_the_pty_serves_the_next_sign_on(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, "meterkit.transport.server"):
        with running_server(_Exploding(), ["pty"]) as server:
            fd, line = _pty(server.pty_path)
            try:
                line.write(SIGN_ON)
                assert b"/MKT" in line.read_until(b"\r\n")
                line.write(PROGRAMMING)
                assert b"P0" in line.read_until(b"\x03")
                line.write(R("R1", "BOOM").to_bytes())
                line.quiet(0.3)
                line.write(SIGN_ON)
                assert b"/MKT5BOOM" in line.read_until(b"\r\n")
                line.write(PROGRAMMING)
                assert b"P0" in line.read_until(b"\x03")
                line.write(R("R1", "X").to_bytes())
                assert b"X(1)" in line.read_until(b"\x03")
            finally:
                os.close(fd)
    assert any("a session failed" in r.getMessage() for r in caplog.records)


def _closed(sock: socket.socket, timeout: float) -> bool:
    sock.settimeout(timeout)
    try:
        return sock.recv(4096) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


def test_a_connection_without_a_sign_on_is_closed_after_the_idle_time_out() -> None:
    limits = ConnectionLimits(max_connections=8, idle_timeout=0.5)
    with running_server(meter(), ["tcp://127.0.0.1:0"], limits=limits) as server:
        silent, _ = _tcp(server.tcp_url)
        noisy, noisy_line = _tcp(server.tcp_url)
        try:
            for _ in range(3):
                noisy_line.write(b"xyz")  # bytes that are not a sign-on do not keep it open
                time.sleep(0.2)
            assert _closed(silent, 3.0)
            assert _closed(noisy, 3.0)
        finally:
            silent.close()
            noisy.close()


def test_at_the_connection_cap_the_oldest_idle_connection_is_shed_and_a_client_is_served() -> None:
    limits = ConnectionLimits(max_connections=4, idle_timeout=60.0)
    with running_server(meter(), ["tcp://127.0.0.1:0"], limits=limits) as server:
        held = [_tcp(server.tcp_url)[0] for _ in range(4)]
        time.sleep(0.2)
        busy, busy_line = _tcp(server.tcp_url)  # the fifth: the first idle connection goes
        try:
            assert _closed(held[0], 3.0)
            assert not _closed(held[3], 0.2)
            _sign_on_programming(busy_line)
            busy_line.write(R("R1", "0.0.0").to_bytes())
            assert b"0.0.0(" in busy_line.read_until(b"\x03")
            # 20 more half-open connections never take the signed-on client's place
            extra = [_tcp(server.tcp_url)[0] for _ in range(20)]
            time.sleep(0.3)
            busy_line.write(R("R1", "0.0.0").to_bytes())
            assert b"0.0.0(" in busy_line.read_until(b"\x03")
            for sock in extra:
                sock.close()
        finally:
            busy.close()
            for sock in held:
                sock.close()


def test_connection_limits_refuse_nonsense() -> None:
    from meterkit.errors import ConfigError

    with pytest.raises(ConfigError):
        ConnectionLimits(max_connections=0)
    with pytest.raises(ConfigError):
        ConnectionLimits(idle_timeout=0)


# --- property: any bytes, in any chunks, never raise and never lift the level ------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_PIECES = st.one_of(
    st.sampled_from([SIGN_ON, PROGRAMMING, b"\x01B0\x03q", b"\x06", b"\x15", b"\x06252\r\n"]),
    st.builds(
        lambda a, v: R("R1", a, v).to_bytes(),
        st.sampled_from(["1.8.0", "1.6.0", "0.9.1", "P.99"]),
        st.text("0123456789", max_size=8),
    ),
    st.builds(
        lambda a, v: R("W1", a, v).to_bytes(), st.sampled_from(["C.60.1", "0.9.2"]), st.text("0123456789", max_size=8)
    ),
    st.builds(lambda v: R("P2", "", v).to_bytes(), st.text("0123456789ABCDEF", max_size=40)),
    st.binary(max_size=40),
)
_VM = meter()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_PIECES, st.floats(0, 3)), max_size=25))
def test_any_bytes_in_any_chunks_never_raise_and_never_grant_a_level(chunks: list[tuple[bytes, float]]) -> None:
    config = _VM.port_config()
    runner = SessionRunner.for_application(MeterConnection(config), _VM)
    now = 0.0
    for data, wait in chunks:
        now += wait
        runner.connection.handle_timer(now)
        runner.receive_data(data, now)
        runner.process(now)
        runner.outputs()
        session = runner.session
        level = getattr(getattr(session, "sec", None), "level", 1)
        assert level == 1
    runner.close("disconnect")


def test_a_push_meters_listener_is_not_closed_by_the_idle_time_out() -> None:
    from meterkit.meter.static_table import StaticTableMeter

    push = StaticTableMeter(config=MeterPortConfig(manufacturer="MKT", ident="PUSH", baud_char="3", protocol_mode="D"))
    limits = ConnectionLimits(max_connections=4, idle_timeout=0.3)
    with running_server(push, ["tcp://127.0.0.1:0"], limits=limits) as server:
        listener, _ = _tcp(server.tcp_url)
        try:
            assert not _closed(listener, 1.5)
        finally:
            listener.close()


def test_the_meter_host_hands_its_connection_limits_to_the_optical_port() -> None:
    from meterkit.host import MeterHost
    from meterkit.host.faces import OpticalFace

    limits = ConnectionLimits(max_connections=2, idle_timeout=5.0)
    host = MeterHost(meter()).add_optical(["tcp://127.0.0.1:0"], limits=limits)
    optical = [face for face in host.faces if isinstance(face, OpticalFace)]
    assert [face.limits for face in optical] == [limits]
