"""``meterkit demand`` on the files people have: a portal export (Europe/Berlin, ``;``, decimal comma, German column
names, Latin-1, a preamble, the repeated hour of the DST change), interval-start files, 15-minute data, units,
standard input, folders, DataFrames; bad values and bad amounts as one line with an exit code."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from meterkit.analytics import compute_demand, parse_window
from meterkit.analytics.choice import choose_windows
from meterkit.analytics.threshold import parse_amount
from meterkit.cli.app import main
from meterkit.errors import ConfigError, DataError
from meterkit.loadprofile import read_load_profile
from meterkit.loadprofile.dialect import FileFormat, load_format_profile, parse_columns

DATA = Path(__file__).parent / "data"
PORTAL = DATA / "portal_berlin.csv"
A1 = "DE00012345678900000000000000000A1"
A2 = "DE00012345678900000000000000000A2"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["demand", *args])
    out, err = capsys.readouterr()
    return code, out, err


def md_rows(doc: dict[str, object]) -> list[tuple[str, str, float | None, str | None]]:
    rows = doc["results"]
    assert isinstance(rows, list)
    return [
        (r["meter"], ("fixed " if r["method"] == "fixed" else "sliding ") + str(r["period_min"]), r["md_kw"], r["at"])
        for r in rows
    ]


def test_portal_export_gives_every_window_its_15_minute_data_allow_in_local_time(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, str(PORTAL), "--tz", "Europe/Berlin", "--all", "--format", "json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert doc["tz"] == "Europe/Berlin"
    # by hand: A1 reads 5 kWh per quarter hour but 25.125 kWh in the quarter ending 02:30 CET (the second 02:30,
    # after the clocks went back); A2 reads 2.5 but 7.5 in the quarter ending at the first 02:30 (CEST)
    assert md_rows(doc) == [
        (A1, "fixed 15", 100.5, "2026-10-25T02:30:00+01:00"),
        (A2, "fixed 15", 30.0, "2026-10-25T02:30:00+02:00"),
        (A1, "fixed 30", 60.25, "2026-10-25T02:30:00+01:00"),
        (A2, "fixed 30", 20.0, "2026-10-25T02:30:00+02:00"),
        (A1, "fixed 60", 40.13, "2026-10-25T03:00:00+01:00"),  # 40.125 kWh in the hour, half-up
        (A2, "fixed 60", 15.0, "2026-10-25T02:00:00+01:00"),
    ]
    assert [r["windows"] for r in doc["results"]] == [28, 28, 14, 14, 7, 7]  # 7 hours on the day of 25 hours
    assert doc["notes"] == [
        "not computable from 15-minute data: fixed 5, sliding 5/1, sliding 15/1, sliding 15/5, sliding 30/1, "
        "sliding 30/2, sliding 30/5, sliding 30/6, sliding 60/1, sliding 60/2, sliding 60/5, sliding 60/6, "
        "sliding 60/12"
    ]


def test_default_windows_on_15_minute_data_fall_back_to_the_nearest_and_say_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, str(PORTAL), "--tz", "Europe/Berlin")
    assert code == 0
    assert f"│ {A1} │" in out and f"│ {A2} │" in out  # 33-character ids in full, not cut to one prefix
    assert "2026-10-25 02:30 CET" in out and "2026-10-25 02:30 CEST" in out
    assert "(times in Europe/Berlin)" in out
    assert "note: sliding 15/1 is not computable from 15-minute data; showing the nearest, fixed 15" in out
    assert out.count("fixed 15") == 3  # two rows and the note


def test_window_choice_for_5_and_15_minute_data() -> None:
    default = (parse_window("fixed 15"), parse_window("sliding 15/1"))
    five = choose_windows(default, 300, substitute=True)
    assert [w.label for w in five.windows] == ["fixed 15", "sliding 15/5"]
    assert [w.label for w in five.not_computable] == ["sliding 15/1"]
    chosen = choose_windows((parse_window("sliding 60/12"),), 900, substitute=False)
    assert (chosen.windows, chosen.notes) == ((), ("not computable from 15-minute data: sliding 60/12",))


def test_a_chosen_window_the_data_cannot_give_is_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, str(PORTAL), "--tz", "Europe/Berlin", "--sliding", "15/1")
    assert (code, out) == (1, "")
    assert err.strip().endswith(
        "none of the chosen configurations is computable from 15-minute data "
        "(not computable from 15-minute data: sliding 15/1); --all lists those that are"
    )


def start_labelled(path: Path, last_on_boundary: bool = False) -> Path:
    t0 = datetime(2026, 9, 1)
    n = 8 if not last_on_boundary else 4 * 24 * 30 + 1
    lines = ["timestamp,kwh"]
    for i in range(n):
        lines.append(f"{(t0 + timedelta(minutes=15 * i)).strftime('%Y-%m-%d %H:%M')},{'13.5' if i == 0 else '5'}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_interval_start_file_is_detected_by_its_month_boundary_and_can_be_overridden(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = start_labelled(tmp_path / "sept.csv")
    code, out, _ = run(capsys, str(f), "--fixed", "15", "--format", "json")
    doc = json.loads(out)
    # 13.5 kWh in the quarter 00:00-00:15 on 1 Sep: 54 kW in September, no invented August period
    assert (code, md_rows(doc)) == (0, [("sept", "fixed 15", 54.0, "2026-09-01T00:15:00+00:00")])
    assert doc["notes"] == [
        "timestamps read as interval starts: the first one sits on a month boundary (--label end to read them as ends)"
    ]
    code, out, _ = run(capsys, str(f), "--fixed", "15", "--format", "json", "--label", "end")
    doc = json.loads(out)
    assert [r["billing_period"] for r in doc["results"]] == ["2026-08", "2026-09"]
    assert "notes" not in doc
    code, out, _ = run(capsys, str(f), "--fixed", "15", "--format", "json", "--label", "start")
    assert "notes" not in json.loads(out)


def test_month_boundaries_at_both_ends_are_ambiguous_and_warned(tmp_path: Path) -> None:
    profile = read_load_profile(start_labelled(tmp_path / "both.csv", last_on_boundary=True), guess_label=True)
    assert profile.notes == [
        "warning: the first and the last timestamp sit on a month boundary, so it is not clear whether they mark the "
        "start or the end of the intervals; read as ends (--label start|end to decide)"
    ]
    assert profile.start == datetime(2026, 8, 31, 23, 0, tzinfo=UTC)  # the full hour before the first end
    assert profile.energy[3, 0] == 13_500_000  # the first interval ends at 00:00 on 1 Sep (read as an end)


def test_stamps_with_offsets_and_library_reads_are_interval_ends(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "p01.csv"  # as meterkit profile --out writes it: offsets, the first interval ends at 00:00
    f.write_text("timestamp,kwh\n2026-09-01T00:00:00+00:00,13.5\n2026-09-01T00:15:00+00:00,5\n")
    code, out, _ = run(capsys, str(f), "--fixed", "15", "--format", "json")
    doc = json.loads(out)
    assert (code, [r["billing_period"] for r in doc["results"]], "notes" in doc) == (0, ["2026-08", "2026-09"], False)
    assert read_load_profile(start_labelled(tmp_path / "sept.csv")).label == "end"  # the library guesses nothing


def test_columns_units_bom_quoting_and_format_profile(tmp_path: Path) -> None:
    body = '\ufeff"Zeit";"Leistung [W]";"ZP"\n"2026-11-02 00:15";"1.500,0";"X"\n"2026-11-02 00:30";"3.000,0";"X"\n'
    f = tmp_path / "watts.csv"
    f.write_text(body, encoding="utf-8")
    profile = read_load_profile(f, fmt=FileFormat(columns=parse_columns("meter=ZP")))
    assert profile.meters == ["X"]
    assert profile.energy[:2, 0].tolist() == [375_000, 750_000]  # 1.5 kW and 3 kW for 15 minutes, in mWh
    fmt = tmp_path / "portal.toml"
    fmt.write_text(
        'name = "Netzportal"\nsep = ";"\ndecimal = ","\nencoding = "latin-1"\nskip_rows = 3\nlabel = "end"\n'
        '[columns]\ntimestamp = "Datum/Zeit"\nkwh = "Wert (kWh)"\nmeter = "Zählpunkt"\n'
    )
    loaded = load_format_profile(fmt)
    assert (loaded.sep, loaded.decimal, loaded.skip_rows, loaded.columns["kwh"]) == (";", ",", 3, "Wert (kWh)")
    berlin = read_load_profile(PORTAL, fmt=loaded, tz="Europe/Berlin")
    assert (berlin.meters, berlin.step_s, int(berlin.energy.sum())) == ([A1, A2], 900, 160_125_000 + 75_000_000)
    with pytest.raises(ConfigError, match="unknown role 'kwhh'"):
        parse_columns("kwhh=Wert")


def test_unit_missing_from_the_name_is_asked_for(tmp_path: Path) -> None:
    f = tmp_path / "u.csv"
    f.write_text("Zeitstempel;Wert\n2026-11-02 00:15;1,5\n2026-11-02 00:30;1,5\n")
    with pytest.raises(
        DataError, match=r"the unit of column 'Wert' is not in its name; give it with --columns kwh=Wert"
    ):
        read_load_profile(f)
    profile = read_load_profile(f, fmt=FileFormat(columns={"wh": "Wert"}))
    assert profile.energy[:2, 0].tolist() == [1_500, 1_500]  # 1.5 Wh


def test_standard_input_and_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    class Stdin:
        buffer = io.BytesIO(PORTAL.read_bytes())

    monkeypatch.setattr("sys.stdin", Stdin)
    code, out, _ = run(capsys, "-", "--tz", "Europe/Berlin", "--fixed", "15", "--format", "json")
    assert (code, [r[2] for r in md_rows(json.loads(out))]) == (0, [100.5, 30.0])
    folder = tmp_path / "many"
    folder.mkdir()
    for day in (1, 2):
        lines = ["timestamp,kwh"] + [f"2026-11-0{day}T{h:02d}:00:00Z,{day * 10}" for h in range(1, 24)]
        (folder / f"m{day}.csv").write_text("\n".join(lines) + "\n")
    code, out, err = run(capsys, str(folder), "--fixed", "60", "--format", "json")
    # two files, two meters (named by file)
    assert code == 0, err
    assert [(r[0], r[2]) for r in md_rows(json.loads(out))] == [("m1", 10.0), ("m2", 20.0)]


def test_dates_in_two_files_name_their_file(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "a.csv").write_text("timestamp,kwh,meter\n2026-11-01T01:00Z,1,A\n2026-11-01T02:00Z,1,A\n")
    (folder / "b.csv").write_text("timestamp,kwh,meter\n2026-11-01T03:00Z,1,A\n2026-11-01T03:00Z,1,A\n")
    with pytest.raises(DataError) as info:
        read_load_profile(folder)
    assert str(info.value) == f"{folder}: 1 duplicate timestamp(s) for meter A, rows 2 of {folder / 'b.csv'}"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1e17", "1 'kwh' value(s) too large to compute with exactly (at most 1.15e+12 kWh per interval), rows 2"),
        ("9e12", "1 'kwh' value(s) too large to compute with exactly (at most 1.15e+12 kWh per interval), rows 2"),
        ("300000", "1 'kwh' value(s) above a plausible 1e+06 kW average power, rows 2 (--max-kw raises the limit)"),
    ],
)
def test_values_beyond_range_are_errors_naming_their_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, message: str
) -> None:
    f = tmp_path / "big.csv"
    f.write_text(f"timestamp,kwh\n2026-09-01T00:15Z,1\n2026-09-01T00:30Z,{value}\n2026-09-01T00:45Z,1\n")
    code, out, err = run(capsys, str(f), "--fixed", "15")
    assert (code, out, err) == (1, "", f"meterkit demand: error: {f}: {message}\n")


def test_max_kw_raises_the_plausible_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "big.csv"
    f.write_text("timestamp,kwh\n2026-09-01T00:15Z,1\n2026-09-01T00:30Z,300000\n2026-09-01T00:45Z,1\n")
    code, out, _ = run(capsys, str(f), "--fixed", "15", "--max-kw", "2e6", "--format", "json")
    assert (code, json.loads(out)["results"][0]["md_kw"]) == (0, 1_200_000.0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--threshold", "nan"], "--threshold 'nan' is not a finite number"),
        (["--threshold", "inf"], "--threshold 'inf' is not a finite number"),
        (["--threshold", "-5"], "--threshold '-5' must not be negative"),
        (["--threshold", "100", "--rate", "nan"], "--rate 'nan' is not a finite number"),
        (
            ["--threshold", "100", "--rate", "1,500"],
            "--rate '1,500' is ambiguous (a decimal comma or a thousands separator?); write 1.500 or 1500",
        ),
        (["--columns", "kwh"], "--columns 'kwh': write ROLE=COLUMN, e.g. kwh=Wert"),
        (["--decimal", ";"], "--decimal ';': use '.' or ','"),
        (["--encoding", "klingon"], "--encoding 'klingon': unknown encoding"),
        (["--dask", "--sep", "::"], "--sep '::': give one character (or 'tab')"),
        (["--max-kw", "nan"], "--max-kw nan: give a positive finite number"),
    ],
)
def test_bad_amounts_and_options_are_usage_errors(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = run(capsys, str(PORTAL), *args)
    assert (code, out, err) == (2, "", f"meterkit demand: error: {message} (see 'meterkit demand --help')\n")


def test_amounts_as_people_type_them() -> None:
    assert parse_amount("12,5", "--rate") == Decimal("12.5")
    assert parse_amount("1.234,5", "--rate") == Decimal("1234.5")
    assert parse_amount("1,234.5", "--rate") == Decimal("1234.5")
    assert parse_amount("0.15", "--rate") == Decimal("0.15")
    with pytest.raises(ConfigError, match="is not a number"):
        parse_amount("1,2,3.4.5", "--rate")


def test_dataframes_and_arrays_give_the_file_s_results() -> None:
    expected = compute_demand(
        read_load_profile(PORTAL, tz="Europe/Berlin"), ["fixed 15", "fixed 60"], tz="Europe/Berlin"
    )
    frame = pl.read_csv(PORTAL, separator=";", skip_rows=3, encoding="utf8-lossy", infer_schema_length=0)
    frame = frame.rename({frame.columns[0]: "meter"})
    assert compute_demand(frame, ["fixed 15", "fixed 60"], tz="Europe/Berlin") == expected
    utc_frame = pd.DataFrame(
        {"kwh": [5.0, 5.0, 25.125, 5.0]},
        index=pd.date_range("2026-10-25 01:15", periods=4, freq="15min", tz="UTC", name="timestamp"),
    )
    by_pandas = compute_demand(utc_frame, ["fixed 15"])
    assert (by_pandas[0].md_kw, by_pandas[0].at) == (Decimal("100.50"), datetime(2026, 10, 25, 1, 45, tzinfo=UTC))
    array = np.array([[5.0, 2.5], [5.0, 7.5], [25.125, 2.5], [5.0, 2.5]])
    by_array = compute_demand(
        array, ["fixed 15"], start=datetime(2026, 10, 25, 1, 0, tzinfo=UTC), step=timedelta(minutes=15), meters=[A1, A2]
    )
    assert [(r.meter, r.md_kw, r.at) for r in by_array] == [
        (A1, Decimal("100.50"), datetime(2026, 10, 25, 1, 45, tzinfo=UTC)),
        (A2, Decimal("30.00"), datetime(2026, 10, 25, 1, 30, tzinfo=UTC)),
    ]
    with pytest.raises(ConfigError, match="needs start="):
        compute_demand(array)


def test_html_plot_with_plotly_from_the_cdn_is_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inline, cdn = tmp_path / "inline.html", tmp_path / "cdn.html"
    assert run(capsys, str(PORTAL), "--tz", "Europe/Berlin", "--plot", str(inline))[0] == 0
    assert run(capsys, str(PORTAL), "--tz", "Europe/Berlin", "--plot", str(cdn), "--plot-js", "cdn")[0] == 0
    small, big = cdn.read_text(), inline.read_text()
    assert len(small) < 100_000 < len(big)
    assert 'src="https://cdn.plot.ly/' in small and "local time (Europe\\u002fBerlin)" in small


def test_plot_into_a_missing_folder_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "nope" / "p.png"
    code, out, err = run(capsys, str(PORTAL), "--plot", str(target))
    assert (code, out, err) == (
        2,
        "",
        f"meterkit demand: error: --plot {target}: the folder {target.parent} does not exist (see 'meterkit demand --help')\n",
    )


def test_html_plot_marks_the_billing_reset_and_starts_at_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.analytics.test_demand_cli import berlin_fleet_csv

    data = berlin_fleet_csv(tmp_path / "fleet.csv")
    out = tmp_path / "p.html"
    code = main(["demand", str(data), "--tz", "Europe/Berlin", "--skip-incomplete", "--plot", str(out), "--plot-js",
                 "cdn", "--fixed", "15"])  # fmt: skip
    capsys.readouterr()
    html = out.read_text()
    assert code == 0
    assert "billing period 2026-11" in html and '"rangemode":"tozero"' in html
    assert '"x0":"2026-11-01T00:00:00","x1":"2026-11-01T00:00:00"' in html  # the reset at local midnight
