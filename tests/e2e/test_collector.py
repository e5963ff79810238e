"""``meterkit poll`` against real served meters: two ports, reruns and restarts, failures, two processes."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import polars as pl
import pytest

from meterkit.cli.app import main
from meterkit.clock import SimulatedClock
from meterkit.collector.store import ProfileStore
from meterkit.fleet.config import load_fleet
from meterkit.fleet.history import simulate_fleet
from meterkit.fleet.nvseed import seed_store
from meterkit.meter.config import MeterConfig, load_config
from meterkit.meter.sources import ReplayInterval
from meterkit.meter.virtual import VirtualMeter
from meterkit.storage import NvStore

from .conftest import running_server

PASSWORD = "20261125"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fleet-1000.toml"
START = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)


def meter_config(serial: str, window: str = "fixed 15", tz: str = "UTC") -> MeterConfig:
    return load_config(
        text=f"""
[clock]
timezone = "{tz}"
[identity]
serial = "{serial}"
device_address = "{serial}"
[demand]
window = "{window}"
[security]
read_password = "{PASSWORD}"
password_levels = [2]
master_key = "6d657465726b69742d64656d6f2d6d61737465722d6b65792d6e6f742d736563"
"""
    )


def intervals(start: datetime, minutes: int, seed: int) -> list[ReplayInterval]:
    """Whole watt-hours per minute (so the profile's 3 decimals of kWh are exact)."""
    out = []
    for i in range(minutes):
        kw = 30 + (i * 7919 + seed * 104729) % 170  # a deterministic, uneven load (kW)
        out.append(
            ReplayInterval(end=start + timedelta(minutes=i + 1), a_plus_mwh=kw * 1000 * 1000 // 60 // 1000 * 1000)
        )
    return out


def served_meter(serial: str, minutes: int = 2 * 1440, seed: int = 1, tz: str = "UTC") -> VirtualMeter:
    vm = VirtualMeter(meter_config(serial, tz=tz), clock=SimulatedClock(START), start=START, follow_clock=False)
    vm.replay_intervals(intervals(START, minutes, seed))
    return vm


def stored(root: Path, serial: str) -> pl.DataFrame:
    files = sorted((root / f"meter={serial}").glob("month=*/part-*.parquet"))
    return pl.concat([pl.read_parquet(f) for f in files]).sort("timestamp") if files else pl.DataFrame()


def assert_stored_equals_profile(root: Path, vm: VirtualMeter) -> None:
    serial = vm.config.identity.serial
    frame = stored(root, serial)
    rows = vm.meter.profile
    assert frame["timestamp"].to_list() == [r.end.isoformat() for r in rows]
    assert frame["timestamp"].n_unique() == frame.height
    assert [Decimal(str(x)) * 1_000_000 for x in frame["kwh"].to_list()] == [Decimal(r.a_plus) for r in rows]
    assert set(frame["meter"].to_list()) == {serial}


def poll_config(tmp_path: Path, ports: dict[str, str], out: Path, **extra: object) -> Path:
    lines = [f'[poll]\nout = "{out}"\nonce = true\ntimeout_s = 20\nretries = 1\nbackoff_s = 0.1\n']
    lines += [f"{k} = {json.dumps(v)}\n" for k, v in extra.items()]
    for port, addresses in ports.items():
        lines.append(f'[[endpoints]]\nport = "{port}"\naddresses = "{addresses}"\npassword = "{PASSWORD}"\n')
    path = tmp_path / "poll.toml"
    path.write_text("".join(lines))
    return path


def test_poll_reads_two_meters_on_two_ports_and_a_rerun_stores_nothing_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = served_meter("10000000", seed=1), served_meter("10000001", seed=2)
    out = tmp_path / "data"
    with running_server(a, ["tcp://127.0.0.1:0"]) as sa, running_server(b, ["tcp://127.0.0.1:0"]) as sb:
        config = poll_config(tmp_path, {sa.tcp_url: "10000000", sb.tcp_url: "10000001"}, out)
        assert main(["poll", str(config)]) == 0
        first = capsys.readouterr().err
        assert main(["poll", str(config)]) == 0
        second = capsys.readouterr().err
        # the meters run on: a third poll stores only what is new
        a.replay_intervals(intervals(START + timedelta(days=2), 120, seed=5))
        assert main(["poll", str(config)]) == 0
        third = capsys.readouterr().err
    assert "meters read: 2, failed: 0, intervals stored: 384" in first
    assert "meters read: 2, failed: 0, intervals stored: 0" in second
    assert "meters read: 2, failed: 0, intervals stored: 8" in third
    assert_stored_equals_profile(out, a)
    assert_stored_equals_profile(out, b)


def test_a_restart_mid_run_resumes_without_duplicates_or_gaps(tmp_path: Path) -> None:
    a, b = served_meter("10000000", seed=3), served_meter("10000001", seed=4)
    out = tmp_path / "data"
    store = ProfileStore(out)
    with running_server(a, ["tcp://127.0.0.1:0"]) as sa, running_server(b, ["tcp://127.0.0.1:0"]) as sb:
        # the first run was killed after meter A was stored and while meter B's file was being written
        assert main(["poll", sa.tcp_url, "--addresses", "10000000", "--out", str(out), "--once", "--retries", "0"]) == 1
        assert store.stored_rows("10000000") == 0  # no password: refused, nothing stored
        pw = tmp_path / "pw.txt"
        pw.write_text(f"# demo\n{PASSWORD}\n")
        assert (
            main(
                ["poll", sa.tcp_url, "--addresses", "10000000", "--password-file", str(pw), "--out", str(out), "--once"]
            )
            == 0
        )
        stale = out / "meter=10000001" / "month=2026-11" / ".part-1-2.999.tmp"
        stale.parent.mkdir(parents=True)
        stale.write_bytes(b"half a file")
        config = poll_config(tmp_path, {sa.tcp_url: "10000000", sb.tcp_url: "10000001"}, out)
        assert main(["poll", str(config)]) == 0
    assert_stored_equals_profile(out, a)
    assert_stored_equals_profile(out, b)


def test_a_failing_meter_is_named_in_the_summary_with_its_reason_and_exit_code_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = served_meter("10000000", minutes=120)
    out = tmp_path / "data"
    pw = tmp_path / "pw.txt"
    pw.write_text(f"{PASSWORD}\n10000000 wrong-password\n")
    with running_server(a, ["tcp://127.0.0.1:0"]) as sa:
        code = main(
            [
                "poll",
                sa.tcp_url,
                "--addresses",
                "10000000,10000007",
                "--password-file",
                str(pw),
                "--out",
                str(out),
                "--once",
                "--retries",
                "1",
                "--timeout",
                "10",
            ]
        )
    err = capsys.readouterr().err
    assert code == 1
    assert "meters read: 0, failed: 2, intervals stored: 0" in err
    assert (
        "failed 10000000 on " in err
        and "after 1 attempt(s): authentication refused (the meter refused P2: ER10)" in err
    )
    assert "failed 10000007 on " in err and "after 2 attempt(s): no answer from the meter" in err


def test_two_collector_processes_fill_one_folder_that_meterkit_demand_reads(tmp_path: Path) -> None:
    a, b = served_meter("10000000", seed=6), served_meter("10000001", seed=7)
    out = tmp_path / "data"
    pw = tmp_path / "pw.txt"
    pw.write_text(f"{PASSWORD}\n")
    run = [sys.executable, "-c", "from meterkit.cli.app import main; raise SystemExit(main())", "poll"]
    with running_server(a, ["tcp://127.0.0.1:0"]) as sa, running_server(b, ["tcp://127.0.0.1:0"]) as sb:
        procs = [
            subprocess.Popen(
                [*run, url, "--addresses", serial, "--password-file", str(pw), "--out", str(out), "--once"],
                stderr=subprocess.PIPE,
                text=True,
            )
            for url, serial in ((sa.tcp_url, "10000000"), (sb.tcp_url, "10000001"))
        ]
        outputs = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert all("intervals stored: 192" in o for o in outputs)
    done = subprocess.run(
        [*run[:-1], "demand", str(out), "--dask", "--fixed", "15", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    results = {r["meter"]: r for r in json.loads(done.stdout)["results"]}
    for vm in (a, b):
        md = vm.meter.maximum("A+")
        assert md is not None
        got = results[vm.config.identity.serial]
        assert (got["billing_period"], Decimal(str(got["md_kw"]))) == ("2026-11", md.value_kw)
        assert datetime.fromisoformat(got["at"]) == md.at


def test_fleet_histories_seeded_into_served_meters_are_polled_as_simulated(tmp_path: Path) -> None:
    """History (vectorised) -> NV store -> served meter -> poll -> ``meterkit demand``."""
    fleet = load_fleet(EXAMPLE)
    specs = [s for s in fleet.meters()[:40] if s.window in ("fixed 15", "fixed 30")][:2]
    histories = list(simulate_fleet(fleet, timedelta(days=4), start=START, specs=specs))
    served = []
    for h in histories:
        store = NvStore(":memory:")
        seed_store(h, store)
        vm = VirtualMeter(h.config, clock=SimulatedClock(h.end), store=store, follow_clock=False)
        assert vm.meter.profile == h.profile_rows()
        assert vm.meter.history == list(h.billing)
        assert vm.meter.registers.snapshot() == h.state["registers"]
        assert vm.meter.maximum("A+") is not None
        served.append(vm)
    out = tmp_path / "data"
    with running_server(served[0], ["tcp://127.0.0.1:0"]) as sa, running_server(served[1], ["tcp://127.0.0.1:0"]) as sb:
        config = poll_config(
            tmp_path,
            {sa.tcp_url: histories[0].serial, sb.tcp_url: histories[1].serial},
            out,
            registers=["1.8.0", "1.6.0"],
        )
        assert main(["poll", str(config)]) == 0
    for h in histories:
        frame = stored(out, h.serial)
        assert frame.height == len(h.profile_rows()) == 4 * 96
        wh = [int((Decimal(r.a_plus) / 1000).quantize(Decimal(1), ROUND_HALF_UP)) for r in h.profile_rows()]
        assert [int(Decimal(str(x)) * 1000) for x in frame["kwh"].to_list()] == wh
        readings = json.loads((out / "_readings" / f"meter={h.serial}.jsonl").read_text().splitlines()[0])
        assert readings["values"]["1.8.0"] == f"{Decimal(h.state['registers']['total']['A+']) / 1_000_000:010.3f}*kWh"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from meterkit.cli.app import main; raise SystemExit(main())",
            "demand",
            str(out),
            "--dask",
            "--fixed",
            "15",
            "--fixed",
            "30",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    for h, vm in zip(histories, served, strict=True):
        md = vm.meter.maximum("A+")
        assert md is not None
        period = int(h.config.demand.window.split()[1])
        got = next(
            r
            for r in json.loads(done.stdout)["results"]
            if r["meter"] == h.serial and r["period_min"] == period and r["billing_period"] == "2026-11"
        )
        # the profile carries whole Wh, the register exact mWh: equal to 0.01 kW
        assert abs(Decimal(str(got["md_kw"])) - md.value_kw) <= Decimal("0.01")


def test_interval_polling_repeats_and_stores_only_new_intervals(tmp_path: Path) -> None:
    from rich.console import Console

    from meterkit.cli.poll import run_plan
    from meterkit.collector.config import load_poll_config

    a = served_meter("10000000", minutes=240)
    out = tmp_path / "data"
    with running_server(a, ["tcp://127.0.0.1:0"]) as sa:
        path = poll_config(tmp_path, {sa.tcp_url: "10000000"}, out)
        path.write_text(path.read_text().replace("once = true", 'interval = "1s"'))
        summary = run_plan(load_poll_config(path), Console(stderr=True), cycles=2)
    assert summary.read == 1 and summary.intervals == 0  # the second cycle found nothing new
    assert_stored_equals_profile(out, a)


def test_poll_with_a_key_package_reads_the_meters_of_its_work_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from meterkit.security.keys import MeterIdentity
    from meterkit.security.package import write_package

    package = tmp_path / "hhu.json"
    write_package(
        package,
        bytes.fromhex("6d657465726b69742d64656d6f2d6d61737465722d6b65792d6e6f742d736563"),
        [MeterIdentity("MKT", "10000000")],
        levels=(2,),
        version=1,
        valid_for=timedelta(days=3650),
        now=START - timedelta(days=1),
        issuer="ks",
        hhu="HHU-1",
        passphrase="pw",
    )
    monkeypatch.setenv("METERKIT_KEY_PASSPHRASE", "pw")
    a, b = served_meter("10000000", minutes=240), served_meter("10000001", minutes=240)
    out = tmp_path / "data"
    with running_server(a, ["tcp://127.0.0.1:0"]) as sa, running_server(b, ["tcp://127.0.0.1:0"]) as sb:
        args = ["--key-file", str(package), "--out", str(out), "--once"]
        assert main(["poll", sa.tcp_url, "--addresses", "10000000", *args]) == 0
        assert main(["poll", sb.tcp_url, "--addresses", "10000001", *args]) == 1  # not in the work order
    err = capsys.readouterr().err
    assert "meters read: 1, failed: 0, intervals stored: 16" in err
    assert "failed 10000001 on " in err and "after 1 attempt(s): authentication refused" in err
    assert_stored_equals_profile(out, a)


def test_a_collector_killed_mid_run_is_completed_by_the_next_run(tmp_path: Path) -> None:
    import os
    import signal
    import time

    meters = [served_meter(f"1000000{i}", seed=10 + i) for i in range(3)]
    out = tmp_path / "data"
    pw = tmp_path / "pw.txt"
    pw.write_text(f"{PASSWORD}\n")
    run = [sys.executable, "-c", "from meterkit.cli.app import main; raise SystemExit(main())", "poll"]
    with (
        running_server(meters[0], ["tcp://127.0.0.1:0"]) as s0,
        running_server(meters[1], ["tcp://127.0.0.1:0"]) as s1,
        running_server(meters[2], ["tcp://127.0.0.1:0"]) as s2,
    ):
        ports = {s0.tcp_url: "10000000", s1.tcp_url: "10000001", s2.tcp_url: "10000002"}
        config = poll_config(tmp_path, ports, out)
        proc = subprocess.Popen([*run, str(config)], stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not list(out.glob("meter=*/month=*/*")) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.005)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)  # wherever it is: mid-read, mid-write, between meters
        proc.wait(10)
        assert main(["poll", str(config)]) == 0
    for vm in meters:
        assert_stored_equals_profile(out, vm)


def test_local_profile_stamps_are_stored_in_utc_with_the_meters_time_zone(tmp_path: Path) -> None:
    a = served_meter("10000000", minutes=300, tz="Asia/Kolkata")
    out = tmp_path / "data"
    with running_server(a, ["tcp://127.0.0.1:0"]) as sa:
        args = ["--addresses", "10000000", "--out", str(out), "--once", "--tz", "Asia/Kolkata"]
        pw = tmp_path / "pw.txt"
        pw.write_text(PASSWORD + "\n")
        assert main(["poll", sa.tcp_url, *args, "--password-file", str(pw)]) == 0
        assert main(["poll", sa.tcp_url, *args, "--password-file", str(pw)]) == 0  # resumes from the UTC end
    assert_stored_equals_profile(out, a)


def test_a_config_endpoint_without_addresses_is_one_point_to_point_meter_named_by_its_serial(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = served_meter("10000000", seed=1), served_meter("10000001", seed=2)
    out = tmp_path / "data"
    with running_server(a, ["tcp://127.0.0.1:0"]) as sa, running_server(b, ["tcp://127.0.0.1:0"]) as sb:
        config = poll_config(tmp_path, {sa.tcp_url: "10000000"}, out)
        config.write_text(config.read_text() + f'[[endpoints]]\nport = "{sb.tcp_url}"\npassword = "{PASSWORD}"\n')
        assert main(["poll", str(config)]) == 0
    assert_stored_equals_profile(out, a)
    assert_stored_equals_profile(out, b)  # stored under the serial the meter reported, not under its endpoint
    assert sorted(p.name for p in out.glob("meter=*")) == ["meter=10000000", "meter=10000001"]
    config.write_text(config.read_text() + f'[[endpoints]]\nport = "{sb.tcp_url}"\n')
    assert main(["poll", str(config)]) == 1  # a broken configuration file, like any other of its errors
    assert (
        capsys.readouterr().err.splitlines()[-1].endswith(f"the point-to-point meter on {sb.tcp_url} is listed twice")
    )
