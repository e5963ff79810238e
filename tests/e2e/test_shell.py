"""``meterkit shell``: one sign-on, then commands from stdin (piped), history and completion helpers."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from meterkit.cli.app import main
from meterkit.cli.shell import ShellSession, complete
from meterkit.client import MeterClient, PasswordAuthenticator
from meterkit.clock import SimulatedClock
from meterkit.iec62056_21.client import ClientConfig
from meterkit.iec62056_21.meter import MeterPortConfig
from meterkit.meter.static_table import StaticTableMeter
from meterkit.transport import open_transport

from .conftest import running_server


def static_meter() -> StaticTableMeter:
    return StaticTableMeter(config=MeterPortConfig(manufacturer="MKT", ident="SHELL1", baud_char="5"))


def test_piped_commands_share_one_sign_on_and_a_refusal_does_not_end_the_shell(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    meter = static_meter()
    script = "read 1.8.0 9.9.9   # one unknown\nwrite 1.8.2 000002.000\nfrobnicate\nget 1.8.2\nbreak\nread 1.8.0\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(script))
    with running_server(meter, ["tcp://127.0.0.1:0"]) as server:
        code = main(["shell", server.tcp_url, "--password", "00000000", "--allow-plain-password", "--trace"])
    out, err = capsys.readouterr()
    assert code == 1  # two commands failed
    assert err.count("/?!<CR><LF>") == 1  # one sign-on for every command
    assert "001234.567" in out and "1.8.2 set to 000002.000" in out
    assert out.count("000002.000") == 2  # the write, and the read after it
    assert "meterkit shell: error: the meter refused R1 9.9.9: ERUNKNOWN (unknown address)" in err
    assert "meterkit shell: error: unknown command 'frobnicate'" in err
    assert "signed off" in err and meter.registers["1.8.2"].value == "000002.000"
    assert err.count("R1<STX>1.8.0") == 1  # nothing after break


def test_json_output_and_end_of_input_signs_off(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("read 1.8.0\n"))
    with running_server(static_meter(), ["tcp://127.0.0.1:0"]) as server:
        assert main(["shell", server.tcp_url, "--format", "json", "--trace"]) == 0
    out, err = capsys.readouterr()
    assert '{"datasets": [{"address": "1.8.0", "values": [{"value": "001234.567", "unit": "kWh"}]}]}' in out
    assert "-> <SOH>B0<ETX>" in err


def test_a_session_the_meter_ended_is_signed_on_again_once() -> None:
    clock = SimulatedClock()
    out = Console(file=io.StringIO(), width=120)
    err = Console(file=io.StringIO(), width=200)

    def lines() -> Iterator[str]:
        yield "read 1.8.0"
        clock.advance(200)  # past the meter's inactivity time-out (60-120 s)
        time.sleep(0.3)  # the server looks at its clock every timer_poll
        yield "read 1.8.1"

    with running_server(static_meter(), ["tcp://127.0.0.1:0"], clock=clock, timer_poll=0.05) as server:
        client = MeterClient(open_transport(server.tcp_url), ClientConfig(response_timeout=0.5))
        with client:
            session = ShellSession(client, PasswordAuthenticator("00000000"), out=out, err=err)
            session.sign_on()
            assert session.run(lines()) == 0
    said = err.file.getvalue()  # type: ignore[attr-defined]
    assert said.count("signed on to MKT SHELL1") == 2 and "signing on again" in said
    assert "001234.567" in out.file.getvalue()  # type: ignore[attr-defined]


def test_completion_offers_commands_first_then_register_addresses() -> None:
    addresses = {"1.8.0", "1.8.1", "C.60.1", "P.01"}
    assert complete("re", "re", addresses) == ["read", "read3"]
    assert complete("1.8", "read 1.8", addresses) == ["1.8.0", "1.8.1"]
    assert complete("", "write ", addresses) == sorted(addresses)
    assert complete("C.", "get 1.8.0 C.", addresses) == ["C.60.1"]


def test_on_a_terminal_tab_completes_commands_and_addresses_and_history_is_kept(tmp_path: Path) -> None:
    import os
    import pty
    import select
    import subprocess
    import sys

    def until(fd: int, pattern: bytes, seen: bytearray, count: int = 1, limit: float = 20.0) -> None:
        end = time.monotonic() + limit
        while seen.count(pattern) < count:
            assert time.monotonic() < end, f"{pattern!r} not in {bytes(seen)[-400:]!r}"
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    seen += os.read(fd, 4096)
                except OSError:
                    break

    history = tmp_path / "history"
    with running_server(static_meter(), ["tcp://127.0.0.1:0"]) as server:
        master, slave = pty.openpty()
        env = {**os.environ, "TERM": "dumb", "COLUMNS": "120"}
        args = ["shell", server.tcp_url, "--history", str(history), "--format", "json"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "meterkit.cli.app", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            close_fds=True,
        )
        os.close(slave)
        seen = bytearray()
        try:
            until(master, b"meterkit> ", seen)
            os.write(master, b"rea\t 1.8.0\r")  # 'rea' completes to 'read' (read and read3 share it)
            until(master, b"001234.567", seen)
            until(master, b"meterkit> ", seen, count=2)
            os.write(master, b"read C.90\t\r")  # a register of meterkit's catalogue: completed to C.90.1
            until(master, b"R1 C.90.1", seen)
            os.write(master, b"break\r")
            assert proc.wait(20) == 1  # the unknown register failed
        finally:
            if proc.poll() is None:
                proc.kill()
            os.close(master)
    assert history.read_text().splitlines()[-3:] == ["read 1.8.0", "read C.90.1", "break"]
