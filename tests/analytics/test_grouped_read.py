"""Files larger than the memory limit: read by groups of meters in streamed passes, same results as one read."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from meterkit.analytics.grouped import BYTES_PER_ROW, meter_groups
from meterkit.cli.app import main
from meterkit.errors import DataError


def fleet(path: Path, *, duplicate: bool = False, parquet: bool = False) -> Path:
    """Meters A and B from 31 Oct 12:00 to 1 Nov 12:00 UTC (15 min), C only on 1 Nov: interleaved by time."""
    t0 = datetime(2026, 10, 31, 12, 15, tzinfo=UTC)
    rows = ["timestamp,meter,kwh"]
    for i in range(96):
        t = t0 + timedelta(minutes=15 * i)
        for m, base in (("A", 2.0), ("B", 3.0), ("C", 4.0)):
            if m == "C" and t.day == 31:
                continue
            kwh = base + (i % 7) / 4 + (10.0 if (m, i) in (("A", 20), ("B", 70), ("C", 90)) else 0.0)
            rows.append(f"{t.isoformat()},{m},{kwh}")
    if duplicate:
        rows.append(rows[-1])
    path.write_text("\n".join(rows) + "\n")
    if parquet:
        import polars as pl

        out = path.with_suffix(".parquet")
        pl.read_csv(path).write_parquet(out)
        return out
    return path


def demand_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    code = main(["demand", *args, "--all", "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return dict(json.loads(out))


@pytest.mark.parametrize("parquet", [False, True])
def test_meter_groups_give_the_results_of_one_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], parquet: bool
) -> None:
    f = fleet(tmp_path / "fleet.csv", parquet=parquet)
    whole = demand_json(capsys, str(f))
    limit_mb = 100 * BYTES_PER_ROW / 1e6  # 100 rows a group: every meter in a group of its own
    grouped = demand_json(capsys, str(f), "--memory-limit", str(limit_mb))
    assert grouped["notes"] == [*whole.get("notes", []), "read in 3 groups of meters to stay within 0 MB"]  # type: ignore[list-item]
    assert grouped["results"] == whole["results"]
    results = whole["results"]
    assert isinstance(results, list)
    # C's first interval ends at 00:00 on 1 Nov, so counts for October (5.25 kWh: 21 kW, fixed 15 only); its other
    # configurations have no window in October: listed without a maximum, as one read lists them
    c_oct = {(r["method"], r["period_min"], r["sub_min"]): (r["md_kw"], r["windows"]) for r in results
             if r["meter"] == "C" and r["billing_period"] == "2026-10"}  # fmt: skip
    assert c_oct.pop(("fixed", 15, 15)) == (21.0, 1)
    assert len(c_oct) == 2 and set(c_oct.values()) == {(None, 0)}  # fixed 30 and 60 (15-minute data)
    a15 = next(r for r in results if (r["meter"], r["period_min"], r["method"]) == ("A", 15, "fixed"))
    assert (a15["md_kw"], a15["at"]) == (4 * (2.0 + 6 / 4 + 10.0), "2026-10-31T17:15:00+00:00")


def test_errors_in_a_group_name_the_row_of_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = fleet(tmp_path / "dup.csv", duplicate=True)
    code = main(["demand", str(f), "--memory-limit", str(100 * BYTES_PER_ROW / 1e6)])
    out, err = capsys.readouterr()
    # 96 rows each of A and B, 49 of C: the repeated last row is data row 242
    assert (code, out, err) == (1, "", f"meterkit demand: error: {f}: 1 duplicate timestamp(s) for meter C, rows 242\n")


def test_a_meter_larger_than_the_limit_is_one_error_line() -> None:
    with pytest.raises(DataError) as info:
        meter_groups({"A": 10, "B": 500}, 100 * BYTES_PER_ROW, "big.csv")
    assert str(info.value) == (
        "big.csv: meter B alone has 500 rows, about 0 MB in memory, more than the memory limit of 0 MB; "
        "raise --memory-limit or split the file by time"
    )
    assert meter_groups({"C": 60, "A": 50, "B": 40}, 100 * BYTES_PER_ROW, "x") == [["A", "B"], ["C"]]


def long_file(path: Path, bad: dict[int, str]) -> Path:
    """3,000 rows of 1-minute data with some rows replaced (by 0-based data row)."""
    t0 = datetime(2026, 11, 2, 0, 1, tzinfo=UTC)
    rows = ["timestamp,kwh"]
    for i in range(3000):
        rows.append(bad.get(i, f"{(t0 + timedelta(minutes=i)).isoformat()},{1 + i % 5}"))
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({2500: "2026-11-03T17:41:00+00:00,abc"}, "1 'kwh' value(s) are not numbers, rows 2501"),
        (
            {10: "yesterday,1", 2900: "2026-11-04 00:21,1"},
            "1 unreadable timestamp(s) (not ISO-8601 date-times), rows 11",
        ),
        ({2999: "2026-11-04 01:00,1"}, "1 timestamp(s) without a UTC offset among ones with, rows 3000"),
    ],
)
def test_a_large_file_with_odd_cells_names_them_as_a_small_one_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: dict[int, str], message: str
) -> None:
    from meterkit.loadprofile import dialect, read_load_profile

    f = long_file(tmp_path / "odd.csv", bad)
    with pytest.raises(DataError) as whole:
        read_load_profile(f)
    monkeypatch.setattr(dialect, "TEXT_WHOLE", 0)  # as if the file were large: the odd rows are searched first
    with pytest.raises(DataError) as searched:
        read_load_profile(f)
    assert str(searched.value) == str(whole.value) == f"{f}: {message}"
