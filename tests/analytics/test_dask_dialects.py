"""``--dask`` reads the files people have as the single-process path does: a ``;``/decimal-comma Latin-1 portal export
with a preamble, separate date and time columns, ``--label start``, a format profile, a folder of such exports."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from meterkit.cli.app import main

pytest.importorskip("dask")

DATA = Path(__file__).parent / "data"
PORTAL = DATA / "portal_berlin.csv"
DATE_TIME = DATA / "portal_date_time.csv"
A1 = "DE00012345678900000000000000000A1"
A2 = "DE00012345678900000000000000000A2"


def both(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    """The JSON output without and with --dask, which must be equal."""
    code = main(["demand", *args, "--format", "json"])
    single, err = capsys.readouterr()
    assert (code, err) == (0, "")
    code = main(["demand", *args, "--format", "json", "--dask"])
    fleet, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert json.loads(fleet) == json.loads(single)
    doc = json.loads(single)
    assert isinstance(doc, dict)
    return doc


def md(doc: dict[str, object]) -> list[tuple[str, str, float | None, str | None]]:
    results = doc["results"]
    assert isinstance(results, list)
    return [(r["meter"], f"{r['method']} {r['period_min']}", r["md_kw"], r["at"]) for r in results]


def test_a_semicolon_decimal_comma_portal_export_gives_the_same_md_with_dask(
    capsys: pytest.CaptureFixture[str],
) -> None:
    doc = both(capsys, str(PORTAL), "--tz", "Europe/Berlin", "--fixed", "15", "--fixed", "60")
    # by hand (see test_your_file): 25.125 kWh in the quarter ending the second 02:30 (CET) for A1, 7.5 kWh in the
    # one ending the first 02:30 (CEST) for A2
    assert md(doc) == [
        (A1, "fixed 15", 100.5, "2026-10-25T02:30:00+01:00"),
        (A2, "fixed 15", 30.0, "2026-10-25T02:30:00+02:00"),
        (A1, "fixed 60", 40.13, "2026-10-25T03:00:00+01:00"),
        (A2, "fixed 60", 15.0, "2026-10-25T02:00:00+01:00"),
    ]


def test_explicit_dialect_options_and_a_format_profile_work_with_dask(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    options = ["--sep", ";", "--decimal", ",", "--encoding", "latin-1", "--skip-rows", "3"]
    columns = ["--columns", "timestamp=Datum/Zeit,kwh=Wert (kWh),meter=Zählpunkt"]
    doc = both(capsys, str(PORTAL), "--tz", "Europe/Berlin", "--fixed", "15", *options, *columns)
    assert [r[2] for r in md(doc)] == [100.5, 30.0]
    profile = tmp_path / "portal.toml"
    profile.write_text('sep = ";"\ndecimal = ","\n[columns]\ndate = "Datum"\ntime = "Uhrzeit"\nkwh = "Wert"\n')
    doc = both(capsys, str(DATE_TIME), "--tz", "Europe/Berlin", "--all", "--format-profile", str(profile))
    assert md(doc) == [
        ("portal_date_time", "fixed 15", 17.0, "2026-10-25T02:15:00+01:00"),
        ("portal_date_time", "fixed 30", 10.5, "2026-10-25T02:30:00+01:00"),
        ("portal_date_time", "fixed 60", 7.25, "2026-10-25T03:00:00+01:00"),
    ]


def test_interval_starts_and_a_folder_of_exports_with_dask(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--tz", "Europe/Berlin", "--columns", "date=Datum,time=Uhrzeit,kwh=Wert", "--fixed", "15"]
    doc = both(capsys, str(DATE_TIME), *args, "--label", "start", "--skip-incomplete")
    assert md(doc) == [("portal_date_time", "fixed 15", 17.0, "2026-10-25T02:30:00+01:00")]
    folder = tmp_path / "exports"
    folder.mkdir()
    for name in ("north", "south"):
        shutil.copy(DATE_TIME, folder / f"{name}.csv")
    doc = both(capsys, str(folder), *args)
    assert md(doc) == [
        ("north", "fixed 15", 17.0, "2026-10-25T02:15:00+01:00"),
        ("south", "fixed 15", 17.0, "2026-10-25T02:15:00+01:00"),
    ]
