"""``meterkit serve --max-connections N --idle-timeout S``: the TCP endpoint's connection limits from the command
line, checked by a served meter; absurd values are one error line and exit code 2."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time

import pytest

from meterkit.cli.app import main


def _closed(sock: socket.socket, timeout: float) -> bool:
    """True when the server closed the connection within ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        ready, _, _ = select.select([sock], [], [], max(0.0, end - time.monotonic()))
        if ready:
            try:
                if sock.recv(4096) == b"":
                    return True
            except ConnectionResetError:
                return True
    return False


def test_serve_holds_the_connections_and_idle_time_out_given_on_the_command_line() -> None:
    args = ["serve", "--listen", "tcp://127.0.0.1:0", "--max-connections", "2", "--idle-timeout", "3"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "meterkit.cli.app", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    held: list[socket.socket] = []
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on tcp://127.0.0.1:"), line
        port = int(line.strip().rpartition(":")[2])
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
        time.sleep(0.2)
        held.append(socket.create_connection(("127.0.0.1", port)))  # the third: the oldest idle one goes
        assert _closed(held[0], 1.0)  # long before its idle time-out
        assert not _closed(held[1], 0.3)
        # without a sign-on the other two are closed after the idle time-out (the default would be 30 s)
        assert _closed(held[1], 10.0) and _closed(held[2], 10.0)
    finally:
        for sock in held:
            sock.close()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 0


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--max-connections", "0", "greater than or equal to 1"),
        ("--max-connections", "100000", "less than or equal to 4096"),
        ("--idle-timeout", "0", "greater than or equal to 1"),
        ("--idle-timeout", "86400", "less than or equal to 3600"),
        ("--idle-timeout", "soon", "valid number"),
    ],
)
def test_absurd_connection_limits_are_one_line_and_exit_code_2(
    option: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--listen", "pty", option, value]) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and err.startswith("meterkit serve: error: ") and option in err and message in err
    assert out == ""


def test_connection_limits_do_not_apply_to_a_fleet(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--fleet", "fleet.toml", "--max-connections", "8"]) == 2
    assert "with --fleet only" in capsys.readouterr().err
