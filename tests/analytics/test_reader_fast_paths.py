"""The reader's shortcuts give what the general code gives: meter codes from the runs of a grouped file, Unix
seconds of zoned date-times from their stored count, no presence mask exactly when every cell holds a reading."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meterkit.loadprofile.grid import _epoch_s, meter_codes, profile_from_arrays


@settings(max_examples=80)
@given(
    st.lists(st.sampled_from(["b", "a", "ccc", "", "Zählpunkt 7"]), min_size=1, max_size=60),
    st.booleans(),
    st.booleans(),
)
def test_meter_codes_grouped_or_not_text_or_categorical(ids: list[str], grouped: bool, categorical: bool) -> None:
    rows = sorted(ids, key=lambda m: (m != ids[0], m)) if grouped else ids
    series = pl.Series("meter", rows, dtype=pl.String)
    if categorical:
        series = series.cast(pl.Categorical)
    got_ids, codes = meter_codes(series)
    assert got_ids == sorted(set(rows))
    assert [got_ids[c] for c in codes.tolist()] == rows


def test_meter_codes_of_a_long_grouped_column_and_of_nulls() -> None:
    rows = ["M2"] * 20_000 + ["M10"] * 5 + ["M1"] * 3
    ids, codes = meter_codes(pl.Series(rows))
    assert ids == ["M1", "M10", "M2"] and codes[[0, 20_000, 20_005]].tolist() == [2, 1, 0]
    ids, codes = meter_codes(pl.Series(["a", None, None, "a"]))
    assert ids == ["", "a"] and codes.tolist() == [1, 0, 0, 1]


@pytest.mark.parametrize("unit", ["ms", "us", "ns"])
def test_unix_seconds_of_zoned_times_equal_polars_epoch(unit: str) -> None:
    stamps = [
        datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC),
        datetime(2026, 10, 25, 0, 59, 59, 999_000, tzinfo=UTC),
        datetime(2026, 10, 25, 1, 0, tzinfo=UTC),
    ]
    col = pl.Series(stamps).dt.cast_time_unit(unit).dt.convert_time_zone("Europe/Berlin")  # type: ignore[arg-type]
    assert _epoch_s(col).tolist() == col.dt.epoch("s").to_list() == [-1, 1792889999, 1792890000]


def test_presence_mask_only_when_a_cell_is_missing() -> None:
    t0 = int(datetime(2026, 11, 2, tzinfo=UTC).timestamp())
    epoch = np.array([t0 + 900 * i for i in range(1, 9)] * 2, dtype=np.int64)
    meters = np.array(["a"] * 8 + ["b"] * 8, dtype=object)
    values = np.ones(16)
    assert profile_from_arrays(epoch, values, meters, quantity="kwh").valid is None
    keep = np.ones(16, dtype=bool)
    keep[[0, 12]] = False  # a's first quarter hour (the grid still starts at 00:00) and one inside b
    profile = profile_from_arrays(epoch[keep], values[keep], meters[keep], quantity="kwh", on_incomplete="skip")
    assert profile.valid is not None
    assert (~profile.valid).nonzero()[0].tolist() == [0, 4] and (~profile.valid).nonzero()[1].tolist() == [0, 1]
    assert profile.gaps == {
        "b": "meter b: 1 missing interval(s), first ending 2026-11-02T01:15:00+00:00 (after row 11)"
    }
