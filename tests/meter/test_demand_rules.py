"""One demand vocabulary: the meter and the analytics offer the same windows and round the same way."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given
from hypothesis import strategies as st

from meterkit import demand_rules
from meterkit.analytics import configs, engine
from meterkit.meter import demand


def test_meter_and_analytics_share_one_window_table() -> None:
    assert configs.SLIDING_TABLE is demand_rules.SLIDING_SUB_PERIODS
    assert configs.FIXED_PERIODS is demand_rules.FIXED_PERIODS
    meter_windows = {(c.method, c.period_min, c.sub_period_min) for c in demand.DemandConfig.all_valid()}
    analytics_windows = {(w.method, w.period_min, w.sub_min) for w in configs.ALL_CONFIGS}
    assert analytics_windows <= meter_windows
    assert meter_windows - analytics_windows == {("sliding", 5, 5)}  # equals fixed 5, listed once by analytics
    assert len(analytics_windows) == 16


def test_the_valid_windows_read_the_same_in_both_messages() -> None:
    assert demand_rules.valid_combinations().startswith("valid: fixed 5, 15, 30 or 60 min; sliding period: ")
    assert configs.valid_combinations() == demand_rules.valid_combinations().replace("30 or 60", "30, 60")


@given(st.integers(min_value=-(10**12), max_value=10**12), st.sampled_from([5, 15, 30, 60]))
def test_meter_and_analytics_round_window_energy_to_kw_alike(mwh: int, period: int) -> None:
    exact = (Decimal(mwh) * 60 / (Decimal(1_000_000) * period)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert demand_rules.to_kw(mwh, period) == engine.to_kw(mwh, period) == demand.to_kw(mwh, period) == exact


def test_faq_window_rounds_to_the_register_value() -> None:
    assert demand_rules.to_kw(39_250_000, 15) == Decimal("157.00")  # 39.25 kWh in 15 min
    assert demand_rules.kw_units(39_250_000, 15, places=5) == 15_700_000  # the W display scale
