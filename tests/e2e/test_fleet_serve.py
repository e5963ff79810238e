"""``meterkit serve --fleet`` as a real process: one multi-drop endpoint, ``kill -9``, and the end-to-end equality
of ``meterkit demand`` on what ``meterkit poll`` stored with the MD register each meter shows on its port."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from meterkit.cli.app import main
from meterkit.fleet import load_fleet, simulate_fleet
from meterkit.fleet.store import FleetStore

pytestmark = pytest.mark.e2e

PASSWORD = "20261125"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fleet-1000.toml"
CLI = [sys.executable, "-c", "from meterkit.cli.app import main; raise SystemExit(main())"]
START = datetime(2026, 11, 1, tzinfo=UTC)


@contextmanager
def serving(args: list[str], *, wait: float = 120.0) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``meterkit serve --fleet ...`` in a process; yields it and its ``socket://`` URL once it listens."""
    proc = subprocess.Popen([*CLI, "serve", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    out = proc.stdout
    threading.Thread(target=lambda: [lines.put(line) for line in out], daemon=True).start()
    try:
        try:
            line = lines.get(timeout=wait)
        except queue.Empty:
            proc.kill()
            raise AssertionError(f"no 'listening on' line: {proc.stderr.read() if proc.stderr else ''}") from None
        assert line.startswith("listening on tcp://127.0.0.1:"), line
        yield proc, "socket://" + line.split("tcp://", 1)[1].strip()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def fleet_file(tmp_path: Path, count: int) -> Path:
    path = tmp_path / "fleet.toml"
    path.write_text(EXAMPLE.read_text().replace("count = 1000", f"count = {count}"))
    return path


def test_all_meters_answer_on_one_endpoint_by_device_address_and_a_general_address_gets_nothing(
    tmp_path: Path,
) -> None:
    with serving(["--fleet", str(fleet_file(tmp_path, 5)), "--listen", "tcp://127.0.0.1:0"]) as (_, url):
        host, port = url.removeprefix("socket://").split(":")
        for request, answers in ((b"/?10000003!\r\n", True), (b"/?!\r\n", False), (b"/?10000099!\r\n", False)):
            with socket.create_connection((host, int(port)), timeout=5) as sock:
                sock.sendall(request)
                sock.settimeout(1.5)
                try:
                    got = sock.recv(100)
                except TimeoutError:
                    got = b""
                assert got.startswith(b"/MKT") is answers, (request, got)


def _stored_meters(path: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return dict(
            conn.execute(
                "SELECT m.serial, (SELECT count(*) FROM fleet_profile p WHERE p.serial = m.serial) FROM fleet_meter m"
            ).fetchall()
        )


def test_kill_9_loses_no_completed_interval_of_any_meter(tmp_path: Path) -> None:
    fleet = fleet_file(tmp_path, 24)
    state = tmp_path / "fleet.db"
    days = 7
    rows = days * 96
    args = ["--fleet", str(fleet), "--history", f"{days}d", "--state", str(state), "--listen", "tcp://127.0.0.1:0"]
    # killed while importing: every meter in the store is whole, the others are simply absent
    proc = subprocess.Popen([*CLI, "serve", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if state.exists():
            try:
                if _stored_meters(state):
                    break
            except sqlite3.OperationalError:
                pass
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    partial = _stored_meters(state)
    assert partial and set(partial.values()) == {rows}
    # the restart completes the missing meters; what was stored is served as it was
    expected = {h.serial: h for h in simulate_fleet(load_fleet(fleet), timedelta(days=days))}
    with serving(args) as (proc2, _):
        os.kill(proc2.pid, signal.SIGKILL)
    assert _stored_meters(state) == dict.fromkeys(expected, rows)
    # killed while serving: the next start (no history asked) serves every meter from the store
    with serving(args[:2] + args[4:]) as (proc3, url):
        host, port = url.removeprefix("socket://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(b"/?10000023!\r\n")
            assert sock.recv(100).startswith(b"/MKT")
        os.kill(proc3.pid, signal.SIGKILL)
    assert _stored_meters(state) == dict.fromkeys(expected, rows)
    store = FleetStore(state)
    for serial, h in expected.items():
        assert store.read(serial).profile_rows() == h.profile_rows()
    store.close()


def whole_wh_loads(path: Path, serials: list[str], minutes: int) -> None:
    """1-minute loads in whole Wh, so the profile's 3 decimals of kWh carry the meters' energies exactly."""
    ends = [(START + timedelta(minutes=i + 1)).isoformat() for i in range(minutes)]
    frames = []
    for k, serial in enumerate(serials):
        wh = [(500 + (i * 7919 + k * 104729) % 2900) for i in range(minutes)]  # 30 to 204 kW, uneven
        frames.append(pl.DataFrame({"timestamp": ends, "kwh": [w / 1000 for w in wh], "meter": [serial] * minutes}))
    pl.concat(frames).write_csv(path)


def test_meterkit_demand_on_the_polled_fleet_equals_each_meters_md_register(tmp_path: Path) -> None:
    count, minutes = 12, 1440
    serials = [str(10000000 + i) for i in range(count)]
    whole_wh_loads(tmp_path / "loads.csv", serials, minutes)
    text = EXAMPLE.read_text().replace("count = 1000", f"count = {count}")
    text = text.replace("capture_min = 15", "capture_min = 1").replace(
        "seed = 2026 ", 'profiles = "loads.csv"\nseed = 2026 '
    )
    text = text.replace('{ window = "fixed 30", weight = 1 }', '{ window = "fixed 30", weight = 3 }')
    (tmp_path / "fleet.toml").write_text(text)
    fleet = load_fleet(tmp_path / "fleet.toml")
    windows = {s.serial: s.meter_config().demand.window for s in fleet.meters()}
    assert {"fixed 15", "sliding 15/1", "sliding 30/5", "fixed 30"} <= set(windows.values())
    out = tmp_path / "data"
    pw = tmp_path / "pw.txt"
    pw.write_text(f"{PASSWORD}\n")
    args = ["--fleet", str(tmp_path / "fleet.toml"), "--history", "1d", "--listen", "tcp://127.0.0.1:0"]
    with serving(args) as (_, url):
        code = main(
            [
                "poll",
                url,
                "--addresses",
                f"{serials[0]}-{serials[-1]}",
                "--password-file",
                str(pw),
                "--out",
                str(out),
                "--register",
                "1.6.0",
                "--per-endpoint",
                "4",
                "--once",
            ]
        )
    assert code == 0
    done = subprocess.run(
        [
            *CLI,
            "demand",
            str(out),
            "--dask",
            "--fixed",
            "15",
            "--fixed",
            "30",
            "--sliding",
            "15/1",
            "--sliding",
            "30/5",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)["results"]
    for serial in serials:
        register = json.loads((out / "_readings" / f"meter={serial}.jsonl").read_text().splitlines()[-1])
        value, stamp = register["values"]["1.6.0"].split(";")
        md_kw = Decimal(value.removesuffix("*kW"))
        md_at = datetime.strptime(stamp, "%y%m%d%H%M").replace(tzinfo=UTC)
        _kind, spec = windows[serial].split()
        period, _, sub = spec.partition("/")
        got = [
            r
            for r in results
            if r["meter"] == serial
            and r["period_min"] == int(period)
            and r.get("sub_min", int(period)) == int(sub or period)
            and r["billing_period"] == "2026-11"
        ]
        assert len(got) == 1, (serial, windows[serial], got)
        assert (Decimal(str(got[0]["md_kw"])), datetime.fromisoformat(got[0]["at"])) == (md_kw, md_at), serial


def test_one_port_per_meter_from_the_listen_port_on_in_serial_order(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a free port to start the range at (the next two are very likely free too)
        probe.bind(("127.0.0.1", 0))
        first = probe.getsockname()[1]
    args = ["--fleet", str(fleet_file(tmp_path, 3)), "--listen", f"tcp://127.0.0.1:{first}", "--port-per-meter"]
    proc = subprocess.Popen([*CLI, "serve", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == f"listening on tcp://127.0.0.1:{first}-{first + 2} (one port per meter, in serial order)"
        for i in range(3):
            with socket.create_connection(("127.0.0.1", first + i), timeout=5) as sock:
                sock.sendall(b"/?!\r\n")  # a meter alone on its port answers the general address
                got = b""
                while not got.endswith(b"\r\n"):
                    got += sock.recv(100)
                assert got.startswith(b"/MKT")
            with socket.create_connection(("127.0.0.1", first + i), timeout=5) as sock:
                sock.sendall(f"/?{10000000 + (i + 1) % 3}!\r\n".encode())  # another meter's address: silence
                sock.settimeout(1.0)
                with pytest.raises(TimeoutError):
                    sock.recv(100)
    finally:
        proc.kill()
        proc.wait(10)
