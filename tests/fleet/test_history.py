"""The vectorised fleet history equals the single-meter engine, register by register."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterkit.errors import ConfigError
from meterkit.fleet.config import load_fleet
from meterkit.fleet.history import fleet_load, simulate_fleet, simulate_group
from meterkit.fleet.load import IntervalLoad
from meterkit.meter.config import MeterConfig, load_config
from meterkit.meter.demand import DemandConfig

from .replay import assert_equal, replay

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fleet-1000.toml"

TARIFFS = """
[tariffs]
day_profiles = { workday = [["00:00", 2], ["07:00", 1], ["22:00", 2]], offpeak = [["00:00", 3]] }
seasons = [{ start = "01-01", week = "standard" }]
[tariffs.week_profiles.standard]
mon = "workday"
tue = "workday"
wed = "workday"
thu = "workday"
fri = "workday"
sat = "offpeak"
sun = "offpeak"
"""


def config(window: str, *, tz: str = "UTC", pf: float = 0.93, capture: int = 15, scale: str = "kW") -> MeterConfig:
    return load_config(
        text=f"""
[demand]
window = "{window}"
display_scale = "{scale}"
[clock]
timezone = "{tz}"
[load_profile]
capture_min = {capture}
[source]
replay_pf = {pf}
{TARIFFS}
"""
    )


def random_load(start: datetime, step_s: int, n: int, meters: int, seed: int, *, export: bool = False) -> IntervalLoad:
    rng = np.random.default_rng(seed)
    kw = rng.uniform(0, 200, size=(meters, n))
    # stretches of zero and of equal energy: ties and tariff engines that stay down
    kw[:, n // 3 : n // 3 + 40] = 0
    kw[:, n // 2 : n // 2 + 30] = 150.0
    mwh = np.rint(kw * step_s * 1000 / 3600).astype(np.int64)
    minus = np.zeros_like(mwh)
    if export:
        flip = rng.random(size=mwh.shape) < 0.3
        minus = np.where(flip, mwh, 0)
        mwh = np.where(flip, 0, mwh)
    return IntervalLoad(start, step_s, mwh, minus)


def check_group(cfg: MeterConfig, load: IntervalLoad) -> None:
    histories = simulate_group([cfg] * load.a_plus.shape[0], load)
    for row, history in enumerate(histories):
        assert_equal(history, replay(cfg, load, row))


@pytest.mark.parametrize(
    "window",
    ["fixed 15", "fixed 60", "sliding 15/1", "sliding 30/6", "sliding 60/12", "sliding 5/1", "fixed 5", "sliding 15/5"],
)
def test_history_equals_single_meter_replay_for_each_window_across_a_billing_reset(window: str) -> None:
    start = datetime(2026, 11, 28, 13, 7, tzinfo=UTC)  # off the sub-period grid; a reset on 12-01
    check_group(config(window), random_load(start, 60, 5 * 1440, 3, seed=7, export=True))


@pytest.mark.parametrize("step_s", [300, 900, 3600])
def test_history_equals_replay_of_longer_intervals_split_as_the_engine_splits_them(step_s: int) -> None:
    start = datetime(2026, 11, 29, 0, 0, tzinfo=UTC)
    n = 3 * 86400 // step_s
    check_group(config("sliding 15/1"), random_load(start, step_s, n, 2, seed=step_s))
    check_group(config("fixed 30", capture=5), random_load(start, step_s, n, 2, seed=step_s + 1))


@pytest.mark.parametrize("tz", ["Europe/Berlin", "Asia/Kolkata", "America/New_York"])
def test_history_equals_replay_in_local_time_zones_over_a_dst_change(tz: str) -> None:
    start = datetime(2026, 10, 30, 22, 0, tzinfo=UTC)  # Europe's clocks go back on 10-25, New York's on 11-01
    check_group(config("sliding 30/5", tz=tz), random_load(start, 60, 4 * 1440, 2, seed=3))


def test_history_equals_replay_with_megawatt_resolution_and_capture_of_one_minute() -> None:
    start = datetime(2026, 12, 31, 20, 0, tzinfo=UTC)
    check_group(config("sliding 60/5", scale="MW", pf=1.0, capture=1), random_load(start, 60, 6 * 60, 2, seed=11))


@given(
    kw=st.lists(st.sampled_from([0.0, 0.0, 1.0, 50.0, 50.0, 123.4]), min_size=30, max_size=200),
    offset=st.integers(min_value=0, max_value=59),
    window=st.sampled_from(["fixed 15", "sliding 15/1", "sliding 30/2", "fixed 5"]),
)
def test_history_equals_replay_for_sparse_loads(kw: list[float], offset: int, window: str) -> None:
    start = datetime(2026, 11, 30, 21, 0, tzinfo=UTC) + timedelta(minutes=offset)  # across 22:00 and the reset
    mwh = np.rint(np.array([kw], dtype=float) * 1_000_000 / 60).astype(np.int64)
    check_group(config(window), IntervalLoad(start, 60, mwh, np.zeros_like(mwh)))


def test_fleet_sample_equals_single_meter_replay() -> None:
    fleet = load_fleet(EXAMPLE)
    specs = fleet.meters()
    sample = [specs[i] for i in (0, 1, 2, 3, 17, 42, 500, 999)]
    start = datetime(2026, 10, 27, 0, 0, tzinfo=UTC)
    span = timedelta(days=9)
    histories = {h.serial: h for h in simulate_fleet(fleet, span, start=start, specs=sample)}
    assert sorted(histories) == sorted(s.serial for s in sample)
    assert len({s.meter_config().demand.window for s in sample}) > 1
    for spec in sample:
        load = fleet_load(fleet, spec, start, span)
        assert_equal(histories[spec.serial], replay(spec.meter_config(), load, 0))


def test_group_of_different_settings_is_refused() -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    load = random_load(start, 60, 60, 2, seed=1)
    with pytest.raises(ConfigError, match="differ"):
        simulate_group([config("fixed 15"), config("fixed 30")], load)


@given(
    window=st.sampled_from([str(c) for c in DemandConfig.all_valid()]),
    step_s=st.sampled_from([60, 120, 300, 900, 1800, 3600]),
    capture=st.sampled_from([1, 5, 10, 15, 30, 60]),
    reset=st.tuples(st.integers(1, 28), st.integers(0, 23), st.sampled_from([0, 7, 30])),
    offset_min=st.integers(0, 24 * 60 - 1),
    tz=st.sampled_from(["UTC", "Europe/Berlin", "Asia/Kolkata"]),
    seed=st.integers(0, 2**16),
)
def test_history_equals_replay_for_any_window_interval_capture_and_reset_schedule(
    window: str, step_s: int, capture: int, reset: tuple[int, int, int], offset_min: int, tz: str, seed: int
) -> None:
    day, hour, minute = reset
    cfg = load_config(
        text=f"""
[demand]
window = "{window}"
[clock]
timezone = "{tz}"
[billing]
reset_day = {day}
reset_time = "{hour:02d}:{minute:02d}"
[load_profile]
capture_min = {capture}
{TARIFFS}
"""
    )
    start = datetime(2026, 11, day, tzinfo=UTC) - timedelta(days=1) + timedelta(minutes=offset_min)
    n = 3 * 86400 // step_s
    check_group(cfg, random_load(start, step_s, n, 2, seed=seed, export=seed % 2 == 0))
