"""Load-profile files, the ``meterkit demand`` command, plots and the Dask path."""

from __future__ import annotations

import json
from pathlib import Path

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
        ("2026-11-02T09:01:00Z,1\nyesterday,1\n", "1 timestamp(s) without a UTC offset among ones with, rows 2"),
        ("2026-11-02T09:01:00Z,1\n2026-13-02T09:02:00Z,1\n", "1 timestamp(s) are not ISO-8601 date-times, rows 2"),
        (
            "2026-11-02T09:01:00Z,1\n2026-11-02T09:02:00Z,1\n2026-11-02T09:04:30Z,1\n",
            "mixed interval lengths (60 s and 150 s)",
        ),
        (
            "2026-11-02T09:01:00Z,1\n2026-11-02T09:02:00Z,1\n2026-11-02T09:05:00Z,1\n",
            "gaps in the data (meter p: 2 missing interval(s), first ending 2026-11-02T09:03:00+00:00)",
        ),
    ],
)
def test_bad_files_fail_with_the_rows_named(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(DataError) as info:
        read_load_profile(write(tmp_path, HEADER + body))
    assert message in str(info.value)


def test_missing_and_ambiguous_columns_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="missing column 'timestamp'"):
        read_load_profile(write(tmp_path, "time,kwh\n1,2\n"))
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
    distributed = pytest.importorskip("distributed")
    from meterkit.analytics.fleet import fleet_demand

    rng = np.random.default_rng(7)
    n, meters = 24 * 60, 6
    start = np.datetime64("2026-11-01T00:01:00")
    rows = []
    for m in range(meters):
        kwh = np.round(rng.uniform(0.5, 3.0, n), 3)
        rows.append(
            pl.DataFrame(
                {
                    "meter": [f"M{m}"] * n,
                    "timestamp": (start + np.arange(n) * np.timedelta64(60, "s")).astype(str),
                    "kwh": kwh,
                }
            )
        )
    frame = pl.concat(rows).with_columns((pl.col("timestamp") + "Z").alias("timestamp"))
    folder = tmp_path / "fleet"
    folder.mkdir()
    for i in range(3):
        frame.filter(pl.col("meter").is_in([f"M{2 * i}", f"M{2 * i + 1}"])).write_parquet(folder / f"part{i}.parquet")
    single_path = tmp_path / "all.parquet"
    frame.write_parquet(single_path)
    single = compute_demand(read_load_profile(single_path), ALL_CONFIGS)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        with distributed.Client(cluster) as client:
            fleet = fleet_demand(folder, ALL_CONFIGS, scheduler=client)
    key = lambda r: (r.meter, r.window, r.billing_period)  # noqa: E731
    assert [(key(r), r.md_kw, r.at) for r in sorted(single, key=key)] == [(key(r), r.md_kw, r.at) for r in fleet]
    assert len(fleet) == meters * 16
