"""One store for a served fleet: import, load through the meter's own method, commits, restart."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from meterkit.errors import ConfigError, DataError
from meterkit.fleet import load_fleet, simulate_fleet
from meterkit.fleet.store import FleetStore
from meterkit.host.fleet import FleetHost, build_fleet, check_answers, port_range
from meterkit.meter.core import Meter
from meterkit.meter.nvram import MeterNv
from meterkit.storage import NvStore

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fleet-1000.toml"


def small_fleet(count: int = 6):  # type: ignore[no-untyped-def]
    return load_fleet(text=EXAMPLE.read_text().replace("count = 1000", f"count = {count}"))


@pytest.fixture(scope="module")
def histories():  # type: ignore[no-untyped-def]
    return list(simulate_fleet(small_fleet(), timedelta(days=2)))


def test_meter_load_history_holds_the_histories_registers_profile_and_billing(histories) -> None:  # type: ignore[no-untyped-def]
    for h in histories:
        meter = Meter(h.config, now=h.start)
        meter.load_history(h)
        assert meter.snapshot() == h.state
        assert meter.profile == h.profile_rows()
        assert meter.history == list(h.billing)
        assert meter.events == list(h.events)


def test_meter_nv_import_history_is_what_a_restarted_meter_loads(histories) -> None:  # type: ignore[no-untyped-def]
    h = histories[0]
    store = NvStore(":memory:")
    MeterNv(store, Meter(h.config, now=h.end)).import_history(h, h.end)
    again = Meter(h.config, now=h.start)
    nv = MeterNv(store, again)
    nv.load()
    assert again.snapshot() == h.state and again.profile == h.profile_rows()
    assert nv.last_alive() == h.end
    with pytest.raises(DataError, match="already holds a meter"):
        nv.import_history(h, h.end)


def test_the_fleet_store_gives_back_every_meters_history_unchanged(histories) -> None:  # type: ignore[no-untyped-def]
    store = FleetStore()
    for h in histories:
        store.import_history(h.serial, h, h.end)
    assert store.serials() == {h.serial for h in histories}
    for h in histories:
        got = store.read(h.serial)
        assert got.state == h.state
        assert got.profile_rows() == h.profile_rows()
        assert list(got.billing) == list(h.billing) and list(got.events) == list(h.events)
        assert got.alive == h.end
        assert store.profile_count(h.serial) == len(h.profile_end_s) == 2 * 96
    with pytest.raises(DataError, match="already in the fleet store"):
        store.import_history(histories[0].serial, histories[0], histories[0].end)


def test_served_fleet_meters_equal_their_history_and_every_one_answers(histories) -> None:  # type: ignore[no-untyped-def]
    store = FleetStore()
    served = build_fleet(small_fleet(), store, timedelta(days=2))
    by_serial = {h.serial: h for h in histories}
    assert [m.serial for m in served] == sorted(by_serial)
    for m in served:
        h = by_serial[m.serial]
        assert m.meter.meter.profile == h.profile_rows()
        assert m.meter.meter.registers.snapshot() == h.state["registers"]
        md = h.state["engines"]["A+"]["max"]
        assert md is not None and m.meter.meter.maximum("A+") is not None
    host = FleetHost(served, store)
    assert check_answers(host.bus(), [h.serial for h in histories]) == []


def test_a_fleet_restarted_from_its_store_holds_the_same_registers_and_logs_the_outage(tmp_path: Path) -> None:
    path = tmp_path / "fleet.db"
    first = build_fleet(small_fleet(3), FleetStore(path), timedelta(days=1))
    before = {
        m.serial: (m.meter.meter.registers.snapshot(), m.meter.reading("1.6.0"), m.meter.meter.profile) for m in first
    }
    again = build_fleet(small_fleet(3), FleetStore(path), None)  # no history asked: everything from the store
    for m in again:
        registers, md, profile = before[m.serial]
        assert m.meter.meter.registers.snapshot() == registers
        assert m.meter.reading("1.6.0") == md
        assert m.meter.meter.profile[: len(profile)] == profile
        assert [e.code for e in m.meter.meter.events[-2:]] == [1, 2]  # power down, power up


def test_changes_made_while_served_are_committed_to_the_fleet_store(tmp_path: Path) -> None:
    path = tmp_path / "fleet.db"
    [m] = build_fleet(small_fleet(1), FleetStore(path), timedelta(days=1))
    m.meter.meter.billing_reset("over the port", enforce_lockout=False)
    [again] = build_fleet(small_fleet(1), FleetStore(path), None)
    assert again.meter.meter.history[-1].reason == "over the port"
    assert again.meter.meter.maximum("A+") is None  # the reset cleared it, and the store knows
    assert again.meter.meter.history[-1].maxima == m.meter.meter.history[-1].maxima


def test_a_port_range_names_one_port_per_meter_and_refuses_what_does_not_fit() -> None:
    assert port_range("tcp://127.0.0.1:2100", 3) == [f"tcp://127.0.0.1:{p}" for p in (2100, 2101, 2102)]
    with pytest.raises(ConfigError, match="beyond 65535"):
        port_range("tcp://127.0.0.1:65000", 1000)
    with pytest.raises(ConfigError, match="first port of the range"):
        port_range("pty", 2)
