"""Clock writes are O(1) and cannot move the security's timers (issue #14 item 1.4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from meterkit.iec62056_21.events import PositiveAck
from meterkit.meter.config import load_config
from meterkit.meter.virtual import VirtualMeter, demo_config_path
from meterkit.security.timebase import SecurityClock

from .keyfix import START
from .test_port_security import R, er, signed_in, tag_for

YEAR = timedelta(days=365)


class ManualClock:
    """A wall clock and a monotonic scale that only move when told (a :class:`SimulatedClock` would be set by a
    clock write; a real meter's clock is not)."""

    def __init__(self, start: datetime) -> None:
        self.wall = start
        self.mono = 1000.0

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds


def live_meter() -> tuple[VirtualMeter, ManualClock]:
    text = demo_config_path().read_text().replace('kind = "synthetic"', 'kind = "live"')
    clock = ManualClock(START)
    return VirtualMeter(load_config(text=text), clock=clock), clock


def _count_steps(vm: VirtualMeter, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    original = vm.meter.step

    def counted(*args: object, **kw: object) -> None:
        calls.append(1)
        original(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(vm.meter, "step", counted)
    return calls


@pytest.mark.parametrize("jump", [-YEAR, YEAR], ids=["a-year-back", "a-year-ahead"])
def test_a_clock_write_is_one_jump_and_the_live_meter_runs_on_from_the_written_time(
    jump: timedelta, monkeypatch: pytest.MonkeyPatch
) -> None:
    vm, clock = live_meter()
    vm.tick()
    steps = _count_steps(vm, monkeypatch)
    written = vm.meter.now + jump
    vm.set_clock(written)
    vm.tick()
    assert steps == []  # no catching up second by second
    clock.advance(10)
    vm.tick()
    assert len(steps) == 10  # neither frozen (a year ahead) nor stepping a year (a year back)
    assert vm.meter.now == written + timedelta(seconds=10)


def _lock(vm: VirtualMeter) -> datetime:
    pair, _ = signed_in(vm)
    for _ in range(3):
        pair.command(R("P1", "", "wrong-pw"))
    until = vm.security.lockout.locked_until
    assert until is not None
    return until


@pytest.mark.parametrize(
    "jump", [-YEAR, YEAR, -timedelta(minutes=5)], ids=["back-a-year", "ahead-a-year", "back-5-min"]
)
def test_a_lock_ends_after_its_duration_whatever_the_clock_is_set_to(jump: timedelta) -> None:
    vm, clock = live_meter()
    _lock(vm)
    vm.set_clock(vm.meter.now + jump)
    clock.advance(30)
    vm.tick()
    pair, operand = signed_in(vm)
    assert operand == ""  # still locked (no challenge): a jump ahead does not shorten it
    assert er(pair.command(R("P1", "", "20261125")))
    clock.advance(31)
    vm.tick()
    pair, operand = signed_in(vm)
    assert isinstance(pair.command(R("P2", "", tag_for(operand, 3))), PositiveAck)  # a jump back does not lengthen it


def test_the_write_window_is_not_reopened_by_setting_the_clock_back() -> None:
    vm, clock = live_meter()
    vm.open_cover()
    clock.advance(31 * 60)  # the 30-minute write window after opening the cover has closed
    vm.tick()
    vm.set_clock(vm.meter.now - timedelta(hours=1))
    pair, operand = signed_in(vm)
    assert isinstance(pair.command(R("P2", "", tag_for(operand, 3))), PositiveAck)
    assert er(pair.command(R("W1", "C.60.1", "fixed 15")), "ER06")


def test_security_time_never_goes_backwards_and_follows_measured_time() -> None:
    measured = [datetime(2026, 1, 1, tzinfo=UTC)]
    clock = SecurityClock(lambda: measured[0], lambda: 0.0)
    first = clock.now()
    measured[0] -= YEAR
    assert clock.now() == first
    measured[0] = first + timedelta(seconds=5)
    assert clock.now() == first + timedelta(seconds=5)


@pytest.mark.parametrize("jump", [-YEAR, YEAR], ids=["a-year-back", "a-year-ahead"])
def test_a_written_clock_survives_a_restart_and_the_meter_runs_on_from_it(jump: timedelta, tmp_path: Path) -> None:
    from meterkit.storage import NvStore

    text = demo_config_path().read_text().replace('kind = "synthetic"', 'kind = "live"')
    clock = ManualClock(START)
    vm = VirtualMeter(load_config(text=text), clock=clock, store=NvStore(tmp_path / "m.sqlite"))
    vm.tick()
    written = vm.meter.now + jump
    vm.set_clock(written)
    clock.advance(5)
    vm.power_down()
    vm.store.close()
    clock.advance(55)  # a minute after the write, the meter starts again on the same state
    again = VirtualMeter(load_config(text=text), clock=clock, store=NvStore(tmp_path / "m.sqlite"))
    again.tick()
    assert again.meter.now == written + timedelta(seconds=60)  # neither frozen a year ahead nor back at the wall clock
    clock.advance(10)
    again.tick()
    assert again.meter.now == written + timedelta(seconds=70)
