"""The batch demand kernel: the FAQ example, hand-computed cases, a naive reference, billing periods."""

from __future__ import annotations

from datetime import UTC, datetime, time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meterkit.analytics import ALL_CONFIGS, DemandWindow, compute_demand, parse_window, read_load_profile
from meterkit.analytics.billing import BillingSchedule
from meterkit.analytics.engine import to_kw
from meterkit.analytics.threshold import assess
from meterkit.errors import ConfigError
from meterkit.loadprofile.grid import profile_from_arrays

FAQ = Path(__file__).parents[2] / "examples" / "faq-0900-0930.csv"
T0 = int(datetime(2026, 11, 2, 9, 0, tzinfo=UTC).timestamp())


def md(results: list, label: str) -> tuple[Decimal | None, datetime | None]:  # type: ignore[type-arg]
    (r,) = [r for r in results if r.window.label == label]
    return r.md_kw, r.at


def at(hh: int, mm: int) -> datetime:
    return datetime(2026, 11, 2, hh, mm, tzinfo=UTC)


def test_faq_profile_gives_141_fixed_and_157_sliding() -> None:
    results = compute_demand(read_load_profile(FAQ), ALL_CONFIGS)
    assert md(results, "fixed 15") == (Decimal("141.00"), at(9, 15))
    assert md(results, "sliding 15/1") == (Decimal("157.00"), at(9, 22))
    assert md(results, "sliding 15/5") == (Decimal("155.00"), at(9, 20))
    assert md(results, "fixed 5") == (Decimal("169.80"), at(9, 15))
    assert md(results, "fixed 30") == (Decimal("138.80"), at(9, 30))
    assert md(results, "sliding 30/6") == (Decimal("138.80"), at(9, 30))
    assert md(results, "fixed 60") == (None, None)  # no complete hour in half an hour of data


def test_faq_penalty_threshold_is_crossed_only_by_the_sliding_window() -> None:
    results = compute_demand(read_load_profile(FAQ), [parse_window("fixed 15"), parse_window("sliding 15/1")])
    fixed, sliding = assess(results, Decimal(150), Decimal("12.50"))
    assert not fixed.exceeded and fixed.penalty == Decimal("0.00")
    assert sliding.exceeded and sliding.excess_kw == Decimal("7.00") and sliding.penalty == Decimal("87.50")


def test_there_are_16_distinct_configurations_and_invalid_ones_are_refused_with_the_table() -> None:
    assert len(ALL_CONFIGS) == 16 and len(set(ALL_CONFIGS)) == 16
    assert parse_window("sliding 5/5") == DemandWindow("sliding", 5, 5)
    with pytest.raises(
        ConfigError,
        match=r"sliding window 15/3 is not offered; valid: fixed 5, 15, 30, 60 min; sliding period: sub-periods 5: 1, 5 · 15: 1, 5",
    ):
        parse_window("sliding 15/3")
    with pytest.raises(ConfigError, match="fixed window 10 min is not offered"):
        parse_window("fixed 10")


def _profile(kwh_per_min: list[float], meters: int = 1, start: int = T0) -> object:
    n = len(kwh_per_min)
    epoch = np.tile(start + 60 * np.arange(1, n + 1), meters)
    vals = np.tile(np.asarray(kwh_per_min, dtype=float), meters)
    ids = np.repeat(np.array([f"m{i}" for i in range(meters)], dtype=object), n)
    return profile_from_arrays(epoch.astype(np.int64), vals, ids, quantity="kwh")


def test_hand_computed_step_load_for_every_configuration() -> None:
    # one hour at 60 kW, then 12 minutes at 120 kW, then 48 minutes at 60 kW
    per_min = [1.0] * 60 + [2.0] * 12 + [1.0] * 48
    results = compute_demand(_profile(per_min), ALL_CONFIGS)  # type: ignore[arg-type]
    expected = {
        "fixed 5": "120.00",  # a 5-min block fully inside the burst
        "fixed 15": "108.00",  # 10:00-10:15 holds 12 min at 2 and 3 at 1 -> 27 kWh / 0.25 h
        "fixed 30": "84.00",  # 10:00-10:30: 24 + 18 = 42 kWh / 0.5 h
        "fixed 60": "72.00",  # 10:00-11:00: 24 + 48 = 72 kWh
        "sliding 5/1": "120.00",
        "sliding 15/1": "108.00",  # 12 at 2 + 3 at 1 in any 15-min window covering the burst
        "sliding 15/5": "108.00",
        "sliding 30/1": "84.00",
        "sliding 30/2": "84.00",
        "sliding 30/5": "84.00",
        "sliding 30/6": "84.00",
        "sliding 60/1": "72.00",
        "sliding 60/2": "72.00",
        "sliding 60/5": "72.00",
        "sliding 60/6": "72.00",
        "sliding 60/12": "72.00",
    }
    got = {r.window.label: str(r.md_kw) for r in results}
    assert got == expected


def test_ties_keep_the_first_window() -> None:
    per_min = [1.0] * 15 + [2.0] * 15 + [1.0] * 15 + [2.0] * 15
    results = compute_demand(_profile(per_min), [parse_window("fixed 15")])  # type: ignore[arg-type]
    assert results[0].md_kw == Decimal("120.00") and results[0].at == at(9, 30)


def naive_md(per_min: list[int], window: DemandWindow) -> int | None:
    """The obvious definition: every window ending on a sub-period boundary from the hour, fully inside the data."""
    best = None
    for end in range(window.sub_min, len(per_min) + 1, window.sub_min):
        if end - window.period_min < 0:
            continue
        s = sum(per_min[end - window.period_min : end])
        if best is None or s > best:
            best = s
    return best


@settings(max_examples=60)
@given(st.lists(st.integers(0, 500), min_size=60, max_size=200), st.sampled_from(ALL_CONFIGS))
def test_kernel_equals_a_naive_reference_on_random_profiles(units: list[int], window: DemandWindow) -> None:
    # units of 0.01 kWh per minute: demands are exact decimals
    results = compute_demand(_profile([u / 100 for u in units]), [window])  # type: ignore[arg-type]
    best = naive_md(units, window)
    expected = None if best is None else to_kw(best * 10_000, window.period_min)
    assert results[0].md_kw == expected


def test_multi_meter_profiles_are_independent() -> None:
    base = [1.0] * 30
    profile = profile_from_arrays(
        np.concatenate([T0 + 60 * np.arange(1, 31)] * 2).astype(np.int64),
        np.array(base + [2.0] * 30),
        np.array(["a"] * 30 + ["b"] * 30, dtype=object),
        quantity="kwh",
    )
    results = {r.meter: r.md_kw for r in compute_demand(profile, [parse_window("fixed 15")])}
    assert results == {"a": Decimal("60.00"), "b": Decimal("120.00")}


def test_kw_input_equals_kwh_input() -> None:
    per_min_kwh = [2.5, 1.25, 3.0] * 20
    kw = [v * 60 for v in per_min_kwh]
    epoch = (T0 + 60 * np.arange(1, 61)).astype(np.int64)
    ids = np.array(["m"] * 60, dtype=object)
    a = compute_demand(profile_from_arrays(epoch, np.array(per_min_kwh), ids, quantity="kwh"), ALL_CONFIGS)
    b = compute_demand(profile_from_arrays(epoch, np.array(kw), ids, quantity="kw"), ALL_CONFIGS)
    assert [r.md_kw for r in a] == [r.md_kw for r in b]


def test_billing_periods_split_at_the_reset_and_straddling_windows_count_for_neither_by_default() -> None:
    start = int(datetime(2026, 10, 31, 23, 0, tzinfo=UTC).timestamp())
    per_min = [1.0] * 55 + [3.0] * 10 + [1.0] * 55  # burst 23:55-00:05 straddles the 1 Nov reset
    profile = _profile(per_min, start=start)
    res = compute_demand(profile, [parse_window("sliding 15/1")])  # type: ignore[arg-type]
    assert [r.billing_period for r in res] == ["2026-10", "2026-11"]
    # October: best window ends 00:00 (22:45..) -> 10 min at 1 + 5 min at 3 = 25 kWh -> 100 kW
    assert res[0].md_kw == Decimal("100.00") and res[0].at == datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
    assert res[1].md_kw == Decimal("100.00") and res[1].at == datetime(2026, 11, 1, 0, 15, tzinfo=UTC)
    straddle = compute_demand(profile, [parse_window("sliding 15/1")], allow_straddle=True)  # type: ignore[arg-type]
    assert straddle[1].md_kw == Decimal("140.00")  # 00:05 window: 5 min at 3 + ... = 35 kWh


def test_billing_reset_in_local_time_across_dst() -> None:
    sched = BillingSchedule(reset_day=1, reset_time=time(0, 0), tz="Europe/Berlin")
    labels, bounds = sched.periods(
        int(datetime(2026, 10, 15, tzinfo=UTC).timestamp()), int(datetime(2026, 11, 15, tzinfo=UTC).timestamp())
    )
    assert labels == ["2026-09", "2026-10", "2026-11"]  # starts one period early so the first instant is covered
    # 1 Oct 00:00 CEST = 30 Sep 22:00 UTC; 1 Nov 00:00 CET (after the October DST change) = 31 Oct 23:00 UTC
    assert datetime.fromtimestamp(int(bounds[1]), UTC) == datetime(2026, 9, 30, 22, 0, tzinfo=UTC)
    assert datetime.fromtimestamp(int(bounds[2]), UTC) == datetime(2026, 10, 31, 23, 0, tzinfo=UTC)
    with pytest.raises(ConfigError, match="billing reset day must be 1-28"):
        BillingSchedule(reset_day=31)
    with pytest.raises(ConfigError, match="unknown time zone 'Mars/Olympus'"):
        BillingSchedule(tz="Mars/Olympus")


def test_gap_windows_are_skipped_and_counted_when_asked() -> None:
    epoch = (T0 + 60 * np.arange(1, 61)).astype(np.int64)
    keep = np.ones(60, dtype=bool)
    keep[20] = False  # the interval ending 09:21 is missing
    profile = profile_from_arrays(
        epoch[keep],
        np.full(keep.sum(), 1.0),
        np.array(["m"] * int(keep.sum()), dtype=object),
        quantity="kwh",
        on_incomplete="skip",
    )
    (r,) = compute_demand(profile, [parse_window("sliding 15/1")])
    assert r.md_kw == Decimal("60.00") and r.skipped == 15 and r.windows == 46 - 15
    assert "1 missing interval(s), first ending 2026-11-02T09:21:00+00:00" in profile.notes[0]


def test_window_shorter_than_data_interval_is_refused() -> None:
    epoch = (T0 + 900 * np.arange(1, 9)).astype(np.int64)
    profile = profile_from_arrays(epoch, np.ones(8), np.array(["m"] * 8, dtype=object), quantity="kwh")
    with pytest.raises(ConfigError, match="does not divide the sub-period of 1 min"):
        compute_demand(profile, [parse_window("sliding 15/1")])
    assert compute_demand(profile, [parse_window("fixed 15")])[0].md_kw == Decimal("4.00")


def test_one_second_interval_profiles_work() -> None:
    n = 3600
    epoch = (T0 + np.arange(1, n + 1)).astype(np.int64)
    kwh = np.full(n, 100 / 3600)  # 100 kW
    profile = profile_from_arrays(epoch, kwh, np.array(["m"] * n, dtype=object), quantity="kwh")
    assert compute_demand(profile, [parse_window("sliding 15/1")])[0].md_kw == Decimal("100.00")


def test_to_kw_rounds_half_up() -> None:
    assert to_kw(1_000_125, 60) == Decimal("1.00")  # 1.000125 kW
    assert to_kw(125, 15 * 0 + 60) == Decimal("0.00")
    assert to_kw(250_125, 15) == Decimal("1.00")  # 1.0005 -> 1.00 (half-up at the third decimal would be 1.001)
    assert to_kw(251_250, 15) == Decimal("1.01")  # 1.005 -> 1.01


@settings(max_examples=25)
@given(st.integers(0, 2**31), st.integers(1, 5), st.booleans())
def test_compiled_one_pass_kernel_equals_the_numpy_path(seed: int, meters: int, straddle: bool) -> None:
    from meterkit.analytics import engine

    rng = np.random.default_rng(seed)
    n = 3 * 60  # three whole hours across a billing reset: complete data, no mask -> compiled path
    start = int(datetime(2026, 10, 31, 22, 0, tzinfo=UTC).timestamp())
    epoch = np.tile(start + 60 * np.arange(1, n + 1), meters).astype(np.int64)
    vals = rng.integers(0, 400, n * meters) / 100
    ids = np.repeat(np.array([f"m{i}" for i in range(meters)], dtype=object), n)
    profile = profile_from_arrays(epoch, vals, ids, quantity="kwh")
    assert profile.valid is None
    table = engine.compute_demand_table
    fused_results = table(profile, ALL_CONFIGS, allow_straddle=straddle, kernel="compiled").results()
    complete_results = table(profile, ALL_CONFIGS, allow_straddle=straddle, kernel="numpy").results()
    auto_results = compute_demand(profile, ALL_CONFIGS, allow_straddle=straddle)
    profile.valid = np.ones_like(profile.energy, dtype=bool)  # same data through the masked NumPy path
    numpy_results = compute_demand(profile, ALL_CONFIGS, allow_straddle=straddle)
    assert engine.fused.AVAILABLE
    key = lambda r: (r.meter, r.window, r.billing_period)  # noqa: E731
    want = sorted((key(r), r.md_kw, r.at, r.windows) for r in numpy_results)
    assert sorted((key(r), r.md_kw, r.at, r.windows) for r in fused_results) == want
    assert sorted((key(r), r.md_kw, r.at, r.windows) for r in complete_results) == want
    assert sorted((key(r), r.md_kw, r.at, r.windows) for r in auto_results) == want


def test_hand_computed_burst_across_block_boundaries_sliding_beats_fixed_for_every_length() -> None:
    # 09:00-12:00 at 60 kW (1 kWh per minute); the 6 minutes 10:57-11:03 at 180 kW (3 kWh per minute) straddle the
    # full hour, so every fixed block (5, 15, 30, 60 min, all ending at 11:00 or starting there) holds only 3 of the
    # burst minutes, while a sliding window can hold all that fit.  A window of P minutes holding x burst minutes
    # has P + 2x kWh, i.e. 60 + 120·x/P kW.
    per_min = [1.0] * 117 + [3.0] * 6 + [1.0] * 57  # minute i (0-based) is the interval ending 09:00 + i + 1
    results = compute_demand(_profile(per_min), ALL_CONFIGS)  # type: ignore[arg-type]
    expected = {
        # fixed: x = 3 in the block ending 11:00 and in the one ending 11:05 (or 11:15, 11:30, 12:00); ties keep
        # the first, ending 11:00
        "fixed 5": ("132.00", at(11, 0)),  # 60 + 120·3/5
        "fixed 15": ("84.00", at(11, 0)),  # 60 + 120·3/15
        "fixed 30": ("72.00", at(11, 0)),  # 60 + 120·3/30
        "fixed 60": ("66.00", at(11, 0)),  # 60 + 120·3/60
        # sliding 5/1: at most 5 burst minutes; first window 10:57-11:02 -> 60 + 120 = 180
        "sliding 5/1": ("180.00", at(11, 2)),
        # longer sliding windows hold all 6 burst minutes; the first window end on the sub-period grid that covers
        # 10:57-11:03 wins: 1-min subs 11:03, 2-min 11:04, 5-min 11:05, 6-min 11:06, 12-min 11:12
        "sliding 15/1": ("108.00", at(11, 3)),  # 60 + 120·6/15
        "sliding 15/5": ("108.00", at(11, 5)),  # window 10:50-11:05
        "sliding 30/1": ("84.00", at(11, 3)),  # 60 + 120·6/30
        "sliding 30/2": ("84.00", at(11, 4)),
        "sliding 30/5": ("84.00", at(11, 5)),
        "sliding 30/6": ("84.00", at(11, 6)),
        "sliding 60/1": ("72.00", at(11, 3)),  # 60 + 120·6/60
        "sliding 60/2": ("72.00", at(11, 4)),
        "sliding 60/5": ("72.00", at(11, 5)),
        "sliding 60/6": ("72.00", at(11, 6)),
        "sliding 60/12": ("72.00", at(11, 12)),  # window 10:12-11:12
    }
    got = {r.window.label: (str(r.md_kw), r.at) for r in results}
    assert got == expected
    for minutes in (5, 15, 30, 60):  # the point of the case: sliding is strictly higher for every length
        fixed = Decimal(got[f"fixed {minutes}"][0])
        assert all(Decimal(v) > fixed for k, (v, _t) in got.items() if k.startswith(f"sliding {minutes}/"))


def reference_md(
    cells: dict[int, int], n: int, window: DemandWindow, reset: int, straddle: bool
) -> dict[int, tuple[int | None, int | None, int, int]]:
    """The definitions written out, for one meter: ``cells`` maps minute i (the interval ending T0 + i + 1 min) to its
    energy in 0.01 kWh; the billing reset is ``reset`` minutes after T0 (an instant on a reset belongs to the period
    it ends).  Per period (0 before the reset, 1 after): best energy, end minute of the first best window, counted
    windows, windows skipped because they miss intervals inside the meter's span."""
    lo, hi = min(cells), max(cells)
    out: dict[int, list[int | None]] = {}
    for end in range(window.sub_min, n + 1, window.sub_min):
        start = end - window.period_min
        if start < 0:
            continue
        period = 0 if end <= reset else 1
        acc = out.setdefault(period, [None, None, 0, 0])
        complete = all(i in cells for i in range(start, end))
        if not complete:
            if start >= lo and end - 1 <= hi:
                acc[3] = int(acc[3] or 0) + 1
            continue
        if start < reset < end and not straddle:
            continue
        acc[2] = int(acc[2] or 0) + 1
        energy = sum(cells[i] for i in range(start, end))
        if acc[0] is None or energy > int(acc[0]):
            acc[0], acc[1] = energy, end
    return {p: (v[0], v[1], int(v[2] or 0), int(v[3] or 0)) for p, v in out.items()}


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    hours=st.integers(2, 4),
    meters=st.integers(1, 3),
    reset_frac=st.floats(0.05, 0.95),
    gap_rate=st.sampled_from([0.0, 0.0, 0.02, 0.1]),
    straddle=st.booleans(),
    windows=st.lists(st.sampled_from(ALL_CONFIGS), min_size=1, max_size=3, unique=True),
)
def test_kernel_equals_the_written_out_definition_for_meters_periods_and_gaps(
    seed: int, hours: int, meters: int, reset_frac: float, gap_rate: float, straddle: bool, windows: list[DemandWindow]
) -> None:
    rng = np.random.default_rng(seed)
    n = 60 * hours
    start = int(datetime(2026, 11, 1, 0, 0, tzinfo=UTC).timestamp())
    reset = max(1, min(n - 1, int(n * reset_frac)))  # a reset at any minute inside the data
    billing = BillingSchedule(reset_day=1, reset_time=time(reset // 60, reset % 60))
    per_meter: dict[str, dict[int, int]] = {}
    for m in range(meters):
        present = rng.random(n) >= gap_rate
        if m == 0:
            present[[0, 1, n - 1]] = True  # fixes the grid (and the interval) to the n minutes from T0
        else:
            present[: int(rng.integers(0, n // 2))] = False  # later meters may start late: not gaps
        if present.sum() < 1:
            present[n - 1] = True
        units = rng.integers(0, 500, n)
        per_meter[f"m{m}"] = {int(i): int(units[i]) for i in np.flatnonzero(present)}
    epoch = np.array([start + 60 * (i + 1) for cells in per_meter.values() for i in cells], dtype=np.int64)
    vals = np.array([u / 100 for cells in per_meter.values() for u in cells.values()])
    ids = np.array([m for m, cells in per_meter.items() for _ in cells], dtype=object)
    profile = profile_from_arrays(epoch, vals, ids, quantity="kwh", on_incomplete="skip")
    results = compute_demand(profile, windows, billing=billing, allow_straddle=straddle)
    got = {(r.meter, r.window, r.billing_period): (r.md_kw, r.at, r.windows, r.skipped) for r in results}
    expected = {}
    for meter, cells in per_meter.items():
        for window in windows:
            ref = reference_md(cells, n, window, reset, straddle)
            # both periods hold data (meter m0 has the first and the last minute), so both are listed for every
            # meter and configuration, without a maximum where no window counts
            for period in (0, 1):
                best, end, counted, skipped = ref.get(period, (None, None, 0, 0))
                expected[(meter, window, ("2026-10", "2026-11")[period])] = (
                    None if best is None else to_kw(best * 10_000, window.period_min),
                    None if end is None else datetime.fromtimestamp(start + 60 * end, UTC),
                    counted,
                    skipped,
                )
    assert got == expected
    with_gaps = {m for m, cells in per_meter.items() if len(cells) != max(cells) - min(cells) + 1}
    assert set(profile.gaps) == with_gaps


def test_a_period_without_maximum_demand_is_no_data_not_within_the_contract() -> None:
    results = compute_demand(read_load_profile(FAQ), [parse_window("fixed 15"), parse_window("fixed 60")])
    within, empty = assess(results, Decimal(150), Decimal("12.50"))
    assert within.exceeded is False and within.excess_kw == Decimal("0") and within.penalty == Decimal("0.00")
    assert empty.result.md_kw is None  # no complete hour in half an hour of data
    assert empty.exceeded is None and empty.excess_kw is None and empty.penalty is None


@given(st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=50), st.sampled_from([5, 15, 30, 60]))
def test_vectorised_rounding_equals_the_decimal_rounding(energies: list[int], period: int) -> None:
    from meterkit.analytics.engine import centikw, to_kw

    got = centikw(np.array(energies, dtype=np.int64), period).tolist()
    assert got == [int(to_kw(e, period) * 100) for e in energies]
