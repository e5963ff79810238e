"""Sealing is one way: across restarts, power cycles, kill -9 and edited or foreign state files."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from meterkit.clock import SimulatedClock
from meterkit.errors import DataError
from meterkit.meter.virtual import VirtualMeter
from meterkit.storage import NvStore

from .benchkit import START, InProcessBench, demo_bench, demo_config


def _adjusted_and_sealed(path: Path) -> InProcessBench:
    bench = demo_bench(NvStore(path))
    assert bench.adjust("set L2 igain 0.982318").startswith("ok")
    assert bench.adjust("seal").startswith("ok sealed=2026-11-02T09:00:00+00:00")
    return bench


def _reopen(path: Path, **replace: str) -> VirtualMeter:
    return VirtualMeter(demo_config(**replace), clock=SimulatedClock(START), store=NvStore(path))


def test_after_sealing_every_write_is_refused_and_logged_reads_still_work(tmp_path: Path) -> None:
    bench = _adjusted_and_sealed(tmp_path / "m.db")
    events = bench.vm.meter.events
    assert any(e.code == 5 and e.text.startswith("left manufacturing: calibration sealed") for e in events)
    before = bench.adjust("cal")
    for command in ("set L1 vgain 1.0", "set L2 igain 0.99", "clear", "seal"):
        reply = bench.adjust(command)
        assert reply.startswith("error: adjustment port:") and "left manufacturing" in reply, reply
    refused = [e for e in bench.vm.meter.events if e.code == 6 and "refused, the meter left manufacturing" in e.text]
    assert len(refused) == 4
    assert bench.adjust("cal") == before
    assert bench.adjust("read").startswith("ok L1.raw.v=")
    assert "sealed=2026-11-02T09:00:00+00:00" in bench.adjust("id")


def test_the_seal_survives_a_restart_and_a_power_cycle(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    first = _adjusted_and_sealed(path)
    first.control.handle("power down")
    first.control.handle("power up")
    assert first.vm.calibration.sealed
    vm = _reopen(path)  # the first meter was never closed: as after kill -9
    assert vm.calibration.sealed and vm.calibration.corrections.value(1, "igain") == 0.982318
    again = InProcessBench(vm, SimulatedClock(START))
    assert again.adjust("set L2 igain 1.0").startswith("error: adjustment port: set L2 igain refused")
    # the log of the restarted meter holds the seal and the refused write
    texts = [e.text for e in vm.meter.events]
    assert any(t.startswith("left manufacturing") for t in texts)
    assert texts[-1].startswith("adjustment port: set L2 igain refused")


def _edit(path: Path, change: object) -> None:
    conn = sqlite3.connect(path)
    body = json.loads(conn.execute("SELECT body FROM calibration").fetchone()[0])
    change(body)  # type: ignore[operator]
    conn.execute("UPDATE calibration SET body = ?", (json.dumps(body, sort_keys=True, separators=(",", ":")),))
    conn.commit()
    conn.close()


def test_a_state_file_with_the_seal_removed_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    _adjusted_and_sealed(path)
    _edit(path, lambda body: body.update(sealed_at=None))
    with pytest.raises(DataError, match="calibration record of the state file does not match this meter"):
        _reopen(path)


def test_a_state_file_with_a_correction_changed_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    _adjusted_and_sealed(path)
    _edit(path, lambda body: body["corrections"]["L2"].update(igain=1.0))
    with pytest.raises(DataError, match="does not match this meter"):
        _reopen(path)


def test_a_state_file_with_the_record_deleted_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    _adjusted_and_sealed(path)
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM calibration")
    conn.commit()
    conn.close()
    with pytest.raises(DataError, match="calibration record was removed"):
        _reopen(path)


def test_another_meters_state_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    _adjusted_and_sealed(path)
    with pytest.raises(DataError, match="the state belongs to a meter with serial 12345678"):
        _reopen(path, **{'serial = "12345678"': 'serial = "87654321"'})


def test_adopting_a_state_never_adopts_a_sealed_calibration(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    _adjusted_and_sealed(path).vm.store.close()
    other = demo_config(**{'serial = "12345678"': 'serial = "87654321"'})
    with pytest.raises(DataError, match=r"sealed calibration of meter 12345678: .* cannot be adopted"):
        VirtualMeter(other, clock=SimulatedClock(START), store=NvStore(path), adopt_state=True)


def test_adopting_an_unsealed_state_starts_this_meter_unadjusted(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    bench = demo_bench(NvStore(path))
    assert bench.adjust("set L2 igain 0.99").startswith("ok")
    bench.vm.store.close()
    other = demo_config(**{'serial = "12345678"': 'serial = "87654321"'})
    vm = VirtualMeter(other, clock=SimulatedClock(START), store=NvStore(path), adopt_state=True)
    assert vm.calibration.corrections.is_identity and not vm.calibration.sealed
    assert any(e.code == 5 and e.text.startswith("calibration of meter 12345678 not adopted") for e in vm.meter.events)


def test_a_state_file_from_before_adjustment_gets_an_unadjusted_record(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    demo_bench(NvStore(path))
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE calibration")
    conn.commit()
    conn.close()
    vm = _reopen(path)
    assert vm.calibration.corrections.is_identity and not vm.calibration.sealed
    assert any(e.text.startswith("calibration record created") for e in vm.meter.events)
