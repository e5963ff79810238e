"""Item 8 of #15: SIGINT and SIGTERM end ``meterkit serve --replay`` at any moment - while it loads, during the
replay, while it serves - promptly, with one line on stderr, and the state file consistent: a later run resumes it
to exactly what an uninterrupted replay gives."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from meterkit.meter.virtual import load_virtual_meter

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

INTERVALS = 3000
#: generous: the process must end well within this after the signal (no timing threshold is asserted beyond it)
BOUND_S = 10.0


def make_profile(path: Path) -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    with path.open("w") as fh:
        fh.write("timestamp,kwh\n")
        for i in range(1, INTERVALS + 1):
            fh.write(f"{(t0 + timedelta(minutes=15 * i)).isoformat()},{1 + (i * 37 % 11) / 10:.2f}\n")


def serve(profile: Path, state: Path) -> subprocess.Popen[str]:
    cmd = ["serve", "--replay", str(profile), "--state", str(state), "--listen", "tcp://127.0.0.1:0"]
    return subprocess.Popen(
        [sys.executable, "-m", "meterkit.cli.entry", *cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def stop(proc: subprocess.Popen[str], sig: signal.Signals) -> tuple[int, str, str]:
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=BOUND_S)
    return proc.returncode, out, err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_at_any_moment_ends_serve_with_one_line_and_a_consistent_state(
    tmp_path: Path, sig: signal.Signals
) -> None:
    profile = tmp_path / "profile.csv"
    make_profile(profile)
    state = tmp_path / "meter.sqlite"
    outcomes = []
    for delay in (0.3, 1.5, 3.0):  # loading the modules, early in the replay, later in the replay (or serving)
        proc = serve(profile, state)
        time.sleep(delay)
        code, out, err = stop(proc, sig)
        outcomes.append((delay, code, err))
        assert err.count("\n") == 1, (delay, err)
        assert "Traceback" not in err
        if out.startswith("listening on"):  # the replay had ended: a clean stop
            assert code == 0 and err == f"meterkit serve: stopped by {sig.name}; state committed\n"
        else:
            assert code == 128 + sig, (delay, code, err)
            assert f"stopped by {sig.name}" in err
    # serving: the signal after "listening on" stops it cleanly
    proc = serve(profile, state)
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("listening on tcp://127.0.0.1:")
    code, _, err = stop(proc, sig)
    assert code == 0 and err == f"meterkit serve: stopped by {sig.name}; state committed\n"
    # the interrupted and resumed state is exactly the uninterrupted replay's
    resumed = load_virtual_meter(None, state, replay=profile)
    plain = load_virtual_meter(None, tmp_path / "plain.sqlite", replay=profile)
    assert resumed.meter.registers.total == plain.meter.registers.total
    assert [(r.end, r.a_plus) for r in resumed.meter.profile] == [(r.end, r.a_plus) for r in plain.meter.profile]
    assert resumed.meter.maximum("A+") == plain.meter.maximum("A+")
