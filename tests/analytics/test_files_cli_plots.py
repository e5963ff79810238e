"""Load-profile files, the ``meterkit demand`` command, plots and the Dask path."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pytest

from meterkit.analytics import ALL_CONFIGS, compute_demand, read_load_profile
from meterkit.analytics.plot import COLORS
from meterkit.cli.app import main
from meterkit.errors import DataError

FAQ = Path(__file__).parents[2] / "examples" / "faq-0900-0930.csv"


def write(tmp_path: Path, text: str, name: str = "p.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


HEADER = "timestamp,kwh\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "no data rows"),
        ("2026-11-02T09:01:00Z,1\n2026-11-02T09:01:00Z,1\n", "1 duplicate timestamp(s) for meter p, rows 2"),
        ("2026-11-02T09:02:00Z,1\n2026-11-02T09:01:00Z,1\n", "1 row(s) out of time order for meter p, rows 2"),
        ("2026-11-02T09:01:00Z,1\n2026-11-02T09:02:00Z,-3\n", "1 negative 'kwh' reading(s), rows 2"),
        ("2026-11-02T09:01:00Z,1\n2026-11-02T09:02:00Z,abc\n", "1 'kwh' value(s) are not numbers, rows 2"),
        ("2026-11-02T09:01:00Z,1\nyesterday,1\n", "1 unreadable timestamp(s) (not ISO-8601 date-times), rows 2"),
        (
            "2026-11-02T09:01:00Z,1\n2026-11-02 25:00,1\n2026-11-02T09:03:00Z,1\n",
            "1 unreadable timestamp(s) (not ISO-8601 date-times), rows 2",
        ),
        (
            "2026-11-02T09:01:00Z,1\n2026-11-02T09:02:00,1\n2026-11-02 25:00,1\n",
            "1 unreadable timestamp(s) (not ISO-8601 date-times), rows 3",
        ),
        (
            "2026-11-02T09:01:00Z,1\n2026-11-02T09:02:00,1\n",
            "1 timestamp(s) without a UTC offset among ones with, rows 2",
        ),
        (
            "2026-11-02T09:01:00Z,1\n2026-13-02T09:02:00Z,1\n",
            "1 unreadable timestamp(s) (not ISO-8601 date-times), rows 2",
        ),
        ("2026-11-02 09:01,1\n2026-11-02 25:00,1\n", "1 unreadable timestamp(s) (not ISO-8601 date-times), rows 2"),
        ("nonsense,1\nrubbish,1\n", "2 unreadable timestamp(s) (not ISO-8601 date-times), rows 1, 2"),
        (
            "2026-11-02T09:01:30Z,1\n2026-11-02T09:02:30Z,1\n",
            "2 timestamp(s) off the grid of 60 s intervals counted from the full hour, rows 1, 2",
        ),
        (
            "2026-11-02T09:01:00Z,1\n2026-11-02T09:02:00Z,1\n2026-11-02T09:04:30Z,1\n",
            "mixed interval lengths (60 s and 150 s)",
        ),
        (
            "2026-11-02T09:01:00Z,1\n2026-11-02T09:02:00Z,1\n2026-11-02T09:05:00Z,1\n",
            "gaps in the data (meter p: 2 missing interval(s), first ending 2026-11-02T09:03:00+00:00 (after row 2))",
        ),
    ],
)
def test_bad_files_fail_with_the_rows_named(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(DataError) as info:
        read_load_profile(write(tmp_path, HEADER + body))
    assert message in str(info.value)


def test_missing_and_ambiguous_columns_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="missing column 'timestamp'"):
        read_load_profile(write(tmp_path, "moment,kwh\n1,2\n"))
    with pytest.raises(DataError, match="needs exactly one of the columns 'kw' or 'kwh'"):
        read_load_profile(write(tmp_path, "timestamp,kw,kwh\n2026-11-02T09:01:00Z,1,1\n"))
    with pytest.raises(DataError, match="no such file"):
        read_load_profile(tmp_path / "nope.csv")


def test_local_timestamps_are_read_in_the_given_zone(tmp_path: Path) -> None:
    body = "".join(f"2026-11-02T10:{m:02d}:00,1\n" for m in range(1, 31))
    profile = read_load_profile(write(tmp_path, HEADER + body), tz="Europe/Berlin")
    assert profile.start.hour == 9  # 10:00 CET = 09:00 UTC


def test_parquet_multi_meter_file(tmp_path: Path) -> None:
    csv = pl.read_csv(FAQ)
    frame = pl.concat(
        [
            csv.with_columns(pl.lit("A").alias("meter")),
            csv.with_columns((pl.col("kwh") * 2).alias("kwh"), pl.lit("B").alias("meter")),
        ]
    )
    path = tmp_path / "fleet.parquet"
    frame.write_parquet(path)
    results = compute_demand(read_load_profile(path), [ALL_CONFIGS[1]])
    assert {r.meter: str(r.md_kw) for r in results} == {"A": "141.00", "B": "282.00"}


def test_cli_json_matches_the_design_shape(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["demand", str(FAQ), "--fixed", "15", "--sliding", "15/1", "--threshold", "150", "--format", "json"]) == 0
    )
    doc = json.loads(capsys.readouterr().out)
    fixed, sliding = doc["results"]
    assert fixed["method"] == "fixed" and fixed["period_min"] == 15 and fixed["sub_min"] == 15
    assert fixed["md_kw"] == 141.0 and fixed["at"] == "2026-11-02T09:15:00+00:00" and fixed["exceeded"] is False
    assert sliding["sub_min"] == 1 and sliding["md_kw"] == 157.0 and sliding["at"] == "2026-11-02T09:22:00+00:00"
    assert sliding["billing_period"] == "2026-11" and sliding["exceeded"] is True and sliding["excess_kw"] == 7.0


def test_cli_all_configurations_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demand", str(FAQ), "--all"]) == 0
    out = capsys.readouterr().out
    assert "0157.00" in out and "0141.00" in out and "0169.80" in out


def test_cli_usage_and_data_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demand", str(FAQ), "--sliding", "15/3"]) == 2
    assert "sliding window 15/3 is not offered" in capsys.readouterr().err
    bad = write(tmp_path, HEADER + "2026-11-02T09:01:00Z,1\n2026-11-02T09:01:00Z,1\n")
    assert main(["demand", str(bad)]) == 1
    assert "duplicate timestamp" in capsys.readouterr().err


def test_png_plot_shows_two_curves_and_the_threshold(tmp_path: Path) -> None:
    from PIL import Image

    out = tmp_path / "md.png"
    assert main(["demand", str(FAQ), "--threshold", "150", "--plot", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = np.asarray(Image.open(out).convert("RGB")).astype(int)

    def count(hex_color: str) -> int:
        rgb = np.array([int(hex_color[i : i + 2], 16) for i in (1, 3, 5)])
        return int((np.abs(image - rgb).sum(axis=2) < 30).sum())

    fixed_px, sliding_px, threshold_px = count(COLORS[0]), count(COLORS[1]), count("#555555")
    assert fixed_px > 1500 and sliding_px > 1500 and threshold_px > 300


def test_html_plot_holds_both_traces(tmp_path: Path) -> None:
    out = tmp_path / "md.html"
    assert main(["demand", str(FAQ), "--threshold", "150", "--plot", str(out)]) == 0
    html = out.read_text()
    text = html.replace("\\u002f", "/")  # plotly escapes '/' inside its JSON
    assert '"name":"fixed 15"' in text and '"name":"sliding 15/1"' in text
    assert '"name":"MD sliding 15/1: 157.00 kW"' in text and '"name":"MD fixed 15: 141.00 kW"' in text


@pytest.mark.slow
def test_dask_on_a_local_cluster_equals_the_single_process_result(tmp_path: Path) -> None:
    # six meters over the 25-hour local day of the end of DST in Berlin, written in local time (the repeated hour
    # twice), a gap in M3, several billing periods (reset on the 25th at 12:00 local) with straddling windows
    distributed = pytest.importorskip("distributed")
    from meterkit.analytics.billing import BillingSchedule
    from meterkit.analytics.fleet import fleet_demand_with_notes

    berlin = ZoneInfo("Europe/Berlin")
    rng = np.random.default_rng(7)
    n, meters = 25 * 60, 6
    start = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)  # 00:00 CEST
    local = [(start + timedelta(minutes=i + 1)).astimezone(berlin).strftime("%Y-%m-%d %H:%M") for i in range(n)]
    assert len(set(local)) == n - 60  # the repeated hour
    rows = []
    for m in range(meters):
        keep = np.ones(n, dtype=bool)
        if m == 3:
            keep[100:105] = False
        rows.append(
            pl.DataFrame(
                {
                    "meter": [f"M{m}"] * int(keep.sum()),
                    "timestamp": [t for t, k in zip(local, keep, strict=True) if k],
                    "kwh": np.round(rng.uniform(0.5, 3.0, n), 3)[keep],
                }
            )
        )
    frame = pl.concat(rows)
    folder = tmp_path / "fleet"
    folder.mkdir()
    for i in range(3):
        frame.filter(pl.col("meter").is_in([f"M{2 * i}", f"M{2 * i + 1}"])).write_parquet(folder / f"part{i}.parquet")
    single_path = tmp_path / "all.parquet"
    frame.write_parquet(single_path)
    billing = BillingSchedule(reset_day=25, reset_time=time(12, 0), tz="Europe/Berlin")
    profile = read_load_profile(single_path, tz="Europe/Berlin", on_incomplete="skip")
    single = compute_demand(profile, ALL_CONFIGS, billing=billing, allow_straddle=True)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        with distributed.Client(cluster) as client:
            fleet = fleet_demand_with_notes(
                folder, ALL_CONFIGS, billing=billing, on_incomplete="skip", allow_straddle=True, scheduler=client
            )
            with pytest.raises(DataError) as info:  # without --skip-incomplete: the single-process error
                fleet_demand_with_notes(folder, ALL_CONFIGS, billing=billing, scheduler=client)
    full = lambda r: (r.meter, r.window, r.billing_period, r.md_kw, r.at, r.windows, r.skipped)  # noqa: E731
    assert [full(r) for r in fleet.results] == [full(r) for r in single]  # same values, same order
    assert len(fleet.results) == meters * 16 * 2 and {r.billing_period for r in single} == {"2026-09", "2026-10"}
    assert sum(r.skipped for r in fleet.results if r.meter == "M3") > 0
    # the gap is named by its time and by the row of its file: M3 follows M2's 1500 rows in part1.parquet, and the
    # 4500 rows of M0-M2 in all.parquet
    gap = "meter M3: 5 missing interval(s), first ending 2026-10-24T23:41:00+00:00"
    assert profile.notes == [f"gaps skipped: {gap} (after row {3 * 1500 + 100})"]
    assert fleet.notes == [f"gaps skipped: {gap} (after row {1500 + 100} of part1.parquet)"]
    assert str(info.value) == (
        f"{folder}: gaps in the data ({gap} (after row 1600 of part1.parquet)); use --skip-incomplete to skip "
        "windows with gaps"
    )
