"""``kill -9`` loop: ``meterkit serve --replay --state`` killed at random moments, restarted on the same state file,
again and again; after every kill the state file must be whole (SQLite integrity check, a snapshot that loads, the
load profile gapless and in order, the snapshot's capture position right after the last stored interval), and the
run finally completed must equal an uninterrupted replay of the same file (energy, maximum demand, profile).

    python fuzz/kill_loop.py --kills 100 --seconds 900
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from meterkit.meter.virtual import load_virtual_meter

STEP = timedelta(minutes=15)


def make_profile(path: Path, intervals: int) -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    with path.open("w") as fh:
        fh.write("timestamp,kwh\n")
        for i in range(1, intervals + 1):
            fh.write(f"{(t0 + STEP * i).isoformat()},{1 + (i * 37 % 11) / 10:.2f}\n")


def check(state: Path) -> str | None:
    """What is wrong with the state file after a kill, or None."""
    if not state.exists():
        return None
    conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    try:
        if conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            return "integrity check failed"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "meter_snapshot" not in tables:
            return None  # killed before the first commit
        row = conn.execute("SELECT body FROM meter_snapshot").fetchone()
        if row is None:
            return None
        snap = json.loads(row[0])
        ends = [datetime.fromisoformat(e) for (e,) in conn.execute("SELECT end_ts FROM load_profile ORDER BY n")]
    finally:
        conn.close()
    if any(b - a != STEP for a, b in itertools.pairwise(ends)):
        return "load profile has a gap or is out of order"
    if ends and datetime.fromisoformat(snap["capture_end"]) != ends[-1] + STEP:
        return f"snapshot capture end {snap['capture_end']} is not after the last stored interval {ends[-1]}"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=900.0)
    parser.add_argument("--intervals", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    findings: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        profile, state = Path(tmp) / "profile.csv", Path(tmp) / "meter.sqlite"
        make_profile(profile, args.intervals)
        cmd = [sys.executable, "-m", "meterkit.cli.app", "serve", "--replay", str(profile), "--state", str(state)]
        cmd += ["--listen", "tcp://127.0.0.1:0"]
        start = time.monotonic()
        kills = 0
        while kills < args.kills and time.monotonic() - start < args.seconds:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.6, 3.0))  # past loading, somewhere in the replay (or serving once it is done)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            problem = check(state)
            if problem is not None:
                findings.append(f"kill {kills}: {problem}")
        resumed = load_virtual_meter(None, state, replay=profile)
        plain = load_virtual_meter(None, Path(tmp) / "plain.sqlite", replay=profile)
        if resumed.meter.registers.total != plain.meter.registers.total:
            findings.append("energy after the kills differs from an uninterrupted replay")
        if resumed.meter.maximum("A+") != plain.meter.maximum("A+"):
            findings.append("maximum demand after the kills differs from an uninterrupted replay")
        if [(r.end, r.a_plus) for r in resumed.meter.profile] != [(r.end, r.a_plus) for r in plain.meter.profile]:
            findings.append("load profile after the kills differs from an uninterrupted replay")
        stored = len(resumed.meter.profile)
    elapsed = time.monotonic() - start
    print(
        f"kill -9 loop: {kills} kills in {elapsed:.0f} s, {len(findings)} findings "
        f"({stored} intervals stored at the end)"
    )
    for finding in findings[:10]:
        print(f"  {finding}")
    return 1 if findings else 0


if __name__ == "__main__":
    raise SystemExit(main())
