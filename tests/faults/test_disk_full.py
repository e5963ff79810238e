"""Item 1 of #15: a full disk under the state file loses nothing.  The full disk is injected (each commit of the
state file fails with SQLite's "database or disk is full" while it is full); mounting a small tmpfs needs privileges
this test suite does not have."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

from meterkit.clock import SimulatedClock
from meterkit.headend import AlarmOutbox
from meterkit.iec62056_21.events import AnswerReceived, ErrorReceived
from meterkit.meter.virtual import VirtualMeter
from meterkit.storage import NvStore
from tests.faults.disk import FullDisk
from tests.meter.portkit import MONDAY_0900, R, balanced, live_config, run, session


def full_meter(tmp_path: Path) -> tuple[VirtualMeter, FullDisk, Path, SimulatedClock]:
    disk = FullDisk()
    state = tmp_path / "meter.sqlite"
    clock = SimulatedClock(MONDAY_0900)
    vm = VirtualMeter(live_config(), clock=clock, store=NvStore(state, before_commit=disk.check))
    vm.set_phases(balanced(10))
    return vm, disk, state, clock


def rows(state: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(state)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_a_tamper_on_a_full_disk_trips_the_relay_at_once_and_is_stored_when_space_returns(tmp_path: Path) -> None:
    vm, disk, state, _clock = full_meter(tmp_path)
    disk.full = True
    vm.open_cover()  # no level-3 session: a tamper
    # in memory at once: the relay is open, F.F says NV memory, the event log says why
    assert vm.security.relay_connected is False
    assert vm.meter.error_register & 0x01 == 0x01
    assert vm.meter.events[-1].code == 11 and "disk is full" in vm.meter.events[-1].text
    assert vm.store.pending > 0 and disk.refused >= 1
    # nothing of it on disk yet
    assert rows(state, "SELECT kind FROM security_log WHERE kind = 'COVER_OPEN_UNAUTH'") == []
    assert rows(state, "SELECT kind FROM alarm_outbox") == []
    disk.full = False
    vm.tick()  # the host's ticker: tries the waiting writes again
    assert vm.store.pending == 0 and vm.store.fault is None
    assert vm.meter.error_register & 0x01 == 0
    assert vm.meter.events[-1].code == 11 and "writable again" in vm.meter.events[-1].text
    kinds = [k for (k,) in rows(state, "SELECT kind FROM security_log ORDER BY n")]
    assert "COVER_OPEN_UNAUTH" in kinds and "RELAY_TRIP" in kinds
    assert [k for (k,) in rows(state, "SELECT kind FROM alarm_outbox")] == ["TAMPER"]
    assert AlarmOutbox(NvStore(state)).pending()[0].details["relay"] == "open"
    assert rows(state, "SELECT value FROM kv WHERE key = 'security.relay'") == [("0",)]


def test_sessions_on_a_full_disk_keep_answering_from_memory(tmp_path: Path) -> None:
    vm, disk, _state, clock = full_meter(tmp_path)
    run(vm, clock, MONDAY_0900 + timedelta(minutes=5))
    disk.full = True
    pair = session(vm)  # sign-on and password: the security writes its state and log
    answer = pair.command(R("R5", "1.8.0"))
    assert isinstance(answer, AnswerReceived)
    assert answer.answer.datasets[0].values[0].value == "000000.575"  # 3 x 230 V x 10 A for 5 min = 0.575 kWh
    wrong = session(vm, password=None)
    refused = wrong.command(R("P1", "", "wrong-pw"))
    assert isinstance(refused, ErrorReceived)  # a failed password is logged, the session still answers
    ff = pair.command(R("R5", "F.F"))
    assert isinstance(ff, AnswerReceived) and ff.answer.datasets[0].values[0].value.endswith("1")
    assert vm.store.pending > 0


def test_intervals_that_end_on_a_full_disk_are_written_when_space_returns(tmp_path: Path) -> None:
    vm, disk, state, clock = full_meter(tmp_path)
    disk.full = True
    run(vm, clock, MONDAY_0900 + timedelta(minutes=31))  # two 15-minute intervals end during the fault
    assert len(vm.meter.profile) == 2
    assert rows(state, "SELECT end_ts FROM load_profile") == []
    disk.full = False
    run(vm, clock, MONDAY_0900 + timedelta(minutes=31, seconds=2))
    assert [e for (e,) in rows(state, "SELECT end_ts FROM load_profile ORDER BY n")] == [
        "2026-11-02T09:15:00+00:00",
        "2026-11-02T09:30:00+00:00",
    ]
    snap = json.loads(rows(state, "SELECT body FROM meter_snapshot")[0][0])  # type: ignore[arg-type]
    assert snap["now"] >= "2026-11-02T09:31:00+00:00"
    vm.store.close()
    # a restart reads every interval back
    again = VirtualMeter(live_config(), clock=clock, store=NvStore(state))
    assert [r.end.strftime("%H:%M") for r in again.meter.profile] == ["09:15", "09:30"]
    assert [e.code for e in again.meter.events].count(11) == 2  # the error and the recovery


def test_only_the_newest_snapshot_waits_while_the_disk_is_full(tmp_path: Path) -> None:
    vm, disk, _state, _clock = full_meter(tmp_path)
    disk.full = True
    for _ in range(10):
        vm.save()
    waiting = vm.store.pending
    vm.save()
    assert vm.store.pending == waiting  # a newer snapshot replaces the one waiting
    disk.full = False
    assert vm.store.flush() is True and vm.store.pending == 0
