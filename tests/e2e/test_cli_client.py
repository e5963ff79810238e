"""The client commands through ``main(argv)`` and a real ``meterkit serve`` process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from meterkit.cli.app import main
from meterkit.iec62056_21.meter import MeterPortConfig
from meterkit.meter.static_table import StaticTableMeter

from .conftest import running_server


def app() -> StaticTableMeter:
    return StaticTableMeter(config=MeterPortConfig(manufacturer="MKT", ident="CLI1", baud_char="5"))


def test_read_prints_the_design_json_shape(capsys: pytest.CaptureFixture[str]) -> None:
    with running_server(app(), ["tcp://127.0.0.1:0"]) as server:
        assert main(["read", server.tcp_url, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["identification"] == {
        "manufacturer": "MKT",
        "baud_char": "5",
        "ident": "CLI1",
        "enhanced": [],
        "mode": "C",
    }
    assert {"address": "1.8.0", "values": [{"value": "001234.567", "unit": "kWh"}]} in doc["datasets"]
    assert {
        "address": "1.6.0",
        "values": [{"value": "0157.00", "unit": "kW"}, {"value": "2611020922", "unit": ""}],
    } in doc["datasets"]


def test_read_table_and_csv_and_trace(capsys: pytest.CaptureFixture[str]) -> None:
    with running_server(app(), ["tcp://127.0.0.1:0"]) as server:
        assert main(["read", server.tcp_url]) == 0
        table = capsys.readouterr().out
        assert main(["read", server.tcp_url, "--format", "csv", "--trace"]) == 0
        captured = capsys.readouterr()
    assert "MKT CLI1 (mode C, Z=5)" in table and "001234.567" in table
    assert "1.8.0,0,001234.567,kWh" in captured.out.splitlines()
    assert "-> <ACK>050<CR><LF>  [06 30 35 30 0D 0A]" in captured.err


def test_get_set_exec_with_password(capsys: pytest.CaptureFixture[str]) -> None:
    meter = app()
    with running_server(meter, ["tcp://127.0.0.1:0"]) as server:
        assert (
            main(
                [
                    "get",
                    server.tcp_url,
                    "1.8.0",
                    "1.8.1",
                    "--password",
                    "00000000",
                    "--allow-plain-password",
                    "--format",
                    "json",
                ]
            )
            == 0
        )
        got = json.loads(capsys.readouterr().out)
        assert (
            main(["set", server.tcp_url, "1.8.2", "000002.000", "--password", "00000000", "--allow-plain-password"])
            == 0
        )
        assert main(["exec", server.tcp_url, "RESET", "--password", "00000000", "--allow-plain-password"]) == 1
        captured = capsys.readouterr()
    assert [d["address"] for d in got["datasets"]] == ["1.8.0", "1.8.1"]
    assert meter.registers["1.8.2"].value == "000002.000"
    assert "meterkit exec: error: the meter refused E2 RESET: ERCOMMAND" in captured.err


def test_wrong_password_exits_1_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with running_server(app(), ["tcp://127.0.0.1:0"]) as server:
        assert main(["get", server.tcp_url, "1.8.0", "--password", "bad", "--allow-plain-password"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "meterkit get: error: the meter refused P1: ERPASSWORD (wrong password); the port locks after repeated failures (the meter does not say after how many)"
    ]


def test_unreachable_port_and_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["read", "socket://127.0.0.1:1"]) == 1
    assert "cannot connect to socket://127.0.0.1:1" in capsys.readouterr().err
    assert main(["read"]) == 2
    capsys.readouterr()
    assert main(["read", "socket://127.0.0.1:1", "--baud", "1234"]) == 2
    assert "1234: choose one of 300, 600, 1200" in capsys.readouterr().err


@pytest.mark.e2e
def test_meterkit_serve_process_prints_its_endpoint_and_serves_reads(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "meterkit.cli.app", "serve", "--listen", "tcp://127.0.0.1:0", "--listen", "pty"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        second = proc.stdout.readline().strip()
        assert first.startswith("listening on tcp://127.0.0.1:")
        assert second.startswith("listening on pty /dev/pts/")
        url = "socket://" + first.removeprefix("listening on tcp://")
        out = subprocess.run(
            [sys.executable, "-m", "meterkit.cli.app", "read", url, "--format", "json"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        doc = json.loads(out.stdout)
        assert doc["identification"] == {
            "manufacturer": "MKT",
            "baud_char": "5",
            "ident": "VM3PH-100",
            "enhanced": [],
            "mode": "C",
        }
        assert [d["address"] for d in doc["datasets"]] == ["0.0.0", "0.9.1", "0.9.2", "1.8.0", "2.8.0", "F.F"]
        pty = second.removeprefix("listening on pty ")
        out = subprocess.run(
            [sys.executable, "-m", "meterkit.cli.app", "read", pty, "--format", "csv"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert "0.0.0,0,12345678," in out.stdout and "1.8.0,0," in out.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
