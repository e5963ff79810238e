"""Item 2 of #15: a state file records whose it is; another meter's state (or one made with other settings) is
refused with one line naming both, unless adopted; a state of the older layout gets the identity on first open."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from meterkit.cli.app import main
from meterkit.errors import DataError
from meterkit.meter.nvram import IDENTITY_KEY
from meterkit.meter.virtual import VirtualMeter
from meterkit.storage import NvStore
from tests.meter.portkit import demo_text, live_config


def make_state(state: Path, **replace: str) -> None:
    vm = VirtualMeter(live_config(**replace), store=NvStore(state))
    vm.store.close()


def test_a_state_written_by_another_serial_is_refused_naming_both(tmp_path: Path) -> None:
    state = tmp_path / "meter.sqlite"
    make_state(state, serial='serial = "12345678"')
    with pytest.raises(DataError) as err:
        VirtualMeter(live_config(serial='serial = "87654321"'), store=NvStore(state))
    assert str(err.value) == (
        f"{state}: the state belongs to a meter with serial 12345678, the configuration says serial 87654321; "
        "refused (serve --adopt-state takes it over)"
    )


@pytest.mark.parametrize(
    ("key", "before", "after", "named"),
    [
        ("capture_min", "capture_min = 15", "capture_min = 5", "capture period 15 min"),
        ("display_scale", 'display_scale = "kW"', 'display_scale = "MW"', "display scale kW"),
        ("manufacturer", 'manufacturer = "MKT"', 'manufacturer = "ABC"', "manufacturer MKT"),
    ],
)
def test_a_state_made_with_other_settings_is_refused(
    tmp_path: Path, key: str, before: str, after: str, named: str
) -> None:
    state = tmp_path / "meter.sqlite"
    make_state(state, **{key: before})
    with pytest.raises(DataError, match=re.escape(f"belongs to a meter with {named}")):
        VirtualMeter(live_config(**{key: after}), store=NvStore(state))


def test_adopting_another_meters_state_is_explicit_and_logged(tmp_path: Path) -> None:
    state = tmp_path / "meter.sqlite"
    make_state(state, serial='serial = "12345678"')
    vm = VirtualMeter(live_config(serial='serial = "87654321"'), store=NvStore(state), adopt_state=True)
    assert any(e.code == 11 and e.text == "state adopted from a meter with serial 12345678" for e in vm.meter.events)
    vm.store.close()
    again = VirtualMeter(live_config(serial='serial = "87654321"'), store=NvStore(state))  # now it is its own
    assert json.loads(again.store.get_value(IDENTITY_KEY) or "{}")["serial"] == "87654321"


def test_a_state_without_identity_gets_it_on_first_open(tmp_path: Path) -> None:
    state = tmp_path / "meter.sqlite"
    make_state(state)
    conn = sqlite3.connect(state)
    conn.execute("DELETE FROM kv WHERE key = ?", (IDENTITY_KEY,))  # as written before the identity was recorded
    conn.commit()
    conn.close()
    vm = VirtualMeter(live_config(), store=NvStore(state))
    assert json.loads(vm.store.get_value(IDENTITY_KEY) or "{}") == {
        "manufacturer": "MKT",
        "serial": live_config().identity.serial,
        "capture_min": "15",
        "display_scale": "kW",
    }


def test_serve_refuses_another_meters_state_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "meter.sqlite"
    make_state(state, serial='serial = "12345678"')
    config = tmp_path / "other.toml"
    config.write_text(demo_text(serial='serial = "87654321"'))
    assert main(["serve", "--config", str(config), "--state", str(state), "--listen", "tcp://127.0.0.1:0"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "serial 12345678" in err and "serial 87654321" in err


def test_a_foreign_sqlite_file_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    foreign = tmp_path / "app.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE users (name TEXT)")
    conn.execute("INSERT INTO users VALUES ('ada')")
    conn.commit()
    conn.close()
    before = foreign.read_bytes()
    mode = foreign.stat().st_mode
    with pytest.raises(DataError, match="not a meter state file \\(it holds users\\)"):
        NvStore(foreign)
    assert foreign.read_bytes() == before and foreign.stat().st_mode == mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]  # no WAL, no shared-memory file
