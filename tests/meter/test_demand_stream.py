"""The streaming MD engine: the FAQ example, the table of valid settings, edge behaviour, and equality with the
analytics' batch kernel on random profiles for every configuration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meterkit.analytics import ALL_CONFIGS, compute_demand
from meterkit.errors import ConfigError
from meterkit.loadprofile.grid import profile_from_arrays
from meterkit.meter.demand import DemandConfig, DemandEngine, check_display_range, format_md

FAQ_UNITS = [
    190,
    195,
    191,
    196,
    193,
    199,
    207,
    232,
    247,
    260,
    272,
    280,
    285,
    288,
    290,
    281,
    274,
    264,
    254,
    242,
    233,
    223,
    218,
    212,
    207,
    203,
    202,
    200,
    202,
    200,
]
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def run(config: str, units: list[int], start: datetime = T0, step_min: int = 1) -> DemandEngine:
    engine = DemandEngine(DemandConfig.parse(config), start=start)
    for i, u in enumerate(units):
        engine.add_energy(u * 10_000, start + timedelta(minutes=step_min * (i + 1)))
    return engine


def test_register_shows_six_digits_four_integers_two_decimals_and_overflow_is_refused() -> None:
    assert format_md(Decimal("157")) == "0157.00"
    assert format_md(Decimal("0.157"), "W") == "0157.00"
    assert format_md(Decimal("1570"), "MW") == "0001.57"
    with pytest.raises(ConfigError, match="does not fit the 6-digit demand register"):
        format_md(Decimal("10000"))
    with pytest.raises(ConfigError, match="display scale W cannot show the meter's maximum power 69 kW"):
        check_display_range(Decimal(69), "W")


def test_invalid_settings_are_refused_with_the_valid_combinations() -> None:
    with pytest.raises(ConfigError) as info:
        DemandConfig.parse("sliding 30/3")
    assert str(info.value) == (
        "demand 'sliding 30/3' is not offered; valid: fixed 5, 15, 30 or 60 min; "
        "sliding period: sub-periods 5: 1, 5 · 15: 1, 5 · 30: 1, 2, 5, 6 · 60: 1, 2, 5, 6, 12 (minutes)"
    )
    with pytest.raises(ConfigError, match="'fixed 20' is not offered"):
        DemandConfig.parse("fixed 20")
    assert str(DemandConfig()) == "sliding 15/1"


def test_power_failure_makes_the_windows_across_it_incomplete() -> None:
    engine = DemandEngine(DemandConfig.parse("sliding 15/1"), start=T0)
    for i in range(20):
        engine.add_energy(10_000 * 100, T0 + timedelta(minutes=i + 1))  # 60 kW
    engine.power_down(T0 + timedelta(minutes=20, seconds=30))
    engine.power_up(T0 + timedelta(minutes=25, seconds=10))
    before = engine.maximum
    for i in range(26, 60):
        engine.add_energy(10_000 * 500, T0 + timedelta(minutes=i))  # 300 kW after the outage
    md = engine.maximum
    assert before is not None and before.value_kw == Decimal("60.00")
    # the first complete window after power-up starts at 09:26 and ends at 09:41
    assert md is not None and md.value_kw == Decimal("300.00") and md.at == T0 + timedelta(minutes=41)


def test_start_inside_a_sub_period_discards_the_partial_windows() -> None:
    engine = DemandEngine(DemandConfig.parse("fixed 15"), start=T0 + timedelta(minutes=3))
    for i in range(4, 31):
        engine.add_energy(10_000 * 1000, T0 + timedelta(minutes=i))  # a huge burst in the partial block
    md = engine.maximum
    assert md is not None and md.at == T0 + timedelta(minutes=30)  # the 09:00-09:15 block is incomplete


def test_billing_reset_clears_md_and_keeps_the_sliding_buffer() -> None:
    engine = run("sliding 15/1", FAQ_UNITS[:20])
    md = engine.reset_maximum()
    assert md is not None and md.value_kw == Decimal("155.00") and engine.maximum is None
    engine.add_energy(2230, T0 + timedelta(minutes=21))
    assert engine.maximum is not None  # the next window counts at once: the buffer survived the reset


def test_state_round_trip_continues_identically() -> None:
    a = run("sliding 15/5", FAQ_UNITS[:17])
    b = DemandEngine.from_state(DemandConfig.parse("sliding 15/5"), a.state())
    for i, u in enumerate(FAQ_UNITS[17:], start=18):
        a.add_energy(u * 10_000, T0 + timedelta(minutes=i))
        b.add_energy(u * 10_000, T0 + timedelta(minutes=i))
    assert a.maximum == b.maximum and a.last_average_kw == b.last_average_kw


@settings(max_examples=80)
@given(
    st.lists(st.integers(0, 600), min_size=60, max_size=180).map(lambda u: u[: len(u) - len(u) % 60] or u[:60]),
    st.sampled_from(ALL_CONFIGS),
    st.integers(1, 7),
)
def test_streaming_engine_equals_the_batch_kernel_however_the_energy_is_chunked(
    units: list[int], window: object, chunk: int
) -> None:
    from meterkit.analytics.configs import DemandWindow

    assert isinstance(window, DemandWindow)
    config = DemandConfig(window.method, window.period_min, window.sub_min)
    # batch
    n = len(units)
    epoch = (int(T0.timestamp()) + 60 * np.arange(1, n + 1)).astype(np.int64)
    profile = profile_from_arrays(epoch, np.array(units) / 100, np.array(["m"] * n, dtype=object), quantity="kwh")
    (batch,) = compute_demand(profile, [window])
    # streaming, each minute's energy handed over in `chunk` pieces within the minute (like per-second metering)
    engine = DemandEngine(config, start=T0)
    for i, u in enumerate(units):
        energy = u * 10_000
        pieces = [energy // chunk] * chunk
        pieces[-1] += energy - sum(pieces)
        for k, piece in enumerate(pieces, start=1):
            engine.add_energy(piece, T0 + timedelta(minutes=i, seconds=60 * k / chunk))
    stream = engine.maximum
    if batch.md_kw is None:
        assert stream is None
    else:
        assert stream is not None and (stream.value_kw, stream.at) == (batch.md_kw, batch.at)
