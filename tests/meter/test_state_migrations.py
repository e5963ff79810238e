"""State files written by earlier versions open, migrate in order, and keep everything they held."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from meterkit.errors import DataError
from meterkit.security.state import MemorySecurityStore
from meterkit.storage import NvSecurityStore, NvStore
from meterkit.storage.schema import SCHEMA_VERSION, migrations

from .portkit import READ_PW, live_config, live_meter, values
from .portkit import session as port_session

FIXTURE = Path(__file__).parents[1] / "fixtures" / "state" / "meter-v1.sqlite"


def copy_fixture(tmp_path: Path) -> Path:
    target = tmp_path / "meter.sqlite"
    shutil.copyfile(FIXTURE, target)
    return target


def test_migrations_are_numbered_in_order_up_to_the_schema_version() -> None:
    assert [m.version for m in migrations()] == list(range(1, SCHEMA_VERSION + 1))


def test_a_new_state_file_starts_at_the_current_version(tmp_path: Path) -> None:
    store = NvStore(tmp_path / "new.sqlite")
    assert store.version == SCHEMA_VERSION and store.migrated == []


def test_a_state_file_of_the_previous_version_opens_and_keeps_its_state(tmp_path: Path) -> None:
    path = copy_fixture(tmp_path)
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 0  # written before versions existed
    store = NvStore(path)
    assert store.migrated == [1, 2] and store.version == SCHEMA_VERSION
    vm, _clock = live_meter(live_config(), start=datetime(2026, 11, 2, 10, 2, tzinfo=UTC), store=store)
    meter = vm.meter
    assert meter.registers.total["A+"] == 71_300_000  # 71.3 kWh, as the fixture was written
    assert meter.reset_count == 1 and meter.md_reset_count == 1  # the migration counts the billing reset
    assert meter.cumulative_demand("A+") == Decimal(0)  # unknown before: starts at 0
    assert meter.history[-1].maxima["A+"] == ("69.00", "2026-11-02T09:15:00+00:00")
    assert len(meter.profile) == 4
    assert not vm.security.relay_connected and vm.security.cover_open  # the tamper trip of the fixture
    kinds = [e.kind for e in vm.security.log_entries()]
    assert kinds == ["COVER_OPEN_UNAUTH", "RELAY_TRIP"]
    pair = port_session(vm, READ_PW)
    assert values(pair, "1.8.0") == ("000071.300",)
    assert values(pair, "C.61.0") == ("01",)
    store.close()
    again = NvStore(path)
    assert again.migrated == []  # migrated once


def test_a_state_file_of_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite"
    with sqlite3.connect(path) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(DataError, match="written by a newer meterkit"):
        NvStore(path)


def test_the_security_store_in_memory_and_in_nv_behave_alike(tmp_path: Path) -> None:
    stores = [MemorySecurityStore(), NvSecurityStore(NvStore(tmp_path / "s.sqlite"))]
    for store in stores:
        store.put({"relay": "0", "cover_open": "1"})
        for i in range(5):
            store.append_log(
                at=f"2026-11-02T09:0{i}:00+00:00", klass="access", kind="AUTH_FAIL", detail=str(i), capacity=3
            )
        store.append_log(at="2026-11-02T09:09:00+00:00", klass="tamper", kind="RELAY_TRIP", detail="", capacity=3)
    rows = [s.log_rows() for s in stores]
    assert rows[0] == rows[1]
    assert [r[2] for r in rows[0]] == ["2", "3", "4", ""]
    assert [(s.get("relay"), s.get("cover_open"), s.get("nothing"), s.overflow("access")) for s in stores] == [
        ("0", "1", None, 2)
    ] * 2
