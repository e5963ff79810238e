"""The streaming maximum-demand engine against the FAQ profile, the oracle, and its documented edge behaviour."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meterkit.errors import ConfigError, DataError
from meterkit.meter.demand import (
    DemandConfig,
    DemandEngine,
    DemandValue,
    MaximumDemand,
    check_display_range,
    format_md,
    recompute_md,
    to_kw,
)

FAQ_CSV = Path(__file__).resolve().parents[2] / "examples" / "faq-0900-0930.csv"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ALL_VALID = DemandConfig.all_valid()


def faq_profile() -> tuple[datetime, list[int]]:
    with FAQ_CSV.open(newline="") as f:
        rows = list(csv.DictReader(f))
    first = datetime.fromisoformat(rows[0]["timestamp"]) - timedelta(minutes=1)
    return first, [int(Decimal(r["kwh"]) * 1_000_000) for r in rows]


def feed(engine: DemandEngine, energies: list[int], start: datetime, step_s: int = 60) -> list[DemandValue]:
    out: list[DemandValue] = []
    for i, e in enumerate(energies, start=1):
        out += engine.add_energy(e, start + timedelta(seconds=step_s * i))
    return out


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


# --- configuration ----------------------------------------------------------------------------------------------


def test_every_valid_configuration_is_accepted_and_round_trips_through_text() -> None:
    texts = [str(c) for c in ALL_VALID]
    assert texts == [
        "fixed 5",
        "fixed 15",
        "fixed 30",
        "fixed 60",
        "sliding 5/1",
        "sliding 5/5",
        "sliding 15/1",
        "sliding 15/5",
        "sliding 30/1",
        "sliding 30/2",
        "sliding 30/5",
        "sliding 30/6",
        "sliding 60/1",
        "sliding 60/2",
        "sliding 60/5",
        "sliding 60/6",
        "sliding 60/12",
    ]
    for config in ALL_VALID:
        assert DemandConfig.parse(str(config)) == config
        assert DemandConfig.parse(str(config).replace("/", " ")) == config
        assert config.sub_periods * config.sub_period_min == config.period_min
    # the FAQ table: number of sub-periods per integration period for the sub-period lengths 1, 2, 5, 6, 12 min
    counts = {(c.period_min, c.sub_period_min): c.sub_periods for c in ALL_VALID if c.method == "sliding"}
    assert counts == {
        (5, 1): 5, (5, 5): 1,
        (15, 1): 15, (15, 5): 3,
        (30, 1): 30, (30, 2): 15, (30, 5): 6, (30, 6): 5,
        (60, 1): 60, (60, 2): 30, (60, 5): 12, (60, 6): 10, (60, 12): 5,
    }  # fmt: skip


def test_default_is_sliding_15_by_1_and_fixed_normalises_its_sub_period() -> None:
    assert DemandConfig() == DemandConfig("sliding", 15, 1)
    assert str(DemandConfig()) == "sliding 15/1"
    assert DemandConfig("fixed", 15, 15) == DemandConfig("fixed", 15) == DemandConfig.parse("fixed 15")
    assert DemandConfig("fixed", 15).sub_min is None and DemandConfig("fixed", 15).sub_period_min == 15


def test_invalid_configuration_is_refused_with_the_valid_combinations() -> None:
    with pytest.raises(ConfigError) as info:
        DemandConfig("sliding", 15, 3)
    assert str(info.value) == (
        "demand 'sliding 15/3' is not offered; valid: fixed 5, 15, 30 or 60 min; "
        "sliding period: sub-periods 5: 1, 5 · 15: 1, 5 · 30: 1, 2, 5, 6 · 60: 1, 2, 5, 6, 12 (minutes)"
    )
    with pytest.raises(ConfigError, match=r"^demand 'fixed 20' is not offered; valid: fixed 5, 15, 30 or 60 min"):
        DemandConfig.parse("fixed 20")
    with pytest.raises(ConfigError, match="'fixed 15' is not offered"):
        DemandConfig("fixed", 15, 5)
    with pytest.raises(ConfigError, match="a fixed window has no sub-period"):
        DemandConfig.parse("fixed 15/5")
    with pytest.raises(ConfigError, match="needs PERIOD/SUB"):
        DemandConfig.parse("sliding 15")
    with pytest.raises(ConfigError, match="cannot read demand setting 'rolling 15'"):
        DemandConfig.parse("rolling 15")


def test_md_register_format_and_display_range() -> None:
    assert format_md(Decimal("157")) == "0157.00"
    assert format_md(Decimal("157.005")) == "0157.01"  # half-up
    assert format_md(Decimal("0.15"), "W") == "0150.00"
    assert format_md(Decimal("2500"), "MW") == "0002.50"
    with pytest.raises(ConfigError, match=r"10000\.00 kW does not fit the 6-digit demand register"):
        format_md(Decimal("10000"))
    check_display_range(Decimal("9999.99"), "kW")
    with pytest.raises(ConfigError, match=r"display scale W cannot show the meter.s maximum power 10\.5 kW"):
        check_display_range(Decimal("10.5"), "W")
    with pytest.raises(ConfigError, match="display scale must be W, kW or MW"):
        format_md(Decimal(1), "GW")


def test_average_power_is_rounded_half_up_to_two_decimals() -> None:
    assert to_kw(39_250_000, 15) == Decimal("157.00")
    assert to_kw(1_250, 15) == Decimal("0.01")  # 0.005 kW exactly -> 0.01
    assert to_kw(1_249, 15) == Decimal("0.00")


# --- the FAQ example --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "value", "minute"),
    [
        ("fixed 15", "141.00", 15),
        ("sliding 15/1", "157.00", 22),
        ("sliding 15/5", "155.00", 20),
        ("fixed 5", "169.80", 15),
        ("fixed 30", "138.80", 30),
    ],
)
def test_faq_profile_through_the_engine_and_the_oracle(config: str, value: str, minute: int) -> None:
    start, energies = faq_profile()
    assert start == T0
    engine = DemandEngine(DemandConfig.parse(config), start=start)
    feed(engine, energies, start)
    expected = MaximumDemand(value_kw=Decimal(value), at=minutes(minute))
    assert engine.maximum == expected
    assert recompute_md(energies, 60, start, DemandConfig.parse(config)) == expected


def test_sliding_window_values_are_returned_as_each_sub_period_completes() -> None:
    start, energies = faq_profile()
    engine = DemandEngine(DemandConfig.parse("sliding 15/1"), start=start)
    values = feed(engine, energies, start)
    assert [v.at for v in values] == [minutes(m) for m in range(15, 31)]
    assert values[0].value_kw == Decimal("141.00") and values[7] == DemandValue(
        value_kw=Decimal("157.00"), at=minutes(22)
    )
    assert engine.last_average_kw == values[-1].value_kw


def test_current_average_is_running_energy_over_the_full_period() -> None:
    engine = DemandEngine(DemandConfig.parse("fixed 15"), start=T0)
    engine.add_energy(10_000_000, minutes(5))  # 10 kWh in the first 5 minutes
    assert engine.current_average_kw == Decimal("40.00")  # 10 kWh / 0.25 h, not / 5 min
    assert engine.last_average_kw is None and engine.maximum is None
    sliding = DemandEngine(DemandConfig.parse("sliding 15/1"), start=T0)
    feed(sliding, [1_000_000] * 20, T0)  # 60 kW for 20 minutes
    sliding.add_energy(500_000, minutes(20.5))
    # the last 14 complete sub-periods (14 kWh) plus the running one (0.5 kWh) over 15 min
    assert sliding.current_average_kw == Decimal("58.00")
    assert sliding.last_average_kw == Decimal("60.00")


def test_a_call_spanning_sub_periods_is_split_proportionally_to_time() -> None:
    engine = DemandEngine(DemandConfig.parse("fixed 5"), start=T0)
    values = engine.add_energy(7_500_000, minutes(7.5))  # 7.5 kWh over 7.5 min: 5 kWh in 09:00-09:05
    assert values == [DemandValue(value_kw=Decimal("60.00"), at=minutes(5))]
    values = engine.add_energy(2_500_000, minutes(10))
    assert values == [DemandValue(value_kw=Decimal("60.00"), at=minutes(10))]
    assert engine.maximum == MaximumDemand(value_kw=Decimal("60.00"), at=minutes(5))  # ties keep the first


# --- oracle equality --------------------------------------------------------------------------------------------


@st.composite
def chunked_profiles(draw: st.DrawFn) -> tuple[DemandConfig, datetime, list[int], list[tuple[int, int]]]:
    config = draw(st.sampled_from(ALL_VALID))
    offset_min = draw(st.integers(0, 59))
    n = draw(st.integers(config.period_min, 150))
    energies = draw(st.lists(st.integers(0, 5_000_000), min_size=n, max_size=n))
    start = T0 + timedelta(minutes=offset_min)
    # split each minute into pieces at random second offsets with random energy shares
    calls: list[tuple[int, int]] = []
    for i, e in enumerate(energies):
        cuts = sorted(set(draw(st.lists(st.integers(1, 59), max_size=3))))
        shares = sorted(draw(st.lists(st.integers(0, e), min_size=len(cuts), max_size=len(cuts))))
        bounds = [0, *shares, e]
        for k, second in enumerate([*cuts, 60]):
            calls.append((bounds[k + 1] - bounds[k], 60 * (offset_min + i) + second))
    return config, start, energies, calls


@settings(max_examples=150, deadline=None)
@given(chunked_profiles())
def test_streaming_md_equals_the_recomputation_however_the_energy_is_chunked(
    case: tuple[DemandConfig, datetime, list[int], list[tuple[int, int]]],
) -> None:
    config, start, energies, calls = case
    expected = recompute_md(energies, 60, start, config)
    whole = DemandEngine(config, start=start)
    feed(whole, energies, start)
    chunked = DemandEngine(config, start=start)
    for energy, second in calls:
        chunked.add_energy(energy, T0 + timedelta(seconds=second))
    assert whole.maximum == expected
    assert chunked.maximum == expected
    assert chunked.state()["subs"] == whole.state()["subs"]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(ALL_VALID), st.lists(st.integers(0, 3_000_000), min_size=10, max_size=130), st.integers(1, 129))
def test_state_saved_anywhere_continues_identically(config: DemandConfig, energies: list[int], cut: int) -> None:
    cut = min(cut, len(energies))
    a = DemandEngine(config, start=T0)
    feed(a, energies[:cut], T0)
    b = DemandEngine.from_state(config, json.loads(json.dumps(a.state())))
    rest = T0 + timedelta(minutes=cut)
    assert feed(a, energies[cut:], rest) == feed(b, energies[cut:], rest)
    assert (a.maximum, a.last_average_kw, a.current_average_kw) == (b.maximum, b.last_average_kw, b.current_average_kw)
    assert a.maximum == recompute_md(energies, 60, T0, config)


# --- edge behaviour ---------------------------------------------------------------------------------------------


def test_start_up_inside_a_sub_period_discards_the_partial_window_by_default() -> None:
    engine = DemandEngine(DemandConfig.parse("fixed 15"), start=minutes(3))
    engine.add_energy(50_000_000, minutes(10))  # a burst in the partial 09:00-09:15 block
    feed(engine, [1_000_000] * 20, minutes(10))
    assert engine.maximum == MaximumDemand(value_kw=Decimal("60.00"), at=minutes(30))


def test_start_up_policy_count_takes_partial_windows_over_the_full_period() -> None:
    engine = DemandEngine(DemandConfig.parse("sliding 15/1"), start=T0, startup="count")
    values = feed(engine, [1_000_000] * 3, T0)  # 60 kW for three minutes after power-up
    assert [v.value_kw for v in values] == [Decimal("4.00"), Decimal("8.00"), Decimal("12.00")]
    assert engine.maximum == MaximumDemand(value_kw=Decimal("12.00"), at=minutes(3))


def test_power_failure_makes_windows_overlapping_it_incomplete() -> None:
    engine = DemandEngine(DemandConfig.parse("sliding 15/1"), start=T0)
    feed(engine, [1_000_000] * 20, T0)  # 60 kW
    engine.power_down(minutes(20.5))
    assert not engine.powered
    engine.power_up(minutes(25.25))
    assert engine.add_energy(0, minutes(26)) == []
    values = feed(engine, [5_000_000] * 34, minutes(26))  # 300 kW from 09:26
    assert engine.maximum == MaximumDemand(value_kw=Decimal("300.00"), at=minutes(41))
    assert values[0].at == minutes(41)  # nothing counted before the first window wholly after the outage


def test_power_up_exactly_on_a_sub_period_boundary_counts_that_sub_period() -> None:
    engine = DemandEngine(DemandConfig.parse("sliding 15/1"), start=T0)
    feed(engine, [1_000_000] * 20, T0)
    engine.power_down(minutes(20))
    engine.power_up(minutes(25))
    values = feed(engine, [2_000_000] * 15, minutes(25))
    assert values == [DemandValue(value_kw=Decimal("120.00"), at=minutes(40))]


@pytest.mark.parametrize(("policy", "expected"), [("count", ["80.00", "120.00"]), ("discard", ["120.00"])])
def test_outage_policy_decides_whether_windows_overlapping_an_outage_count(policy: str, expected: list[str]) -> None:
    engine = DemandEngine(DemandConfig.parse("fixed 15"), start=T0, outage=policy)  # type: ignore[arg-type]
    feed(engine, [1_000_000] * 15, T0)  # 09:00-09:15: 60 kW
    engine.power_down(minutes(15))
    engine.power_up(minutes(20))
    values = feed(engine, [2_000_000] * 25, minutes(20))  # 09:20-09:30: 20 kWh, 09:30-09:45: 30 kWh
    assert [str(v.value_kw) for v in values] == expected
    assert engine.maximum == MaximumDemand(value_kw=Decimal("120.00"), at=minutes(45))


def test_energy_after_power_down_means_the_supply_returned_at_the_previous_end() -> None:
    engine = DemandEngine(DemandConfig.parse("fixed 5"), start=T0)
    engine.power_down(minutes(5))
    engine.power_down(minutes(10))  # still down: the time passes as outage
    values = feed(engine, [1_000_000] * 5, minutes(10))
    assert engine.powered and values == [DemandValue(value_kw=Decimal("60.00"), at=minutes(15))]


def test_billing_reset_clears_md_and_keeps_the_sliding_buffer_by_default() -> None:
    start, energies = faq_profile()
    engine = DemandEngine(DemandConfig.parse("sliding 15/1"), start=start)
    feed(engine, energies[:20], start)
    md = engine.reset_maximum(minutes(20))
    assert md == MaximumDemand(value_kw=Decimal("155.00"), at=minutes(20))
    assert engine.maximum is None
    engine.add_energy(energies[20], minutes(21))
    # the window 09:06-09:21 counts at once: the buffer survived the reset
    assert engine.maximum == MaximumDemand(value_kw=Decimal("156.36"), at=minutes(21))


def test_billing_reset_without_buffer_restarts_the_windows() -> None:
    engine = DemandEngine(DemandConfig.parse("sliding 15/1"), start=T0, keep_buffer_on_reset=False)
    feed(engine, [1_000_000] * 20, T0)
    assert engine.reset_maximum(minutes(20)) == MaximumDemand(value_kw=Decimal("60.00"), at=minutes(15))
    values = feed(engine, [1_000_000] * 15, minutes(20))
    assert [v.at for v in values] == [minutes(35)] and engine.maximum is not None
    assert engine.maximum.at == minutes(35)


def test_clock_set_closes_the_running_windows_and_keeps_the_maximum() -> None:
    engine = DemandEngine(DemandConfig.parse("sliding 15/1"), start=T0)
    feed(engine, [1_000_000] * 20, T0)
    engine.add_energy(300_000, minutes(20.5))
    kept = engine.maximum
    engine.set_clock(minutes(10.5))  # backwards, into the middle of a sub-period
    assert engine.maximum == kept and engine.current_average_kw == Decimal("0.00")
    values = feed(engine, [1_000_000] * 16, minutes(10.5))
    assert values[0].at == minutes(26)  # 09:11-09:26 is the first window wholly after the set


def test_misuse_is_refused_without_changing_the_state() -> None:
    engine = DemandEngine(DemandConfig(), start=T0)
    engine.add_energy(1000, minutes(2))
    before = engine.state()
    with pytest.raises(DataError, match="went back in time"):
        engine.add_energy(1000, minutes(1))
    with pytest.raises(DataError, match="must not be negative"):
        engine.add_energy(-1, minutes(3))
    with pytest.raises(ConfigError, match="timezone-aware"):
        engine.add_energy(1, datetime(2026, 11, 2, 9, 5))
    assert engine.state() == before


def test_foreign_or_malformed_state_is_refused() -> None:
    state = DemandEngine(DemandConfig(), start=T0).state()
    with pytest.raises(DataError, match="stored demand state is for 'sliding 15/1', not 'fixed 15'"):
        DemandEngine.from_state(DemandConfig.parse("fixed 15"), state)
    broken = dict(state, subs=[1, 2], ok=[True])
    with pytest.raises(DataError, match="inconsistent"):
        DemandEngine.from_state(DemandConfig(), broken)
    with pytest.raises(DataError, match="malformed"):
        DemandEngine.from_state(DemandConfig(), {k: v for k, v in state.items() if k != "cur"})


def test_recompute_md_refuses_steps_that_straddle_sub_periods() -> None:
    with pytest.raises(ConfigError, match="must divide the sub-period"):
        recompute_md([1, 2, 3], 420, T0, DemandConfig.parse("fixed 15"))
    assert recompute_md([1_000_000] * 14, 60, T0, DemandConfig.parse("fixed 15")) is None


def test_windows_that_round_alike_are_told_apart_by_their_exact_energy() -> None:
    # fixed 15: 25,000,500 mWh -> 100.002 kW and 25,001,000 mWh -> 100.004 kW both show 0100.00; the second is higher
    config = DemandConfig.parse("fixed 15")
    energies = [25_000_500 // 15] * 15 + [25_001_000 // 15] * 15
    energies[14] += 25_000_500 - sum(energies[:15])
    energies[29] += 25_001_000 - sum(energies[15:30])
    md = recompute_md(energies, 60, minutes(0), config)
    assert md == MaximumDemand(value_kw=Decimal("100.00"), at=minutes(30))
    engine = DemandEngine(config, start=minutes(0))
    for i, e in enumerate(energies):
        engine.add_energy(e, minutes(i + 1))
    assert engine.maximum == md and engine.maximum is not None and engine.maximum.energy_mwh == 25_001_000


def test_fixed_windows_start_at_the_local_full_hour_in_a_half_hour_zone() -> None:
    # Asia/Kolkata is UTC+5:30: 10:00-12:00 local is 04:30-06:30 UTC, two fixed 60-minute windows
    start = datetime(2026, 11, 2, 4, 30, tzinfo=UTC)
    engine = DemandEngine(DemandConfig.parse("fixed 60"), start=start, align_s=5 * 3600 + 1800)
    values = []
    for i in range(120):
        values += engine.add_energy(1_000_000 if i < 60 else 2_000_000, start + timedelta(minutes=i + 1))
    assert [(v.value_kw, v.at) for v in values] == [
        (Decimal("60.00"), start + timedelta(hours=1)),
        (Decimal("120.00"), start + timedelta(hours=2)),
    ]
    restored = DemandEngine.from_state(engine.config, engine.state())
    assert restored.align_s == 1800
