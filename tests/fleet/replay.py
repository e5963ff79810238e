"""The single-meter oracle: the same intervals through :meth:`Meter.add_interval`, one by one."""

from __future__ import annotations

from datetime import timedelta

from meterkit.fleet.history import MeterHistory
from meterkit.fleet.load import IntervalLoad
from meterkit.meter.config import MeterConfig
from meterkit.meter.core import Meter


def replay(config: MeterConfig, load: IntervalLoad, row: int) -> Meter:
    meter = Meter(config, now=load.start)
    pf = config.source.replay_pf
    step = timedelta(seconds=load.step_s)
    end = load.start
    for ap, am in zip(load.a_plus[row].tolist(), load.a_minus[row].tolist(), strict=True):
        end += step
        meter.add_interval(end, ap, pf=pf, a_minus_mwh=am)
    return meter


def assert_equal(history: MeterHistory, meter: Meter) -> None:
    """Register by register: the state, every engine, the profile, the billing history and the events."""
    snap = meter.snapshot()
    got = history.state
    assert got["registers"] == snap["registers"]
    assert got["engines"].keys() == snap["engines"].keys()
    for key, engine in snap["engines"].items():
        assert got["engines"][key] == engine, key
    assert got["tariff_engines"].keys() == snap["tariff_engines"].keys()
    for key, engine in snap["tariff_engines"].items():
        assert got["tariff_engines"][key] == engine, key
    assert got == snap
    assert history.profile_rows() == meter.profile
    assert list(history.billing) == meter.history
    assert list(history.events) == meter.events
