"""``meterkit demand``: the Dask path against one process (threads scheduler), usage errors, "no data" periods,
progress on a terminal, MD markers per billing period."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from rich.console import Console

from meterkit.cli import demand as demand_cli
from meterkit.cli.app import main

FAQ = Path(__file__).parents[2] / "examples" / "faq-0900-0930.csv"


def berlin_fleet_csv(path: Path) -> Path:
    """Three meters, 15-min energies written in Berlin local time from 30 Oct 22:15 to 1 Nov 22:00 (so across the
    1 Nov billing reset), a three-interval gap in meter B."""
    berlin = ZoneInfo("Europe/Berlin")
    rng = np.random.default_rng(3)
    t0 = datetime(2026, 10, 30, 21, 15, tzinfo=UTC)
    lines = ["timestamp,meter,kwh"]
    for m in ("A", "B", "C"):
        for i in range(4 * 24 * 2):
            t = t0 + timedelta(minutes=15 * i)
            if m == "B" and 50 <= i < 53:
                continue
            lines.append(f"{t.astimezone(berlin).strftime('%Y-%m-%d %H:%M')},{m},{rng.integers(5, 40) / 4}")
    path.write_text("\n".join(lines) + "\n")
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["demand", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_dask_gives_the_single_process_output_with_tz_straddle_and_skipped_gaps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = berlin_fleet_csv(tmp_path / "fleet.csv")
    common = [str(data), "--tz", "Europe/Berlin", "--skip-incomplete", "--fixed", "15", "--fixed", "60"]
    for extra in ([], ["--straddle"]):
        code, single, _ = run(capsys, *common, *extra, "--format", "json")
        assert code == 0
        code, fleet, _ = run(capsys, *common, *extra, "--format", "json", "--dask")
        assert code == 0
        assert fleet == single
    doc = json.loads(single)
    a_oct = doc["results"][0]
    # the data start 30 Oct 21:00 UTC (22:00 CET); October (Berlin) ends 31 Oct 23:00 UTC: 26 h = 104 quarter hours
    assert (a_oct["meter"], a_oct["billing_period"], a_oct["windows"]) == ("A", "2026-10", 104)
    assert [r["skipped_incomplete"] for r in doc["results"][:3]] == [0, 3, 0]
    assert doc["notes"] == [
        "gaps skipped: meter B: 3 missing interval(s), first ending 2026-10-31T09:45:00+00:00 (after row 242)"
    ]


def test_dask_errors_name_the_rows_of_the_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "fleet"
    folder.mkdir()
    header = "timestamp,meter,kwh\n"
    (folder / "part0.csv").write_text(header + "2026-11-02T09:01:00Z,A,1\n2026-11-02T09:02:00Z,A,1\n")
    part1 = folder / "part1.csv"
    part1.write_text(header + "2026-11-02T09:03:00Z,A,1\n2026-11-02T09:01:00Z,B,1\n2026-11-02T09:03:00Z,A,1\n")
    code, _, err = run(capsys, str(folder), "--dask")
    assert (code, err) == (
        1,
        f"meterkit demand: error: {folder}: 1 duplicate timestamp(s) for meter A, rows 3 of part1.csv\n",
    )
    part1.write_text(header + "2026-11-02T09:03:00Z,A,1\n2026-11-02 25:00,B,1\n")
    code, _, err = run(capsys, str(folder), "--dask")
    assert err == f"meterkit demand: error: {part1}: 1 unreadable timestamp(s) (not ISO-8601 date-times), rows 2\n"
    part1.write_text(header + "2026-11-02T09:05:00Z,A,1\n2026-11-02T09:02:00Z,B,1\n")  # B: one reading, A: a gap
    code, _, err = run(capsys, str(folder), "--dask")
    assert (
        code == 1
        and "meter A: 2 missing interval(s), first ending 2026-11-02T09:03:00+00:00 (after row 2 of part0.csv)" in err
    )
    code, out, _ = run(capsys, str(folder), "--dask", "--skip-incomplete", "--format", "json")
    doc = json.loads(out)
    assert code == 0 and {r["meter"] for r in doc["results"]} == {"A", "B"}  # B alone in its partition is fine


def test_an_unreachable_scheduler_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("distributed")
    from meterkit.analytics import fleet

    monkeypatch.setattr(fleet, "CONNECT_TIMEOUT_S", 0.5)
    code, out, err = run(capsys, str(FAQ), "--scheduler", "tcp://127.0.0.1:9")
    assert code == 1 and out == ""
    assert err.startswith("meterkit demand: error: cannot reach the Dask scheduler at tcp://127.0.0.1:9 (")
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--plot", "md.svg"], "--plot md.svg: use a .png or .html file name"),
        (["--all", "--plot", "md.png"], "a plot shows at most 6 configurations, 16 chosen; choose fewer"),
        (["--plot", "md.png", "--dask"], "--plot works on a single file, not with --dask"),
        (["--sliding", "15/3"], "sliding window 15/3 is not offered"),
        (["--rate", "3"], "--rate needs --threshold"),
        (["--tz", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, str(FAQ), *args)
    assert code == 2 and out == ""
    assert err.startswith("meterkit demand: error: ") and message in err and err.count("\n") == 1
    assert not list(tmp_path.iterdir())  # nothing computed, nothing written


def test_a_period_without_md_is_reported_as_no_data(capsys: pytest.CaptureFixture[str]) -> None:
    args = [str(FAQ), "--fixed", "15", "--fixed", "60", "--threshold", "150", "--rate", "12.50"]
    code, out, _ = run(capsys, *args, "--format", "json")
    fixed15, fixed60 = json.loads(out)["results"]
    assert code == 0 and fixed60["md_kw"] is None  # no complete hour in the half hour of data
    assert (fixed60["exceeded"], fixed60["excess_kw"], fixed60["penalty"]) == (None, None, None)
    assert (fixed15["exceeded"], fixed15["excess_kw"], fixed15["penalty"]) == (False, 0.0, 0.0)
    code, out, _ = run(capsys, *args)
    (row60,) = [line for line in out.splitlines() if "fixed 60" in line]
    assert row60.count("no data") == 2 and "within" not in row60


def test_progress_goes_to_a_terminal_stderr_and_json_stays_clean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = io.StringIO()

    def fake_console(*args: object, stderr: bool = False, **kwargs: object) -> Console:
        return Console(file=terminal, force_terminal=True, width=100) if stderr else Console(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(demand_cli, "Console", fake_console)
    data = berlin_fleet_csv(tmp_path / "fleet.csv")
    args = [str(data), "--dask", "--skip-incomplete", "--fixed", "15", "--format", "json"]
    code, out, _ = run(capsys, *args)
    assert code == 0 and len(json.loads(out)["results"]) == 3 * 2  # stdout holds the JSON document only
    assert "meter groups on Dask" in terminal.getvalue() and "1/1" in terminal.getvalue()  # one file, one group
    # not a terminal (the default under pytest): no progress output at all
    monkeypatch.undo()
    code, out, err = run(capsys, *args)
    assert code == 0 and err == "" and json.loads(out)["notes"]


def test_md_of_every_billing_period_is_marked_for_every_curve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # two hours around the 1 Nov reset (UTC) at 60 kW (1 kWh/min), with a burst in each billing period:
    # 23:25-23:32 at 180 kW (7 min, across the 23:30 block boundary) and 00:20-00:30 at 120 kW (10 min, one block)
    start = datetime(2026, 10, 31, 23, 0, tzinfo=UTC)
    per_min = [1.0] * 25 + [3.0] * 7 + [1.0] * 48 + [2.0] * 10 + [1.0] * 30
    lines = ["timestamp,kwh"] + [f"{(start + timedelta(minutes=i + 1)).isoformat()},{v}" for i, v in enumerate(per_min)]
    data = tmp_path / "two.csv"
    data.write_text("\n".join(lines) + "\n")
    html = tmp_path / "md.html"
    code, _, _ = run(capsys, str(data), "--plot", str(html))
    assert code == 0
    text = html.read_text().replace("\\u002f", "/")
    for name in (
        "MD fixed 15 2026-10: 100.00 kW",  # block 23:15-23:30: 5 burst minutes -> 15 + 2·5 = 25 kWh in 1/4 h
        "MD sliding 15/1 2026-10: 116.00 kW",  # 23:17-23:32 holds all 7: 15 + 2·7 = 29 kWh
        "MD fixed 15 2026-11: 100.00 kW",  # 00:15-00:30: 15 + 10 = 25 kWh
        "MD sliding 15/1 2026-11: 100.00 kW",  # the same window: both markers on one point
    ):
        assert f'"name":"{name}"' in text
    assert '"symbol":"circle"' in text and '"symbol":"diamond"' in text
