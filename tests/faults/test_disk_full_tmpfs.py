"""Item 1 of #15 on a real full disk: a 2 MiB tmpfs mounted in a user namespace (``unshare -rm``, no root needed
where unprivileged user namespaces are allowed; skipped elsewhere), filled to the last byte by another file."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent(
    """
    import json, os, sqlite3, sys
    from datetime import timedelta
    from pathlib import Path
    from meterkit.clock import SimulatedClock
    from meterkit.meter.virtual import VirtualMeter
    from meterkit.storage import NvStore
    from tests.meter.portkit import MONDAY_0900, balanced, live_config, run

    mnt = Path(sys.argv[1])
    state = mnt / "meter.sqlite"
    clock = SimulatedClock(MONDAY_0900)
    vm = VirtualMeter(live_config(), clock=clock, store=NvStore(state))
    vm.set_phases(balanced(10))
    run(vm, clock, MONDAY_0900 + timedelta(minutes=2))
    filler = mnt / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)  # fill the file system to the last byte
    for size in (65536, 4096, 1):
        try:
            while True:
                os.write(fd, b"x" * size)
        except OSError:
            pass
    os.close(fd)
    vm.open_cover()
    run(vm, clock, MONDAY_0900 + timedelta(minutes=16))  # the 09:15 interval ends on the full disk
    during = {
        "relay": vm.security.relay_connected,
        "ff": vm.meter.error_register & 1,
        "pending": vm.store.pending,
        "profile_in_memory": len(vm.meter.profile),
    }
    filler.unlink()
    vm.tick()
    conn = sqlite3.connect(state)
    after = {
        "pending": vm.store.pending,
        "ff": vm.meter.error_register & 1,
        "tamper": conn.execute("SELECT count(*) FROM security_log WHERE kind = 'COVER_OPEN_UNAUTH'").fetchone()[0],
        "alarms": conn.execute("SELECT count(*) FROM alarm_outbox").fetchone()[0],
        "profile": conn.execute("SELECT count(*) FROM load_profile").fetchone()[0],
        "nv_events": [t for (t,) in conn.execute("SELECT text FROM event_log WHERE code = 11")],
    }
    print(json.dumps({"during": during, "after": after}))
    """
)


def test_a_real_full_tmpfs_keeps_the_tamper_and_the_interval(tmp_path: Path) -> None:
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("no unshare(1)")
    probe = subprocess.run(
        [unshare, "-rm", "sh", "-c", f"mount -t tmpfs -o size=2m tmpfs {tmp_path}"], capture_output=True, timeout=30
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs in a user namespace here: {probe.stderr.decode().strip()}")
    root = Path(__file__).resolve().parents[2]
    (tmp_path / "script.py").write_text(SCRIPT)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    out = subprocess.run(
        [
            unshare,
            "-rm",
            "sh",
            "-c",
            f'mount -t tmpfs -o size=2m tmpfs "{mnt}" && exec "{sys.executable}" "{tmp_path / "script.py"}" "{mnt}"',
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    import json

    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["during"] == {"relay": False, "ff": 1, "pending": result["during"]["pending"], "profile_in_memory": 1}
    assert result["during"]["pending"] > 0
    assert result["after"]["pending"] == 0 and result["after"]["ff"] == 0
    assert result["after"]["tamper"] == 1 and result["after"]["alarms"] == 1 and result["after"]["profile"] == 1
    assert len(result["after"]["nv_events"]) == 2 and "writable again" in result["after"]["nv_events"][1]
