"""``meterkit serve --control``: a tester operates the served meter's physical inputs over loopback TCP while a
hand-held works on its optical port."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from meterkit.cli.app import main
from meterkit.meter.virtual import load_virtual_meter

from .conftest import running_meter

DEMO_MASTER_HEX = "6d657465726b69742d64656d6f2d6d61737465722d6b65792d6e6f742d736563"


@pytest.fixture
def key_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    """A hand-held's key package for the demo meter MKT 12345678 (levels 2 and 3), from the demo master key."""
    monkeypatch.setenv("METERKIT_KEY_PASSPHRASE", "pw for the control test")
    master = tmp_path / "demo.key"
    master.write_text(DEMO_MASTER_HEX)
    pkg = tmp_path / "order.json"
    argv = ["keys", "package", "--master", str(master), "--meters", "MKT:12345678", "--hhu", "T", "--out", str(pkg)]
    assert main(argv) == 0
    capsys.readouterr()
    return pkg


def test_cover_opened_through_the_control_channel_lets_a_key_package_write(
    key_package: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vm = load_virtual_meter(None, None)
    key = ["--key-file", str(key_package), "--level", "3"]
    with running_meter(vm, ["tcp://127.0.0.1:0"], control="tcp://127.0.0.1:0") as ep:
        url, control = ep["tcp"], ep["control"]
        assert control.startswith("tcp://127.0.0.1:")
        assert main(["set", url, "C.60.1", "fixed 15", *key]) == 1
        assert "ER06" in capsys.readouterr().err  # level 3, but the cover is closed
        assert main(["control", control, "cover", "open"]) == 0
        # a level-3 session just happened, so this opening is authorised: no tamper, the relay stays closed
        assert capsys.readouterr().out == "ok cover=open relay=closed events=COVER_OPEN_AUTH\n"
        assert main(["set", url, "C.60.1", "fixed 15", *key]) == 0
        assert main(["get", url, "C.60.1", "--key-file", str(key_package), "--format", "json"]) == 0
        out = capsys.readouterr().out
        assert main(["control", control, "status"]) == 0
        status = capsys.readouterr().out
    assert json.loads(out[out.index("{") :])["datasets"][0]["values"][0]["value"] == "fixed 15"
    assert str(vm.meter.demand_config) == "fixed 15"
    assert status.startswith("ok power=up cover=open relay=closed button=idle source=synthetic")
    assert [e.kind for e in vm.security.log_entries() if e.kind.startswith(("COVER", "WRITE"))] == [
        "WRITE_DENIED_COVER_CLOSED",
        "COVER_OPEN_AUTH",
        "WRITE_OK",
    ]


def test_unauthorised_cover_opening_over_control_is_a_tamper(capsys: pytest.CaptureFixture[str]) -> None:
    vm = load_virtual_meter(None, None)
    with running_meter(vm, ["tcp://127.0.0.1:0"], control="tcp://127.0.0.1:0") as ep:
        assert main(["control", ep["control"], "cover", "open"]) == 0
        assert capsys.readouterr().out == "ok cover=open relay=open events=COVER_OPEN_UNAUTH,RELAY_TRIP\n"
        assert main(["control", ep["control"], "cover", "open"]) == 1
        assert capsys.readouterr().err == "meterkit control: error: control: the cover is already open\n"
    assert not vm.security.relay_connected
    assert vm.outbox.pending()[-1].details == {"event": "COVER_OPEN_UNAUTH", "relay": "open"}


def test_power_down_kills_the_optical_port_until_power_up(capsys: pytest.CaptureFixture[str]) -> None:
    vm = load_virtual_meter(None, None)
    with running_meter(vm, ["tcp://127.0.0.1:0"], control="tcp://127.0.0.1:0", tick_s=0.05) as ep:
        url, control = ep["tcp"], ep["control"]
        assert main(["control", control, "load", "L1", "230", "20", "-10", "L2", "230", "0", "L3", "230", "0"]) == 0
        assert capsys.readouterr().out.endswith("f=50Hz P=4.530kW\n")
        assert main(["control", control, "power", "down"]) == 0
        energy = vm.meter.registers.total["A+"]
        assert main(["read", url, "--timeout", "1"]) == 1
        assert "no answer from the meter" in capsys.readouterr().err
        assert vm.meter.registers.total["A+"] == energy  # the ticker stops with the supply
        assert main(["control", control, "power", "up"]) == 0
        assert main(["read", url, "--format", "csv"]) == 0
        out = capsys.readouterr().out
    assert "0.0.0,0,12345678," in out
    assert [e.text for e in vm.meter.events if e.text.startswith("power")][-2:] == ["power down", "power up"]


def test_control_refuses_remote_addresses_and_reports_unreachable_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--listen", "tcp://127.0.0.1:0", "--control", "tcp://0.0.0.0:2101"]) == 2
    err = capsys.readouterr().err
    assert "the control port is physical access to the meter" in err and "--control-allow-remote" in err
    assert main(["serve", "--control", "udp://127.0.0.1:1"]) == 2
    assert "needs tcp://HOST:PORT" in capsys.readouterr().err
    assert main(["control", "tcp://127.0.0.1:1", "status"]) == 1
    assert capsys.readouterr().err.startswith(
        "meterkit control: error: cannot reach the control channel tcp://127.0.0.1:1"
    )
    assert main(["control", "http://x", "status"]) == 2


def test_a_control_client_sending_garbage_gets_errors_and_the_server_survives(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import socket

    vm = load_virtual_meter(None, None)
    with running_meter(vm, ["tcp://127.0.0.1:0"], control="tcp://127.0.0.1:0") as ep:
        host, port = ep["control"].removeprefix("tcp://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(b"\xff\xfe\n\nstatus\nfly away\n" + b"A" * 10000 + b"\n")
            data = b""
            while data.count(b"\n") < 4:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        lines = data.decode().splitlines()
        assert lines[0] == "error: a command is UTF-8 text"
        assert lines[1].startswith("ok power=up")
        assert lines[2] == "error: unknown command 'fly' (try help)"
        assert lines[3] == "error: line too long (at most 4096 bytes)"
        assert main(["control", ep["control"], "help"]) == 0
    assert capsys.readouterr().out.startswith("ok commands:")


@pytest.mark.e2e
def test_meterkit_serve_process_prints_its_control_endpoint_and_obeys_it() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "meterkit.cli.app",
            "serve",
            "--listen",
            "tcp://127.0.0.1:0",
            "--control",
            "tcp://127.0.0.1:0",
        ],
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
        assert second.startswith("control on tcp://127.0.0.1:")
        control = second.removeprefix("control on ")
        run = [sys.executable, "-m", "meterkit.cli.app", "control", control]
        out = subprocess.run([*run, "button"], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and out.stdout.startswith("ok button: level 3 for the next session until ")
        out = subprocess.run([*run, "power", "sideways"], capture_output=True, text=True, timeout=30)
        assert out.returncode == 1
        assert out.stderr == "meterkit control: error: control: power down | power up [cover-open|cover-closed]\n"
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
