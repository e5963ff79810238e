"""``kill -9`` of a real ``meterkit serve --replay --state`` process mid-replay loses nothing completed."""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from meterkit.client import MeterClient, PasswordAuthenticator
from meterkit.transport import open_transport

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DAYS = 60


T0 = datetime(2026, 9, 1, tzinfo=UTC)
RESET = 30 * 1440  # the scheduled billing reset of 1 October 00:00, in minutes from T0


def make_profile(path: Path) -> np.ndarray:
    rng = np.random.default_rng(11)
    units = rng.integers(50, 300, DAYS * 1440)  # 0.01 kWh per minute
    with path.open("w") as fh:
        fh.write("timestamp,kwh\n")
        for i, u in enumerate(units):
            fh.write(f"{(T0 + timedelta(minutes=i + 1)).isoformat()},{u / 100:.2f}\n")
    return units


def expected_md(units: np.ndarray, first_end: int, last_end: int) -> tuple[str, str]:
    """Sliding 15/1 MD over the windows ending at minutes first_end..last_end (first of equal maxima), as the
    register shows it: (kW with 2 decimals, YYMMDDhhmm).  15 minutes of 0.01 kWh units: kW = sum x 0.04."""
    sums = np.convolve(units, np.ones(15, dtype=np.int64), mode="valid")  # sums[k - 15]: window ending at minute k
    window = sums[first_end - 15 : last_end - 15 + 1]
    k = first_end + int(np.argmax(window))
    kw = int(window.max()) * 4
    return f"{kw // 100:04d}.{kw % 100:02d}", (T0 + timedelta(minutes=k)).strftime("%y%m%d%H%M")


def kwh(milli: int) -> str:
    return f"{milli / 1_000_000:010.3f}"


def start(profile: Path, state: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "meterkit.cli.app",
            "serve",
            "--replay",
            str(profile),
            "--state",
            str(state),
            "--listen",
            "tcp://127.0.0.1:0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def committed_rows(state: Path) -> int:
    if not state.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute("SELECT count(*) FROM load_profile").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_kill_9_mid_replay_then_restart_resumes_with_nothing_lost(tmp_path: Path) -> None:
    profile, state = tmp_path / "profile.csv", tmp_path / "meter.sqlite"
    units = make_profile(profile)
    total_mwh = int(units.sum()) * 10_000
    expected_rows = DAYS * 1440 // 15
    proc = start(profile, state)
    deadline = time.monotonic() + 60
    rows = 0
    while time.monotonic() < deadline:
        rows = committed_rows(state)
        if rows >= 300:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    at_kill = committed_rows(state)
    assert 300 <= at_kill < expected_rows, "the kill must land in the middle of the replay"

    proc = start(profile, state)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on tcp://"), proc.stderr.read() if proc.stderr else line
        with sqlite3.connect(f"file:{state}?mode=ro", uri=True) as conn:
            ends = [r[0] for r in conn.execute("SELECT end_ts FROM load_profile ORDER BY n")]
            energy = sum(r[0] for r in conn.execute("SELECT a_plus FROM load_profile"))
            snapshot = json.loads(conn.execute("SELECT body FROM meter_snapshot").fetchone()[0])
            codes = [r[0] for r in conn.execute("SELECT code FROM event_log ORDER BY n")]
        # every interval present exactly once, contiguous, and the energy adds up to the file's
        assert len(ends) == expected_rows == len(set(ends))
        steps = {datetime.fromisoformat(b) - datetime.fromisoformat(a) for a, b in itertools.pairwise(ends)}
        assert steps == {timedelta(minutes=15)}
        assert energy == total_mwh == snapshot["registers"]["total"]["A+"]
        # first power-up and self-test, the power-down/power-up pair of the kill and the self-test at restart,
        # the scheduled billing reset of 1 October
        assert codes == [2, 10, 1, 2, 10, 4]
        url = "socket://" + line.removeprefix("listening on tcp://")
        with MeterClient(open_transport(url)) as client:
            client.programming(PasswordAuthenticator("20261125"))
            read = {a: tuple(v.value for v in client.read(a)[0].values) for a in ("1.8.0", "1.6.0", "0.1.0")}
            history = {a: tuple(v.value for v in client.read(a)[0].values) for a in ("1.8.0*01", "1.6.0*01")}
        # energy, MD and billing history are those of an uninterrupted run (the file recomputed plainly)
        assert read["1.8.0"] == (kwh(total_mwh),)
        assert read["0.1.0"] == ("01",)
        assert history["1.8.0*01"] == (kwh(int(units[:RESET].sum()) * 10_000),)
        assert history["1.6.0*01"] == expected_md(units, 15, RESET)  # September
        assert read["1.6.0"] == expected_md(units, RESET + 1, len(units))  # October, the buffer kept over the reset
        assert snapshot["engines"]["A+"]["max"][0] == read["1.6.0"][0].lstrip("0")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
