"""Local time: the grid starts at the billing zone's full hour, local timestamps through both DST changes, rows named
in time-related errors and gap notes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from meterkit.analytics import compute_demand, parse_window, read_load_profile
from meterkit.analytics.billing import BillingSchedule
from meterkit.errors import DataError

BERLIN = ZoneInfo("Europe/Berlin")


def write(tmp_path: Path, lines: list[str], header: str = "timestamp,kwh", name: str = "p.csv") -> Path:
    path = tmp_path / name
    path.write_text(header + "\n" + "".join(line + "\n" for line in lines))
    return path


def local_rows(first_end_utc: datetime, n: int, step_min: int) -> list[datetime]:
    """End times of ``n`` intervals in time order (UTC instants; written as local times they pass a DST change)."""
    return [first_end_utc + timedelta(minutes=step_min * i) for i in range(n)]


def test_fixed_windows_start_at_the_local_full_hour_of_a_half_hour_zone(tmp_path: Path) -> None:
    # Asia/Kolkata is UTC+5:30: 10:00-12:00 local is 04:30-06:30 UTC; 60 kW in the first hour, 120 kW in the second
    lines = [
        f"{(datetime(2026, 11, 2, 10, 0) + timedelta(minutes=m)).isoformat()},{1 if m <= 60 else 2}"
        for m in range(1, 121)
    ]
    path = write(tmp_path, lines)
    profile = read_load_profile(path, tz="Asia/Kolkata")
    assert profile.start == datetime(2026, 11, 2, 4, 30, tzinfo=UTC)  # 10:00 local
    assert profile.n_steps == 120 and profile.valid is None
    billing = BillingSchedule(tz="Asia/Kolkata")
    (fixed60, fixed30, sliding) = compute_demand(
        profile, [parse_window("fixed 60"), parse_window("fixed 30"), parse_window("sliding 60/12")], billing=billing
    )
    # two whole local hours: 10:00-11:00 (60 kW) and 11:00-12:00 (120 kW, ending 06:30 UTC)
    assert (fixed60.md_kw, fixed60.at, fixed60.windows) == (
        Decimal("120.00"),
        datetime(2026, 11, 2, 6, 30, tzinfo=UTC),
        2,
    )
    assert fixed30.windows == 4 and fixed30.at == datetime(2026, 11, 2, 6, 0, tzinfo=UTC)  # 11:00-11:30 local
    # sliding 60/12 ends every 12 minutes from the local hour: 11:00, 11:12, ..., 12:00 local -> 6 windows
    assert sliding.windows == 6 and sliding.md_kw == Decimal("120.00")
    # the same instants written with offsets give the same grid when the billing zone is Kolkata
    offsets = [
        f"{(datetime(2026, 11, 2, 10, 0) + timedelta(minutes=m)).isoformat()}+05:30,{1 if m <= 60 else 2}"
        for m in range(1, 121)
    ]
    again = read_load_profile(write(tmp_path, offsets, name="o.csv"), tz="Asia/Kolkata")
    assert again.start == profile.start
    # hourly data at local full hours are on the local grid, not the UTC one
    hourly = [f"2026-11-02T{h:02d}:00:00+05:30,{h}" for h in range(11, 15)]
    assert read_load_profile(write(tmp_path, hourly, name="h.csv"), tz="Asia/Kolkata").step_s == 3600
    with pytest.raises(
        DataError, match=r"4 timestamp\(s\) off the grid of 3600 s intervals counted from the full hour"
    ):
        read_load_profile(write(tmp_path, hourly, name="h2.csv"))  # in UTC these are hh:30


def test_local_file_through_the_repeated_hour_at_the_end_of_dst_is_read_by_order(tmp_path: Path) -> None:
    # 2026-10-25 in Berlin: 03:00 CEST becomes 02:00 CET, so 02:00-02:45 appear twice; two meters interleaved
    ends = local_rows(datetime(2026, 10, 24, 22, 15, tzinfo=UTC), 20, 15)  # 00:15 CEST .. 04:00 CET
    lines = []
    for t in ends:
        local = t.astimezone(BERLIN).replace(tzinfo=None).isoformat(sep=" ")
        spike = t == datetime(2026, 10, 25, 1, 15, tzinfo=UTC)  # 02:15 CET: the second 02:15
        lines.append(f"{local},A,{10 if spike else 1}")
        lines.append(f"{local},B,{10 if t == datetime(2026, 10, 25, 0, 15, tzinfo=UTC) else 2}")  # the first 02:15
    assert sum(line.startswith("2026-10-25 02:15") for line in lines) == 4
    profile = read_load_profile(write(tmp_path, lines, header="timestamp,meter,kwh"), tz="Europe/Berlin")
    assert profile.start == datetime(2026, 10, 24, 22, 0, tzinfo=UTC)  # 00:00 CEST
    assert profile.n_steps == 20 and profile.valid is None  # 5 real hours, no gap, no duplicate
    a, b = compute_demand(profile, [parse_window("fixed 15")], billing=BillingSchedule(tz="Europe/Berlin"))
    assert (a.meter, a.md_kw, a.at) == ("A", Decimal("40.00"), datetime(2026, 10, 25, 1, 15, tzinfo=UTC))
    assert (b.meter, b.md_kw, b.at) == ("B", Decimal("40.00"), datetime(2026, 10, 25, 0, 15, tzinfo=UTC))
    # Parquet with naive date-times is read the same way
    frame = pl.DataFrame(
        {
            "timestamp": [datetime.fromisoformat(line.split(",")[0]) for line in lines],
            "meter": [line.split(",")[1] for line in lines],
            "kwh": [float(line.split(",")[2]) for line in lines],
        }
    )
    frame.write_parquet(tmp_path / "p.parquet")
    again = read_load_profile(tmp_path / "p.parquet", tz="Europe/Berlin")
    assert again.start == profile.start and (again.energy == profile.energy).all()


def test_local_file_across_the_start_of_dst_and_a_time_that_does_not_exist(tmp_path: Path) -> None:
    # 2026-03-29 in Berlin: 02:00 CET becomes 03:00 CEST; a meter's local clock goes 01:45 -> 03:00
    ends = local_rows(datetime(2026, 3, 29, 0, 15, tzinfo=UTC), 8, 15)  # 01:15 CET .. 04:00 CEST
    lines = [f"{t.astimezone(BERLIN).replace(tzinfo=None).isoformat(sep=' ')},1" for t in ends]
    assert [line[11:16] for line in lines[2:5]] == ["01:45", "03:00", "03:15"]
    profile = read_load_profile(write(tmp_path, lines), tz="Europe/Berlin")
    assert profile.start == datetime(2026, 3, 29, 0, 0, tzinfo=UTC) and profile.valid is None
    (r,) = compute_demand(profile, [parse_window("fixed 60")])
    assert r.windows == 2 and r.md_kw == Decimal("4.00")
    # a local time in the skipped hour is an error naming its row
    bad = [*lines[:3], "2026-03-29 02:15:00,1", *lines[3:]]
    with pytest.raises(DataError) as info:
        read_load_profile(write(tmp_path, bad, name="bad.csv"), tz="Europe/Berlin")
    assert str(info.value) == (
        f"{tmp_path / 'bad.csv'}: 1 local timestamp(s) do not exist in Europe/Berlin (skipped when the clocks go "
        "forward), rows 4"
    )


def test_gap_messages_name_the_row_before_the_gap(tmp_path: Path) -> None:
    lines = [f"2026-11-02T09:{m:02d}:00Z,1" for m in (1, 2, 3, 4, 7, 8, 9)]
    with pytest.raises(DataError) as info:
        read_load_profile(write(tmp_path, lines))
    assert "meter p: 2 missing interval(s), first ending 2026-11-02T09:05:00+00:00 (after row 4)" in str(info.value)
    profile = read_load_profile(write(tmp_path, lines), on_incomplete="skip")
    assert profile.notes == [
        "gaps skipped: meter p: 2 missing interval(s), first ending 2026-11-02T09:05:00+00:00 (after row 4)"
    ]
