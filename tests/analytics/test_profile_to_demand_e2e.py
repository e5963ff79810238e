"""``meterkit profile --out FILE`` from a served meter, then ``meterkit demand FILE``: two commands, CSV and Parquet."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from meterkit.cli.app import main
from meterkit.meter.virtual import load_virtual_meter
from tests.e2e.conftest import running_meter

pytestmark = pytest.mark.e2e

READ_PASSWORD = "20261125"  # examples/demo-meter.toml


def replay_file(path: Path) -> Path:
    """One day of 15-minute energies, 3.25 / 10.5 / 7.125 kWh in turn, 31.25 kWh (for 10.5)
    in the quarter ending 10:15."""
    t0 = datetime(2026, 11, 2, 0, 15, tzinfo=UTC)
    rows = ["timestamp,kwh"]
    for i in range(96):
        kwh = 31.25 if i == 40 else (3.25, 10.5, 7.125)[i % 3]
        rows.append(f"{(t0 + timedelta(minutes=15 * i)).isoformat()},{kwh}")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_profile_from_a_served_meter_feeds_demand(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vm = load_virtual_meter(None, None, replay=replay_file(tmp_path / "replay.csv"))
    csv_out, parquet_out = tmp_path / "p01.csv", tmp_path / "p01.parquet"
    with running_meter(vm, ["tcp://127.0.0.1:0"]) as ep:
        assert main(["profile", ep["tcp"], "--password", READ_PASSWORD, "--out", str(csv_out)]) == 0
        assert main(["profile", ep["tcp"], "--password", READ_PASSWORD, "--out", str(parquet_out)]) == 0
    assert capsys.readouterr().out.count("96 profile intervals written to") == 2
    lines = csv_out.read_text().splitlines()
    assert lines[0] == "timestamp,meter,kwh,kwh_export,kvarh_q_plus,kvarh_q_minus,status,incomplete,clock_set"
    assert lines[1].startswith("2026-11-02T00:15:00+00:00,VM3PH-100,3.250,0.000,")
    assert lines[1].endswith(",00,false,false")
    assert pl.read_parquet(parquet_out)["kwh"].sum() == pytest.approx(32 * 20.875 - 10.5 + 31.25)
    docs = []
    for f in (csv_out, parquet_out):
        assert main(["demand", str(f), "--all", "--format", "json"]) == 0
        docs.append(json.loads(capsys.readouterr().out))
    assert docs[0] == docs[1]
    # by hand: 31.25 kWh in 15 min = 125 kW; 10:00-10:30 holds 31.25 + 7.125; 10:00-11:00 also 3.25 + 10.5
    assert [(r["meter"], r["period_min"], r["md_kw"], r["at"]) for r in docs[0]["results"]] == [
        ("VM3PH-100", 15, 125.0, "2026-11-02T10:15:00+00:00"),
        ("VM3PH-100", 30, 76.75, "2026-11-02T10:30:00+00:00"),
        ("VM3PH-100", 60, 52.13, "2026-11-02T11:00:00+00:00"),
    ]
