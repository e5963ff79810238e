"""Portal exports with the date and the time of day in separate columns (``Datum;Uhrzeit;Wert``): joined into the
timestamp with the same local-time rules as one column (the repeated hour of the autumn DST change, the spring gap),
the same ``--label start|end``, given with ``--columns date=…,time=…`` or a format profile, or found by the names."""

from __future__ import annotations

import json
from datetime import date, time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from meterkit.cli.app import main
from meterkit.errors import ConfigError, DataError
from meterkit.loadprofile import read_load_profile
from meterkit.loadprofile.dialect import FileFormat, load_format_profile, parse_columns

DATA = Path(__file__).parent / "data"
# 25.10.2026 in Europe/Berlin, 15-minute kWh, interval ends 00:15 to 04:00 local time: the hour 02:00-03:00 twice
# (first CEST, then CET after the clocks went back at 03:00 CEST).  1 kWh a quarter hour, except 3 kWh in the
# quarter ending at the first 02:30 (CEST) and 4.25 kWh in the one ending at the second 02:15 (CET).
PORTAL = DATA / "portal_date_time.csv"
COLUMNS = "date=Datum,time=Uhrzeit,kwh=Wert"


def demand(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object], str]:
    code = main(["demand", *args, "--format", "json"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out else {}), err


def rows(doc: dict[str, object]) -> list[tuple[str, float | None, str | None, int]]:
    results = doc["results"]
    assert isinstance(results, list)
    return [(f"{r['method']} {r['period_min']}", r["md_kw"], r["at"], r["windows"]) for r in results]


def test_date_and_time_columns_read_the_repeated_hour_in_file_order(capsys: pytest.CaptureFixture[str]) -> None:
    code, doc, err = demand(capsys, str(PORTAL), "--tz", "Europe/Berlin", "--columns", COLUMNS, "--all")
    assert (code, err) == (0, "")
    # by hand: 4.25 kWh in 15 min = 17 kW, ending 02:15 CET; the half hour 02:00-02:30 CET holds 4.25 + 1 = 5.25 kWh
    # (10.5 kW; the CEST half hour 02:00-02:30 only 1 + 3 = 4); the hour 02:00-03:00 CET 7.25 kWh (CEST: 6)
    assert rows(doc) == [
        ("fixed 15", 17.0, "2026-10-25T02:15:00+01:00", 20),
        ("fixed 30", 10.5, "2026-10-25T02:30:00+01:00", 10),
        ("fixed 60", 7.25, "2026-10-25T03:00:00+01:00", 5),  # 00:00 CEST to 04:00 CET: 5 hours
    ]


def test_date_and_time_columns_as_interval_starts(capsys: pytest.CaptureFixture[str]) -> None:
    code, doc, _ = demand(
        capsys, str(PORTAL), "--tz", "Europe/Berlin", "--columns", COLUMNS, "--all", "--label", "start"
    )
    # each stamp starts its quarter: the 4.25 kWh quarter is 02:15-02:30 CET; the grid's first quarter hour
    # (00:00-00:15 CEST) is before the first reading, so one half hour and one hour fewer are complete
    assert code == 0
    assert rows(doc) == [
        ("fixed 15", 17.0, "2026-10-25T02:30:00+01:00", 20),
        ("fixed 30", 10.5, "2026-10-25T02:30:00+01:00", 9),
        ("fixed 60", 7.25, "2026-10-25T03:00:00+01:00", 4),
    ]


def test_date_and_time_columns_are_found_by_their_names(tmp_path: Path) -> None:
    text = PORTAL.read_text().replace("Datum;Uhrzeit;Wert", "Datum;Uhrzeit;Wert (kWh)")
    (tmp_path / "named.csv").write_text(text)
    profile = read_load_profile(tmp_path / "named.csv", tz="Europe/Berlin")
    given = read_load_profile(PORTAL, tz="Europe/Berlin", fmt=FileFormat(columns=parse_columns(COLUMNS)))
    assert profile.start == given.start and profile.energy.tolist() == given.energy.tolist()
    assert profile.energy[:, 0].tolist()[9:14] == [3_000_000, 1_000_000, 1_000_000, 4_250_000, 1_000_000]
    assert profile.meters == ["named"] and profile.step_s == 900 and int(profile.energy.sum()) == 25_250_000


def test_a_date_column_holding_date_and_time_stays_the_timestamp(tmp_path: Path) -> None:
    f = tmp_path / "both.csv"  # 'Date' holds the whole timestamp: the 'Time' column beside it is not joined to it
    f.write_text("Date;Time;kwh\n2026-11-02 00:15;x;1\n2026-11-02 00:30;x;2\n")
    assert read_load_profile(f).energy[:2, 0].tolist() == [1_000_000, 2_000_000]


def test_date_and_time_in_a_format_profile(tmp_path: Path) -> None:
    fmt = tmp_path / "portal.toml"
    fmt.write_text('sep = ";"\ndecimal = ","\n[columns]\ndate = "Datum"\ntime = "Uhrzeit"\nkwh = "Wert"\n')
    loaded = load_format_profile(fmt)
    assert dict(loaded.columns) == {"date": "Datum", "time": "Uhrzeit", "kwh": "Wert"}
    profile = read_load_profile(PORTAL, tz="Europe/Berlin", fmt=loaded)
    assert int(profile.energy.max()) == 4_250_000
    # a timestamp given on the command line replaces the profile's date and time
    merged = loaded.merged(FileFormat(columns={"timestamp": "Zeit"}))
    assert dict(merged.columns) == {"timestamp": "Zeit", "kwh": "Wert"}


def test_the_spring_gap_is_an_error_naming_the_row(tmp_path: Path) -> None:
    f = tmp_path / "spring.csv"  # 29.03.2026: 02:00-03:00 does not exist in Europe/Berlin
    f.write_text("Datum;Uhrzeit;Wert\n29.03.2026;01:45;1,0\n29.03.2026;02:00;1,0\n29.03.2026;02:15;1,0\n")
    # 02:00 and 02:15 do not exist that night (02:00 CET is 03:00 CEST)
    with pytest.raises(DataError, match=r"2 local timestamp\(s\) do not exist in Europe/Berlin .*, rows 2, 3$"):
        read_load_profile(f, tz="Europe/Berlin", fmt=FileFormat(columns=parse_columns(COLUMNS)))


def test_an_unreadable_time_of_day_names_its_row(tmp_path: Path) -> None:
    f = tmp_path / "bad.csv"
    f.write_text("Datum;Uhrzeit;Wert\n02.11.2026;00:15;1,0\n02.11.2026;1 Uhr;1,0\n")
    with pytest.raises(DataError, match=r"1 unreadable timestamp\(s\) .*rows 2$"):
        read_load_profile(f, fmt=FileFormat(columns=parse_columns(COLUMNS)))


def test_parquet_with_date_and_time_columns(tmp_path: Path) -> None:
    f = tmp_path / "dt.parquet"
    pl.DataFrame(
        {
            "date": [date(2026, 11, 2)] * 4,
            "time": [time(0, 15), time(0, 30), time(0, 45), time(1, 0)],
            "kwh": [1.0, 2.0, 1.5, 0.5],
        }
    ).write_parquet(f)
    profile = read_load_profile(f, tz="Europe/Berlin")  # found by the names and the first cells
    assert profile.energy[:, 0].tolist() == [1_000_000, 2_000_000, 1_500_000, 500_000]
    assert profile.start.isoformat() == "2026-11-01T23:00:00+00:00"  # 00:00 CET


def test_date_and_time_must_be_given_together() -> None:
    with pytest.raises(ConfigError, match="time= names the time-of-day column and needs date="):
        parse_columns("time=Uhrzeit,kwh=Wert")
    with pytest.raises(ConfigError, match="date= needs time="):
        parse_columns("date=Datum,kwh=Wert")
    with pytest.raises(ConfigError, match="give one time column"):
        parse_columns("timestamp=Zeit,date=Datum,time=Uhrzeit")
    with pytest.raises(ConfigError, match="date= needs time="):
        read_load_profile(PORTAL, fmt=FileFormat(columns={"date": "Datum", "kwh": "Wert"}))


def test_24_00_is_the_end_of_the_day(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "eod.csv"  # the day's last quarter hour ends at "24:00", as many portals write it
    f.write_text(
        "Datum;Uhrzeit;Wert\n25.10.2026;23:15;1,0\n25.10.2026;23:30;1,0\n25.10.2026;23:45;2,0\n"
        "25.10.2026;24:00;3,0\n26.10.2026;00:15;1,0\n"
    )
    code, doc, _ = demand(
        capsys, str(f), "--tz", "Europe/Berlin", "--columns", COLUMNS, "--fixed", "15", "--fixed", "30"
    )
    # 3 kWh in the quarter ending 24:00 = 00:00 CET on the 26th: 12 kW; the half hour 23:30-24:00 holds 5 kWh: 10 kW
    assert (code, rows(doc)) == (
        0,
        [("fixed 15", 12.0, "2026-10-26T00:00:00+01:00", 5), ("fixed 30", 10.0, "2026-10-26T00:00:00+01:00", 2)],
    )
    one = tmp_path / "one.csv"  # the same in one column
    one.write_text("timestamp;kwh\n2026-10-25 23:45;2\n2026-10-25 24:00;3\n")
    profile = read_load_profile(one, tz="Europe/Berlin")
    assert profile.energy[-2:, 0].tolist() == [2_000_000, 3_000_000]
    assert profile.end_times()[-1] == np.datetime64("2026-10-25T23:00:00")  # 00:00 CET is 23:00 UTC
