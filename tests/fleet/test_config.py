"""The fleet file: expansion, determinism, strict one-line errors, per-meter load-profile files."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from meterkit.cli.app import main
from meterkit.errors import ConfigError, DataError
from meterkit.fleet.config import load_fleet
from meterkit.fleet.history import fleet_load, simulate_fleet

from .replay import assert_equal, replay

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fleet-1000.toml"

MINIMAL = """
[fleet]
first_serial = 20000000
count = 3
seed = 5
"""


def test_the_shipped_example_has_1000_meters_with_mixed_windows_and_the_demo_secrets() -> None:
    fleet = load_fleet(EXAMPLE)
    specs = fleet.meters()
    assert [s.serial for s in specs[:2]] == ["10000000", "10000001"]
    assert specs[-1].serial == "10000999" and len(specs) == 1000
    windows = Counter(s.window for s in specs)
    assert set(windows) == {"fixed 15", "sliding 15/1", "sliding 30/5", "fixed 30"}
    assert all(n > 50 for n in windows.values())
    cfg = specs[42].meter_config()
    assert cfg.identity.serial == cfg.identity.device_address == "10000042"
    assert cfg.load_profile.capture_min == 15
    assert cfg.security["read_password"] == "20261125"
    assert cfg.source.replay_pf == specs[42].power_factor
    assert 0.85 <= specs[42].power_factor <= 0.99 and 40 <= specs[42].peak_kw <= 250


def test_the_same_file_gives_the_same_fleet_and_another_seed_another() -> None:
    one, two = load_fleet(EXAMPLE).meters(), load_fleet(EXAMPLE).meters()
    assert [(s.window, s.peak_kw, s.seed, s.shape) for s in one] == [
        (s.window, s.peak_kw, s.seed, s.shape) for s in two
    ]
    other = load_fleet(text=EXAMPLE.read_text().replace("seed = 2026", "seed = 7")).meters()
    assert [s.peak_kw for s in other] != [s.peak_kw for s in one]


def test_a_list_of_serials_and_the_template_defaults() -> None:
    fleet = load_fleet(text='[fleet]\nserials = ["A1", "B2"]\n[template.demand]\nwindow = "sliding 30/2"\n')
    specs = fleet.meters()
    assert [s.serial for s in specs] == ["A1", "B2"]
    assert specs[0].window is None and specs[0].meter_config().demand.window == "sliding 30/2"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[fleet]\ncount = 3\n", "fleet configuration: fleet: give first_serial and count"),
        (MINIMAL + 'serials = ["1"]\n', "give either first_serial and count, or serials"),
        ('[fleet]\nserials = ["01", "1"]\n', "'1' appears twice"),
        (MINIMAL + "colour = 1\n", "fleet.colour: Extra inputs are not permitted"),
        (MINIMAL + '[variation]\nwindows = [{ window = "fixed 7" }]\n', "demand 'fixed 7' is not offered"),
        (MINIMAL + '[variation]\ntariffs = [{ calendar = "x" }]\n', "unknown calendar 'x'"),
        (MINIMAL + "[variation]\npower_factor = [0.9, 1.2]\n", "power_factor: values must lie in"),
        (MINIMAL + "[variation]\npeak_kw = [50, 10]\n", "low <= high"),
        (MINIMAL + '[template.identity]\nserial = "1"\n', "serial and device_address are set per meter"),
        (
            MINIMAL + '[template.demand]\nwindow = "sliding 15/2"\n',
            "fleet configuration: template: demand 'sliding 15/2' is not offered",
        ),
        (MINIMAL + "[calendars.bad]\nseasons = []\n", "calendars.bad"),
        ("[fleet\n", "not valid TOML"),
        ("[fleet]\nfirst_serial = 99999999\ncount = 2\n", "beyond the 8-digit serial"),
    ],
)
def test_bad_fleet_files_give_one_line_naming_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_fleet(text=text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_meters_named_in_the_load_profile_file_take_their_load_from_it(tmp_path: Path) -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    ends = [start + timedelta(minutes=15 * (i + 1)) for i in range(4 * 24 * 3)]
    frame = pl.DataFrame(
        {
            "timestamp": [t.isoformat() for t in ends] * 2,
            "kwh": [round(10 + (i * 37) % 23 * 0.5, 3) for i in range(len(ends))] * 2,
            "meter": ["20000001"] * len(ends) + ["20000002"] * len(ends),
        }
    )
    frame.write_csv(tmp_path / "loads.csv")
    path = tmp_path / "fleet.toml"
    path.write_text(MINIMAL + 'profiles = "loads.csv"\n[template.demand]\nwindow = "sliding 15/1"\n')
    fleet = load_fleet(path)
    specs = fleet.meters()
    assert [s.shape for s in specs] == ["commercial", "file", "file"]
    span = timedelta(days=2)
    histories = {h.serial: h for h in simulate_fleet(fleet, span, start=start)}
    for spec in specs:
        load = fleet_load(fleet, spec, start, span)
        assert load.step_s == (900 if spec.shape == "file" else 60)
        assert_equal(histories[spec.serial], replay(spec.meter_config(), load, 0))
    with pytest.raises(DataError, match="not the history span"):
        list(simulate_fleet(fleet, timedelta(days=4), start=start))


def test_a_load_profile_file_naming_a_stranger_is_refused(tmp_path: Path) -> None:
    pl.DataFrame({"timestamp": ["2026-11-01T00:15:00+00:00"], "kwh": [1.0], "meter": ["X9"]}).write_csv(
        tmp_path / "loads.csv"
    )
    path = tmp_path / "fleet.toml"
    path.write_text(MINIMAL + 'profiles = "loads.csv"\n')
    with pytest.raises(ConfigError, match="meter X9 is not in the fleet"):
        load_fleet(path).meters()


def test_poll_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["poll", "/dev/ttyUSB0", "--addresses", "1", "--out", str(tmp_path), "--once"]) == 2
    assert "give socket://HOST:PORT" in capsys.readouterr().err
    assert main(["poll", "socket://127.0.0.1:1", "--addresses", "5-1", "--out", str(tmp_path), "--once"]) == 2
    assert "runs backwards" in capsys.readouterr().err
    assert main(["poll", "socket://127.0.0.1:1", "--addresses", "1", "--out", str(tmp_path)]) == 2
    assert "--once or --interval" in capsys.readouterr().err
