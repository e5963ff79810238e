"""WELMEC 7.2 identification over the optical port: 0.2.0, 0.2.8 and C.2.8; 0.2.8 changes with a legally relevant
parameter, is logged then, and only then."""

from __future__ import annotations

from datetime import timedelta

from meterkit.iec62056_21.events import PositiveAck
from meterkit.meter.adjustment import CalibrationSet
from meterkit.meter.legal import LEGAL_VERSION

from ..meter.portkit import R, level3, session, values
from .benchkit import demo_bench


def _legal_events(bench: object) -> list[str]:
    return [e.text for e in bench.vm.meter.events if e.text.startswith("legally relevant")]  # type: ignore[attr-defined]


def test_the_identification_is_readable_at_level_1() -> None:
    bench = demo_bench()
    pair = session(bench.vm, password=None)
    assert values(pair, "0.2.0") == (LEGAL_VERSION,)
    (checksum,) = values(pair, "0.2.8")
    assert len(checksum) == 16 and int(checksum, 16) >= 0
    assert values(pair, "C.2.8") == (CalibrationSet().checksum(),)


def test_a_correction_changes_both_checksums_and_is_logged() -> None:
    bench = demo_bench()
    legal, cal = bench.vm.reading("0.2.8"), bench.vm.reading("C.2.8")
    assert _legal_events(bench) == []
    bench.adjust("set L1 phase -0.3")
    assert bench.vm.reading("C.2.8") != cal and bench.vm.reading("0.2.8") != legal
    (event,) = _legal_events(bench)
    assert f"0.2.8 {legal} -> {bench.vm.reading('0.2.8')}" in event


def test_the_demand_window_is_legally_relevant_the_device_address_is_not() -> None:
    bench = demo_bench()
    vm = bench.vm
    legal = vm.reading("0.2.8")
    pair = level3(vm)
    assert isinstance(pair.command(R("W1", "C.62.1", "4711")), PositiveAck)
    assert vm.reading("0.2.8") == legal and _legal_events(bench) == []
    assert isinstance(pair.command(R("W1", "C.60.1", "fixed 15")), PositiveAck)
    changed = vm.reading("0.2.8")
    assert changed != legal
    (event,) = _legal_events(bench)
    assert "demand=fixed 15" in event
    assert vm.reading("C.2.8") == CalibrationSet().checksum()  # the calibration set did not change


def test_time_energy_and_restarts_do_not_change_the_checksum() -> None:
    bench = demo_bench()
    legal = bench.vm.reading("0.2.8")
    bench.apply(230.0, 40.0, 30.0)
    bench.dwell(timedelta(hours=2).total_seconds())
    bench.vm.save()
    bench.control.handle("power down")
    bench.control.handle("power up")
    assert bench.vm.reading("0.2.8") == legal
    assert _legal_events(bench) == []
