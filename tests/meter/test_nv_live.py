"""Non-volatile memory in live serving: a crash loses no completed sub-period, MD or billing data; clock sets never
overwrite a stored load-profile interval."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from meterkit.clock import SimulatedClock
from meterkit.iec62056_21.events import PositiveAck
from meterkit.meter.core import PROFILE_CLOCK_SET, PROFILE_INCOMPLETE, Meter
from meterkit.meter.demand import recompute_md
from meterkit.meter.sources import read_replay
from meterkit.meter.virtual import VirtualMeter
from meterkit.storage import NvStore

from .portkit import (
    MONDAY_0900,
    R,
    answer,
    balanced,
    level3,
    live_config,
    live_meter,
    minutes,
    run,
    session,
    values,
)


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(2026, 11, 2, hh, mm, ss, tzinfo=UTC)


def rows(state: Path) -> list[tuple[str, int, int]]:
    with sqlite3.connect(state) as conn:
        return [tuple(r) for r in conn.execute("SELECT end_ts, a_plus, status FROM load_profile ORDER BY n")]


def snapshot_now(state: Path) -> str:
    with sqlite3.connect(state) as conn:
        return str(json.loads(conn.execute("SELECT body FROM meter_snapshot").fetchone()[0])["now"])


def test_live_crash_keeps_every_completed_sub_period_md_and_energy(tmp_path: Path) -> None:
    state = tmp_path / "meter.sqlite"
    cfg = live_config()
    vm, clock = live_meter(cfg, store=NvStore(state))
    vm.set_phases(balanced(10))  # 6.9 kW
    run(vm, clock, at(9, 10))
    vm.set_phases(balanced(60))  # 41.4 kW
    run(vm, clock, at(9, 29))
    md_0929 = vm.meter.maximum("A+")
    energy_0929 = dict(vm.meter.registers.total)
    tariffs_0929 = {t: dict(r) for t, r in vm.meter.registers.tariffs.items()}
    run(vm, clock, at(9, 29, 30))  # kill -9 here: no save, no clean shutdown
    assert vm.meter.registers.total["A+"] > energy_0929["A+"]
    # every completed sub-period is committed (the last at 09:29), not only the capture of 09:15
    assert snapshot_now(state) == "2026-11-02T09:29:00+00:00"
    del vm

    again = VirtualMeter(cfg, clock=SimulatedClock(at(9, 35)), store=NvStore(state))
    md = again.meter.maximum("A+")
    assert md is not None and md == md_0929
    assert (md.value_kw, md.at) == (Decimal("41.40"), at(9, 25))  # the first window wholly at 41.4 kW
    # 6.9 kW for 10 min + 41.4 kW for 19 min, exactly; the 30 s of the running sub-period are the only loss
    assert again.meter.registers.total["A+"] == energy_0929["A+"] == 1_150_000 + 13_110_000
    assert again.meter.registers.total == energy_0929
    assert {t: dict(r) for t, r in again.meter.registers.tariffs.items()} == tariffs_0929
    down, up = [e for e in again.meter.events if e.code in (1, 2)][-2:]
    assert (down.code, down.at) == (1, at(9, 29))  # the time of the last commit, not of the last capture (09:15)
    assert (up.code, up.at) == (2, at(9, 35))
    # the 09:30 interval is there, flagged incomplete; the 09:15 one is untouched
    assert [(r.end, r.status) for r in again.meter.profile] == [(at(9, 15), 0), (at(9, 30), PROFILE_INCOMPLETE)]
    assert again.meter.profile[0].a_plus == 1_150_000 + 3_450_000


def test_live_crash_keeps_the_billing_history(tmp_path: Path) -> None:
    state = tmp_path / "meter.sqlite"
    cfg = live_config()
    vm, clock = live_meter(cfg, store=NvStore(state))
    vm.set_phases(balanced(20))  # 13.8 kW
    run(vm, clock, at(9, 20), tick_s=5)
    vm.press_button()
    run(vm, clock, at(9, 21, 40), tick_s=5)
    del vm  # killed
    again = VirtualMeter(cfg, clock=SimulatedClock(at(9, 40)), store=NvStore(state))
    pair = session(again)
    assert values(pair, "0.1.0") == ("01",)
    assert values(pair, "1.6.0*01") == ("0013.80", "2611020915")
    assert values(pair, "1.8.0*01") == ("000004.600",)  # 13.8 kW for 20 min
    assert values(pair, "1.8.0") == ("000004.830",)  # and until the commit at 09:21
    # the sliding buffer is kept over the reset: the window 09:06-09:21 made a new MD, committed before the kill
    assert values(pair, "1.6.0") == ("0013.80", "2611020921")


def test_clock_set_backwards_keeps_the_stored_intervals_at_meter_level(tmp_path: Path) -> None:
    state = tmp_path / "meter.sqlite"
    cfg = live_config()
    vm, clock = live_meter(cfg, store=NvStore(state))
    vm.set_phases(balanced(10))  # 6.9 kW: 1.725 kWh a quarter hour
    run(vm, clock, at(9, 31), tick_s=10)
    vm.set_clock(at(9, 0))
    vm.set_phases(balanced(20, voltage_v=100))  # 6 kW
    run(vm, clock, at(9, 15), tick_s=10)
    stored = rows(state)
    assert stored == [
        ("2026-11-02T09:15:00+00:00", 1_725_000, 0),
        ("2026-11-02T09:30:00+00:00", 1_725_000, 0),
        # 09:30-09:31 at 6.9 kW, then 09:00-09:15 again at 6 kW, flagged incomplete and clock set
        ("2026-11-02T09:15:00+00:00", 115_000 + 1_500_000, PROFILE_INCOMPLETE | PROFILE_CLOCK_SET),
    ]
    assert [(r.end, r.a_plus, r.status) for r in vm.meter.profile] == [
        (datetime.fromisoformat(end), energy, status) for end, energy, status in stored
    ]
    del vm
    again = VirtualMeter(cfg, clock=SimulatedClock(at(9, 16)), store=NvStore(state))
    assert [(r.end, r.a_plus) for r in again.meter.profile] == [
        (at(9, 15), 1_725_000),
        (at(9, 30), 1_725_000),
        (at(9, 15), 1_615_000),
    ]


def test_clock_set_backwards_over_the_port_keeps_both_intervals(tmp_path: Path) -> None:
    state = tmp_path / "meter.sqlite"
    vm, clock = live_meter(store=NvStore(state))
    vm.set_phases(balanced(10))
    run(vm, clock, at(9, 31), tick_s=10)
    pair = level3(vm)
    assert isinstance(pair.command(R("W1", "0.9.1", "090000")), PositiveAck)
    assert vm.meter.now.replace(second=0) == at(9, 0)
    vm.set_phases(balanced(1))
    clock.advance(16 * 60)
    read = session(vm)
    header, *lines = answer(read, "R5", "P.01", "2611020915;2611020915")
    assert header.values[0].value == "2"
    assert [tuple(v.value for v in line.values[:3]) for line in lines] == [
        ("2611020915", "00", "000001.725"),
        ("2611020915", "03", "000000.288"),  # 09:30-09:31 at 6.9 kW + 15 min at 0.69 kW, clock set flagged
    ]
    assert len(answer(read, "R5", "P.01")) == 1 + 3
    assert [r[1] for r in rows(state)] == [1_725_000, 1_725_000, 115_000 + 172_500]


@pytest.mark.parametrize("window", ["sliding 15/1", "fixed 60"])
def test_live_meter_commits_once_a_minute(tmp_path: Path, window: str) -> None:
    state = tmp_path / "meter.sqlite"
    vm, clock = live_meter(live_config(window=f'window = "{window}"'), store=NvStore(state))
    vm.set_phases(balanced(10))
    run(vm, clock, at(9, 3, 59))
    assert snapshot_now(state) == "2026-11-02T09:03:00+00:00"
    run(vm, clock, at(9, 4))
    assert snapshot_now(state) == "2026-11-02T09:04:00+00:00"
    clock.advance(600)  # the ticker stalled for 10 minutes: one commit for the catch-up
    vm.tick()
    assert snapshot_now(state) == "2026-11-02T09:14:00+00:00"
    assert vm.meter.now == MONDAY_0900 + minutes(14)


def test_replay_commits_each_new_maximum_and_not_every_interval() -> None:
    cfg = live_config()
    step, intervals = read_replay(Path(__file__).parents[2] / "examples" / "faq-0900-0930.csv")
    meter = Meter(cfg, now=MONDAY_0900)
    commits: list[tuple[str, datetime]] = []
    meter.listeners.append(lambda kind, _item: commits.append((kind, meter.now)))
    for iv in intervals:
        meter.add_interval(iv.end, iv.a_plus_mwh, pf=0.95)
    # the times the A+ maximum rose (the oracle), as the engines see them
    energies = [iv.a_plus_mwh for iv in intervals]
    rises = []
    best = None
    for n in range(15, len(energies) + 1):
        md = recompute_md(energies[:n], step, MONDAY_0900, cfg.demand_config)
        if md is not None and (best is None or md.value_kw > best):
            best = md.value_kw
            rises.append(md.at)
    assert rises[0] == at(9, 15) and rises[-1] == at(9, 22)
    maximum_commits = [t for kind, t in commits if kind == "maximum"]
    # every rise not already committed with the 09:15 capture (S+ rises with A+, tariff MD with the total)
    assert maximum_commits == [t for t in rises if t != at(9, 15)]
    assert [t for kind, t in commits if kind == "profile"] == [at(9, 15), at(9, 30)]
    assert len(commits) == 2 + len(maximum_commits) < len(intervals)
